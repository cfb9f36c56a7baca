//! An `explore` session that cannot fit in memory is refused with one line before its
//! networks are built (docs/limits.md). One test in its own process, because it sets
//! `LABELNOISE_MEMORY_LIMIT` for the whole process.

use labelnoise_web::presets::preset_points;
use labelnoise_web::protocol::Settings;
use labelnoise_web::session::Session;

#[test]
fn a_session_that_cannot_fit_is_refused_with_the_estimate() {
    let points = preset_points("fig1").unwrap();
    // The widest, deepest network the page allows needs about 4 GiB for its two panels.
    let settings = Settings {
        width: labelnoise_web::protocol::MAX_WIDTH,
        depth: labelnoise_web::protocol::MAX_DEPTH,
        ..Settings::default()
    };
    std::env::set_var("LABELNOISE_MEMORY_LIMIT", "1G");
    let err = Session::new(settings, points.clone())
        .err()
        .expect("refused");
    let text = err.to_string();
    assert!(
        text.contains("settings.width")
            && text.contains("GiB of memory")
            && text.contains("1.000 GiB is available"),
        "{text}"
    );
    assert_eq!(text.lines().count(), 1, "{text}");
    // The default session (width 100) fits in that limit.
    assert!(Session::new(Settings::default(), points).is_ok());
}

//! The report section of `deep` (not implemented yet).

use super::*;
use labelnoise_core::experiments::deep::Deep;

pub(super) fn deep_section(r: &Deep, wall: f64, _dir: &Path) -> anyhow::Result<Section> {
    Ok(Section {
        name: "deep".into(),
        title: "deep".into(),
        wall_seconds: wall,
        intro: vec![],
        claims: r.claims.clone(),
        figures: vec![],
        notes: vec![],
    })
}

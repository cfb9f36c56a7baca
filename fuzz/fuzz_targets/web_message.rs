//! The browser's messages to `labelnoise explore` (crates/labelnoise-web/src/protocol.rs):
//! `parse_message`, which parses and checks one text message.
#![no_main]
use labelnoise_web::protocol::{parse_message, ClientMessage, Settings};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|bytes: &[u8]| {
    let Ok(text) = std::str::from_utf8(bytes) else {
        return;
    };
    if let Ok(ClientMessage::Settings { settings }) = parse_message(text) {
        let _ = settings.restarts(&Settings::default());
    }
});

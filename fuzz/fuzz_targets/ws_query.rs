//! Any `/ws/logs` query string is understood or refused with a reason.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let query = String::from_utf8_lossy(data);
    if let Err(reason) = server::web::ws_logs::parse_options(Some(&query)) {
        assert!(!reason.is_empty());
    }
});

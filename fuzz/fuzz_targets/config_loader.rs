//! Any configuration text (and environment override) is loaded or
//! rejected with an error; never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use server::config::{Config, EnvOverride};

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let (file, env) = text.split_once('\u{0}').unwrap_or((&text, ""));
    let overrides: Vec<EnvOverride> = env
        .lines()
        .filter_map(|line| line.split_once('='))
        .map(|(var, value)| EnvOverride {
            var: format!("LOGDECK_{var}"),
            value: value.to_owned(),
        })
        .collect();
    if let Err(error) = Config::parse_with_env(file, "fuzz.toml", std::path::Path::new("/tmp"), &overrides) {
        assert!(!error.to_string().is_empty());
    }
});

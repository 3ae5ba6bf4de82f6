//! Leptos.toml (read by the built server) and the cargo-leptos block in
//! Cargo.toml (read by the build) must agree on every key they share.

use std::path::Path;

fn read_toml(relative: &str) -> toml::Table {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join(relative);
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    text.parse()
        .unwrap_or_else(|e| panic!("{} is not valid TOML: {e}", path.display()))
}

fn runtime_settings() -> toml::Table {
    read_toml("Leptos.toml")["package"]["metadata"]["leptos"]
        .as_table()
        .expect("Leptos.toml has a [package.metadata.leptos] table")
        .clone()
}

fn build_settings() -> toml::Table {
    let projects = read_toml("Cargo.toml")["workspace"]["metadata"]["leptos"]
        .as_array()
        .expect("Cargo.toml has [[workspace.metadata.leptos]]")
        .clone();
    assert_eq!(projects.len(), 1, "one Leptos project in the workspace");
    projects[0].as_table().expect("a table").clone()
}

/// Keys only the running server reads; cargo-leptos 0.3 does not accept
/// them in Cargo.toml (it sets LEPTOS_ENV itself).
const RUNTIME_ONLY: &[&str] = &["env"];

#[test]
fn every_shared_key_matches_the_build_settings() {
    let runtime = runtime_settings();
    let build = build_settings();
    for key in [
        "output-name",
        "site-root",
        "site-pkg-dir",
        "site-addr",
        "reload-port",
        "env",
    ] {
        assert!(runtime.contains_key(key), "Leptos.toml lacks `{key}`");
    }
    for (key, value) in &runtime {
        if RUNTIME_ONLY.contains(&key.as_str()) {
            assert!(
                !build.contains_key(key),
                "cargo-leptos ignores `{key}` in Cargo.toml"
            );
            continue;
        }
        assert_eq!(
            build.get(key),
            Some(value),
            "`{key}` differs between Leptos.toml and Cargo.toml"
        );
    }
}

#[test]
fn the_runtime_settings_load_as_the_server_loads_them() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../Leptos.toml");
    let text = std::fs::read_to_string(path).expect("read Leptos.toml");
    let options = leptos::config::get_config_from_str(&text).expect("valid Leptos settings");
    assert_eq!(&*options.output_name, "logdeck");
    assert_eq!(
        options.site_addr.ip().to_string(),
        "127.0.0.1",
        "loopback by default"
    );
}

#[test]
fn the_stylesheet_link_matches_the_output_name() {
    let name = runtime_settings()["output-name"]
        .as_str()
        .expect("output-name is a string")
        .to_owned();
    let app_source = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../app/src/components/app.rs"),
    )
    .expect("read app.rs");
    assert!(
        app_source.contains(&format!("/pkg/{name}.css")),
        "the <Stylesheet> href must be /pkg/{name}.css"
    );
}

/// cargo-leptos looks for the built server under `bin-exe-name`, or the
/// package's name when that is unset; a clean checkout has no file by the
/// package's name, so the build would fail after compiling everything.
#[test]
fn cargo_leptos_looks_for_the_binary_cargo_builds() {
    let build = build_settings();
    let target = build["bin-target"].as_str().expect("bin-target is set");
    assert_eq!(
        build.get("bin-exe-name").and_then(|v| v.as_str()),
        Some(target),
        "bin-exe-name must name the bin target"
    );
    let manifest = read_toml("server/Cargo.toml");
    let bins = manifest["bin"].as_array().expect("server has [[bin]]");
    assert!(
        bins.iter().any(|b| b["name"].as_str() == Some(target)),
        "server/Cargo.toml has a [[bin]] named {target}"
    );
}

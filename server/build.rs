//! Build-time facts for the `logdeck` binary:
//! - `BUILT_FROM_COMMIT`: the git commit it was built from (`--version`);
//! - the site to embed: when cargo-leptos builds the release server (it
//!   sets `LEPTOS_SITE_ROOT`, and with `precompress` builds the site
//!   first), or when `SITE_TO_EMBED` names a built site directory,
//!   `EMBEDDED_SITE_DIR` points at it and `logdeck_embedded_site` is set.
//!   Debug builds and `cargo leptos watch` serve the files from disk.
//!
//! None of these names starts with `LOGDECK_`: cargo also sets them for
//! the tests it runs, and `LOGDECK_*` variables are configuration.

use std::path::{Path, PathBuf};
use std::process::Command;

fn main() {
    println!("cargo::rustc-check-cfg=cfg(logdeck_embedded_site)");
    commit();
    site();
}

fn commit() {
    let git = |args: &[&str]| -> Option<String> {
        let output = Command::new("git").args(args).output().ok()?;
        output
            .status
            .success()
            .then(|| String::from_utf8_lossy(&output.stdout).trim().to_owned())
    };
    let commit = git(&["rev-parse", "--short=12", "HEAD"]).unwrap_or_else(|| "unknown".into());
    println!("cargo::rustc-env=BUILT_FROM_COMMIT={commit}");
    // A new commit changes HEAD or the branch it names.
    if let Some(dir) = git(&["rev-parse", "--absolute-git-dir"]) {
        let dir = PathBuf::from(dir);
        println!("cargo::rerun-if-changed={}", dir.join("HEAD").display());
        if let Some(branch) = git(&["symbolic-ref", "-q", "HEAD"]) {
            println!("cargo::rerun-if-changed={}", dir.join(branch).display());
        }
        println!(
            "cargo::rerun-if-changed={}",
            dir.join("packed-refs").display()
        );
    }
}

fn site() {
    for var in [
        "SITE_TO_EMBED",
        "LEPTOS_SITE_ROOT",
        "LEPTOS_WATCH",
        "PROFILE",
    ] {
        println!("cargo::rerun-if-env-changed={var}");
    }
    let manifest = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").unwrap_or_default());
    let workspace = manifest.parent().unwrap_or(&manifest).to_path_buf();
    let release = std::env::var("PROFILE").is_ok_and(|p| p == "release");
    let watching = std::env::var("LEPTOS_WATCH").is_ok_and(|w| w == "true");
    let site = match std::env::var("SITE_TO_EMBED") {
        Ok(dir) if !dir.is_empty() => Some(workspace.join(dir)),
        _ => match std::env::var("LEPTOS_SITE_ROOT") {
            Ok(root) if release && !watching => Some(workspace.join(root)),
            _ => None,
        },
    };
    if let Some(dir) = site.filter(|dir| has_files(dir)) {
        println!("cargo::rustc-cfg=logdeck_embedded_site");
        println!("cargo::rustc-env=EMBEDDED_SITE_DIR={}", dir.display());
    }
}

/// Whether `dir` holds a built site (its `pkg` directory).
fn has_files(dir: &Path) -> bool {
    std::fs::read_dir(dir.join("pkg")).is_ok_and(|mut entries| entries.next().is_some())
}

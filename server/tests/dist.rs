//! The release archive (`make dist`), as someone installing it sees it:
//! it unpacks to the files it promises, and its binary, copied alone into
//! an empty directory, starts there and serves the whole site from itself
//! (compressed, with ETags).
//!
//! These tests need the archive: `make dist-test` builds it and runs them
//! with `DIST_ARCHIVE` set (they are ignored by a plain `cargo test`).

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;

use support::{http, ServerProcess};

/// The archive under test.
fn archive() -> PathBuf {
    PathBuf::from(
        std::env::var_os("DIST_ARCHIVE")
            .expect("DIST_ARCHIVE names the archive: run `make dist-test`"),
    )
}

/// Unpacks the archive into `dir`: the directory it holds.
fn unpack(dir: &Path) -> PathBuf {
    let status = Command::new("tar")
        .arg("-xzf")
        .arg(archive())
        .arg("-C")
        .arg(dir)
        .status()
        .expect("run tar");
    assert!(status.success(), "tar failed");
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .expect("read unpacked")
        .map(|e| e.expect("entry").path())
        .collect();
    assert_eq!(entries.len(), 1, "one top directory: {entries:?}");
    entries.remove(0)
}

#[test]
#[ignore = "needs the release archive: make dist-test"]
fn the_archive_holds_the_binary_the_config_the_docs_and_the_unit() {
    let dir = tempfile::tempdir().expect("temp dir");
    let top = unpack(dir.path());
    let name = top
        .file_name()
        .expect("name")
        .to_string_lossy()
        .into_owned();
    assert_eq!(
        name,
        format!("logdeck-{}-x86_64-linux", env!("CARGO_PKG_VERSION"))
    );
    let mut files: Vec<String> = std::fs::read_dir(&top)
        .expect("read")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    files.sort();
    assert_eq!(
        files,
        [
            "README.md",
            "SECURITY.md",
            "logdeck",
            "logdeck.service",
            "logdeck.toml"
        ]
    );
    let unit = std::fs::read_to_string(top.join("logdeck.service")).expect("unit");
    for line in [
        "Restart=on-failure",
        "KillMode=mixed",
        "NoNewPrivileges=true",
        "StateDirectory=logdeck",
    ] {
        assert!(unit.lines().any(|l| l == line), "{line} missing");
    }
    // The shipped config is valid.
    let check = Command::new(top.join("logdeck"))
        .arg("check")
        .arg("--config")
        .arg(top.join("logdeck.toml"))
        .output()
        .expect("run check");
    assert!(
        check.status.success(),
        "{}",
        String::from_utf8_lossy(&check.stderr)
    );
}

#[tokio::test]
#[ignore = "needs the release archive: make dist-test"]
async fn the_binary_alone_serves_the_site_from_itself() {
    let unpacked = tempfile::tempdir().expect("temp dir");
    let top = unpack(unpacked.path());
    // The binary alone, in an empty directory, with a config of its own.
    let alone = tempfile::tempdir().expect("temp dir");
    let binary = alone.path().join("logdeck");
    std::fs::copy(top.join("logdeck"), &binary).expect("copy");
    let config = alone.path().join("logdeck.toml");
    std::fs::write(
        &config,
        "[[process]]\nname = \"hello\"\ncommand = \"echo hello from the archive; exec sleep 600\"\n",
    )
    .expect("write config");

    let version = Command::new(&binary)
        .arg("--version")
        .output()
        .expect("--version");
    let version = String::from_utf8_lossy(&version.stdout).into_owned();
    assert!(
        version.starts_with(&format!("logdeck {} (", env!("CARGO_PKG_VERSION")))
            && !version.contains("unknown"),
        "{version}"
    );

    let mut command = Command::new(&binary);
    command
        .current_dir(alone.path())
        .env_remove("LEPTOS_SITE_ROOT")
        .env_remove("LOGDECK_CONFIG")
        .env_remove("LOGDECK_ADDR")
        .env("LOGDECK_LOG", "info")
        .args(["--addr", "127.0.0.1:0", "--config"])
        .arg(&config);
    let server = ServerProcess::start(command);
    let addr = server.addr;

    let page = http(addr, "GET", "/", &[], None).await;
    assert_eq!(page.status, 200);
    let html = page.text();
    assert!(html.contains("/pkg/logdeck.js"), "{html}");

    // The bundle, in the best encoding the client takes, and revalidated.
    for (accept, encoding) in [
        ("gzip, deflate, br", Some("br")),
        ("gzip", Some("gzip")),
        ("identity", None),
    ] {
        let wasm = http(
            addr,
            "GET",
            "/pkg/logdeck.wasm",
            &[("Accept-Encoding", accept)],
            None,
        )
        .await;
        assert_eq!(wasm.status, 200, "{accept}");
        assert_eq!(wasm.header("content-type"), Some("application/wasm"));
        assert_eq!(wasm.header("content-encoding"), encoding, "{accept}");
        assert_eq!(wasm.header("vary"), Some("accept-encoding"));
        if encoding.is_none() {
            assert_eq!(&wasm.body[..4], b"\0asm", "a wasm module");
        }
        let etag = wasm.header("etag").expect("an ETag").to_owned();
        let again = http(
            addr,
            "GET",
            "/pkg/logdeck.wasm",
            &[("Accept-Encoding", accept), ("If-None-Match", &etag)],
            None,
        )
        .await;
        assert_eq!(again.status, 304, "{accept}");
        assert!(again.body.is_empty());
    }
    for (file, kind) in [
        ("/pkg/logdeck.js", "text/javascript; charset=utf-8"),
        ("/pkg/logdeck.css", "text/css; charset=utf-8"),
    ] {
        let response = http(addr, "GET", file, &[], None).await;
        assert_eq!(response.status, 200, "{file}");
        assert_eq!(response.header("content-type"), Some(kind), "{file}");
        assert!(!response.body.is_empty(), "{file}");
    }
    // What is no file is the app's own "not found" page.
    let missing = http(addr, "GET", "/pkg/nothing.js", &[], None).await;
    assert_eq!(missing.status, 404);

    // And it runs its process: the line is in the history.
    let lines = support::eventually("the process's line", || async {
        let page = http(addr, "GET", "/api/logs?process=hello", &[], None).await;
        let json = page.json();
        let found = json
            .as_array()
            .is_some_and(|entries| !entries.is_empty())
            .then_some(json);
        found
    })
    .await;
    assert_eq!(lines[0]["message"], "hello from the archive");
    drop(server);
}

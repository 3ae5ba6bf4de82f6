//! Where the site's static files (the wasm bundle, its JS and CSS) come
//! from: the release binary itself, when it was built with them (cargo-
//! leptos builds the site first, then the server; `build.rs` embeds it),
//! or a directory on disk (`LEPTOS_SITE_ROOT` or a `Leptos.toml` beside
//! the working directory says which, as in the dev loop).
//!
//! Embedded files are served with the variant the client accepts (brotli,
//! gzip, or as they are: cargo-leptos writes the compressed copies), an
//! `ETag` per variant and `Cache-Control: no-cache` (the names carry no
//! hash, so a browser asks again and gets `304 Not Modified`).

use axum::body::Body;
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::Response;
use leptos::config::LeptosOptions;

/// The site's settings and where its files are read from.
#[derive(Clone, Debug)]
pub struct Site {
    pub options: LeptosOptions,
    pub files: SiteFiles,
}

/// Where the static files are read from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SiteFiles {
    /// `options.site_root` on disk.
    Disk,
    /// The copy built into this binary.
    Embedded,
}

impl From<LeptosOptions> for Site {
    fn from(options: LeptosOptions) -> Site {
        Site {
            options,
            files: SiteFiles::Disk,
        }
    }
}

impl SiteFiles {
    /// The embedded copy when this binary has one and nothing asks for
    /// files on disk.
    pub fn choose(disk_asked_for: bool) -> SiteFiles {
        if !disk_asked_for && embedded::present() {
            SiteFiles::Embedded
        } else {
            SiteFiles::Disk
        }
    }
}

/// The site's JavaScript modules besides its entry point, as paths to
/// fetch (`/pkg/snippets/.../x.js`, sorted): the snippets wasm-bindgen
/// writes for the viewer's own JavaScript, which the entry module imports.
/// The page names them in `<link rel="modulepreload">`s, so they load
/// beside the entry module rather than once it has been read.
pub fn module_preloads(options: &LeptosOptions, files: SiteFiles) -> Vec<String> {
    let snippets = format!("{}/snippets/", options.site_pkg_dir.trim_matches('/'));
    let mut names: Vec<String> = match files {
        SiteFiles::Embedded => embedded::names()
            .into_iter()
            .filter(|name| name.starts_with(&snippets))
            .collect(),
        SiteFiles::Disk => {
            let root = std::path::Path::new(options.site_root.as_ref());
            let mut found = Vec::new();
            let mut dirs = vec![root.join(&snippets)];
            while let Some(dir) = dirs.pop() {
                let Ok(entries) = std::fs::read_dir(&dir) else {
                    continue;
                };
                for entry in entries.flatten() {
                    let path = entry.path();
                    if path.is_dir() {
                        dirs.push(path);
                    } else if let Ok(relative) = path.strip_prefix(root) {
                        found.push(relative.to_string_lossy().replace('\\', "/"));
                    }
                }
            }
            found
        }
    };
    names.retain(|name| name.ends_with(".js"));
    names.sort();
    names.into_iter().map(|name| format!("/{name}")).collect()
}

/// The embedded file at `path` as the client asks for it, or `None` when
/// there is no such file (or the method is not GET or HEAD).
pub fn embedded_response(method: &Method, path: &str, headers: &HeaderMap) -> Option<Response> {
    if method != Method::GET && method != Method::HEAD {
        return None;
    }
    let name = path.trim_start_matches('/');
    if name.is_empty() || name.ends_with(".br") || name.ends_with(".gz") {
        return None;
    }
    let accepted = headers
        .get(header::ACCEPT_ENCODING)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let (encoding, file) = [("br", ".br"), ("gzip", ".gz")]
        .into_iter()
        .filter(|(encoding, _)| accepts(accepted, encoding))
        .find_map(|(encoding, suffix)| {
            embedded::get(&format!("{name}{suffix}")).map(|file| (Some(encoding), file))
        })
        .or_else(|| embedded::get(name).map(|file| (None, file)))?;
    let etag = format!("\"{}{}\"", hex(&file.hash[..12]), encoding.unwrap_or(""));
    let mut response = Response::builder()
        .header(header::CONTENT_TYPE, content_type(name))
        .header(header::ETAG, &etag)
        .header(header::CACHE_CONTROL, "no-cache")
        .header(header::VARY, "accept-encoding");
    if let Some(encoding) = encoding {
        response = response.header(header::CONTENT_ENCODING, encoding);
    }
    let unchanged = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|tags| {
            tags.split(',')
                .any(|tag| tag.trim() == etag || tag.trim() == "*")
        });
    let response = if unchanged {
        response
            .status(StatusCode::NOT_MODIFIED)
            .body(Body::empty())
    } else {
        let body = if method == Method::HEAD {
            Body::empty()
        } else {
            Body::from(file.data)
        };
        response.header(header::CONTENT_LENGTH, file.len).body(body)
    };
    response.ok()
}

/// Whether `accept_encoding` (an `Accept-Encoding` value) takes
/// `encoding`: named, or `*`, with a weight above zero.
fn accepts(accept_encoding: &str, encoding: &str) -> bool {
    let mut verdict = None;
    for item in accept_encoding.split(',') {
        let mut parts = item.split(';');
        let name = parts.next().unwrap_or("").trim();
        let weight = parts
            .filter_map(|p| p.trim().strip_prefix("q="))
            .find_map(|q| q.trim().parse::<f32>().ok())
            .unwrap_or(1.0);
        if name.eq_ignore_ascii_case(encoding) {
            return weight > 0.0;
        }
        if name == "*" {
            verdict = Some(weight > 0.0);
        }
    }
    verdict.unwrap_or(false)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The media type of a site file, by its extension.
fn content_type(name: &str) -> HeaderValue {
    let extension = name.rsplit_once('.').map_or("", |(_, e)| e);
    HeaderValue::from_static(match extension {
        "wasm" => "application/wasm",
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "html" => "text/html; charset=utf-8",
        "json" | "map" => "application/json",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "ico" => "image/x-icon",
        "txt" => "text/plain; charset=utf-8",
        "woff2" => "font/woff2",
        _ => "application/octet-stream",
    })
}

/// An embedded file.
struct File {
    data: std::borrow::Cow<'static, [u8]>,
    len: usize,
    hash: [u8; 32],
}

#[cfg(logdeck_embedded_site)]
mod embedded {
    /// The site as cargo-leptos built it (`EMBEDDED_SITE_DIR`, set by
    /// `build.rs`).
    #[derive(rust_embed::RustEmbed)]
    #[folder = "$EMBEDDED_SITE_DIR"]
    struct Files;

    pub fn present() -> bool {
        Files::iter().next().is_some()
    }

    /// Every embedded file's path.
    pub fn names() -> Vec<String> {
        Files::iter().map(|name| name.into_owned()).collect()
    }

    pub(super) fn get(name: &str) -> Option<super::File> {
        let file = Files::get(name)?;
        Some(super::File {
            len: file.data.len(),
            hash: file.metadata.sha256_hash(),
            data: file.data,
        })
    }
}

#[cfg(not(logdeck_embedded_site))]
mod embedded {
    pub fn present() -> bool {
        false
    }

    pub fn names() -> Vec<String> {
        Vec::new()
    }

    pub(super) fn get(_name: &str) -> Option<super::File> {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accept_encoding_weights_are_honoured() {
        assert!(accepts("gzip, deflate, br", "br"));
        assert!(accepts("gzip, deflate, br", "gzip"));
        assert!(!accepts("gzip, deflate", "br"));
        assert!(!accepts("br;q=0, gzip", "br"));
        assert!(accepts("BR;q=0.5", "br"));
        assert!(accepts("*", "gzip"));
        assert!(!accepts("*;q=0", "gzip"));
        assert!(!accepts("*, br;q=0", "br"));
        assert!(!accepts("", "gzip"));
        assert!(!accepts("identity", "gzip"));
    }

    #[test]
    fn media_types_follow_the_extension() {
        assert_eq!(content_type("pkg/logdeck_bg.wasm"), "application/wasm");
        assert_eq!(
            content_type("pkg/logdeck.js"),
            "text/javascript; charset=utf-8"
        );
        assert_eq!(content_type("pkg/logdeck.css"), "text/css; charset=utf-8");
        assert_eq!(content_type("favicon.ico"), "image/x-icon");
        assert_eq!(content_type("README"), "application/octet-stream");
    }

    #[test]
    fn the_snippet_modules_on_disk_are_preloaded() {
        let root = tempfile::tempdir().expect("tempdir");
        let pkg = root.path().join("pkg");
        for file in [
            "logdeck.js",
            "snippets/app-1/src/search/regex.js",
            "snippets/app-1/inline0.js",
            "snippets/app-1/notes.txt",
        ] {
            let path = pkg.join(file);
            std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
            std::fs::write(path, "").expect("write");
        }
        let options = LeptosOptions::builder()
            .output_name("logdeck")
            .site_root(root.path().to_string_lossy().into_owned())
            .site_pkg_dir("pkg")
            .build();
        assert_eq!(
            module_preloads(&options, SiteFiles::Disk),
            [
                "/pkg/snippets/app-1/inline0.js",
                "/pkg/snippets/app-1/src/search/regex.js"
            ]
        );
        let empty = tempfile::tempdir().expect("tempdir");
        let options = LeptosOptions::builder()
            .output_name("logdeck")
            .site_root(empty.path().to_string_lossy().into_owned())
            .build();
        assert!(module_preloads(&options, SiteFiles::Disk).is_empty());
    }

    #[test]
    fn without_an_embedded_site_nothing_is_served_from_it() {
        if embedded::present() {
            return;
        }
        assert!(embedded_response(&Method::GET, "/pkg/logdeck.js", &HeaderMap::new()).is_none());
        assert_eq!(SiteFiles::choose(false), SiteFiles::Disk);
        assert_eq!(SiteFiles::choose(true), SiteFiles::Disk);
    }
}

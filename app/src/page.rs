//! Which page a URL shows. The app has two pages and no client-side page
//! changes: the server renders each one, and the browser only moves
//! between the views of one page (its query string).

use std::borrow::Cow;

/// A page of the app.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Page {
    /// `/`: every process's logs.
    Logs,
    /// `/processes/{name}`: one process (its name percent-decoded).
    Process(String),
    /// Anything else.
    NotFound,
}

impl Page {
    /// The page at `path` (a URL's path, without its query).
    pub fn from_path(path: &str) -> Page {
        if path.is_empty() || path == "/" {
            return Page::Logs;
        }
        match path.strip_prefix("/processes/") {
            Some(name) if !name.is_empty() && !name.contains('/') => {
                Page::Process(percent_decode(name))
            }
            _ => Page::NotFound,
        }
    }
}

/// A path segment with its `%XX` escapes decoded (bytes that are not
/// UTF-8 become U+FFFD; a `%` without two hex digits stays as it is).
fn percent_decode(segment: &str) -> String {
    let bytes = segment.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        match (bytes[i], bytes.get(i + 1), bytes.get(i + 2)) {
            (b'%', Some(&hi), Some(&lo)) if hex(hi).is_some() && hex(lo).is_some() => {
                out.push((hex(hi).unwrap_or(0) * 16 + hex(lo).unwrap_or(0)) as u8);
                i += 3;
            }
            (byte, _, _) => {
                out.push(byte);
                i += 1;
            }
        }
    }
    match String::from_utf8_lossy(&out) {
        Cow::Borrowed(text) => text.to_owned(),
        Cow::Owned(text) => text,
    }
}

/// A URL's path and query string (without the `?`), from an absolute URL
/// (`http://host/path?query`) or a path (`/path?query`); any fragment is
/// dropped.
pub fn split_url(url: &str) -> (&str, &str) {
    let url = url.split_once('#').map_or(url, |(before, _)| before);
    let path_and_query = match url.split_once("://") {
        Some((_, rest)) => rest.find('/').map_or("/", |slash| &rest[slash..]),
        None => url,
    };
    match path_and_query.split_once('?') {
        Some((path, query)) => (path, query),
        None => (path_and_query, ""),
    }
}

/// The value of `key` in a query string (without the `?`), decoded.
pub fn query_value(query: &str, key: &str) -> Option<String> {
    form_urlencoded::parse(query.as_bytes())
        .find(|(k, _)| k == key)
        .map(|(_, value)| value.into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_name_their_pages() {
        assert_eq!(Page::from_path("/"), Page::Logs);
        assert_eq!(Page::from_path(""), Page::Logs);
        assert_eq!(Page::from_path("/processes/db"), Page::Process("db".into()));
        for other in [
            "/processes",
            "/processes/",
            "/processes/a/b",
            "/nowhere",
            "/process/db",
            "//",
        ] {
            assert_eq!(Page::from_path(other), Page::NotFound, "{other}");
        }
    }

    #[test]
    fn process_names_are_percent_decoded() {
        assert_eq!(
            Page::from_path("/processes/my%20app%2Fv2"),
            Page::Process("my app/v2".into())
        );
        assert_eq!(
            Page::from_path("/processes/caf%C3%A9"),
            Page::Process("café".into())
        );
        // `+` is a plus in a path; a stray `%` stays; bad UTF-8 is replaced.
        assert_eq!(
            Page::from_path("/processes/a+b"),
            Page::Process("a+b".into())
        );
        assert_eq!(
            Page::from_path("/processes/50%"),
            Page::Process("50%".into())
        );
        assert_eq!(
            Page::from_path("/processes/%zz"),
            Page::Process("%zz".into())
        );
        assert_eq!(
            Page::from_path("/processes/%FF"),
            Page::Process("\u{FFFD}".into())
        );
    }

    #[test]
    fn urls_split_into_path_and_query() {
        assert_eq!(split_url("http://leptos.dev/?q=a"), ("/", "q=a"));
        assert_eq!(
            split_url("https://h:1/processes/db?node=b#x"),
            ("/processes/db", "node=b")
        );
        assert_eq!(split_url("http://host"), ("/", ""));
        assert_eq!(split_url("/a?b?c"), ("/a", "b?c"));
        assert_eq!(split_url("/a#q=1"), ("/a", ""));
    }

    #[test]
    fn query_values_are_decoded() {
        assert_eq!(
            query_value("a=1&node=x%20y+z", "node").as_deref(),
            Some("x y z")
        );
        assert_eq!(query_value("a=1", "node"), None);
        assert_eq!(query_value("", "node"), None);
    }
}

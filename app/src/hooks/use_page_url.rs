//! The page's URL: its path, fixed for the page's life, and its query
//! string, which the viewer changes through the browser's history.
//!
//! In the browser, back and forward between the page's own history
//! entries and links to the same page with another query (`/?seq=…`)
//! change only the query; a link to another page loads it from the
//! server.

use leptos::prelude::*;

#[cfg(feature = "ssr")]
use crate::page::split_url;
use crate::page::Page;

/// The URL of the page being shown; provided by [`provide_page_url`].
#[derive(Debug, Clone, Copy)]
pub struct PageUrl {
    path: StoredValue<String>,
    /// The query string without its `?`.
    query: RwSignal<String>,
}

impl PageUrl {
    /// The page this URL shows.
    pub fn page(&self) -> Page {
        self.path.with_value(|path| Page::from_path(path))
    }

    /// The query string (without `?`), tracked.
    pub fn query(&self) -> ReadSignal<String> {
        self.query.read_only()
    }

    /// Moves to this page with `query` (as [`ViewQuery::to_query_string`]
    /// writes it: empty, or starting with `?`): a new history entry, or
    /// with `replace` an update of the current one.
    ///
    /// [`ViewQuery::to_query_string`]: crate::view_query::ViewQuery::to_query_string
    pub fn go(&self, query: &str, replace: bool) {
        let query = query.strip_prefix('?').unwrap_or(query);
        if self.query.with_untracked(|now| now == query) && replace {
            return;
        }
        #[cfg(feature = "hydrate")]
        browser::write_history(&self.path.get_value(), query, replace);
        #[cfg(not(feature = "hydrate"))]
        let _ = replace;
        self.query.set(query.to_owned());
    }
}

/// Reads the page's URL (the request's on the server, the location in the
/// browser) and provides it to the page.
pub fn provide_page_url() -> PageUrl {
    let (path, query) = current_url();
    let url = PageUrl {
        path: StoredValue::new(path),
        query: RwSignal::new(query),
    };
    #[cfg(feature = "hydrate")]
    browser::follow_history(url);
    provide_context(url);
    url
}

/// The page's URL, as [`provide_page_url`] provided it.
pub fn use_page_url() -> PageUrl {
    expect_context::<PageUrl>()
}

/// The path and query string (without `?`) of the request being
/// rendered, if the server provided it.
#[cfg(feature = "ssr")]
pub(crate) fn request_url() -> Option<(String, String)> {
    let request = use_context::<leptos_router::location::RequestUrl>()?;
    let (path, query) = split_url(request.as_ref());
    Some((path.to_owned(), query.to_owned()))
}

#[cfg(feature = "ssr")]
fn current_url() -> (String, String) {
    request_url().unwrap_or_else(|| ("/".to_owned(), String::new()))
}

#[cfg(not(feature = "ssr"))]
fn current_url() -> (String, String) {
    #[cfg(feature = "hydrate")]
    {
        browser::location()
    }
    #[cfg(not(feature = "hydrate"))]
    {
        ("/".to_owned(), String::new())
    }
}

#[cfg(feature = "hydrate")]
mod browser {
    use leptos::ev;
    use leptos::prelude::*;
    use wasm_bindgen::{JsCast, JsValue};

    use super::PageUrl;

    /// The location's path and query string (without `?`).
    pub(super) fn location() -> (String, String) {
        let location = window().location();
        let path = location.pathname().unwrap_or_else(|_| "/".into());
        let search = location.search().unwrap_or_default();
        let query = search.strip_prefix('?').unwrap_or(&search).to_owned();
        (path, query)
    }

    pub(super) fn write_history(path: &str, query: &str, replace: bool) {
        let Ok(history) = window().history() else {
            return;
        };
        let url = if query.is_empty() {
            path.to_owned()
        } else {
            format!("{path}?{query}")
        };
        let _ = if replace {
            history.replace_state_with_url(&JsValue::NULL, "", Some(&url))
        } else {
            history.push_state_with_url(&JsValue::NULL, "", Some(&url))
        };
    }

    /// Back and forward set the query; same-page links become history
    /// entries instead of page loads.
    pub(super) fn follow_history(url: PageUrl) {
        let popstate = window_event_listener(ev::popstate, move |_| {
            let (path, query) = location();
            if url.path.with_value(|p| *p == path) {
                url.query.set(query);
            } else {
                // Not one of this page's entries: show what it is.
                let _ = window().location().reload();
            }
        });
        let click = window_event_listener(ev::click, move |event| {
            if let Some(query) = same_page_link(&event, &url) {
                event.prevent_default();
                url.go(&query, false);
            }
        });
        on_cleanup(move || {
            popstate.remove();
            click.remove();
        });
    }

    /// The query of the link `event` follows, when it is a plain click on
    /// a link to this page (same origin and path, no fragment, no
    /// download, no other target).
    fn same_page_link(event: &web_sys::MouseEvent, url: &PageUrl) -> Option<String> {
        if event.default_prevented()
            || event.button() != 0
            || event.meta_key()
            || event.ctrl_key()
            || event.shift_key()
            || event.alt_key()
        {
            return None;
        }
        let target = event.target()?.dyn_into::<web_sys::Element>().ok()?;
        let anchor = target
            .closest("a[href]")
            .ok()??
            .dyn_into::<web_sys::HtmlAnchorElement>()
            .ok()?;
        if anchor.has_attribute("download") || !matches!(anchor.target().as_str(), "" | "_self") {
            return None;
        }
        let link = web_sys::Url::new(&anchor.href()).ok()?;
        let here = window().location();
        let same_page = here.origin().ok()? == link.origin()
            && url.path.with_value(|p| *p == link.pathname())
            && link.hash().is_empty();
        same_page.then(|| link.search())
    }
}

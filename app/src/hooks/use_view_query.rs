//! The viewer's filters, read from and written to the page URL.

use crate::hooks::use_page_url::use_page_url;
use crate::view_query::ViewQuery;
use leptos::prelude::*;

/// The current view, and a way to change it.
#[derive(Clone, Copy)]
pub struct ViewQueryHandle {
    pub view: Memo<ViewQuery>,
    set: StoredValue<Box<dyn Fn(ViewQuery, bool) + Send + Sync>>,
}

impl std::fmt::Debug for ViewQueryHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ViewQueryHandle")
            .field("view", &self.view)
            .finish()
    }
}

impl ViewQueryHandle {
    /// Moves to `view`: a new history entry, or (`replace`, for every
    /// keystroke of the search box) an update of the current one.
    pub fn set(&self, view: ViewQuery, replace: bool) {
        self.set.with_value(|set| set(view, replace));
    }

    /// Changes the view with `change`.
    pub fn update(&self, replace: bool, change: impl FnOnce(&mut ViewQuery)) {
        let mut view = self.view.get_untracked();
        change(&mut view);
        self.set(view, replace);
    }
}

/// The view in the URL's query string. Back and forward move between
/// views because every change (but typing) is a history entry.
///
/// A typed change (`replace`) is the view at once, and reaches the URL
/// once the next frame is painted and typing has paused for
/// [`URL_AFTER_TYPING`]: the rows it filters come first, the history
/// update and everything that follows the URL after them, once for a
/// burst of keystrokes (the browser throttles a page that rewrites its
/// history at typing speed).
pub fn use_view_query() -> ViewQueryHandle {
    let url = use_page_url();
    let query = url.query();
    let in_url = Memo::new(move |_| {
        query.with(|query| {
            let pairs: Vec<_> = form_urlencoded::parse(query.as_bytes()).collect();
            ViewQuery::from_pairs(pairs.iter().map(|(k, v)| (k.as_ref(), v.as_ref())))
        })
    });
    // A typed view not yet in the URL, and how many URL updates are due.
    let typed = RwSignal::new(None::<ViewQuery>);
    let due = StoredValue::new(0u32);
    let view = Memo::new(move |_| typed.get().unwrap_or_else(|| in_url.get()));
    // The URL changed: it now holds the typed view, or it moved on its own
    // (back, forward, a link) while no update of ours was due.
    Effect::new(move |_| {
        let url = in_url.get();
        let settled = typed.with_untracked(|t| t.as_ref().is_none_or(|t| *t == url));
        if settled || due.get_value() == 0 {
            typed.set(None);
        }
    });
    let go = move |next: &ViewQuery, replace: bool| url.go(&next.to_query_string(), replace);
    let set = move |next: ViewQuery, replace: bool| {
        // The view at once; the URL catches up (the effect above lets go
        // of this once it has).
        typed.set(Some(next.clone()));
        if !replace {
            go(&next, false);
            return;
        }
        due.update_value(|d| *d += 1);
        after_paint_and_pause(move || {
            due.update_value(|d| *d = d.saturating_sub(1));
            // A later keystroke's update is still due: that one writes.
            if due.get_value() > 0 {
                return;
            }
            if let Some(next) = typed.get_untracked() {
                go(&next, true);
            }
        });
    };
    ViewQueryHandle {
        view,
        set: StoredValue::new(Box::new(set)),
    }
}

/// How long typing must pause before the URL takes the typed view.
pub const URL_AFTER_TYPING: std::time::Duration = std::time::Duration::from_millis(300);

/// Runs `f` once the next frame has been painted (a timeout queued from
/// the frame's callback runs after its paint) and [`URL_AFTER_TYPING`] has
/// passed; on the server, at once.
fn after_paint_and_pause(f: impl FnOnce() + 'static) {
    #[cfg(feature = "hydrate")]
    request_animation_frame(move || set_timeout(f, URL_AFTER_TYPING));
    #[cfg(not(feature = "hydrate"))]
    f();
}

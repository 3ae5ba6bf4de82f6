//! The viewer's filters, read from and written to the page URL.

use leptos::prelude::*;
use leptos_router::hooks::{use_location, use_navigate, use_query_map};
use leptos_router::NavigateOptions;

use crate::view_query::ViewQuery;

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
pub fn use_view_query() -> ViewQueryHandle {
    let query = use_query_map();
    let view = Memo::new(move |_| {
        query.with(|map| ViewQuery::from_pairs(map.into_iter().map(|(k, v)| (k.as_ref(), v))))
    });
    let navigate = use_navigate();
    let location = use_location();
    let set = move |next: ViewQuery, replace: bool| {
        let path = location.pathname.get_untracked();
        navigate(
            &format!("{path}{}", next.to_query_string()),
            NavigateOptions {
                replace,
                scroll: false,
                ..NavigateOptions::default()
            },
        );
    };
    ViewQueryHandle {
        view,
        set: StoredValue::new(Box::new(set)),
    }
}

//! The live log viewer: filter bar, virtualised rows, details pane.

use std::collections::BTreeSet;
use std::sync::Arc;

use leptos::html;
use leptos::prelude::*;

use crate::components::filter_bar::FilterBar;
use crate::components::log_details::LogDetails;
use crate::components::log_list::LogList;
use crate::hooks::use_log_stream::{use_log_stream, Keep, LogStream, StreamOptions};
use crate::hooks::use_view_query::{use_view_query, ViewQueryHandle};
use crate::log_entry::LogEntry;
use crate::search::Search;

/// How many entries the page keeps; older ones are dropped first.
pub const MAX_ROWS: usize = 100_000;
/// Entries replayed from the server's memory when the page opens.
pub const INITIAL_TAIL: usize = 2_000;

/// Everything the viewer's parts share.
#[derive(Clone, Copy, Debug)]
pub struct ViewerContext {
    pub stream: LogStream,
    pub query: ViewQueryHandle,
    /// Rows that pass the filters (the text too, unless highlight-only).
    pub keep: Memo<Keep>,
    /// The search whose matches are marked.
    pub highlight: Memo<Keep>,
    /// Why the search text is not a valid regex, if it is not.
    pub search_error: Memo<Option<String>>,
    /// Keep the newest row in view.
    pub follow: RwSignal<bool>,
    /// Rows that arrived below the view since following stopped.
    pub new_lines: RwSignal<usize>,
    pub utc: RwSignal<bool>,
    pub selected: RwSignal<Option<Arc<LogEntry>>>,
    /// The one process this viewer is about (the per-process page).
    pub fixed_process: StoredValue<Option<String>>,
    pub search_box: NodeRef<html::Input>,
    /// Ticks once a second: sparklines and relative times.
    pub tick: RwSignal<u64>,
}

impl ViewerContext {
    /// The viewer's state for all processes (`None`) or one.
    pub fn new(process: Option<String>) -> ViewerContext {
        let query = use_view_query();
        let initial_query = query
            .view
            .with_untracked(|v| v.hiding_filter().to_query_pairs())
            .into_iter()
            .fold(
                form_urlencoded::Serializer::new(String::new()),
                |mut s, (k, v)| {
                    s.append_pair(k, &v);
                    s
                },
            )
            .finish();
        let stream = use_log_stream(StreamOptions {
            capacity: MAX_ROWS,
            process: process.clone(),
            tail: INITIAL_TAIL,
            initial_query,
        });
        let fixed = process.clone();
        let keep = Memo::new(move |_| {
            let mut filter = query.view.with(|v| v.hiding_filter());
            if let Some(process) = &fixed {
                filter.processes = BTreeSet::from([process.clone()]);
            }
            let search = Search::new(&filter).ok().flatten();
            Keep { filter, search }
        });
        let highlight = Memo::new(move |_| {
            let filter = query.view.with(|v| v.filter.clone());
            let search = Search::new(&filter).ok().flatten();
            Keep { filter, search }
        });
        let search_error = Memo::new(move |_| query.view.with(|v| Search::new(&v.filter).err()));
        // The kept entries are indexed incrementally as they arrive; a new
        // filter (typed, or from back/forward) re-indexes them once.
        Effect::new(move |_| stream.set_keep(keep.get()));
        let tick = RwSignal::new(0u64);
        #[cfg(feature = "hydrate")]
        {
            if let Ok(handle) = set_interval_with_handle(
                move || tick.update(|t| *t += 1),
                std::time::Duration::from_secs(1),
            ) {
                on_cleanup(move || handle.clear());
            }
        }
        ViewerContext {
            stream,
            query,
            keep,
            highlight,
            search_error,
            follow: RwSignal::new(true),
            new_lines: RwSignal::new(0),
            utc: RwSignal::new(false),
            selected: RwSignal::new(None),
            fixed_process: StoredValue::new(process),
            search_box: NodeRef::new(),
            tick,
        }
    }
}

/// The viewer; its state comes from the page's [`ViewerContext`].
#[component]
pub fn LogViewer() -> impl IntoView {
    #[cfg(feature = "hydrate")]
    keyboard_shortcuts(expect_context::<ViewerContext>());
    view! {
        <section class="viewer" aria-label="Logs">
            <FilterBar/>
            <LogList/>
            <LogDetails/>
        </section>
    }
    .into_any()
}

/// `/` or Ctrl+F: search; Esc: close details, else clear the search; End:
/// follow; Space: pause or resume.
#[cfg(feature = "hydrate")]
fn keyboard_shortcuts(viewer: ViewerContext) {
    use leptos::ev;
    use wasm_bindgen::JsCast;

    let handle = window_event_listener(ev::keydown, move |event| {
        let typing = event
            .target()
            .and_then(|t| t.dyn_into::<web_sys::Element>().ok())
            .is_some_and(|el| matches!(el.tag_name().as_str(), "INPUT" | "TEXTAREA" | "SELECT"));
        let key = event.key();
        let focus_search = || {
            if let Some(input) = viewer.search_box.get_untracked() {
                let _ = input.focus();
                input.select();
            }
        };
        match key.as_str() {
            "/" if !typing => {
                event.prevent_default();
                focus_search();
            }
            "f" if event.ctrl_key() || event.meta_key() => {
                event.prevent_default();
                focus_search();
            }
            "Escape" => {
                if viewer.selected.get_untracked().is_some() {
                    viewer.selected.set(None);
                } else {
                    viewer.query.update(true, |view| view.filter.text.clear());
                    if let Some(input) = viewer.search_box.get_untracked() {
                        let _ = input.blur();
                    }
                }
            }
            "End" if !typing => {
                event.prevent_default();
                viewer.follow.set(true);
            }
            " " if !typing => {
                event.prevent_default();
                let paused = viewer.stream.paused.get_untracked();
                viewer.stream.set_paused(!paused);
            }
            _ => {}
        }
    });
    on_cleanup(move || handle.remove());
}

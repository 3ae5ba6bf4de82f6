//! The state every part of a log viewer shares: the live stream, the view
//! in the URL, the compiled filters, follow and selection.

use std::collections::BTreeSet;
use std::sync::Arc;

use leptos::html;
use leptos::prelude::*;

use crate::filter::{EntryFilter, LogFilter};
use crate::hooks::use_log_stream::{use_log_stream, HistorySource, LogStream, StreamOptions};
use crate::hooks::use_process_status::ProcessTable;
use crate::hooks::use_view_query::{use_view_query, ViewQueryHandle};
use crate::log_entry::LogEntry;
use crate::view_query::ViewQuery;

/// How many entries the page keeps; older ones are dropped first.
pub const MAX_ROWS: usize = 100_000;
/// Entries replayed from the server's memory when the page opens.
pub const INITIAL_TAIL: usize = 2_000;

/// Everything the viewer's parts share, provided as context by the page.
#[derive(Clone, Copy, Debug)]
pub struct ViewerContext {
    pub stream: LogStream,
    pub query: ViewQueryHandle,
    /// Rows that pass the filters (the text too, unless highlight-only).
    pub keep: Memo<EntryFilter>,
    /// The search whose matches are marked.
    pub highlight: Memo<EntryFilter>,
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
    /// Entries come from more than one node (a cluster): rows show theirs.
    pub many_nodes: Memo<bool>,
}

/// What the rows show outside "live": the view's filters (and the page's
/// process) and range as `GET /api/logs` parameters, and the linked entry.
pub fn history_source(view: &ViewQuery, process: Option<&str>) -> Option<HistorySource> {
    if view.is_live() {
        return None;
    }
    let mut filter = view.hiding_filter();
    if let Some(process) = process {
        filter.processes = BTreeSet::from([process.to_owned()]);
    }
    let mut query = form_urlencoded::Serializer::new(String::new());
    for (key, value) in filter.to_query_pairs() {
        query.append_pair(key, &value);
    }
    for (key, value) in view.range.iter().flat_map(|r| r.api_pairs()) {
        query.append_pair(key, &value);
    }
    Some(HistorySource {
        query: query.finish(),
        seq: view.seq,
    })
}

/// `filter` compiled; with a search that does not compile, the filter
/// without its text (the search box shows why).
fn compile(filter: LogFilter) -> EntryFilter {
    EntryFilter::new(filter.clone()).unwrap_or_else(|_| EntryFilter::fields_only(filter))
}

/// The viewer's state for all processes (`None`) or one.
pub fn use_viewer(process: Option<String>) -> ViewerContext {
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
    let fixed_keep = process.clone();
    let keep = Memo::new(move |_| {
        let mut filter = query.view.with(|v| v.hiding_filter());
        if let Some(process) = &fixed_keep {
            filter.processes = BTreeSet::from([process.clone()]);
        }
        compile(filter)
    });
    let highlight = Memo::new(move |_| compile(query.view.with(|v| v.filter.clone())));
    let search_error = Memo::new(move |_| {
        query
            .view
            .with(|v| EntryFilter::new(v.filter.clone()).err())
    });
    // The kept entries are indexed incrementally as they arrive; a new
    // filter (typed, or from back/forward) re-indexes them once.
    Effect::new(move |_| stream.set_keep(keep.get()));
    // Outside "live" (a time range, a linked entry) the rows are the
    // store's answer, fetched again when the view changes.
    let fixed = process.clone();
    Effect::new(move |_| {
        let (source, live) = query.view.with(|view| {
            let live = form_urlencoded::Serializer::new(String::new())
                .extend_pairs(view.hiding_filter().to_query_pairs())
                .finish();
            (history_source(view, fixed.as_deref()), live)
        });
        stream.show(source, live);
    });
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
    let table = use_context::<ProcessTable>();
    let many_nodes = Memo::new(move |_| table.is_some_and(|t| t.nodes().len() > 1));
    ViewerContext {
        many_nodes,
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

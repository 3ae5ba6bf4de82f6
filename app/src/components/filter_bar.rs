//! The controls above the rows: which processes, levels and streams, the
//! search box with its regex / case / highlight toggles, follow and pause,
//! time zone, download, theme and the connection badge.

use std::collections::BTreeSet;

use chrono::{DateTime, Utc};
use leptos::prelude::*;

use crate::components::connection_badge::{ClusterBadge, ConnectionBadge};
use crate::components::theme_toggle::ThemeToggle;
use crate::hooks::use_process_status::ProcessTable;
use crate::hooks::use_viewer::ViewerContext;
use crate::level::Level;
use crate::log_entry::Stream;
use crate::view_query::{RangePreset, TimeRange, ViewQuery};

#[component]
pub fn FilterBar() -> impl IntoView {
    let viewer = expect_context::<ViewerContext>();
    let query = viewer.query;
    let view_with = move |f: fn(&ViewQuery) -> bool| move || query.view.with(f);
    let shown = move || viewer.stream.store.with(|s| s.visible().len());
    let total = move || viewer.stream.store.with(|s| s.len());
    let fixed = viewer.fixed_process.get_value().is_some();

    let toggle = move |change: fn(&mut ViewQuery)| move |_| query.update(false, change);
    let download = move |format: &'static str| {
        move || {
            let mut view = query.view.get();
            if let Some(process) = viewer.fixed_process.get_value() {
                view.filter.processes = BTreeSet::from([process]);
            }
            let mut params = form_urlencoded::Serializer::new(String::new());
            for (key, value) in view.hiding_filter().to_query_pairs() {
                params.append_pair(key, &value);
            }
            // Outside "live", what the range holds.
            for (key, value) in view.range.iter().flat_map(|r| r.api_pairs()) {
                params.append_pair(key, &value);
            }
            params.append_pair("format", format);
            format!("/api/logs/download?{}", params.finish())
        }
    };

    view! {
        <header class="toolbar" role="toolbar" aria-label="Filters">
            <h1 class="brand"><a href="/">"Logdeck"</a></h1>
            {(!fixed).then(|| view! { <ProcessPicker/> })}
            <NodePicker/>
            <label class="control">
                <span>"Level"</span>
                <select
                    data-testid="level-filter"
                    aria-label="Minimum level"
                    on:change=move |ev| {
                        let level = event_target_value(&ev).parse::<Level>().ok();
                        query.update(false, move |view| view.filter.min_level = level);
                    }
                    prop:value=move || query.view.with(|v| v.filter.min_level.map(Level::as_str).unwrap_or_default())
                >
                    <option value="">"All levels"</option>
                    // `selected` as well as the property, so the server's
                    // page already shows the level from the URL.
                    {Level::ALL
                        .into_iter()
                        .map(|level| {
                            let selected = move || query.view.with(|v| v.filter.min_level == Some(level));
                            view! {
                                <option value=level.as_str() selected=selected>
                                    {format!("{} and above", level.as_str())}
                                </option>
                            }
                        })
                        .collect_view()}
                </select>
            </label>
            <fieldset class="control streams" aria-label="Streams">
                {[Stream::Stdout, Stream::Stderr, Stream::System]
                    .into_iter()
                    .map(|stream| {
                        let on = move || query.view.with(|v| v.filter.streams.is_empty() || v.filter.streams.contains(&stream));
                        let label = match stream {
                            Stream::System => "events",
                            other => other.as_str(),
                        };
                        view! {
                            <label class="stream-toggle" title=format!("Show {} lines", stream.as_str())>
                                <input
                                    type="checkbox"
                                    data-testid=format!("stream-{}", stream.as_str())
                                    checked=on
                                    prop:checked=on
                                    on:change=move |ev| {
                                        let checked = event_target_checked(&ev);
                                        query.update(false, move |view| {
                                            let streams = &mut view.filter.streams;
                                            if streams.is_empty() {
                                                streams.extend(Stream::ALL);
                                            }
                                            if checked {
                                                streams.insert(stream);
                                            } else {
                                                streams.remove(&stream);
                                            }
                                            if streams.len() == Stream::ALL.len() {
                                                streams.clear();
                                            }
                                        });
                                    }
                                />
                                {label}
                            </label>
                        }
                    })
                    .collect_view()}
            </fieldset>
            <div class="search-group" class:invalid=move || viewer.search_error.get().is_some()>
                <input
                    class="search"
                    type="search"
                    placeholder="Search  ( / )"
                    aria-label="Search messages"
                    data-testid="search"
                    node_ref=viewer.search_box
                    value=move || query.view.with(|v| v.filter.text.clone())
                    on:input=move |ev| {
                        let text = event_target_value(&ev);
                        query.update(true, move |view| view.filter.text = text);
                    }
                    prop:value=move || query.view.with(|v| v.filter.text.clone())
                />
                <button type="button" class="toggle" data-testid="search-regex" title="Regular expression"
                    aria-pressed=move || view_with(|v| v.filter.regex)().to_string()
                    on:click=toggle(|v| v.filter.regex = !v.filter.regex)>".*"</button>
                <button type="button" class="toggle" data-testid="search-case" title="Match case"
                    aria-pressed=move || view_with(|v| v.filter.case_sensitive)().to_string()
                    on:click=toggle(|v| v.filter.case_sensitive = !v.filter.case_sensitive)>"Aa"</button>
                <button type="button" class="toggle" data-testid="search-highlight"
                    title="Highlight matches without hiding other lines"
                    aria-pressed=move || view_with(|v| v.highlight_only)().to_string()
                    on:click=toggle(|v| v.highlight_only = !v.highlight_only)>"highlight"</button>
                <span class="search-error" data-testid="search-error" role="alert">
                    {move || viewer.search_error.get().map(|e| format!("invalid regex: {e}"))}
                </span>
            </div>
            <RangePicker/>
            <div class="control-group">
                <button type="button" data-testid="follow" aria-pressed=move || viewer.follow.get().to_string()
                    title="Keep the newest line in view (End)"
                    on:click=move |_| viewer.follow.update(|f| *f = !*f)>"Follow"</button>
                <button type="button" data-testid="pause" aria-pressed=move || viewer.stream.paused.get().to_string()
                    title="Hold new lines back without losing them (Space)"
                    on:click=move |_| viewer.stream.set_paused(!viewer.stream.paused.get_untracked())>
                    {move || if viewer.stream.paused.get() { "Resume" } else { "Pause" }}
                </button>
                <button type="button" data-testid="utc" aria-pressed=move || viewer.utc.get().to_string()
                    title="Show times in UTC instead of local time"
                    on:click=move |_| viewer.utc.update(|u| *u = !*u)>"UTC"</button>
                <button type="button" data-testid="clear" title="Forget the lines shown so far"
                    on:click=move |_| viewer.stream.clear()>"Clear"</button>
                <a class="button" data-testid="download-txt" href=download("txt") download title="Download the filtered logs as text">"⤓ txt"</a>
                <a class="button" data-testid="download-jsonl" href=download("jsonl") download title="Download the filtered logs as JSON Lines">"⤓ jsonl"</a>
                <ThemeToggle/>
            </div>
            <span class="row-count" data-testid="row-count">{shown} " of " {total} " lines"</span>
            <Show when=move || { viewer.stream.skipped.get() > 0 }>
                <span class="skipped-count" data-testid="skipped-count" role="status"
                    title="Lines that came faster than this page could show them; the list marks where">
                    {move || format!("{} skipped", viewer.stream.skipped.get())}
                </span>
            </Show>
            <ConnectionBadge status=viewer.stream.status/>
            <ClusterBadge/>
        </header>
    }
}

/// Live, or the stored lines of a time range: the presets, or "custom"
/// (typed in, or dragged on the histogram).
#[component]
fn RangePicker() -> impl IntoView {
    let viewer = expect_context::<ViewerContext>();
    let query = viewer.query;
    // "custom" chosen, its times not applied yet.
    let editing = RwSignal::new(false);
    let current = move || {
        query.view.with(|v| match (&v.range, v.seq) {
            (_, Some(_)) => "context".to_owned(),
            _ if editing.get() => "custom".to_owned(),
            (Some(TimeRange::Last(preset)), None) => preset.as_str().to_owned(),
            (Some(TimeRange::Between { .. }), None) => "custom".to_owned(),
            (None, None) => "live".to_owned(),
        })
    };
    let custom_shown = move || current() == "custom";
    // The range the custom fields start from: the one shown, else the last
    // hour.
    let shown_bounds = move || {
        let now = Utc::now();
        query.view.with(|v| match v.range {
            Some(range) => range.bounds(now),
            None => TimeRange::Last(RangePreset::Hour1).bounds(now),
        })
    };
    view! {
        <div class="range-picker">
            <label class="control">
                <span>"Time"</span>
                <select
                    data-testid="range"
                    aria-label="Time range"
                    prop:value=current
                    on:change=move |ev| {
                        let value = event_target_value(&ev);
                        if value == "context" {
                            return;
                        }
                        if value == "custom" {
                            editing.set(true);
                            return;
                        }
                        editing.set(false);
                        query.update(false, move |view| {
                            view.range = RangePreset::parse(&value).map(TimeRange::Last);
                            view.seq = None;
                        });
                    }
                >
                    <option value="live" selected=move || current() == "live">"live"</option>
                    {RangePreset::ALL
                        .into_iter()
                        .map(|preset| {
                            view! {
                                <option value=preset.as_str() selected=move || current() == preset.as_str()>
                                    {preset.label()}
                                </option>
                            }
                        })
                        .collect_view()}
                    <option value="custom" selected=move || current() == "custom">"custom…"</option>
                    <option value="context" selected=move || current() == "context" disabled=true>"around a line"</option>
                </select>
            </label>
            <Show when=custom_shown>
                <CustomRange editing=editing bounds=Signal::derive(shown_bounds)/>
            </Show>
        </div>
    }
}

/// Two times typed in (in the viewer's zone, or UTC with the UTC toggle
/// on) and "Apply"; they show the range dragged on the histogram too.
#[component]
fn CustomRange(
    editing: RwSignal<bool>,
    bounds: Signal<(DateTime<Utc>, DateTime<Utc>)>,
) -> impl IntoView {
    let viewer = expect_context::<ViewerContext>();
    let query = viewer.query;
    let from_input = NodeRef::<leptos::html::Input>::new();
    let to_input = NodeRef::<leptos::html::Input>::new();
    let error = RwSignal::new(None::<&'static str>);
    // The field's text for one end of the range (`end` 0 or 1).
    let shown = move |end: usize| {
        let (from, to) = bounds.get();
        crate::format::input_time(if end == 0 { &from } else { &to }, viewer.utc.get())
    };
    let apply = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let utc = viewer.utc.get_untracked();
        let read = |input: NodeRef<leptos::html::Input>| {
            input
                .get_untracked()
                .and_then(|i| crate::format::parse_input_time(&i.value(), utc))
        };
        let (Some(from), Some(to)) = (read(from_input), read(to_input)) else {
            error.set(Some("both times are needed, as date and time"));
            return;
        };
        if from >= to {
            error.set(Some("the start must be before the end"));
            return;
        }
        error.set(None);
        editing.set(false);
        query.update(false, move |view| {
            view.range = Some(TimeRange::Between { from, to });
            view.seq = None;
        });
    };
    let zone = move || {
        if viewer.utc.get() {
            "UTC"
        } else {
            "local time"
        }
    };
    view! {
        <form class="range-custom" data-testid="range-custom" on:submit=apply>
            <input type="datetime-local" step="1" data-testid="range-from" aria-label="From"
                node_ref=from_input prop:value=move || shown(0)/>
            <span aria-hidden="true">"–"</span>
            <input type="datetime-local" step="1" data-testid="range-to" aria-label="To"
                node_ref=to_input prop:value=move || shown(1)/>
            <span class="range-zone">{zone}</span>
            <button type="submit" data-testid="range-apply">"Apply"</button>
            <Show when=move || editing.get()>
                <button type="button" data-testid="range-cancel"
                    on:click=move |_| {
                        error.set(None);
                        editing.set(false);
                    }>"Cancel"</button>
            </Show>
            <span class="range-error" data-testid="range-error" role="alert">{move || error.get()}</span>
        </form>
    }
}

/// A drop-down of checkboxes, one per process seen, with its line count.
#[component]
fn ProcessPicker() -> impl IntoView {
    let viewer = expect_context::<ViewerContext>();
    let query = viewer.query;
    // Every configured process (once the table arrives), every process
    // seen in the logs, and every one named in the URL.
    let table = use_context::<ProcessTable>();
    let names = move || {
        let mut names: BTreeSet<String> = viewer
            .stream
            .store
            .with(|s| s.counts().keys().cloned().collect());
        names.extend(query.view.with(|v| v.filter.processes.clone()));
        if let Some(table) = table {
            table
                .processes
                .with(|all| names.extend(all.iter().map(|p| p.name.clone())));
        }
        names.into_iter().collect::<Vec<_>>()
    };
    let summary = move || {
        query.view.with(|v| match v.filter.processes.len() {
            0 => "All processes".to_owned(),
            1 => v
                .filter
                .processes
                .iter()
                .next()
                .cloned()
                .unwrap_or_default(),
            n => format!("{n} processes"),
        })
    };
    view! {
        <details class="process-picker">
            <summary data-testid="process-filter" aria-label="Processes">{summary}</summary>
            <div class="picker-menu" role="group" aria-label="Show processes">
                <button type="button" data-testid="process-all" on:click=move |_| query.update(false, |v| v.filter.processes.clear())>
                    "All processes"
                </button>
                <For each=names key=|name| name.clone() let:name>
                    <ProcessOption name/>
                </For>
            </div>
        </details>
    }
}

#[component]
fn ProcessOption(name: String) -> impl IntoView {
    let viewer = expect_context::<ViewerContext>();
    let query = viewer.query;
    let checked_name = name.clone();
    let is_checked = Memo::new(move |_| {
        query
            .view
            .with(|v| v.filter.processes.contains(&checked_name))
    });
    let count_name = name.clone();
    let toggle_name = name.clone();
    view! {
        <label class="picker-option">
            <input
                type="checkbox"
                data-testid=format!("process-option-{name}")
                checked=is_checked
                prop:checked=is_checked
                on:change=move |ev| {
                    let checked = event_target_checked(&ev);
                    let name = toggle_name.clone();
                    query.update(false, move |view| {
                        if checked {
                            view.filter.processes.insert(name);
                        } else {
                            view.filter.processes.remove(&name);
                        }
                    });
                }
            />
            <span class="option-name">{name.clone()}</span>
            <span class="option-count">
                {move || viewer.stream.store.with(|s| s.counts().get(&count_name).copied().unwrap_or(0))}
            </span>
        </label>
    }
}

/// In a cluster of several nodes: show every node, or one.
#[component]
fn NodePicker() -> impl IntoView {
    let viewer = expect_context::<ViewerContext>();
    let query = viewer.query;
    let table = use_context::<ProcessTable>();
    let nodes = move || table.map(|t| t.nodes()).unwrap_or_default();
    move || {
        let nodes = nodes();
        (nodes.len() > 1).then(|| {
            view! {
                <label class="control">
                    <span>"Node"</span>
                    <select
                        data-testid="node-filter"
                        aria-label="Node"
                        on:change=move |ev| {
                            let node = event_target_value(&ev);
                            query.update(false, move |view| {
                                view.filter.nodes.clear();
                                if !node.is_empty() {
                                    view.filter.nodes.insert(node);
                                }
                            });
                        }
                        prop:value=move || query.view.with(|v| v.filter.nodes.iter().next().cloned().unwrap_or_default())
                    >
                        <option value="">"All nodes"</option>
                        {nodes
                            .into_iter()
                            .map(|node| {
                                let selected_node = node.clone();
                                let selected = move || query.view.with(|v| v.filter.nodes.contains(&selected_node));
                                view! { <option value=node.clone() selected=selected>{node.clone()}</option> }
                            })
                            .collect_view()}
                    </select>
                </label>
            }
        })
    }
}

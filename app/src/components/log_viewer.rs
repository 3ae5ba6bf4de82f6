//! The live log viewer: filters, connection state and the table of entries.

use std::collections::BTreeSet;
use std::sync::Arc;

use leptos::html;
use leptos::prelude::*;

use crate::components::connection_badge::ConnectionBadge;
use crate::components::log_row::LogRow;
use crate::filter::LogFilter;
use crate::hooks::use_log_stream::use_log_stream;
use crate::level::Level;
use crate::log_entry::LogEntry;
use crate::ring_buffer::RingBuffer;

/// How many entries the page keeps; older ones are dropped first.
pub const MAX_ROWS: usize = 10_000;

/// Distance from the bottom, in pixels, that still counts as "at the bottom".
const BOTTOM_SLACK: i32 = 8;

#[component]
pub fn LogViewer() -> impl IntoView {
    let stream = use_log_stream(MAX_ROWS);
    let process = RwSignal::new(String::new());
    let min_level = RwSignal::new(None::<Level>);
    let text = RwSignal::new(String::new());
    let follow = RwSignal::new(true);

    let filter = Memo::new(move |_| LogFilter {
        processes: process.with(|name| {
            if name.is_empty() {
                BTreeSet::new()
            } else {
                BTreeSet::from([name.clone()])
            }
        }),
        min_level: min_level.get(),
        text: text.get(),
        ..LogFilter::default()
    });
    // Every change of the entries or the filter yields a new list, so the
    // default equality check would only cost a walk over both lists.
    let visible = Memo::new_with_compare(
        move |_| {
            filter.with(|filter| {
                let matcher = filter.substring_matcher();
                stream.entries.with(|ring| {
                    ring.iter()
                        .filter(|entry| matcher.matches(entry))
                        .cloned()
                        .collect::<Vec<Arc<LogEntry>>>()
                })
            })
        },
        |_, _| true,
    );

    let scroller = NodeRef::<html::Div>::new();
    let last_scroll_top = StoredValue::new(0);
    // Keep the newest row in view while following; runs after the rows render.
    Effect::new(move |_| {
        visible.track();
        if follow.get() {
            request_animation_frame(move || {
                if let Some(el) = scroller.get_untracked() {
                    el.set_scroll_top(el.scroll_height());
                }
            });
        }
    });
    // Scrolling up stops following; reaching the bottom again resumes it.
    // Appending rows never lowers scrollTop, so only the reader can.
    let on_scroll = move |_| {
        let Some(el) = scroller.get_untracked() else {
            return;
        };
        let top = el.scroll_top();
        let at_bottom = el.scroll_height() - top - el.client_height() <= BOTTOM_SLACK;
        if at_bottom {
            follow.set(true);
        } else if top < last_scroll_top.get_value() {
            follow.set(false);
        }
        last_scroll_top.set_value(top);
    };

    let process_names = move || {
        stream
            .process_counts
            .with(|counts| counts.keys().cloned().collect::<Vec<_>>())
    };
    let shown = move || visible.with(Vec::len);
    let total = move || stream.entries.with(RingBuffer::len);

    view! {
        <div class="viewer">
            <header class="toolbar">
                <h1 class="brand">"Logdeck"</h1>
                <label class="control">
                    <span>"Process"</span>
                    <select
                        data-testid="process-filter"
                        aria-label="Process"
                        on:change=move |ev| process.set(event_target_value(&ev))
                        prop:value=move || process.get()
                    >
                        <option value="">"All processes"</option>
                        <For each=process_names key=|name| name.clone() let:name>
                            <ProcessOption name stream_counts=stream.process_counts selected=process/>
                        </For>
                    </select>
                </label>
                <label class="control">
                    <span>"Level"</span>
                    <select
                        data-testid="level-filter"
                        aria-label="Minimum level"
                        on:change=move |ev| min_level.set(event_target_value(&ev).parse().ok())
                        prop:value=move || min_level.get().map(Level::as_str).unwrap_or_default()
                    >
                        <option value="">"All levels"</option>
                        {Level::ALL
                            .into_iter()
                            .map(|level| {
                                view! {
                                    <option value=level.as_str()>
                                        {format!("{} and above", level.as_str())}
                                    </option>
                                }
                            })
                            .collect_view()}
                    </select>
                </label>
                <input
                    class="search"
                    type="search"
                    placeholder="Search messages"
                    aria-label="Search messages"
                    data-testid="search"
                    on:input=move |ev| text.set(event_target_value(&ev))
                    prop:value=move || text.get()
                />
                <label class="control follow">
                    <input
                        type="checkbox"
                        data-testid="follow"
                        prop:checked=move || follow.get()
                        on:change=move |ev| follow.set(event_target_checked(&ev))
                    />
                    <span>"Follow"</span>
                </label>
                <button type="button" data-testid="clear" on:click=move |_| stream.clear()>
                    "Clear"
                </button>
                <span class="row-count" data-testid="row-count">
                    {shown} " of " {total} " lines"
                </span>
                <ConnectionBadge status=stream.status/>
            </header>
            <div class="log-scroll" node_ref=scroller on:scroll=on_scroll>
                <table class="log-table" data-testid="log-table">
                    <thead>
                        <tr>
                            <th class="time">"Time"</th>
                            <th class="level">"Level"</th>
                            <th class="process">"Process"</th>
                            <th class="message">"Message"</th>
                        </tr>
                    </thead>
                    <tbody>
                        <For
                            each=move || visible.get()
                            key=|entry| entry.seq
                            children=|entry| view! { <LogRow entry/> }
                        />
                    </tbody>
                </table>
                <Show when=move || visible.with(Vec::is_empty)>
                    <p class="empty" data-testid="empty">
                        {move || {
                            if total() == 0 {
                                "Waiting for log lines…"
                            } else {
                                "No lines match the filters."
                            }
                        }}
                    </p>
                </Show>
            </div>
        </div>
    }
}

/// One entry of the process filter, with its count of kept lines.
#[component]
fn ProcessOption(
    name: String,
    stream_counts: RwSignal<std::collections::BTreeMap<String, usize>>,
    selected: RwSignal<String>,
) -> impl IntoView {
    let label_name = name.clone();
    let count_name = name.clone();
    let selected_name = name.clone();
    view! {
        <option value=name selected=move || selected.with(|s| *s == selected_name)>
            {label_name} " ("
            {move || stream_counts.with(|counts| counts.get(&count_name).copied().unwrap_or(0))}
            ")"
        </option>
    }
}

#[cfg(all(test, feature = "ssr"))]
mod tests {
    use super::*;

    fn render() -> String {
        let owner = Owner::new();
        owner.with(|| view! { <LogViewer/> }.to_html())
    }

    #[test]
    fn renders_the_controls_and_an_empty_table_on_the_server() {
        let html = render();
        for test_id in [
            "process-filter",
            "level-filter",
            "search",
            "follow",
            "row-count",
            "log-table",
            "connection-status",
        ] {
            assert!(
                html.contains(&format!("data-testid=\"{test_id}\"")),
                "{test_id} missing"
            );
        }
        assert!(
            html.contains(">connecting<"),
            "the badge starts as connecting"
        );
        assert!(html.contains("Waiting for log lines"));
        assert!(!html.contains("data-testid=\"log-row\""));
    }

    #[test]
    fn offers_every_level_as_a_minimum() {
        let html = render();
        for level in Level::ALL {
            assert!(
                html.contains(&format!("value=\"{}\"", level.as_str())),
                "{level}"
            );
        }
    }
}

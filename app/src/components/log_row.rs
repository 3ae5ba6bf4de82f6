//! One row of the list: time, level, process and the message's first line
//! with its ANSI colours and search matches. Text is always set as text
//! nodes, so markup in a log line shows as text and never runs.
//!
//! A row is a slot of the list's window, not one entry: when the window
//! moves (every frame while following a busy stream) the same elements
//! show other entries, their attributes and text updated in place, instead
//! of a row being built and another torn down per entry.

use std::sync::Arc;

use leptos::either::EitherOf3;
use leptos::prelude::*;

use crate::ansi::parse_ansi;
use crate::filter::EntryFilter;
use crate::format;
use crate::hooks::use_viewer::ViewerContext;
use crate::log_entry::LogEntry;
use crate::search::highlight_segments;

/// The entry a row shows; equal only to itself, so that a slot updates
/// when it is given another entry, however alike, and never compares text.
#[derive(Clone, Debug)]
pub struct Shown(pub Arc<LogEntry>);

impl PartialEq for Shown {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

/// `entry` is what the row shows; `kind` whether its slot holds an entry
/// at all (`None`: it is past the window, about to be removed) and if so
/// whether it is a notice (`Some(Some(dropped))`) or a line.
#[component]
pub fn LogRow(entry: Memo<Shown>, kind: Memo<Option<Option<u64>>>) -> impl IntoView {
    let viewer = expect_context::<ViewerContext>();
    // Only a change of kind rebuilds the row.
    move || match kind.get() {
        None => EitherOf3::A(()),
        Some(Some(dropped)) => EitherOf3::B(view! {
            <div class="log-row marker" data-testid="marker-row" data-dropped=dropped role="row">
                <span class="marker-text">"⚠ " {move || entry.with(|e| e.0.message.clone())}</span>
            </div>
        }),
        Some(None) => EitherOf3::C(entry_row(viewer, entry)),
    }
}

/// A row for an entry that is a line (not a notice).
fn entry_row(viewer: ViewerContext, entry: Memo<Shown>) -> impl IntoView {
    let seq = move || entry.with(|e| e.0.seq);
    let selected = move || {
        let seq = seq();
        viewer
            .selected
            .with(|s| s.as_ref().is_some_and(|e| e.seq == seq))
    };
    let linked = move || {
        let seq = seq();
        viewer.query.view.with(|v| v.seq == Some(seq))
    };
    let first_line =
        move || entry.with(|e| e.0.message.lines().next().unwrap_or_default().to_owned());
    let more_lines = move || entry.with(|e| e.0.message.lines().count().saturating_sub(1));
    view! {
        <div
            class=move || entry.with(|e| format!("log-row level-{}", e.0.level.css_class()))
            class:selected=selected
            class:continued=move || entry.with(|e| e.0.continued)
            class:linked=linked
            data-testid="log-row"
            data-level=move || entry.with(|e| e.0.level.as_str())
            data-process=move || entry.with(|e| e.0.process_name.clone())
            data-stream=move || entry.with(|e| e.0.stream.as_str())
            data-seq=seq
            role="row"
            on:click=move |_| viewer.selected.set(Some(entry.get_untracked().0))
        >
            <span class="cell time" on:mouseenter=move |ev| {
                let timestamp = entry.with_untracked(|e| e.0.timestamp);
                show_relative_time(&ev, &timestamp, viewer.utc.get_untracked())
            }>
                // Its "#" comes from the stylesheet, so the cell's text is
                // the time alone.
                <a class="row-link" href=move || format!("/?seq={}", seq()) title="Link to this line (its context)"
                    aria-label="Link to this line" data-testid="row-link"></a>
                {move || {
                    let timestamp = entry.with(|e| e.0.timestamp);
                    format::time_of_day(&timestamp, viewer.utc.get())
                }}
            </span>
            <span class="cell level"><span class="level-badge">{move || entry.with(|e| e.0.level.as_str())}</span></span>
            <span class="cell process">
                {move || entry.with(|e| e.0.node.clone()).filter(|_| viewer.many_nodes.get()).map(|node| view! {
                    <span class="row-node" data-testid="row-node">{node}</span>
                })}
                {move || entry.with(|e| e.0.process_name.clone())}
            </span>
            <span class="cell message">
                {move || {
                    let first_line = first_line();
                    viewer.highlight.with(|highlight| message_view(&first_line, highlight))
                }}
                {move || {
                    let more_lines = more_lines();
                    (more_lines > 0).then(|| view! { <span class="more-lines">{format!("  ⏎ {more_lines} more")}</span> })
                }}
            </span>
        </div>
    }
}

/// The hover title of a time cell: how long ago, and the exact time.
fn show_relative_time(
    event: &leptos::ev::MouseEvent,
    timestamp: &chrono::DateTime<chrono::Utc>,
    utc: bool,
) {
    #[cfg(feature = "hydrate")]
    {
        let cell = event_target::<web_sys::HtmlElement>(event);
        let now = chrono::Utc::now();
        cell.set_title(&format!(
            "{} — {}",
            format::relative(timestamp, &now),
            format::full_time(timestamp, utc)
        ));
    }
    #[cfg(not(feature = "hydrate"))]
    let _ = (event, timestamp, utc);
}

/// A message with its ANSI styles as spans and search matches as `<mark>`.
pub fn message_view(text: &str, highlight: &EntryFilter) -> impl IntoView {
    let spans = parse_ansi(text);
    let ranges = highlight
        .search()
        .map(|search| {
            let stripped: String = spans.iter().map(|s| s.text.as_str()).collect();
            search.ranges(&stripped)
        })
        .unwrap_or_default();
    highlight_segments(&spans, &ranges)
        .into_iter()
        .map(|segment| {
            let style = &spans[segment.span].style;
            let nonempty = |s: String| (!s.is_empty()).then_some(s);
            let (class, css) = (nonempty(style.classes()), nonempty(style.inline_css()));
            if segment.highlighted {
                EitherOf3::A(view! { <mark class=class style=css>{segment.text}</mark> })
            } else if style.is_plain() {
                EitherOf3::B(segment.text)
            } else {
                EitherOf3::C(view! { <span class=class style=css>{segment.text}</span> })
            }
        })
        .collect_view()
}

#[cfg(all(test, feature = "ssr"))]
mod tests {
    use super::*;
    use crate::filter::LogFilter;

    fn render(text: &str, search: &str) -> String {
        let filter = LogFilter {
            text: search.into(),
            ..LogFilter::default()
        };
        let keep = EntryFilter::new(filter).expect("valid");
        let text = text.to_owned();
        Owner::new().with(|| view! { <p>{message_view(&text, &keep)}</p> }.to_html())
    }

    #[test]
    fn markup_in_a_message_is_rendered_as_text() {
        let html = render("<img src=x onerror=alert(1)> & <b>bold</b>", "");
        assert!(!html.contains("<img"), "{html}");
        assert!(!html.contains("<b>"), "{html}");
        assert!(
            html.contains("&lt;img src=x onerror=alert(1)&gt;"),
            "{html}"
        );
    }

    #[test]
    fn ansi_colours_become_classes_and_matches_marks() {
        let html = render("\u{1b}[31mERROR\u{1b}[0m disk <full>", "disk");
        assert!(
            html.contains(r#"<span class="ansi-fg-1">ERROR</span>"#),
            "{html}"
        );
        assert!(html.contains("<mark"), "{html}");
        assert!(html.contains(">disk</mark>"), "{html}");
        assert!(html.contains("&lt;full&gt;"), "{html}");
        assert!(!html.contains('\u{1b}'), "{html}");
    }

    #[test]
    fn extended_colours_are_inline_styles() {
        let html = render("\u{1b}[38;2;1;2;3mrgb", "");
        assert!(html.contains(r#"style="color:rgb(1,2,3);""#), "{html}");
    }
}

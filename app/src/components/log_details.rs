//! The details of the row clicked: every field, the whole message (all its
//! lines, with colours), JSON pretty-printed, and a copy button.

use leptos::prelude::*;

use crate::components::log_row::message_view;
use crate::filter::EntryFilter;
use crate::format;
use crate::hooks::use_viewer::ViewerContext;
use crate::log_entry::format_timestamp;

#[component]
pub fn LogDetails() -> impl IntoView {
    let viewer = expect_context::<ViewerContext>();
    let copied = RwSignal::new(false);
    move || {
        viewer.selected.get().map(|entry| {
            let message = entry.message.clone();
            let pretty = format::pretty_json(&message);
            let copy_text = message.clone();
            let timestamp = entry.timestamp;
            let plain = EntryFilter::default();
            view! {
                <aside class="log-details" data-testid="log-details" aria-label="Entry details">
                    <header class="details-head">
                        <span class=format!("level-badge level-{}", entry.level.css_class())>{entry.level.as_str()}</span>
                        <strong class="details-process">{entry.process_name.clone()}</strong>
                        <a class="button" data-testid="show-in-context" href=context_link(&viewer, entry.seq)
                            title="The lines of every process around this one">"show in context"</a>
                        <button
                            type="button"
                            data-testid="copy-line"
                            on:click=move |_| {
                                copy_to_clipboard(&copy_text);
                                copied.set(true);
                            }
                        >
                            {move || if copied.get() { "copied" } else { "copy line" }}
                        </button>
                        <button
                            type="button"
                            class="close"
                            data-testid="close-details"
                            aria-label="Close details"
                            on:click=move |_| {
                                copied.set(false);
                                viewer.selected.set(None);
                            }
                        >
                            "×"
                        </button>
                    </header>
                    <dl class="details-fields">
                        <dt>"time"</dt>
                        <dd data-testid="detail-time">{move || format::full_time(&timestamp, viewer.utc.get())}</dd>
                        <dt>"timestamp"</dt>
                        <dd>{format_timestamp(&timestamp)}</dd>
                        <dt>"seq"</dt>
                        <dd data-testid="detail-seq">{entry.seq}</dd>
                        <dt>"pid"</dt>
                        <dd data-testid="detail-pid">{entry.pid.map(|p| p.to_string()).unwrap_or_else(|| "—".into())}</dd>
                        <dt>"stream"</dt>
                        <dd data-testid="detail-stream">{entry.stream.as_str()}</dd>
                    </dl>
                    {pretty.map(|json| view! { <pre class="details-json" data-testid="detail-json">{json}</pre> })}
                    <pre class="details-message" data-testid="detail-message">
                        {message.lines().map(|line| view! { <div>{message_view(line, &plain)}</div> }).collect_view()}
                    </pre>
                </aside>
            }
        })
    }
}

/// `/?seq=N`: the lines around entry `seq`; with the current search marked
/// (not hiding anything) when there is one.
fn context_link(viewer: &ViewerContext, seq: u64) -> String {
    let text = viewer.query.view.with_untracked(|v| v.filter.clone());
    let mut query = form_urlencoded::Serializer::new(String::new());
    query.append_pair("seq", &seq.to_string());
    if !text.text.is_empty() {
        query.append_pair("q", &text.text);
        if text.regex {
            query.append_pair("regex", "1");
        }
        if text.case_sensitive {
            query.append_pair("case", "1");
        }
        query.append_pair("hl", "1");
    }
    format!("/?{}", query.finish())
}

fn copy_to_clipboard(text: &str) {
    #[cfg(feature = "hydrate")]
    {
        let _ = window().navigator().clipboard().write_text(text);
    }
    #[cfg(not(feature = "hydrate"))]
    let _ = text;
}

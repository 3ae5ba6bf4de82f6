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

fn copy_to_clipboard(text: &str) {
    #[cfg(feature = "hydrate")]
    {
        let _ = window().navigator().clipboard().write_text(text);
    }
    #[cfg(not(feature = "hydrate"))]
    let _ = text;
}

//! The banner of firing alerts above the logs: each rule's name, since
//! when, for which process, and a link to the line that fired it.

use leptos::prelude::*;

use crate::hooks::use_alerts::{alert_link, FiringAlerts};
use crate::hooks::use_viewer::ViewerContext;

#[component]
pub fn AlertBanner() -> impl IntoView {
    let alerts = expect_context::<FiringAlerts>();
    let viewer = expect_context::<ViewerContext>();
    view! {
        <Show when=move || alerts.firing.with(|a| !a.is_empty())>
            <ul class="alert-banner" data-testid="alert-banner" role="status" aria-label="Firing alerts">
                <For
                    each=move || alerts.firing.get()
                    key=|alert| (alert.name.clone(), alert.seq, alert.firing_since)
                    let:alert
                >
                    {
                        let since = alert.firing_since.map(|t| {
                            crate::format::full_time(&t, viewer.utc.get_untracked())
                        });
                        let subject = match (&alert.process, &alert.node) {
                            (Some(p), Some(n)) => format!(" · {p} on {n}"),
                            (Some(p), None) => format!(" · {p}"),
                            (None, Some(n)) => format!(" · node {n}"),
                            (None, None) => String::new(),
                        };
                        let link_text = if alert.seq.is_some() { "show the line" } else { "open the process" };
                        view! {
                            <li class="alert" data-testid="alert">
                                <span class="alert-mark" aria-hidden="true">"▲"</span>
                                <strong class="alert-name">{alert.name.clone()}</strong>
                                <span class="alert-when">{format!(" ({})", alert.when)}</span>
                                <span class="alert-since">
                                    {since.map(|s| format!(" firing since {s}"))}
                                </span>
                                <span class="alert-subject">{subject}</span>
                                " "
                                <a class="alert-link" data-testid="alert-link" href=alert_link(&alert)>{link_text}</a>
                            </li>
                        }
                    }
                </For>
            </ul>
        </Show>
    }
}

//! The badge that tells whether the page is receiving live entries.

use leptos::prelude::*;

use crate::hooks::use_log_stream::ConnectionStatus;

#[component]
pub fn ConnectionBadge(status: RwSignal<ConnectionStatus>) -> impl IntoView {
    view! {
        <span
            class=move || format!("connection-badge {}", status.get().css_class())
            data-testid="connection-status"
            role="status"
            aria-live="polite"
        >
            {move || status.get().label()}
        </span>
    }
}

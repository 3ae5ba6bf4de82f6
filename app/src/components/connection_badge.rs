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

/// In a cluster, how this node's link to the others stands: shown while it
/// is not connected ("cluster: connecting", "cluster: disconnected").
#[component]
pub fn ClusterBadge() -> impl IntoView {
    let status = RwSignal::new(None::<String>);
    // Asked once the first rows are shown (see hooks::startup).
    #[cfg(feature = "hydrate")]
    crate::hooks::startup::use_startup().then(move || {
        crate::hooks::reconnect::run_while_mounted(move || async move {
            loop {
                if let Ok(info) = crate::api::fetch_info().await {
                    status.set(info.cluster.map(|c| c.status));
                }
                crate::hooks::reconnect::sleep(std::time::Duration::from_secs(5)).await;
            }
        });
    });
    move || {
        status
            .get()
            .filter(|s| s != "connected")
            .map(|s| {
                view! {
                    <span class="connection-badge reconnecting" data-testid="cluster-status" role="status">
                        {format!("cluster: {s}")}
                    </span>
                }
            })
    }
}

//! `/`: every process's logs, merged, beside the process panel.

use leptos::prelude::*;

use crate::components::log_viewer::LogViewer;
use crate::components::process_panel::ProcessPanel;
use crate::hooks::use_alerts::use_alerts;
use crate::hooks::use_process_status::use_process_status;
use crate::hooks::use_viewer::use_viewer;

#[component]
pub fn LogsPage() -> impl IntoView {
    provide_context(use_process_status());
    provide_context(use_viewer(None));
    provide_context(use_alerts());
    view! {
        <div class="page logs-page">
            <ProcessPanel/>
            <LogViewer/>
        </div>
    }
}

//! `/processes/{name}`: one process's logs since its last start, and its
//! controls (`?node=` names its node in a cluster; the same key filters
//! the logs to that node).

use leptos::prelude::*;
use leptos_router::hooks::{use_params_map, use_query_map};

use crate::components::log_viewer::LogViewer;
use crate::components::process_controls::{ProcessControls, ProcessFacts};
use crate::hooks::use_process_status::use_process_status;
use crate::hooks::use_viewer::use_viewer;

#[component]
pub fn ProcessPage() -> impl IntoView {
    let params = use_params_map();
    let table = use_process_status();
    provide_context(table);
    let name = params.with_untracked(|p| p.get("name").unwrap_or_default());
    let node = use_query_map().with_untracked(|q| q.get("node"));
    provide_context(use_viewer(Some(name.clone())));
    provide_context(crate::hooks::use_alerts::use_alerts());
    let info_name = name.clone();
    let info_node = node.clone();
    let info = Memo::new(move |_| table.get(&info_name, info_node.as_deref()));
    view! {
        <div class="page process-page">
            <header class="process-header" data-testid="process-header">
                <a class="back" href="/">"← all logs"</a>
                <h2 class="process-title">{name.clone()}</h2>
                <ProcessFacts info/>
                <ProcessControls name=name.clone() node=node.clone() info/>
            </header>
            <LogViewer/>
        </div>
    }
}

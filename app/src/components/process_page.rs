//! `/processes/{name}`: one process's logs since its last start, and its
//! controls (`?node=` names its node in a cluster; the same key filters
//! the logs to that node).

use leptos::prelude::*;

use crate::components::log_viewer::LogViewer;
use crate::components::process_controls::{ProcessControls, ProcessFacts};
use crate::hooks::use_page_url::use_page_url;
use crate::hooks::use_process_status::use_process_status;
use crate::hooks::use_viewer::use_viewer;

#[component]
pub fn ProcessPage(name: String) -> impl IntoView {
    let table = use_process_status();
    provide_context(table);
    let node = use_page_url()
        .query()
        .with_untracked(|q| crate::page::query_value(q, "node"));
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

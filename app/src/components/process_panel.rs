//! The list of processes beside the logs: state, uptime, restarts,
//! resources, a lines-per-second sparkline and controls. Clicking a process
//! filters the logs to it. In a cluster, processes are grouped by node
//! (each group can be folded); an offline node is greyed, with when it was
//! last seen.

use leptos::either::Either;
use leptos::prelude::*;

use crate::components::process_controls::{ProcessControls, ProcessFacts};
use crate::components::sparkline::Sparkline;
use crate::hooks::use_alerts::{alert_link, FiringAlerts};
use crate::hooks::use_process_status::ProcessTable;
use crate::hooks::use_viewer::ViewerContext;

#[component]
pub fn ProcessPanel() -> impl IntoView {
    let table = expect_context::<ProcessTable>();
    // Processes without a node (a single Logdeck) form one unnamed group.
    let groups = move || {
        let nodes = table.nodes();
        if nodes.is_empty() {
            vec![None]
        } else {
            nodes.into_iter().map(Some).collect()
        }
    };
    view! {
        <aside class="process-panel" aria-label="Processes" data-testid="process-panel">
            <h2 class="panel-title">"Processes"</h2>
            <Show when=move || table.processes.with(Vec::is_empty)>
                <p class="panel-empty">"Loading processes…"</p>
            </Show>
            <For each=groups key=|node| node.clone() let:node>
                <NodeGroup node/>
            </For>
        </aside>
    }
}

/// The processes of one node (or of the only one).
#[component]
fn NodeGroup(node: Option<String>) -> impl IntoView {
    let table = expect_context::<ProcessTable>();
    let group_node = node.clone();
    let names = move || {
        table.processes.with(|all| {
            all.iter()
                .filter(|p| p.node == group_node)
                .map(|p| p.name.clone())
                .collect::<Vec<_>>()
        })
    };
    let list = {
        let node = node.clone();
        view! {
            <ul class="process-list">
                <For each=names key=|name| name.clone() let:name>
                    <ProcessCard name node=node.clone()/>
                </For>
            </ul>
        }
    };
    let Some(node) = node else {
        return Either::Left(list);
    };
    let offline_node = node.clone();
    let offline_since = Memo::new(move |_| {
        table.processes.with(|all| {
            all.iter()
                .filter(|p| p.node.as_ref() == Some(&offline_node))
                .find_map(|p| p.offline_since)
        })
    });
    let test_id = format!("node-group-{node}");
    Either::Right(view! {
        <details class="node-group" class:offline=move || offline_since.get().is_some() open data-testid=test_id>
            <summary class="node-name">
                {node.clone()}
                {move || offline_since.get().map(|since| view! {
                    <span class="node-offline" data-testid="node-offline">
                        {format!(" offline, last seen {}", crate::format::relative(&since, &chrono::Utc::now()))}
                    </span>
                })}
            </summary>
            {list}
        </details>
    })
}

#[component]
fn ProcessCard(name: String, node: Option<String>) -> impl IntoView {
    let table = expect_context::<ProcessTable>();
    let viewer = expect_context::<ViewerContext>();
    let info_name = name.clone();
    let info_node = node.clone();
    let info = Memo::new(move |_| table.get(&info_name, info_node.as_deref()));
    let selected_name = name.clone();
    let selected = Memo::new(move |_| {
        viewer
            .query
            .view
            .with(|v| v.filter.processes.contains(&selected_name))
    });
    let toggle_name = name.clone();
    let toggle = move |_| {
        let name = toggle_name.clone();
        viewer.query.update(false, move |view| {
            if !view.filter.processes.remove(&name) {
                view.filter.processes.insert(name);
            }
        });
    };
    // Redrawn once a second, not on every line.
    let rate_name = name.clone();
    let rates = Signal::derive(move || {
        viewer.tick.track();
        viewer
            .stream
            .store
            .with_untracked(|s| s.rates().series(&rate_name))
    });
    let href = match &node {
        Some(node) => format!("/processes/{name}?node={node}"),
        None => format!("/processes/{name}"),
    };
    let test_id = match &node {
        Some(node) => format!("process-card-{node}-{name}"),
        None => format!("process-card-{name}"),
    };
    let offline = move || info.with(|i| i.as_ref().is_some_and(|i| i.offline_since.is_some()));
    // A badge while an alert that fired for this process is firing.
    let alerts = expect_context::<FiringAlerts>();
    let (alert_name, alert_node) = (name.clone(), node.clone());
    let firing = Memo::new(move |_| alerts.of_process(&alert_name, alert_node.as_deref()));
    let badge = move || {
        firing.with(|firing| {
            firing.first().map(|first| {
                let title = firing
                    .iter()
                    .map(|a| format!("{} is firing", a.name))
                    .collect::<Vec<_>>()
                    .join("; ");
                view! {
                    <a class="alert-badge" data-testid="alert-badge" href=alert_link(first) title=title>
                        {if firing.len() == 1 { "alert".to_owned() } else { format!("{} alerts", firing.len()) }}
                    </a>
                }
            })
        })
    };
    view! {
        <li class="process-card" class:selected=selected class:offline=offline data-testid=test_id>
            <div class="card-head">
                <button type="button" class="card-name" aria-pressed=move || selected.get().to_string() on:click=toggle
                    title="Show only this process (click again to show all)">
                    {name.clone()}
                </button>
                {badge}
                <a class="card-open" href=href aria-label=format!("Open {name}") title="Open this process's page">"↗"</a>
            </div>
            <div class="card-facts">
                <ProcessFacts info/>
            </div>
            <Sparkline values=rates/>
            <ProcessControls name=name.clone() node=node.clone() info/>
        </li>
    }
}

//! The list of processes beside the logs: state, uptime, restarts,
//! resources, a lines-per-second sparkline and controls. Clicking a process
//! filters the logs to it.

use leptos::prelude::*;

use crate::components::process_controls::{ProcessControls, ProcessFacts};
use crate::components::sparkline::Sparkline;
use crate::hooks::use_process_status::ProcessTable;
use crate::hooks::use_viewer::ViewerContext;

#[component]
pub fn ProcessPanel() -> impl IntoView {
    let table = expect_context::<ProcessTable>();
    let names = move || {
        table
            .processes
            .with(|all| all.iter().map(|p| p.name.clone()).collect::<Vec<_>>())
    };
    view! {
        <aside class="process-panel" aria-label="Processes" data-testid="process-panel">
            <h2 class="panel-title">"Processes"</h2>
            <Show when=move || table.processes.with(Vec::is_empty)>
                <p class="panel-empty">"Loading processes…"</p>
            </Show>
            <ul class="process-list">
                <For each=names key=|name| name.clone() let:name>
                    <ProcessCard name/>
                </For>
            </ul>
        </aside>
    }
}

#[component]
fn ProcessCard(name: String) -> impl IntoView {
    let table = expect_context::<ProcessTable>();
    let viewer = expect_context::<ViewerContext>();
    let info_name = name.clone();
    let info = Memo::new(move |_| table.get(&info_name));
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
    let href = format!("/processes/{name}");
    let test_id = format!("process-card-{name}");
    view! {
        <li class="process-card" class:selected=selected data-testid=test_id>
            <div class="card-head">
                <button type="button" class="card-name" aria-pressed=move || selected.get().to_string() on:click=toggle
                    title="Show only this process (click again to show all)">
                    {name.clone()}
                </button>
                <a class="card-open" href=href aria-label=format!("Open {name}") title="Open this process's page">"↗"</a>
            </div>
            <div class="card-facts">
                <ProcessFacts info/>
            </div>
            <Sparkline values=rates/>
            <ProcessControls name=name.clone() info/>
        </li>
    }
}

//! A process's facts (state, uptime, resources) and its start / stop /
//! restart buttons.

use leptos::prelude::*;

use crate::format;
use crate::process::{ProcessInfo, ProcessState};
use crate::protocol::ProcessAction;

/// State badge, pid, uptime, restarts, CPU and memory.
#[component]
pub fn ProcessFacts(info: Memo<Option<ProcessInfo>>) -> impl IntoView {
    let state = move || {
        info.with(|i| match i {
            Some(i) if i.offline_since.is_some() => "offline",
            Some(i) => i.state.name(),
            None => "unknown",
        })
    };
    let detail = move || {
        info.with(|i| {
            let info = i.as_ref()?;
            if let Some(since) = info.offline_since {
                return Some(format!(
                    "node last seen {}",
                    format::relative(&since, &chrono::Utc::now())
                ));
            }
            match &info.state {
                ProcessState::Exited {
                    exit_code: Some(code),
                    ..
                } => Some(format!("code {code}")),
                ProcessState::Exited {
                    signal: Some(signal),
                    ..
                } => Some(signal.clone()),
                ProcessState::Failed { reason } => Some(reason.clone()),
                ProcessState::Backoff { until } => {
                    let wait =
                        (*until - chrono::Utc::now()).num_milliseconds().max(0) as f64 / 1000.0;
                    Some(format!("restart in {wait:.0}s"))
                }
                _ => None,
            }
        })
    };
    let facts = move || {
        info.with(|i| {
            let Some(info) = i else { return String::new() };
            let mut facts = Vec::new();
            if let Some(pid) = info.pid {
                facts.push(format!("pid {pid}"));
            }
            if let Some(up) = info.uptime_secs {
                facts.push(format!("up {}", format::duration(up)));
            }
            if info.restarts > 0 {
                facts.push(format!("{} restarts", info.restarts));
            }
            if let Some(cpu) = info.cpu_percent {
                facts.push(format!("{cpu:.0}% CPU"));
            }
            if let Some(rss) = info.rss_bytes {
                facts.push(format::bytes(rss));
            }
            facts.join(" · ")
        })
    };
    view! {
        <span class=move || format!("state-badge state-{}", state()) data-testid="process-state">
            {state}
        </span>
        <span class="state-detail" title=move || detail().unwrap_or_default()>
            {move || detail().unwrap_or_default()}
        </span>
        <span class="process-facts">{facts}</span>
    }
}

/// Start, stop (after a confirmation) and restart, of `name` on `node` (in
/// a cluster).
#[component]
pub fn ProcessControls(
    name: String,
    node: Option<String>,
    info: Memo<Option<ProcessInfo>>,
) -> impl IntoView {
    let error = RwSignal::new(None::<String>);
    let busy = RwSignal::new(false);
    let state = move || info.with(|i| i.as_ref().map(|i| i.state.clone()));
    let offline = move || info.with(|i| i.as_ref().is_some_and(|i| i.offline_since.is_some()));
    let can = move |action: ProcessAction| match (action, state()) {
        (_, None) => false,
        _ if offline() => false,
        (ProcessAction::Start, Some(s)) => !s.is_alive() && s != ProcessState::Starting,
        (ProcessAction::Stop, Some(s)) => {
            matches!(
                s,
                ProcessState::Running
                    | ProcessState::Ready
                    | ProcessState::Starting
                    | ProcessState::Backoff { .. }
            )
        }
        (ProcessAction::Restart, Some(s)) => s != ProcessState::Stopping,
    };
    let button = move |action: ProcessAction, label: &'static str| {
        let name = name.clone();
        let node = node.clone();
        let test_id = format!("process-{}-{}", action.as_str(), name);
        let aria = format!("{label} {name}");
        view! {
            <button
                type="button"
                class=format!("control {}", action.as_str())
                data-testid=test_id
                aria-label=aria
                disabled=move || busy.get() || !can(action)
                on:click=move |ev| {
                    ev.stop_propagation();
                    run(name.clone(), node.clone(), action, busy, error);
                }
            >
                {label}
            </button>
        }
    };
    view! {
        <span class="process-controls">
            {button.clone()(ProcessAction::Start, "Start")}
            {button.clone()(ProcessAction::Stop, "Stop")}
            {button(ProcessAction::Restart, "Restart")}
            <span class="control-error" role="alert">{move || error.get()}</span>
        </span>
    }
}

fn run(
    name: String,
    node: Option<String>,
    action: ProcessAction,
    busy: RwSignal<bool>,
    error: RwSignal<Option<String>>,
) {
    #[cfg(feature = "hydrate")]
    {
        if action == ProcessAction::Stop {
            let question = format!("Stop {name}? It will not restart until started again.");
            if !window().confirm_with_message(&question).unwrap_or(false) {
                return;
            }
        }
        busy.set(true);
        error.set(None);
        leptos::task::spawn_local(async move {
            if let Err(message) = crate::api::control_process(&name, node.as_deref(), action).await
            {
                error.set(Some(message));
            }
            busy.set(false);
        });
    }
    #[cfg(not(feature = "hydrate"))]
    let _ = (name, node, action, busy, error);
}

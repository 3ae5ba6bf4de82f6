//! The alert rules that are firing, read from `GET /api/alerts` when the
//! page loads and every few seconds after.

use leptos::prelude::*;

use crate::protocol::AlertInfo;

/// How often the page asks again.
#[cfg_attr(not(feature = "hydrate"), allow(dead_code))]
const REFRESH: std::time::Duration = std::time::Duration::from_secs(5);

/// Firing alerts, for the banner and the process cards.
#[derive(Clone, Copy, Debug)]
pub struct FiringAlerts {
    pub firing: RwSignal<Vec<AlertInfo>>,
}

impl FiringAlerts {
    /// The firing alerts that fired for `process`.
    pub fn of_process(&self, process: &str, node: Option<&str>) -> Vec<AlertInfo> {
        self.firing.with(|all| {
            all.iter()
                .filter(|a| a.process.as_deref() == Some(process))
                .filter(|a| node.is_none() || a.node.as_deref() == node)
                .cloned()
                .collect()
        })
    }
}

/// Where a firing alert's link goes: the line that fired it, else its
/// process's page.
pub fn alert_link(alert: &AlertInfo) -> String {
    match (alert.seq, &alert.process) {
        (Some(seq), _) => format!("/?seq={seq}"),
        (None, Some(process)) => format!(
            "/processes/{}",
            form_urlencoded::byte_serialize(process.as_bytes()).collect::<String>()
        ),
        (None, None) => "/".to_owned(),
    }
}

pub fn use_alerts() -> FiringAlerts {
    let alerts = FiringAlerts {
        firing: RwSignal::new(Vec::new()),
    };
    #[cfg(feature = "hydrate")]
    {
        use leptos::task::spawn_local;

        let load = move || {
            spawn_local(async move {
                // A server without alerts (or an older one) answers with
                // none; errors leave the banner as it was.
                if let Ok(info) = crate::api::fetch_alerts().await {
                    let firing: Vec<AlertInfo> = info
                        .alerts
                        .into_iter()
                        .filter(AlertInfo::is_firing)
                        .collect();
                    if alerts.firing.with_untracked(|now| *now != firing) {
                        alerts.firing.set(firing);
                    }
                }
            });
        };
        // The first load once the page's first rows are shown.
        crate::hooks::startup::use_startup().then(load);
        if let Ok(handle) = set_interval_with_handle(load, REFRESH) {
            on_cleanup(move || handle.clear());
        }
    }
    alerts
}

#[cfg(test)]
mod tests {
    use super::*;

    fn alert(seq: Option<u64>, process: Option<&str>) -> AlertInfo {
        AlertInfo {
            name: "api errors".into(),
            when: "api ERROR+".into(),
            notify: vec![],
            state: "firing".into(),
            firing_since: None,
            last_fired: None,
            fired: 1,
            process: process.map(str::to_owned),
            node: None,
            seq,
            last_delivery_error: None,
        }
    }

    #[test]
    fn links_go_to_the_line_else_the_process() {
        assert_eq!(alert_link(&alert(Some(42), Some("api"))), "/?seq=42");
        assert_eq!(
            alert_link(&alert(None, Some("my api"))),
            "/processes/my+api"
        );
        assert_eq!(alert_link(&alert(None, None)), "/");
    }
}

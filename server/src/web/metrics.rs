//! `GET /metrics`: the Prometheus exposition of what the server counts.
//! Nothing is kept for it: each scrape reads the counters the parts keep
//! anyway (capture's per-process atomics, the supervisor's states, the
//! writers', the alerts' and the cluster's stats) and encodes them with
//! `prometheus-client`.

use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::MetricType;
use prometheus_client::registry::Registry;

use super::AppState;

/// OpenMetrics text, which Prometheus reads (and asks for).
const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

pub fn routes() -> Router<AppState> {
    Router::new().route("/metrics", get(metrics))
}

async fn metrics(State(state): State<AppState>) -> Response {
    if !state.metrics {
        return super::ApiError::new(
            axum::http::StatusCode::NOT_FOUND,
            String::from("metrics are off here (metrics.enabled = false)"),
        )
        .into_response();
    }
    // Sampling processes reads /proc: off the async workers.
    let text = tokio::task::spawn_blocking(move || render(&state))
        .await
        .unwrap_or(Err(std::fmt::Error));
    match text {
        Ok(text) => ([(header::CONTENT_TYPE, CONTENT_TYPE)], text).into_response(),
        Err(_) => super::ApiError::new(
            axum::http::StatusCode::INTERNAL_SERVER_ERROR,
            String::from("the metrics could not be encoded"),
        )
        .into_response(),
    }
}

/// The exposition text.
pub fn render(state: &AppState) -> Result<String, std::fmt::Error> {
    let mut registry = Registry::default();
    registry.register_collector(Box::new(Scrape(state.clone())));
    let mut out = String::new();
    prometheus_client::encoding::text::encode(&mut out, &registry)?;
    Ok(out)
}

#[derive(Debug)]
struct Scrape(AppState);

/// Writes one metric family: its name, help and type, then one sample
/// per label set.
struct Family<'a, 'b> {
    encoder: &'b mut DescriptorEncoder<'a>,
}

type Labels<'l> = Vec<(&'static str, &'l str)>;

impl Family<'_, '_> {
    fn counter<'l, N>(
        &mut self,
        name: &str,
        help: &str,
        samples: impl IntoIterator<Item = (Labels<'l>, N)>,
    ) -> Result<(), std::fmt::Error>
    where
        ConstCounter<N>: EncodeMetric,
    {
        let mut family = self
            .encoder
            .encode_descriptor(name, help, None, MetricType::Counter)?;
        for (labels, value) in samples {
            // A sample without labels is written bare (`name 3`, not
            // `name{} 3`, which not every parser reads).
            if labels.is_empty() {
                return ConstCounter::new(value).encode(family);
            }
            ConstCounter::new(value).encode(family.encode_family(&labels)?)?;
        }
        Ok(())
    }

    fn gauge<'l>(
        &mut self,
        name: &str,
        help: &str,
        samples: impl IntoIterator<Item = (Labels<'l>, i64)>,
    ) -> Result<(), std::fmt::Error> {
        let mut family = self
            .encoder
            .encode_descriptor(name, help, None, MetricType::Gauge)?;
        for (labels, value) in samples {
            if labels.is_empty() {
                return ConstGauge::new(value).encode(family);
            }
            ConstGauge::new(value).encode(family.encode_family(&labels)?)?;
        }
        Ok(())
    }
}

fn process_label(process: &app::ProcessInfo) -> Labels<'_> {
    vec![("process", process.name.as_str())]
}

fn int(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

impl Collector for Scrape {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let state = &self.0;
        let mut out = Family {
            encoder: &mut encoder,
        };

        // Capture.
        let counters = state.supervisor.line_counters();
        let mut lines = Vec::new();
        let mut bytes = Vec::new();
        for (process, counts) in &counters {
            for (stream, level, n, b) in counts.snapshot() {
                let labels = vec![
                    ("process", *process),
                    ("stream", stream.as_str()),
                    ("level", level.as_str()),
                ];
                lines.push((labels.clone(), n));
                bytes.push((labels, b));
            }
        }
        out.counter(
            "logdeck_lines",
            "Log entries captured from each process, by stream and level",
            lines,
        )?;
        out.counter(
            "logdeck_line_bytes",
            "Bytes of the messages captured from each process, by stream and level",
            bytes,
        )?;

        // Clients.
        out.gauge(
            "logdeck_websocket_clients",
            "WebSocket connections open (logs and status)",
            [(vec![], int(state.clients.open() as u64))],
        )?;
        out.counter(
            "logdeck_entries_dropped",
            "Entries /ws/logs clients missed because they could not keep up",
            [(vec![], state.clients.dropped())],
        )?;

        // Processes.
        let processes = state.supervisor.list();
        let name = process_label;
        out.gauge(
            "logdeck_process_up",
            "1 while the process is alive (starting, running, ready or stopping)",
            processes
                .iter()
                .map(|p| (name(p), i64::from(p.state.is_alive()))),
        )?;
        out.gauge(
            "logdeck_process_ready",
            "1 while the process is running and its readiness probe passed",
            processes.iter().map(|p| (name(p), i64::from(p.ready))),
        )?;
        out.counter(
            "logdeck_process_restarts",
            "Automatic restarts since the server started",
            processes.iter().map(|p| (name(p), u64::from(p.restarts))),
        )?;
        out.gauge(
            "logdeck_process_last_exit_code",
            "The exit code of the process's last run (absent before one ended, or when a signal ended it)",
            processes
                .iter()
                .filter_map(|p| p.last_exit_code.map(|code| (name(p), i64::from(code)))),
        )?;
        out.counter(
            "logdeck_process_cpu_seconds",
            "CPU time of the process group's live processes (starts again with each run)",
            processes
                .iter()
                .filter(|p| p.state.is_alive())
                .filter_map(|p| state.supervisor.cpu_seconds(p).map(|s| (name(p), s))),
        )?;
        out.gauge(
            "logdeck_process_resident_memory_bytes",
            "Resident memory of the process group",
            processes
                .iter()
                .filter_map(|p| p.rss_bytes.map(|rss| (name(p), int(rss)))),
        )?;

        // The store.
        if let Some(store) = &state.store {
            let written = store.stats.snapshot();
            out.counter(
                "logdeck_store_written",
                "Entries the store committed",
                [(vec![], written.written)],
            )?;
            out.counter(
                "logdeck_store_lost",
                "Entries the store could not keep (write errors, or its writer fell behind)",
                [(vec![], written.lost)],
            )?;
            out.counter(
                "logdeck_store_errors",
                "Failed writes to the store",
                [(vec![], written.errors)],
            )?;
            if let Some(opened) = &store.store {
                let stats = opened.stats();
                let newest = state.hub.next_seq().saturating_sub(1);
                let stored = stats.stored_upto.load(std::sync::atomic::Ordering::Relaxed);
                let indexed = stats
                    .indexed_upto
                    .load(std::sync::atomic::Ordering::Relaxed);
                out.gauge(
                    "logdeck_store_ingest_lag_entries",
                    "Entries published but not yet committed to the store",
                    [(vec![], int(newest.saturating_sub(stored)))],
                )?;
                out.gauge(
                    "logdeck_store_index_lag_entries",
                    "Entries stored but not yet in the search index",
                    [(vec![], int(newest.saturating_sub(indexed)))],
                )?;
                out.gauge(
                    "logdeck_store_size_bytes",
                    "Bytes the store's database uses",
                    [(vec![], int(stats.size()))],
                )?;
            }
        }
        if let Some(files) = &state.writer_stats {
            let files = files.snapshot();
            out.counter(
                "logdeck_log_files_lost",
                "Entries the JSON Lines files could not keep",
                [(vec![], files.lost)],
            )?;
        }

        // Alerts.
        let alerts = state.alerts.info();
        out.gauge(
            "logdeck_alert_firing",
            "1 while the alert rule is firing",
            alerts
                .alerts
                .iter()
                .map(|a| (vec![("alert", a.name.as_str())], i64::from(a.is_firing()))),
        )?;
        out.counter(
            "logdeck_alert_fired",
            "Times the alert rule fired (one notification each)",
            alerts
                .alerts
                .iter()
                .map(|a| (vec![("alert", a.name.as_str())], a.fired)),
        )?;
        out.counter(
            "logdeck_notifications_sent",
            "Notifications delivered, per notifier",
            alerts
                .notifiers
                .iter()
                .map(|n| (vec![("notifier", n.name.as_str())], n.sent)),
        )?;
        out.counter(
            "logdeck_notification_failures",
            "Notifications given up on after every retry, per notifier",
            alerts
                .notifiers
                .iter()
                .map(|n| (vec![("notifier", n.name.as_str())], n.failed)),
        )?;
        out.counter(
            "logdeck_notifications_dropped",
            "Notifications dropped because the notifier's queue was full",
            alerts
                .notifiers
                .iter()
                .map(|n| (vec![("notifier", n.name.as_str())], n.dropped)),
        )?;

        // The cluster.
        if let Some(cluster) = &state.cluster {
            use std::sync::atomic::Ordering::Relaxed;
            let stats = &cluster.publisher;
            out.counter(
                "logdeck_cluster_published",
                "This node's entries the stream acknowledged",
                [(vec![], stats.published.load(Relaxed))],
            )?;
            out.gauge(
                "logdeck_cluster_buffer_bytes",
                "Bytes of this node's entries waiting to be published",
                [(vec![], int(stats.buffered_bytes.load(Relaxed)))],
            )?;
            out.gauge(
                "logdeck_cluster_publish_lag_entries",
                "This node's entries captured but not yet acknowledged by the stream",
                [(vec![], int(stats.buffered_entries.load(Relaxed)))],
            )?;
            out.counter(
                "logdeck_cluster_dropped",
                "This node's entries lost while the cluster could not be reached",
                [(vec![], stats.dropped.load(Relaxed))],
            )?;
        }
        Ok(())
    }
}

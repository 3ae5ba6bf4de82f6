//! One table row per log entry.

use std::sync::Arc;

use chrono::{DateTime, Local, Utc};
use leptos::prelude::*;

use crate::log_entry::{format_timestamp, LogEntry};

/// Renders an entry. The message is a text node, so markup in a log line is
/// shown as text, never interpreted as HTML.
#[component]
pub fn LogRow(entry: Arc<LogEntry>) -> impl IntoView {
    let level = entry.level;
    view! {
        <tr
            class=format!("log-row level-{}", level.css_class())
            data-testid="log-row"
            data-level=level.as_str()
            data-process=entry.process_name.clone()
            data-seq=entry.seq
        >
            <td class="time" title=format_timestamp(&entry.timestamp)>
                {local_time_of_day(&entry.timestamp)}
            </td>
            <td class="level">
                <span class="level-badge">{level.as_str()}</span>
            </td>
            <td class="process">{entry.process_name.clone()}</td>
            <td class="message">{entry.message.clone()}</td>
        </tr>
    }
}

/// `HH:MM:SS.mmm` in the viewer's local time zone.
fn local_time_of_day(timestamp: &DateTime<Utc>) -> String {
    timestamp
        .with_timezone(&Local)
        .format("%H:%M:%S%.3f")
        .to_string()
}

#[cfg(all(test, feature = "ssr"))]
mod tests {
    use super::*;
    use crate::level::Level;
    use crate::log_entry::Stream;

    #[test]
    fn markup_in_a_message_is_rendered_as_text() {
        let entry = Arc::new(LogEntry {
            message: "<img src=x onerror=alert(1)> & <b>bold</b>".into(),
            level: Level::Critical,
            process_name: "evil<script>".into(),
            timestamp: Utc::now(),
            seq: 3,
            stream: Stream::Stdout,
            pid: Some(1),
            continued: false,
            dropped: None,
        });
        let html = Owner::new().with(|| view! { <LogRow entry/> }.to_html());
        assert!(!html.contains("<img"), "{html}");
        assert!(!html.contains("<b>"), "{html}");
        assert!(!html.contains("<script>"), "{html}");
        assert!(
            html.contains("&lt;img src=x onerror=alert(1)&gt;"),
            "{html}"
        );
        assert!(html.contains("level-critical"), "{html}");
        assert!(html.contains("data-seq=\"3\""), "{html}");
    }
}

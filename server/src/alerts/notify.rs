//! Delivery: each notifier has a bounded queue and a task that sends what
//! is in it, with retries and backoff. A notifier that keeps failing is
//! reported in the log; nothing here ever waits on capture or blocks it.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use app::Level;
use serde_json::json;
use tokio::sync::mpsc;

use super::rules::{Notification, Status};
use crate::config::alerts::{Notifier, NotifierKind};
use crate::hub::LogHub;

/// Notifications waiting per notifier; more are dropped (and counted).
pub const QUEUE: usize = 64;
/// Tries per notification, and the wait before the second (doubling).
pub const ATTEMPTS: u32 = 4;
const FIRST_RETRY: Duration = Duration::from_millis(500);
/// Discord refuses longer messages.
const DISCORD_MAX: usize = 2000;

/// A notifier and what it has done.
#[derive(Debug)]
pub struct NotifierState {
    pub config: Notifier,
    pub sent: AtomicU64,
    pub failed: AtomicU64,
    pub dropped: AtomicU64,
    pub last_error: Mutex<Option<String>>,
}

impl NotifierState {
    pub fn new(config: Notifier) -> NotifierState {
        NotifierState {
            config,
            sent: AtomicU64::new(0),
            failed: AtomicU64::new(0),
            dropped: AtomicU64::new(0),
            last_error: Mutex::new(None),
        }
    }

    pub fn last_error(&self) -> Option<String> {
        self.last_error
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    fn set_last_error(&self, error: Option<String>) {
        *self.last_error.lock().unwrap_or_else(|e| e.into_inner()) = error;
    }
}

/// What happened to one notification, for the rule's state.
pub type Outcome = (usize, Option<String>);

/// Sends what arrives on `queue` until it closes. `outcomes` hears, per
/// notification, the rule and the error it was given up with (or none).
pub async fn deliver(
    client: reqwest::Client,
    notifier: Arc<NotifierState>,
    mut queue: mpsc::Receiver<Arc<Notification>>,
    hub: Arc<LogHub>,
    outcomes: mpsc::UnboundedSender<Outcome>,
) {
    while let Some(notification) = queue.recv().await {
        let mut wait = FIRST_RETRY;
        let mut attempt = 1;
        let error = loop {
            match send(&client, &notifier.config, &notification).await {
                Ok(()) => break None,
                Err(error) if attempt < ATTEMPTS => {
                    tracing::debug!(
                        notifier = notifier.config.name,
                        attempt,
                        "alert delivery failed: {error}"
                    );
                    tokio::time::sleep(wait).await;
                    wait *= 2;
                    attempt += 1;
                }
                Err(error) => break Some(error),
            }
        };
        match &error {
            None => {
                notifier.sent.fetch_add(1, Ordering::Relaxed);
                notifier.set_last_error(None);
            }
            Some(why) => {
                // The error first: whoever sees the count sees why.
                notifier.set_last_error(Some(why.clone()));
                notifier.failed.fetch_add(1, Ordering::Relaxed);
                hub.publish_system(
                    Level::Error,
                    format!(
                        "alert `{}`: notifier `{}` failed {ATTEMPTS} times, giving up on this notification: {why}",
                        notification.rule, notifier.config.name
                    ),
                );
            }
        }
        let _ = outcomes.send((
            notification.rule_index,
            error.map(|why| format!("{}: {why}", notifier.config.name)),
        ));
    }
}

/// One attempt. The error never holds the URL (chat webhooks' URLs are
/// their secret).
async fn send(
    client: &reqwest::Client,
    notifier: &Notifier,
    notification: &Notification,
) -> Result<(), String> {
    let request = client.post(&notifier.url).timeout(notifier.timeout);
    let request = match notifier.kind {
        NotifierKind::Webhook => notifier
            .headers
            .iter()
            .fold(request.json(notification), |r, (name, value)| {
                r.header(name, value)
            }),
        NotifierKind::Slack => request.json(&slack_body(notification)),
        NotifierKind::Discord => request.json(&discord_body(notification)),
        NotifierKind::Ntfy => ntfy_headers(notification).into_iter().fold(
            request.body(notification.text.clone()),
            |r, (name, value)| r.header(name, value),
        ),
    };
    let response = request.send().await.map_err(|error| {
        let error = error.without_url();
        if error.is_timeout() {
            format!("no answer within {:?}", notifier.timeout)
        } else {
            error.to_string()
        }
    })?;
    let status = response.status();
    if status.is_success() {
        return Ok(());
    }
    Err(format!("the receiver answered HTTP {}", status.as_u16()))
}

/// Slack's incoming webhooks: `text` in its markup.
pub fn slack_body(notification: &Notification) -> serde_json::Value {
    json!({ "text": notification.text })
}

/// Discord's webhooks: `content`, at most 2000 characters.
pub fn discord_body(notification: &Notification) -> serde_json::Value {
    let content: String = match notification.text.char_indices().nth(DISCORD_MAX - 1) {
        Some((cut, _)) => format!("{}…", &notification.text[..cut]),
        None => notification.text.clone(),
    };
    json!({ "content": content })
}

/// ntfy: the text is the body; title, priority, tags and the link are
/// headers.
pub fn ntfy_headers(notification: &Notification) -> Vec<(&'static str, String)> {
    let (tag, priority, word) = match notification.status {
        Status::Firing => ("rotating_light", "high", "firing"),
        Status::Resolved => ("white_check_mark", "default", "resolved"),
    };
    // Header values must be ASCII-safe: the title keeps printable ASCII.
    let title: String = format!("Logdeck: {} {word}", notification.rule)
        .chars()
        .map(|c| {
            if c.is_ascii_graphic() || c == ' ' {
                c
            } else {
                '?'
            }
        })
        .collect();
    let mut headers = vec![
        ("Title", title),
        ("Priority", priority.to_owned()),
        ("Tags", tag.to_owned()),
    ];
    if let Some(url) = &notification.url {
        headers.push(("Click", url.clone()));
    }
    headers
}

//! What the browser's WebSocket hooks share: a connection loop that lives
//! as long as the component that started it, and the backoff between
//! attempts.

use std::future::Future;
use std::time::Duration;

use futures::channel::oneshot;
use futures::future;
use leptos::prelude::*;
use leptos::task::spawn_local;

use crate::backoff::Backoff;

/// Waits between reconnects: from half a second, doubling, up to ten.
const RECONNECT: Backoff = Backoff {
    initial: Duration::from_millis(500),
    max: Duration::from_secs(10),
    multiplier: 2.0,
};

/// Runs `connection` once the page is live in the browser; unmounting the
/// component that called this drops it (closing its socket).
pub fn run_while_mounted<F>(connection: impl FnOnce() -> F + 'static)
where
    F: Future<Output = ()> + 'static,
{
    let (cancel_tx, cancel_rx) = oneshot::channel::<()>();
    on_cleanup(move || drop(cancel_tx));
    let mut start = Some((connection, cancel_rx));
    Effect::new(move |_| {
        if let Some((connection, cancel_rx)) = start.take() {
            spawn_local(async move {
                future::select(Box::pin(connection()), cancel_rx).await;
            });
        }
    });
}

/// Counts failed attempts in a row and waits the backoff between them.
#[derive(Debug, Default)]
pub struct Retry {
    attempt: u32,
}

impl Retry {
    /// Records how the last session went (`connected`: it got through, so
    /// the count starts over) and returns the number of this retry.
    pub fn next(&mut self, connected: bool) -> u32 {
        if connected {
            self.attempt = 0;
        }
        self.attempt += 1;
        self.attempt
    }

    /// Waits the backoff delay of the current retry.
    pub async fn wait(&self) {
        sleep(RECONNECT.delay(self.attempt, js_sys::Math::random())).await;
    }
}

/// `path` on the page's own origin, `wss` when the page is https.
pub fn socket_url(path: &str) -> String {
    let location = window().location();
    let scheme = match location.protocol().as_deref() {
        Ok("https:") => "wss",
        _ => "ws",
    };
    let host = location.host().unwrap_or_default();
    format!("{scheme}://{host}{path}")
}

pub async fn sleep(duration: Duration) {
    let (done_tx, done_rx) = oneshot::channel::<()>();
    set_timeout(
        move || {
            let _ = done_tx.send(());
        },
        duration,
    );
    let _ = done_rx.await;
}

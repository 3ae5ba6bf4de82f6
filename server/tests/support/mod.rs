//! Starts a real Logdeck server in-process on 127.0.0.1:0 for tests.

#![allow(dead_code)] // each test binary uses a different part of this

use std::future::Future;
use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use futures::StreamExt;
use leptos::config::LeptosOptions;
use server::config::Config;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

/// Every wait in these tests ends by this deadline.
pub const DEADLINE: Duration = Duration::from_secs(15);

pub type Client = WebSocketStream<MaybeTlsStream<TcpStream>>;

pub struct TestServer {
    pub addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<Result<(), server::ServerError>>>,
}

impl TestServer {
    pub async fn start(config_toml: &str) -> TestServer {
        let config =
            Config::parse(config_toml, "test.toml", Path::new(".")).expect("test config is valid");
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind a free port");
        let addr = listener.local_addr().expect("bound address");
        let site = LeptosOptions::builder().output_name("logdeck").build();
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(server::run(listener, config, site, async {
            let _ = stopped.await;
        }));
        TestServer {
            addr,
            stop: Some(stop),
            task: Some(task),
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("ws://{}{path}", self.addr)
    }

    pub async fn connect(&self, path: &str) -> Client {
        let (client, _) = within(tokio_tungstenite::connect_async(self.url(path)))
            .await
            .expect("websocket handshake");
        client
    }

    /// Shuts the server down as SIGTERM would and waits until it has.
    pub async fn shutdown(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            within(task)
                .await
                .expect("server task joins")
                .expect("server exits cleanly");
        }
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// Awaits `future`, failing the test when it takes longer than [`DEADLINE`].
pub async fn within<F: Future>(future: F) -> F::Output {
    tokio::time::timeout(DEADLINE, future)
        .await
        .expect("deadline passed")
}

/// The next text frame parsed as JSON.
pub async fn next_json(client: &mut Client) -> serde_json::Value {
    loop {
        let message = within(client.next())
            .await
            .expect("stream still open")
            .expect("valid frame");
        if let Message::Text(text) = message {
            return serde_json::from_str(&text).expect("frame is one JSON object");
        }
    }
}

/// Reads frames until one satisfies `wanted`, returning it.
pub async fn next_json_where(
    client: &mut Client,
    wanted: impl Fn(&serde_json::Value) -> bool,
) -> serde_json::Value {
    within(async {
        loop {
            let json = next_json(client).await;
            if wanted(&json) {
                return json;
            }
        }
    })
    .await
}

//! Readiness probes that poll: an HTTP GET that must answer 2xx, or a TCP
//! connection that must succeed. (The `log_line` probe is checked by
//! capture as lines arrive.)

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::config::{HttpTarget, ReadyCheck, ReadyProbe};

/// Polls `probe` every `interval` until it passes. Never returns for a
/// `log_line` probe, which capture reports instead.
pub async fn wait_until_ready(probe: &ReadyProbe) {
    loop {
        let passed = match &probe.check {
            ReadyCheck::Http(target) => http_ok(target, probe.timeout).await,
            ReadyCheck::Tcp(address) => tcp_ok(address, probe.timeout).await,
            ReadyCheck::LogLine(_) => std::future::pending().await,
        };
        if passed {
            return;
        }
        tokio::time::sleep(probe.interval).await;
    }
}

async fn tcp_ok(address: &str, timeout: Duration) -> bool {
    matches!(
        tokio::time::timeout(timeout, TcpStream::connect(address)).await,
        Ok(Ok(_))
    )
}

/// A minimal HTTP/1.1 GET: only the status line matters.
async fn http_ok(target: &HttpTarget, timeout: Duration) -> bool {
    let attempt = async {
        let mut stream = TcpStream::connect(&target.address).await.ok()?;
        let request = format!(
            "GET {} HTTP/1.1\r\nHost: {}\r\nUser-Agent: logdeck-probe\r\nConnection: close\r\n\r\n",
            target.path, target.host
        );
        stream.write_all(request.as_bytes()).await.ok()?;
        let mut head = Vec::with_capacity(64);
        let mut buf = [0u8; 256];
        while !head.contains(&b'\n') && head.len() < 1024 {
            let n = stream.read(&mut buf).await.ok()?;
            if n == 0 {
                break;
            }
            head.extend_from_slice(&buf[..n]);
        }
        status_code(&head)
    };
    matches!(
        tokio::time::timeout(timeout, attempt).await,
        Ok(Some(200..=299))
    )
}

/// The status code of an `HTTP/1.x NNN reason` status line.
fn status_code(head: &[u8]) -> Option<u16> {
    let line = head.split(|&b| b == b'\n').next()?;
    let line = std::str::from_utf8(line).ok()?;
    let mut parts = line.split_whitespace();
    if !parts.next()?.starts_with("HTTP/") {
        return None;
    }
    parts.next()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::net::TcpListener;

    #[test]
    fn reads_the_status_code() {
        assert_eq!(status_code(b"HTTP/1.1 204 No Content\r\n"), Some(204));
        assert_eq!(
            status_code(b"HTTP/1.0 503 Service Unavailable\r\nx"),
            Some(503)
        );
        assert_eq!(status_code(b"SSH-2.0-OpenSSH\r\n"), None);
        assert_eq!(status_code(b""), None);
    }

    async fn serve_once(status: &'static str) -> String {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let address = listener.local_addr().expect("addr").to_string();
        tokio::spawn(async move {
            while let Ok((mut socket, _)) = listener.accept().await {
                let mut buf = [0u8; 1024];
                let _ = socket.read(&mut buf).await;
                let _ = socket
                    .write_all(format!("HTTP/1.1 {status}\r\nContent-Length: 0\r\n\r\n").as_bytes())
                    .await;
            }
        });
        address
    }

    fn target(address: &str) -> HttpTarget {
        HttpTarget {
            url: format!("http://{address}/health"),
            address: address.to_owned(),
            host: address.to_owned(),
            path: "/health".into(),
        }
    }

    #[tokio::test]
    async fn http_probe_passes_on_2xx_only() {
        let ok = serve_once("200 OK").await;
        assert!(http_ok(&target(&ok), Duration::from_secs(5)).await);
        let unavailable = serve_once("503 Service Unavailable").await;
        assert!(!http_ok(&target(&unavailable), Duration::from_secs(5)).await);
    }

    #[tokio::test]
    async fn probes_fail_when_nothing_listens() {
        // Bound but not listening: refused, and no other socket can take
        // the port while the probes run.
        let bound = tokio::net::TcpSocket::new_v4().expect("socket");
        bound
            .bind("127.0.0.1:0".parse().expect("addr"))
            .expect("bind");
        let address = bound.local_addr().expect("addr").to_string();
        assert!(!tcp_ok(&address, Duration::from_secs(5)).await);
        assert!(!http_ok(&target(&address), Duration::from_secs(5)).await);
        drop(bound);
    }
}

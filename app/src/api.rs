//! The browser's calls to the server's HTTP API.

#[cfg(feature = "hydrate")]
mod browser {
    use gloo_net::http::{Request, RequestBuilder};

    use crate::log_entry::LogEntry;
    use crate::process::ProcessInfo;
    use crate::protocol::{ErrorBody, Info, ProcessAction};

    fn error_text(status: u16, body: &str) -> String {
        serde_json::from_str::<ErrorBody>(body)
            .map(|e| e.error)
            .unwrap_or_else(|_| format!("HTTP {status}"))
    }

    pub async fn fetch_info() -> Result<Info, String> {
        let response = Request::get("/api/info")
            .send()
            .await
            .map_err(|e| e.to_string())?;
        if !response.ok() {
            return Err(format!("HTTP {}", response.status()));
        }
        response.json().await.map_err(|e| e.to_string())
    }

    /// Sends `request`; a 2xx body as JSON, otherwise the server's error.
    async fn json_of<T: serde::de::DeserializeOwned>(request: RequestBuilder) -> Result<T, String> {
        let response = request.send().await.map_err(|e| e.to_string())?;
        let status = response.status();
        let body = response.text().await.map_err(|e| e.to_string())?;
        if !(200..300).contains(&status) {
            return Err(error_text(status, &body));
        }
        serde_json::from_str(&body).map_err(|e| e.to_string())
    }

    /// `GET /api/logs?{query}`: newest first.
    pub async fn fetch_history(query: &str) -> Result<Vec<LogEntry>, String> {
        json_of(Request::get(&format!("/api/logs?{query}"))).await
    }

    /// `GET /api/logs/context?{query}`: oldest first.
    pub async fn fetch_context(query: &str) -> Result<Vec<LogEntry>, String> {
        json_of(Request::get(&format!("/api/logs/context?{query}"))).await
    }

    /// `GET /api/alerts`.
    pub async fn fetch_alerts() -> Result<crate::protocol::AlertsInfo, String> {
        json_of(Request::get("/api/alerts")).await
    }

    /// `GET /api/logs/histogram?{query}`.
    pub async fn fetch_histogram(query: &str) -> Result<crate::protocol::Histogram, String> {
        json_of(Request::get(&format!("/api/logs/histogram?{query}"))).await
    }

    /// `?node=<node>` when a node is named.
    fn node_query(node: Option<&str>) -> String {
        node.map(|node| {
            format!(
                "?node={}",
                form_urlencoded::byte_serialize(node.as_bytes()).collect::<String>()
            )
        })
        .unwrap_or_default()
    }

    pub async fn fetch_process(name: &str, node: Option<&str>) -> Result<ProcessInfo, String> {
        json_of(Request::get(&format!(
            "/api/processes/{name}{}",
            node_query(node)
        )))
        .await
    }

    pub async fn control_process(
        name: &str,
        node: Option<&str>,
        action: ProcessAction,
    ) -> Result<ProcessInfo, String> {
        json_of(Request::post(&format!(
            "/api/processes/{name}/{}{}",
            action.as_str(),
            node_query(node)
        )))
        .await
    }
}

#[cfg(feature = "hydrate")]
pub use browser::{
    control_process, fetch_alerts, fetch_context, fetch_histogram, fetch_history, fetch_info,
    fetch_process,
};

//! What only the store can answer: `GET /api/logs/histogram` (entries per
//! time bucket and level) and `GET /api/logs/context` (the lines around
//! one entry, across processes).

use app::protocol::Histogram;
use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::get;
use axum::{Json, Router};

use super::history_api::{history_query, json_array, reader_place, QUERY_TIME_LIMIT};
use super::query::decode;
use super::{ApiError, AppState};
use crate::store::{is_interrupted, HistogramQuery, Store};

/// Buckets of a histogram unless asked otherwise, and at most.
const DEFAULT_BUCKETS: usize = 120;
const MAX_BUCKETS: usize = 2000;
/// Lines on either side of a context, unless asked otherwise, and at most.
const DEFAULT_CONTEXT: usize = 20;
const MAX_CONTEXT: usize = 1000;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/logs/histogram", get(histogram))
        .route("/api/logs/context", get(context))
}

fn store(state: &AppState) -> Result<Store, ApiError> {
    match &state.store {
        Some(super::StoreState {
            store: Some(store), ..
        }) => Ok(store.clone()),
        Some(super::StoreState { path, .. }) => Err(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            format!(
                "the store {} could not be opened when the server started",
                path.display()
            ),
        )),
        None => Err(ApiError::new(
            StatusCode::NOT_IMPLEMENTED,
            "this server keeps no store (`store = false`); only memory is searched",
        )),
    }
}

fn store_error(error: rusqlite::Error) -> ApiError {
    if is_interrupted(&error) {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "the query took too long; narrow it (process, level, from, to)",
        )
    } else {
        ApiError::internal(format!("cannot read the store: {error}"))
    }
}

fn number(
    key: &str,
    value: &str,
    range: std::ops::RangeInclusive<usize>,
) -> Result<usize, ApiError> {
    value
        .parse::<usize>()
        .ok()
        .filter(|n| range.contains(n))
        .ok_or_else(|| {
            ApiError::bad_request(format!(
                "invalid {key}={value:?}: expected a number from {} to {}",
                range.start(),
                range.end()
            ))
        })
}

/// Entries per time bucket and level between `from` and `to`, through the
/// same filters as `/api/logs`.
#[utoipa::path(get, path = "/api/logs/histogram", tag = "logs",
    params(
        ("from" = Option<String>, Query, description = "Start: RFC 3339, or a duration ago such as -24h (default: the oldest entry stored)"),
        ("to" = Option<String>, Query, description = "End: RFC 3339, `now` or a duration ago (default: now)"),
        ("buckets" = Option<usize>, Query, description = "How many buckets (default 120, at most 2000); each is a whole number of seconds wide"),
        ("process" = Option<String>, Query, description = "Comma-separated process names"),
        ("level" = Option<String>, Query, description = "Minimum level"),
        ("stream" = Option<String>, Query, description = "stdout, stderr, system (comma-separated)"),
        ("node" = Option<String>, Query, description = "In a cluster: comma-separated node names"),
        ("q" = Option<String>, Query, description = "Count only entries with this text"),
        ("regex" = Option<bool>, Query, description = "q is a regular expression"),
        ("case" = Option<bool>, Query, description = "q is case-sensitive"),
    ),
    responses(
        (status = 200, body = Histogram),
        (status = 400, description = "An invalid parameter", body = app::protocol::ErrorBody),
        (status = 501, description = "The server keeps no store", body = app::protocol::ErrorBody),
        (status = 503, description = "The store could not be opened, or the query took too long", body = app::protocol::ErrorBody),
    ))]
pub async fn histogram(
    State(state): State<AppState>,
    RawQuery(query): RawQuery,
) -> Result<Json<Histogram>, ApiError> {
    // The same filters and time bounds as `/api/logs`, plus `buckets`.
    let (history, rest) = history_query(query.as_deref(), false).map_err(ApiError::bad_request)?;
    if history.before_seq.is_some() || history.after_seq.is_some() {
        return Err(ApiError::bad_request(
            "before_seq and after_seq do not apply to the histogram; use from and to",
        ));
    }
    let mut question = HistogramQuery {
        query: history,
        buckets: DEFAULT_BUCKETS,
    };
    for (key, value) in rest {
        match key.as_str() {
            "buckets" => question.buckets = number(&key, &value, 1..=MAX_BUCKETS)?,
            _ => return Err(ApiError::bad_request(format!("unknown parameter `{key}`"))),
        }
    }
    if let (Some(from), Some(to)) = (question.query.since, question.query.until) {
        if from > to {
            return Err(ApiError::bad_request("from is after to"));
        }
    }
    let store = store(&state)?;
    let place = reader_place(&state.history_readers).await?;
    question.query = question.query.within(QUERY_TIME_LIMIT);
    let histogram = tokio::task::spawn_blocking(move || store.histogram(&question))
        .await
        .map_err(|e| ApiError::internal(e.to_string()))?
        .map_err(store_error)?;
    drop(place);
    Ok(Json(histogram))
}

/// The entries around one (`seq`), across all processes, oldest first: a
/// JSON array like `/api/logs`'s.
#[utoipa::path(get, path = "/api/logs/context", tag = "logs",
    params(
        ("seq" = u64, Query, description = "The entry's seq"),
        ("before" = Option<usize>, Query, description = "Entries before it (default 20, at most 1000)"),
        ("after" = Option<usize>, Query, description = "Entries after it (default 20, at most 1000)"),
    ),
    responses(
        (status = 200, description = "A JSON array of entries, oldest first; the entry itself is the one with the seq asked for (absent if it is no longer stored)"),
        (status = 400, description = "An invalid parameter", body = app::protocol::ErrorBody),
        (status = 501, description = "The server keeps no store", body = app::protocol::ErrorBody),
        (status = 503, description = "The store could not be opened, or the query took too long", body = app::protocol::ErrorBody),
    ))]
pub async fn context(
    State(state): State<AppState>,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    let mut seq = None;
    let (mut before, mut after) = (DEFAULT_CONTEXT, DEFAULT_CONTEXT);
    for (key, value) in decode(query.as_deref()) {
        match key.as_ref() {
            "seq" => {
                seq = Some(value.parse::<u64>().map_err(|_| {
                    ApiError::bad_request(format!("invalid seq={value:?}: expected a number"))
                })?)
            }
            "before" => before = number("before", &value, 0..=MAX_CONTEXT)?,
            "after" => after = number("after", &value, 0..=MAX_CONTEXT)?,
            other => {
                return Err(ApiError::bad_request(format!(
                    "unknown parameter `{other}`"
                )))
            }
        }
    }
    let seq = seq.ok_or_else(|| ApiError::bad_request("seq is required"))?;
    let store = store(&state)?;
    let place = reader_place(&state.history_readers).await?;
    let deadline = std::time::Instant::now() + QUERY_TIME_LIMIT;
    let frames =
        tokio::task::spawn_blocking(move || store.context(seq, before, after, Some(deadline)))
            .await
            .map_err(|e| ApiError::internal(e.to_string()))?
            .map_err(store_error)?;
    drop(place);
    Ok(json_array(&frames))
}

//! Logdeck's shared crate: the wire model every client relies on, the pure
//! logic the browser and the server both use, and the Leptos components the
//! server renders and the browser hydrates.
//!
//! # Layout
//! - [`log_entry`]: [`LogEntry`], one `/ws/logs` frame, and its timestamp
//!   format.
//! - [`level`]: [`Level`], the five severities and their aliases.
//! - [`process`]: process states as the process API reports them.
//! - [`protocol`]: the HTTP API's other answers (server info, errors,
//!   health) and the process actions, shared by server and browser.
//! - [`filter`]: [`LogFilter`], the predicate behind every filter control,
//!   and [`filter::EntryFilter`], the same compiled, used by the browser,
//!   the live stream and the history alike.
//! - [`ring_buffer`]: the bounded buffer that keeps a viewer's memory flat.
//! - [`log_store`]: the viewer's entries, filtered incrementally.
//! - [`search`]: the text search behind a filter, and highlight ranges.
//! - [`page`]: which page a URL shows.
//! - [`view_query`]: the viewer state carried in the page URL.
//! - [`ansi`]: ANSI escape handling for log text.
//! - [`api`]: the browser's calls to the HTTP API.
//! - [`backoff`]: exponential backoff with jitter (reconnects, restarts).
//! - [`hooks`]: reactive state: the live log stream, the process table,
//!   the viewer's shared state, and the browser's reconnect loop.
//! - [`components`]: the page shell, the app and the log viewer.
//!
//! Features: `ssr` for the server build, `hydrate` for the browser build;
//! exactly one is enabled by each consumer, never both. The model and logic
//! modules compile without either.

// Leptos views are deeply nested types; the release build's layout queries
// for the hydration code exceed the default limit of 128.
#![recursion_limit = "256"]

pub mod ansi;
pub mod api;
pub mod backoff;
pub mod components;
pub mod filter;
pub mod format;
pub mod hooks;
pub mod level;
pub mod log_entry;
pub mod log_store;
pub mod page;
pub mod process;
pub mod protocol;
pub mod ring_buffer;
pub mod search;
pub mod view_query;

pub use components::app::{shell, App};
pub use filter::LogFilter;
pub use level::Level;
pub use log_entry::{LogEntry, Stream};
pub use process::{ProcessInfo, ProcessState, StatusMessage};

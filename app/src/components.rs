//! Leptos components. Each file holds the component it is named after.

pub mod app;
pub mod connection_badge;
pub mod log_row;
pub mod log_viewer;

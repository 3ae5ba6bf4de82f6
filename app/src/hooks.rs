//! Reactive hooks used by the components.

pub mod use_log_stream;

//! Reactive hooks used by the components.

pub mod use_log_stream;
pub mod use_process_status;
pub mod use_view_query;

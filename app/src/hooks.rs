//! Reactive hooks used by the components.

pub mod early_socket;
#[cfg(feature = "hydrate")]
pub mod reconnect;
pub mod startup;
pub mod use_alerts;
pub mod use_log_stream;
pub mod use_page_url;
pub mod use_process_status;
pub mod use_view_query;
pub mod use_viewer;

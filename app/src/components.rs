//! Leptos components. Each file holds the component it is named after.

pub mod alert_banner;
pub mod app;
pub mod connection_badge;
pub mod filter_bar;
pub mod histogram;
pub mod log_details;
pub mod log_list;
pub mod log_row;
pub mod log_viewer;
pub mod logs_page;
pub mod process_controls;
pub mod process_page;
pub mod process_panel;
pub mod sparkline;
pub mod theme_toggle;

//! The browser entry point. The server renders every page; this crate only
//! attaches the reactive system to that HTML.

// Leptos views are deeply nested types; the release build's layout
// queries for the hydration code exceed the default limit of 128.
#![recursion_limit = "256"]

use wasm_bindgen::prelude::wasm_bindgen;

/// Called by the generated JS glue once the wasm module is loaded.
#[wasm_bindgen]
pub fn hydrate() {
    console_error_panic_hook::set_once();
    leptos::mount::hydrate_body(app::App);
}

//! The live log viewer: filter bar, virtualised rows, details pane.

use leptos::prelude::*;

use crate::components::alert_banner::AlertBanner;
use crate::components::filter_bar::FilterBar;
use crate::components::histogram::HistogramStrip;
use crate::components::log_details::LogDetails;
use crate::components::log_list::LogList;
#[cfg(feature = "hydrate")]
use crate::hooks::use_viewer::ViewerContext;

/// The viewer; its state comes from the page's [`ViewerContext`] (see
/// [`crate::hooks::use_viewer`]).
#[component]
pub fn LogViewer() -> impl IntoView {
    #[cfg(feature = "hydrate")]
    keyboard_shortcuts(expect_context::<ViewerContext>());
    view! {
        <section class="viewer" aria-label="Logs">
            <FilterBar/>
            <AlertBanner/>
            <HistogramStrip/>
            <LogList/>
            <LogDetails/>
        </section>
    }
}

/// `/` or Ctrl+F: search; Esc: close details, else clear the search; End:
/// follow; Space: pause or resume.
#[cfg(feature = "hydrate")]
fn keyboard_shortcuts(viewer: ViewerContext) {
    use leptos::ev;
    use wasm_bindgen::JsCast;

    let handle = window_event_listener(ev::keydown, move |event| {
        let typing = event
            .target()
            .and_then(|t| t.dyn_into::<web_sys::Element>().ok())
            .is_some_and(|el| matches!(el.tag_name().as_str(), "INPUT" | "TEXTAREA" | "SELECT"));
        let key = event.key();
        let focus_search = || {
            if let Some(input) = viewer.search_box.get_untracked() {
                let _ = input.focus();
                input.select();
            }
        };
        match key.as_str() {
            "/" if !typing => {
                event.prevent_default();
                focus_search();
            }
            "f" if event.ctrl_key() || event.meta_key() => {
                event.prevent_default();
                focus_search();
            }
            "Escape" => {
                if viewer.selected.get_untracked().is_some() {
                    viewer.selected.set(None);
                } else {
                    viewer.query.update(true, |view| view.filter.text.clear());
                    if let Some(input) = viewer.search_box.get_untracked() {
                        let _ = input.blur();
                    }
                }
            }
            "End" if !typing => {
                event.prevent_default();
                viewer.follow.set(true);
            }
            " " if !typing => {
                event.prevent_default();
                let paused = viewer.stream.paused.get_untracked();
                viewer.stream.set_paused(!paused);
            }
            _ => {}
        }
    });
    on_cleanup(move || handle.remove());
}

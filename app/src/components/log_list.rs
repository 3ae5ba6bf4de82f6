//! The rows, virtualised: only the rows in view (and a margin) exist in the
//! page, whatever the number kept. Rows have a fixed height, so row `i`
//! sits at `i × ROW_HEIGHT` and the scrollbar covers every row.

use std::sync::Arc;

use leptos::html;
use leptos::prelude::*;
use leptos::web_sys::HtmlDivElement;

use crate::components::log_row::{LogRow, Shown};
use crate::hooks::use_viewer::ViewerContext;
use crate::log_entry::LogEntry;

/// Height of one row in pixels; the stylesheet reads it from `--row-height`.
pub const ROW_HEIGHT: i32 = 22;
/// Rows rendered above and below the visible ones, for smooth scrolling.
const OVERSCAN: usize = 15;

#[component]
pub fn LogList() -> impl IntoView {
    let viewer = expect_context::<ViewerContext>();
    let stream = viewer.stream;
    let scroller = NodeRef::<html::Div>::new();
    let spacer = NodeRef::<html::Div>::new();
    let scroll_top = RwSignal::new(0i32);
    let viewport = RwSignal::new(600i32);
    // Where the view was last put, by the reader or by the code. A scroll
    // the code makes (following, keeping the view still) records its
    // target here, so only a scroll above it is the reader scrolling up,
    // even when both land in one scroll event.
    let last_top = StoredValue::new(0i32);
    let last_serial = StoredValue::new(0u64);

    let total = Memo::new(move |_| stream.store.with(|s| s.visible().len()));
    let window = Memo::new(move |_| {
        let height = viewport.get().max(ROW_HEIGHT);
        let rows = (height / ROW_HEIGHT) as usize + 1;
        let following = viewer.follow.get();
        stream.store.with(|s| {
            let visible = s.visible();
            // Following, the window is the newest rows, where the scroll
            // is about to be put: rendering rows at the old scroll position
            // first would render every new frame twice.
            let top = if following {
                (visible.len() as i32 * ROW_HEIGHT - height).max(0)
            } else {
                scroll_top.get().max(0)
            };
            let first = (top / ROW_HEIGHT) as usize;
            let start = first.saturating_sub(OVERSCAN).min(visible.len());
            let end = (first + rows + OVERSCAN).min(visible.len());
            (
                start,
                visible
                    .range(start..end)
                    .cloned()
                    .collect::<Vec<Arc<LogEntry>>>(),
            )
        })
    });

    let slots = Memo::new(move |_| window.with(|w| w.1.len()));
    // The row of slot `slot` (made while the window reaches it), showing
    // what is at that place. A slot past the window's end is about to be
    // removed, but its row may be updated before the list drops it (the
    // window shrinks when scrolled to the top, where nothing is above): it
    // shows nothing then, rather than the entry it showed before.
    let slot_row = move |slot: usize| {
        let first = window.with_untracked(|w| w.1.get(slot).cloned())?;
        let entry = Memo::new(move |previous: Option<&Shown>| {
            window
                .with(|w| w.1.get(slot).cloned())
                .map(Shown)
                .or_else(|| previous.cloned())
                .unwrap_or_else(|| Shown(first.clone()))
        });
        let kind = Memo::new(move |_| window.with(|w| w.1.get(slot).map(|e| e.dropped)));
        Some(view! { <LogRow entry kind/> })
    };

    let scroll_to = move |el: &HtmlDivElement, top: i32| {
        if el.scroll_top() != top {
            el.set_scroll_top(top);
            last_top.set_value(el.scroll_top());
        }
    };
    // After rows change: follow the newest, or keep what the reader looks
    // at still (rows evicted above, or older rows loaded above).
    Effect::new(move |_| {
        let change = stream.last_change.get();
        if change.serial == last_serial.get_value() {
            return;
        }
        last_serial.set_value(change.serial);
        let following = viewer.follow.get_untracked();
        if !following {
            viewer.new_lines.update(|n| *n += change.appended);
        }
        // Following: scroll now, before this frame is painted, to where
        // the window already is. Computed, not read back from the page, so
        // no layout is forced; once the buffer is full the bottom stays put
        // and nothing is written at all.
        if following {
            if let (Some(el), Some(spacer)) = (scroller.get_untracked(), spacer.get_untracked()) {
                let total = stream.store.with_untracked(|s| s.visible().len()) as i32;
                let top = (total * ROW_HEIGHT - viewport.get_untracked()).max(0);
                if top != scroll_top.get_untracked() {
                    let _ =
                        spacer.set_attribute("style", &format!("height: {}px", total * ROW_HEIGHT));
                    el.set_scroll_top(top);
                    last_top.set_value(top);
                    scroll_top.set(top);
                }
                return;
            }
        }
        request_animation_frame(move || {
            let Some(el) = scroller.get_untracked() else {
                return;
            };
            if following {
                scroll_to(&el, el.scroll_height());
            } else {
                let shift = (change.prepended as i32 - change.removed_front as i32) * ROW_HEIGHT;
                if shift != 0 {
                    scroll_to(&el, (el.scroll_top() + shift).max(0));
                }
            }
            scroll_top.set(el.scroll_top());
            viewport.set(el.client_height());
        });
    });
    // A linked entry, once loaded: in the middle of the view, selected
    // (its details open), following off.
    Effect::new(move |_| {
        let Some(seq) = stream.focus.get() else {
            return;
        };
        stream.last_change.track();
        let found = stream.store.with_untracked(|s| {
            let visible = s.visible();
            visible
                .iter()
                .position(|e| e.seq == seq)
                .map(|index| (index, visible[index].clone()))
        });
        let Some((index, entry)) = found else {
            return;
        };
        stream.focus.set(None);
        viewer.follow.set(false);
        viewer.selected.set(Some(entry));
        request_animation_frame(move || {
            if let Some(el) = scroller.get_untracked() {
                let top = (index as i32 * ROW_HEIGHT - el.client_height() / 2).max(0);
                scroll_to(&el, top);
                scroll_top.set(el.scroll_top());
                viewport.set(el.client_height());
            }
        });
    });
    // Following again (the button, End) jumps to the newest row.
    Effect::new(move |_| {
        if viewer.follow.get() {
            viewer.new_lines.set(0);
            request_animation_frame(move || {
                if let Some(el) = scroller.get_untracked() {
                    scroll_to(&el, el.scroll_height());
                    scroll_top.set(el.scroll_top());
                    viewport.set(el.client_height());
                }
            });
        }
    });
    #[cfg(feature = "hydrate")]
    {
        use wasm_bindgen::closure::Closure;
        use wasm_bindgen::JsCast;

        // The list's height changes with the window and with what is above
        // it (a banner, the histogram, a toolbar that wraps): following
        // computes the bottom from it, so it must never be stale.
        type Observer = (web_sys::ResizeObserver, Closure<dyn FnMut(js_sys::Array)>);
        let observer = StoredValue::new_local(None::<Observer>);
        Effect::new(move |_| {
            let Some(el) = scroller.get() else {
                return;
            };
            let measure = Closure::<dyn FnMut(js_sys::Array)>::new(move |_| {
                if let Some(el) = scroller.get_untracked() {
                    viewport.set(el.client_height());
                }
            });
            if let Ok(watch) = web_sys::ResizeObserver::new(measure.as_ref().unchecked_ref()) {
                watch.observe(&el);
                observer.set_value(Some((watch, measure)));
            }
        });
        on_cleanup(move || {
            observer.update_value(|o| {
                if let Some((watch, _)) = o.take() {
                    watch.disconnect();
                }
            });
        });
    }

    let on_scroll = move |_| {
        let Some(el) = scroller.get_untracked() else {
            return;
        };
        let top = el.scroll_top();
        let at_bottom = el.scroll_height() - top - el.client_height() <= ROW_HEIGHT;
        // The event of a scroll the code made (following) may arrive after
        // the reader turned following off: only the reader's own scroll to
        // the bottom turns it on again.
        let ours = top == last_top.get_value();
        if top < last_top.get_value() - 2 && !at_bottom {
            viewer.follow.set(false);
        } else if at_bottom && !ours && !viewer.follow.get_untracked() {
            viewer.follow.set(true);
        }
        last_top.set_value(top);
        scroll_top.set(top);
        viewport.set(el.client_height());
        // Outside "live", reaching the top pages back through the range.
        if top <= ROW_HEIGHT
            && stream.history.with_untracked(Option::is_some)
            && !stream.history_exhausted.get_untracked()
            && !stream.loading_older.get_untracked()
        {
            stream.load_older();
        }
    };

    let empty_text = move || {
        if stream.history.with(Option::is_some) {
            if stream.history_error.with(Option::is_some) {
                "The stored lines could not be read."
            } else {
                "No stored lines in this range match the filters."
            }
        } else if stream.store.with(|s| s.is_empty()) {
            "Waiting for log lines…"
        } else {
            "No lines match the filters."
        }
    };

    view! {
        <div class="log-area">
            <div class="log-header" role="row">
                <button
                    type="button"
                    class="load-older"
                    data-testid="load-older"
                    disabled=move || stream.loading_older.get() || stream.history_exhausted.get()
                    on:click=move |_| stream.load_older()
                    title="Load earlier lines from the server's history"
                >
                    {move || {
                        if stream.loading_older.get() {
                            "loading…"
                        } else if stream.history_exhausted.get() {
                            "no older lines"
                        } else {
                            "↑ load older"
                        }
                    }}
                </button>
                <span class="history-error" role="alert">{move || stream.history_error.get()}</span>
                <span class="col time">"Time"</span>
                <span class="col level">"Level"</span>
                <span class="col process">"Process"</span>
                <span class="col message">"Message"</span>
            </div>
            <Show when=move || stream.paused.get()>
                <div class="banner paused" data-testid="paused-banner" role="status">
                    "Paused — " {move || stream.held.get()} " new lines held back "
                    <button type="button" on:click=move |_| stream.set_paused(false)>"Resume"</button>
                </div>
            </Show>
            <div
                class="log-scroll"
                node_ref=scroller
                on:scroll=on_scroll
                data-testid="log-table"
                role="log"
                aria-label="Log lines"
                style=format!("--row-height: {ROW_HEIGHT}px")
            >
                <div class="log-spacer" node_ref=spacer style:height=move || format!("{}px", total.get() as i32 * ROW_HEIGHT)>
                    <div
                        class="log-window"
                        style:transform=move || format!("translateY({}px)", window.with(|w| w.0) as i32 * ROW_HEIGHT)
                    >
                        // One row per slot of the window, each showing
                        // whichever entry is at its place now.
                        <For
                            each=move || 0..slots.get()
                            key=|slot| *slot
                            children=slot_row
                        />
                    </div>
                </div>
                <Show when=move || total.get() == 0>
                    <p class="empty" data-testid="empty">{empty_text}</p>
                </Show>
            </div>
            <Show when=move || { !viewer.follow.get() && viewer.new_lines.get() > 0 }>
                <button type="button" class="new-lines" data-testid="new-lines" on:click=move |_| viewer.follow.set(true)>
                    {move || format!("{} new lines ↓", viewer.new_lines.get())}
                </button>
            </Show>
        </div>
    }
}

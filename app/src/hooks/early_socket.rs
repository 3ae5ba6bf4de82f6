//! The live stream's socket, opened by the page itself before the viewer's
//! code has loaded.
//!
//! On a page whose first connection needs nothing but the stream (`/`
//! without filters), the server puts a small script in the head that
//! opens `/ws/logs` as the HTML arrives and keeps what comes. Once
//! hydrated, the viewer takes that socket over ([`take`]) if it is the
//! one it would open, and shows the waiting entries at once: the
//! handshake and the first entries travel while the bundle loads, instead
//! of after it.

use leptos::prelude::*;

use crate::hooks::use_log_stream::socket_path;
use crate::page::Page;

/// The global the script leaves the socket in.
const GLOBAL: &str = "__logdeckLiveSocket";

/// The `/ws/logs` path (with its query) a viewer opens first on the page
/// at `path` with `query` when it loads nothing before the stream; `None`
/// for other pages.
pub fn first_path(path: &str, query: &str, tail: usize) -> Option<String> {
    (Page::from_path(path) == Page::Logs && query.is_empty())
        .then(|| socket_path(&format!("tail={tail}"), ""))
}

/// The script for the head of the page at the request's URL, if that page
/// opens its socket early.
#[component]
pub fn EarlySocket() -> impl IntoView {
    #[cfg(feature = "ssr")]
    let path = crate::hooks::use_page_url::request_url().and_then(|(path, query)| {
        first_path(&path, &query, crate::hooks::use_viewer::INITIAL_TAIL)
    });
    #[cfg(not(feature = "ssr"))]
    let path: Option<String> = None;
    path.map(|path| {
        view! { <script nonce=use_nonce() inner_html=script(&path)></script> }
    })
}

/// Opens `path` on this origin and keeps its frames in `window[GLOBAL]`.
fn script(path: &str) -> String {
    // A JSON string is a JavaScript string; `<` escaped keeps `</script>`
    // out of it.
    let path = serde_json::Value::from(path)
        .to_string()
        .replace('<', "\\u003c");
    format!(
        "(function(p){{try{{var l=location,s=new WebSocket((l.protocol==='https:'?'wss://':'ws://')+l.host+p),\
         e={{path:p,socket:s,frames:[],closed:false}};\
         s.onmessage=function(m){{e.frames.push(m.data)}};\
         s.onclose=function(){{e.closed=true}};\
         window.{GLOBAL}=e}}catch(_){{}}}})({path})"
    )
}

#[cfg(feature = "hydrate")]
pub use browser::{take, Socket};

#[cfg(feature = "hydrate")]
mod browser {
    use futures::channel::mpsc;
    use futures::StreamExt;
    use js_sys::{Array, Reflect};
    use wasm_bindgen::closure::Closure;
    use wasm_bindgen::{JsCast, JsValue};

    use super::GLOBAL;

    enum Event {
        Open,
        Text(String),
        Closed,
    }

    /// The socket the page's script opened, now read here.
    pub struct Socket {
        socket: web_sys::WebSocket,
        events: mpsc::UnboundedReceiver<Event>,
        _handlers: [Closure<dyn FnMut(JsValue)>; 3],
    }

    /// The socket the page's script opened, if it opened `path`; any other
    /// is closed. There is one at most, and only the first call gets it.
    pub fn take(path: &str) -> Option<Socket> {
        let window: JsValue = web_sys::window()?.into();
        let early = Reflect::get(&window, &GLOBAL.into()).ok()?;
        if early.is_undefined() || early.is_null() {
            return None;
        }
        let _ = Reflect::delete_property(window.unchecked_ref::<js_sys::Object>(), &GLOBAL.into());
        let field = |name: &str| Reflect::get(&early, &name.into()).unwrap_or(JsValue::UNDEFINED);
        let socket = field("socket").dyn_into::<web_sys::WebSocket>().ok()?;
        if field("path").as_string().as_deref() != Some(path) {
            let _ = socket.close();
            return None;
        }
        let (tx, events) = mpsc::unbounded();
        // What came before now, in order, then what comes from now on.
        let frames = field("frames").dyn_into::<Array>().unwrap_or_default();
        let open = socket.ready_state() == web_sys::WebSocket::OPEN || frames.length() > 0;
        if open {
            let _ = tx.unbounded_send(Event::Open);
        }
        for frame in frames.iter() {
            if let Some(text) = frame.as_string() {
                let _ = tx.unbounded_send(Event::Text(text));
            }
        }
        if field("closed").is_truthy() || socket.ready_state() >= web_sys::WebSocket::CLOSING {
            let _ = tx.unbounded_send(Event::Closed);
        }
        let on_open = {
            let tx = tx.clone();
            Closure::<dyn FnMut(JsValue)>::new(move |_| {
                let _ = tx.unbounded_send(Event::Open);
            })
        };
        let on_message = {
            let tx = tx.clone();
            Closure::<dyn FnMut(JsValue)>::new(move |event: JsValue| {
                let data = Reflect::get(&event, &"data".into()).ok();
                if let Some(text) = data.and_then(|d| d.as_string()) {
                    let _ = tx.unbounded_send(Event::Text(text));
                }
            })
        };
        let on_close = Closure::<dyn FnMut(JsValue)>::new(move |_| {
            let _ = tx.unbounded_send(Event::Closed);
        });
        socket.set_onopen(Some(on_open.as_ref().unchecked_ref()));
        socket.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
        socket.set_onclose(Some(on_close.as_ref().unchecked_ref()));
        socket.set_onerror(Some(on_close.as_ref().unchecked_ref()));
        Some(Socket {
            socket,
            events,
            _handlers: [on_open, on_message, on_close],
        })
    }

    impl std::fmt::Debug for Socket {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.debug_struct("Socket")
                .field("url", &self.socket.url())
                .finish()
        }
    }

    impl Socket {
        /// Waits until the socket is open; false if it closed instead.
        pub async fn opened(&mut self) -> bool {
            matches!(self.events.next().await, Some(Event::Open))
        }

        /// The next text frame; `None` once the socket is closed.
        pub async fn next_text(&mut self) -> Option<String> {
            loop {
                match self.events.next().await? {
                    Event::Text(text) => return Some(text),
                    Event::Open => continue,
                    Event::Closed => return None,
                }
            }
        }
    }

    impl Drop for Socket {
        fn drop(&mut self) {
            self.socket.set_onopen(None);
            self.socket.set_onmessage(None);
            self.socket.set_onclose(None);
            self.socket.set_onerror(None);
            let _ = self.socket.close();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_unfiltered_logs_page_opens_early() {
        assert_eq!(
            first_path("/", "", 2000).as_deref(),
            Some("/ws/logs?format=json&batch=1&tail=2000")
        );
        assert_eq!(
            first_path("", "", 5).as_deref(),
            Some("/ws/logs?format=json&batch=1&tail=5")
        );
        for (path, query) in [
            ("/", "process=web"),
            ("/", "seq=4"),
            ("/processes/web", ""),
            ("/nowhere", ""),
        ] {
            assert_eq!(first_path(path, query, 2000), None, "{path}?{query}");
        }
    }

    #[test]
    fn the_script_opens_the_path_and_cannot_end_its_element() {
        let script = script("/ws/logs?tail=1&x=</script>");
        assert!(
            script.contains(r#"("/ws/logs?tail=1&x=\u003c/script>")"#),
            "{script}"
        );
        assert!(!script.contains("</script"), "{script}");
        assert!(script.contains(&format!("window.{GLOBAL}=e")));
    }
}

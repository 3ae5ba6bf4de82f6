//! The HTML document and the routed application inside it.

use leptos::either::EitherOf3;
use leptos::prelude::*;
use leptos_meta::{provide_meta_context, Link, MetaTags, Stylesheet, Title};

use crate::components::logs_page::LogsPage;
use crate::components::process_page::ProcessPage;
use crate::hooks::early_socket::EarlySocket;
use crate::hooks::startup::provide_startup;
use crate::hooks::use_page_url::provide_page_url;
use crate::page::Page;

/// The whole HTML document the server renders around [`App`].
pub fn shell(options: LeptosOptions) -> impl IntoView {
    view! {
        <!DOCTYPE html>
        <html lang="en">
            <head>
                <meta charset="utf-8"/>
                <meta name="viewport" content="width=device-width, initial-scale=1"/>
                <meta name="color-scheme" content="light dark"/>
                <AutoReload options=options.clone()/>
                <HydrationScripts options/>
                <ModulePreloadLinks/>
                <EarlySocket/>
                <MetaTags/>
            </head>
            <body>
                <App/>
            </body>
        </html>
    }
}

/// The site's JavaScript modules the entry module imports (the server
/// lists them; see `server::site::module_preloads`), given to the shell as
/// context.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ModulePreloads(pub Vec<String>);

/// `<link rel="modulepreload">` for each of the [`ModulePreloads`]: the
/// browser fetches them beside the entry module, instead of discovering
/// them once it has read it (one round trip fewer before hydration).
#[component]
fn ModulePreloadLinks() -> impl IntoView {
    use_context::<ModulePreloads>()
        .unwrap_or_default()
        .0
        .into_iter()
        .map(|href| view! { <link rel="modulepreload" href=href/> })
        .collect_view()
}

/// The application: the same tree on the server and in the browser.
///
/// The page comes from the URL's path ([`Page`]); the server renders
/// each page, and the browser never swaps one for another (a page's views
/// live in its query string). Choosing it here rather than through a
/// router keeps every page's view concrete: a router erases each route's
/// view type, which compiles a second, asynchronous hydration of the
/// whole tree into the browser's bundle.
#[component]
pub fn App() -> impl IntoView {
    provide_meta_context();
    let url = provide_page_url();
    provide_startup();
    let page = match url.page() {
        Page::Logs => EitherOf3::A(view! { <LogsPage/> }),
        Page::Process(name) => EitherOf3::B(view! { <ProcessPage name/> }),
        Page::NotFound => EitherOf3::C(view! { <p class="not-found">"Page not found."</p> }),
    };

    view! {
        <Stylesheet id="leptos" href="/pkg/logdeck.css"/>
        <Link rel="icon" type_="image/svg+xml" href="/favicon.svg"/>
        <Title text="Logdeck"/>
        {page}
    }
}

#[cfg(all(test, feature = "ssr"))]
mod tests {
    use super::*;
    use leptos_router::location::RequestUrl;

    /// The server-rendered page for `url`, as the browser first sees it.
    fn render(url: &str) -> String {
        let url = url.to_owned();
        Owner::new().with(move || {
            provide_context(RequestUrl::new(&url));
            view! { <App/> }.to_html()
        })
    }

    #[test]
    fn the_modules_to_preload_are_linked() {
        let html = Owner::new().with(|| {
            provide_context(ModulePreloads(vec![
                "/pkg/snippets/app-1/a.js".into(),
                "/pkg/snippets/app-1/b.js".into(),
            ]));
            view! { <ModulePreloadLinks/> }.to_html()
        });
        assert!(
            html.starts_with(
                r#"<link rel="modulepreload" href="/pkg/snippets/app-1/a.js"><link rel="modulepreload" href="/pkg/snippets/app-1/b.js">"#
            ),
            "{html}"
        );
        assert_eq!(html.matches("<link").count(), 2, "{html}");
        let none = Owner::new().with(|| view! { <ModulePreloadLinks/> }.to_html());
        assert!(!none.contains("<link"), "{none}");
    }

    #[test]
    fn the_logs_page_renders_its_controls_and_an_empty_list() {
        let html = render("/");
        for test_id in [
            "process-panel",
            "process-filter",
            "level-filter",
            "search",
            "search-regex",
            "search-case",
            "search-highlight",
            "follow",
            "pause",
            "utc",
            "download-txt",
            "theme-toggle",
            "row-count",
            "log-table",
            "connection-status",
            "load-older",
        ] {
            assert!(
                html.contains(&format!("data-testid=\"{test_id}\"")),
                "{test_id} missing"
            );
        }
        assert!(
            html.contains(">connecting<"),
            "the badge starts as connecting"
        );
        assert!(html.contains("Waiting for log lines"));
        assert!(!html.contains("data-testid=\"log-row\""));
        for level in crate::level::Level::ALL {
            assert!(
                html.contains(&format!("value=\"{}\"", level.as_str())),
                "{level}"
            );
        }
    }

    #[test]
    fn filters_in_the_url_are_rendered_by_the_server() {
        let html = render("/?process=web&level=ERROR&q=time%20out&regex=1");
        // The picker's summary names the process, the search box holds the
        // text, the regex toggle is pressed; the download link carries it all.
        assert!(html.contains(">web<"), "{html}");
        assert!(html.contains("value=\"time out\""), "{html}");
        assert!(
            html.contains(
                "data-testid=\"search-regex\" title=\"Regular expression\" aria-pressed=\"true\""
            ),
            "{html}"
        );
        assert!(html.contains("/api/logs/download?process=web&amp;level=ERROR&amp;q=time+out&amp;regex=1&amp;format=txt"), "{html}");
    }

    #[test]
    fn a_process_page_has_its_header_and_controls() {
        let html = render("/processes/db");
        assert!(html.contains("data-testid=\"process-header\""));
        assert!(html.contains("data-testid=\"process-start-db\""));
        assert!(html.contains("data-testid=\"process-stop-db\""));
        // One process: no process picker.
        assert!(!html.contains("data-testid=\"process-filter\""));
    }

    #[test]
    fn an_unknown_path_says_so() {
        assert!(render("/nowhere").contains("Page not found."));
    }
}

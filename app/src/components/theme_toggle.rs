//! Light, dark, or following the system; remembered by the browser.

use leptos::prelude::*;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Theme {
    Auto,
    Light,
    Dark,
}

impl Theme {
    fn next(self) -> Theme {
        match self {
            Theme::Auto => Theme::Light,
            Theme::Light => Theme::Dark,
            Theme::Dark => Theme::Auto,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Theme::Auto => "auto",
            Theme::Light => "light",
            Theme::Dark => "dark",
        }
    }
}

#[component]
pub fn ThemeToggle() -> impl IntoView {
    let theme = RwSignal::new(Theme::Auto);
    #[cfg(feature = "hydrate")]
    {
        const KEY: &str = "logdeck-theme";
        let storage = || window().local_storage().ok().flatten();
        Effect::new(move |first: Option<()>| {
            if first.is_none() {
                let saved = storage().and_then(|s| s.get_item(KEY).ok().flatten());
                let saved = match saved.as_deref() {
                    Some("light") => Theme::Light,
                    Some("dark") => Theme::Dark,
                    _ => Theme::Auto,
                };
                theme.set(saved);
            }
            let current = theme.get();
            if let Some(root) = document().document_element() {
                let _ = match current {
                    Theme::Auto => root.remove_attribute("data-theme"),
                    other => root.set_attribute("data-theme", other.name()),
                };
            }
            if let Some(storage) = storage() {
                let _ = storage.set_item(KEY, current.name());
            }
        });
    }
    view! {
        <button
            type="button"
            class="theme-toggle"
            data-testid="theme-toggle"
            title="Colour theme: automatic follows the system"
            on:click=move |_| theme.update(|t| *t = t.next())
        >
            {move || format!("theme: {}", theme.get().name())}
        </button>
    }
}

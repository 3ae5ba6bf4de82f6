//! A tiny line chart of lines per second.

use leptos::prelude::*;

/// `values` oldest first, drawn left to right and scaled to the largest.
#[component]
pub fn Sparkline(#[prop(into)] values: Signal<Vec<u32>>) -> impl IntoView {
    let points = move || {
        values.with(|values| {
            let max = values.iter().copied().max().unwrap_or(0).max(1) as f64;
            let step = 100.0 / (values.len().max(2) - 1) as f64;
            values
                .iter()
                .enumerate()
                .map(|(i, &v)| {
                    format!("{:.1},{:.1}", i as f64 * step, 19.0 - v as f64 / max * 18.0)
                })
                .collect::<Vec<_>>()
                .join(" ")
        })
    };
    let label = move || {
        values.with(|v| {
            let last = v.iter().rev().skip(1).copied().next().unwrap_or(0);
            format!("{last} lines/s")
        })
    };
    view! {
        <svg class="sparkline" viewBox="0 0 100 20" preserveAspectRatio="none" role="img" aria-label=label>
            <polyline points=points/>
        </svg>
    }
}

//! The level histogram above the rows: stored entries per time bucket,
//! stacked by level, over the view's range (live: the last hour, kept up
//! to date), through the view's filters. Dragging over it zooms the view
//! to the time dragged over.

use chrono::{DateTime, Utc};
use leptos::prelude::*;

use crate::hooks::use_viewer::ViewerContext;
use crate::level::Level;
use crate::protocol::Histogram;
use crate::view_query::{TimeRange, ViewQuery};

/// Buckets asked for.
pub const BUCKETS: usize = 120;
/// The chart's drawing size (the SVG stretches it).
const WIDTH: f64 = 1000.0;
const HEIGHT: f64 = 40.0;
/// What the live view's histogram covers.
const LIVE_RANGE: &str = "-1h";

/// `GET /api/logs/histogram`'s query for `view` (and the page's process).
pub fn histogram_query(view: &ViewQuery, process: Option<&str>) -> String {
    let mut filter = view.hiding_filter();
    if let Some(process) = process {
        filter.processes = [process.to_owned()].into();
    }
    let mut query = form_urlencoded::Serializer::new(String::new());
    for (key, value) in filter.to_query_pairs() {
        query.append_pair(key, &value);
    }
    match &view.range {
        Some(range) => {
            for (key, value) in range.api_pairs() {
                query.append_pair(key, &value);
            }
        }
        None => {
            query.append_pair("from", LIVE_RANGE);
        }
    }
    query.append_pair("buckets", &BUCKETS.to_string());
    query.finish()
}

/// One rectangle of the chart: a level's part of a bucket.
#[derive(Clone, Debug, PartialEq)]
pub struct Bar {
    pub x: f64,
    pub y: f64,
    pub width: f64,
    pub height: f64,
    pub level: Level,
    pub count: u64,
}

/// The stacked bars of `histogram`, scaled to the fullest bucket: the
/// most severe level at the bottom, so errors show even in a busy bucket.
pub fn bars(histogram: &Histogram) -> Vec<Bar> {
    let max = histogram
        .buckets
        .iter()
        .map(|b| b.total())
        .max()
        .unwrap_or(0)
        .max(1) as f64;
    let width = WIDTH / histogram.buckets.len().max(1) as f64;
    let mut bars = Vec::new();
    for (i, bucket) in histogram.buckets.iter().enumerate() {
        let mut bottom = HEIGHT;
        for (level, &count) in Level::ALL.iter().zip(bucket.levels.iter()).rev() {
            if count == 0 {
                continue;
            }
            // At least a pixel, so a single error is seen.
            let height = (count as f64 / max * HEIGHT).max(1.0);
            bottom -= height;
            bars.push(Bar {
                x: i as f64 * width,
                y: bottom.max(0.0),
                width: (width - 0.5).max(0.5),
                height,
                level: *level,
                count,
            });
        }
    }
    bars
}

/// The time at `fraction` (0 at the left edge, 1 at the right) of the
/// histogram's range.
pub fn time_at(histogram: &Histogram, fraction: f64) -> DateTime<Utc> {
    let span = (histogram.to - histogram.from).num_milliseconds() as f64;
    histogram.from + chrono::Duration::milliseconds((span * fraction.clamp(0.0, 1.0)) as i64)
}

/// The range dragged over, from `a` to `b` (fractions, either order); none
/// for a click (less than half a bucket).
pub fn dragged_range(histogram: &Histogram, a: f64, b: f64) -> Option<TimeRange> {
    let (start, end) = if a <= b { (a, b) } else { (b, a) };
    if end - start < 0.5 / BUCKETS as f64 {
        return None;
    }
    Some(TimeRange::Between {
        from: time_at(histogram, start),
        to: time_at(histogram, end),
    })
}

#[component]
pub fn HistogramStrip() -> impl IntoView {
    let viewer = expect_context::<ViewerContext>();
    let histogram = RwSignal::new(None::<Histogram>);
    let error = RwSignal::new(None::<String>);
    // Dragging: where it started and where it is, as fractions.
    let drag = RwSignal::new(None::<(f64, f64)>);
    // Loaded once the page's first rows are shown.
    #[cfg(feature = "hydrate")]
    crate::hooks::startup::use_startup()
        .then(move || browser::keep_loaded(viewer, histogram, error));

    let fraction = move |ev: &leptos::ev::PointerEvent| -> Option<f64> {
        #[cfg(feature = "hydrate")]
        {
            use wasm_bindgen::JsCast;
            let target = ev.current_target()?.dyn_into::<web_sys::Element>().ok()?;
            let rect = target.get_bounding_client_rect();
            (rect.width() > 0.0).then(|| (f64::from(ev.client_x()) - rect.left()) / rect.width())
        }
        #[cfg(not(feature = "hydrate"))]
        {
            let _ = ev;
            None
        }
    };
    let on_down = move |ev: leptos::ev::PointerEvent| {
        if let Some(at) = fraction(&ev) {
            drag.set(Some((at, at)));
        }
    };
    let on_move = move |ev: leptos::ev::PointerEvent| {
        if let (Some((start, _)), Some(at)) = (drag.get_untracked(), fraction(&ev)) {
            drag.set(Some((start, at)));
        }
    };
    let on_up = move |ev: leptos::ev::PointerEvent| {
        let Some((start, _)) = drag.get_untracked() else {
            return;
        };
        drag.set(None);
        let end = fraction(&ev).unwrap_or(start);
        let range =
            histogram.with_untracked(|h| h.as_ref().and_then(|h| dragged_range(h, start, end)));
        if let Some(range) = range {
            viewer.query.update(false, move |view| {
                view.range = Some(range);
                view.seq = None;
            });
        }
    };
    let selection = move || {
        drag.get().map(|(a, b)| {
            let (start, end) = if a <= b { (a, b) } else { (b, a) };
            view! {
                <rect class="histogram-selection" x=start.clamp(0.0, 1.0) * WIDTH y="0"
                    width=(end - start).clamp(0.0, 1.0) * WIDTH height=HEIGHT/>
            }
        })
    };
    let caption = move || {
        histogram.with(|h| {
            h.as_ref().map(|h| {
                let total: u64 = h.buckets.iter().map(|b| b.total()).sum();
                let errors: u64 = h.buckets.iter().map(|b| b.levels[3] + b.levels[4]).sum();
                let utc = viewer.utc.get();
                format!(
                    "{} – {} · {} lines, {} errors · {} s per bar",
                    crate::format::full_time(&h.from, utc),
                    crate::format::full_time(&h.to, utc),
                    total,
                    errors,
                    h.bucket_ms / 1000
                )
            })
        })
    };
    view! {
        <div class="histogram" data-testid="histogram">
            <svg
                viewBox=format!("0 0 {WIDTH} {HEIGHT}")
                preserveAspectRatio="none"
                role="img"
                aria-label="Stored lines per time and level; drag to zoom"
                on:pointerdown=on_down
                on:pointermove=on_move
                on:pointerup=on_up
                on:pointerleave=move |_| drag.set(None)
            >
                {move || {
                    histogram
                        .with(|h| h.as_ref().map(bars).unwrap_or_default())
                        .into_iter()
                        .map(|bar| {
                            view! {
                                <rect
                                    class=format!("bar level-{}", bar.level.css_class())
                                    data-level=bar.level.as_str()
                                    data-count=bar.count
                                    x=bar.x y=bar.y width=bar.width height=bar.height
                                />
                            }
                        })
                        .collect_view()
                }}
                {selection}
            </svg>
            <span class="histogram-caption" data-testid="histogram-caption">{caption}</span>
            <span class="history-error" role="alert">{move || error.get()}</span>
        </div>
    }
}

#[cfg(feature = "hydrate")]
mod browser {
    use std::cell::Cell;
    use std::rc::Rc;

    use leptos::prelude::*;
    use leptos::task::spawn_local;

    use super::histogram_query;
    use crate::api::fetch_histogram;
    use crate::hooks::use_viewer::ViewerContext;
    use crate::protocol::Histogram;
    use crate::view_query::ViewQuery;

    /// Live views refresh it this often.
    const LIVE_REFRESH: std::time::Duration = std::time::Duration::from_secs(10);

    /// Loads the histogram whenever the view changes (and, live, every
    /// [`LIVE_REFRESH`]); an answer to an older view is dropped.
    pub(super) fn keep_loaded(
        viewer: ViewerContext,
        histogram: RwSignal<Option<Histogram>>,
        error: RwSignal<Option<String>>,
    ) {
        let generation = Rc::new(Cell::new(0u64));
        let refresh = RwSignal::new(0u64);
        Effect::new(move |_| {
            refresh.track();
            let process = viewer.fixed_process.get_value();
            let query = viewer
                .query
                .view
                .with(|view| histogram_query(view, process.as_deref()));
            let generation = generation.clone();
            let mine = generation.get() + 1;
            generation.set(mine);
            spawn_local(async move {
                let answer = fetch_histogram(&query).await;
                if generation.get() != mine {
                    return;
                }
                match answer {
                    Ok(h) => {
                        histogram.set(Some(h));
                        error.set(None);
                    }
                    Err(e) => error.set(Some(e)),
                }
            });
        });
        if let Ok(handle) = set_interval_with_handle(
            move || {
                if viewer.query.view.with_untracked(ViewQuery::is_live) {
                    refresh.update(|n| *n += 1);
                }
            },
            LIVE_REFRESH,
        ) {
            on_cleanup(move || handle.clear());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::HistogramBucket;

    fn histogram(levels: &[[u64; 5]]) -> Histogram {
        let from = DateTime::parse_from_rfc3339("2026-12-01T10:00:00Z")
            .expect("time")
            .with_timezone(&Utc);
        Histogram {
            from,
            to: from + chrono::Duration::seconds(levels.len() as i64 * 10),
            bucket_ms: 10_000,
            buckets: levels
                .iter()
                .enumerate()
                .map(|(i, levels)| HistogramBucket {
                    start: from + chrono::Duration::seconds(i as i64 * 10),
                    levels: *levels,
                })
                .collect(),
        }
    }

    #[test]
    fn bars_stack_the_severe_levels_at_the_bottom_scaled_to_the_fullest_bucket() {
        let h = histogram(&[[0, 10, 0, 1, 0], [0, 0, 0, 0, 0], [0, 20, 0, 0, 0]]);
        let bars = bars(&h);
        assert_eq!(bars.len(), 3);
        let error = &bars[0];
        assert_eq!(error.level, Level::Error);
        assert_eq!(error.y + error.height, HEIGHT);
        assert_eq!(bars[1].level, Level::Info);
        assert!((bars[1].y + bars[1].height - error.y).abs() < 1e-9);
        // The fullest bucket fills the height.
        assert_eq!(bars[2].height, HEIGHT);
        assert!(bars[2].x > bars[1].x);
    }

    #[test]
    fn a_drag_becomes_a_range_a_click_does_not() {
        let h = histogram(&[[0, 1, 0, 0, 0]; 6]);
        let Some(TimeRange::Between { from, to }) = dragged_range(&h, 0.75, 0.25) else {
            panic!("a range");
        };
        assert_eq!((from - h.from).num_seconds(), 15);
        assert_eq!((to - h.from).num_seconds(), 45);
        assert_eq!(dragged_range(&h, 0.5, 0.5001), None);
        assert_eq!(time_at(&h, 2.0), h.to);
    }

    #[test]
    fn the_query_follows_the_filters_and_the_range() {
        let mut view = ViewQuery::from_pairs([("level", "ERROR"), ("q", "boom")]);
        assert_eq!(
            histogram_query(&view, Some("web")),
            "process=web&level=ERROR&q=boom&from=-1h&buckets=120"
        );
        view.range = Some(TimeRange::Last(crate::view_query::RangePreset::Days7));
        assert!(histogram_query(&view, None).contains("from=-7d"));
    }
}

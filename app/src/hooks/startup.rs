//! A page's first moments belong to the live stream. What can wait (the
//! alerts, the histogram, the process table's socket, the cluster's
//! status, the first connection's server info) starts once the first rows are shown, or [`AT_THE_LATEST`]
//! after hydration when none come, so that the browser's single thread and
//! the first round trips carry the rows first.

use std::time::Duration;

use leptos::prelude::*;

/// How long the deferred work waits for the first rows at most.
pub const AT_THE_LATEST: Duration = Duration::from_millis(300);

/// Whether the page has started (its first rows are shown, or it waited
/// long enough).
#[derive(Debug, Clone, Copy)]
pub struct Startup {
    started: RwSignal<bool>,
}

impl Startup {
    /// Marks the first rows as shown.
    pub fn rows_shown(&self) {
        if !self.started.get_untracked() {
            self.started.set(true);
        }
    }

    /// Runs `work` once the page has started (at once if it has), under
    /// the reactive owner of the caller: what it creates lives as long as
    /// the caller's component.
    pub fn then(&self, work: impl FnOnce() + 'static) {
        let owner = Owner::current();
        let run = move || match &owner {
            Some(owner) => owner.with(work),
            None => work(),
        };
        if self.started.get_untracked() {
            run();
            return;
        }
        let started = self.started;
        let mut pending = Some(run);
        Effect::new(move |_| {
            if started.get() {
                if let Some(run) = pending.take() {
                    run();
                }
            }
        });
    }
}

/// Provides the page's [`Startup`]; in the browser its deadline starts
/// now.
pub fn provide_startup() -> Startup {
    let startup = Startup {
        started: RwSignal::new(false),
    };
    #[cfg(feature = "hydrate")]
    set_timeout(move || startup.rows_shown(), AT_THE_LATEST);
    provide_context(startup);
    startup
}

/// The page's [`Startup`]; one that has started where none was provided.
pub fn use_startup() -> Startup {
    use_context::<Startup>().unwrap_or_else(|| Startup {
        started: RwSignal::new(true),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::Cell;
    use std::rc::Rc;

    #[test]
    fn work_waits_for_the_first_rows_and_runs_once() {
        let owner = Owner::new();
        owner.with(|| {
            let startup = provide_startup();
            let runs = Rc::new(Cell::new(0));
            let counter = runs.clone();
            startup.then(move || counter.set(counter.get() + 1));
            assert_eq!(runs.get(), 0, "nothing runs before the rows");
            assert!(!startup.started.get_untracked());
            startup.rows_shown();
            startup.rows_shown();
            // Effects run on the reactive system's next turn; `then` on a
            // started page runs at once.
            let later = Rc::new(Cell::new(false));
            let flag = later.clone();
            use_startup().then(move || flag.set(true));
            assert!(later.get());
            assert!(startup.started.get_untracked());
        });
    }

    #[test]
    fn without_a_provided_startup_work_runs_at_once() {
        let owner = Owner::new();
        owner.with(|| {
            let ran = Rc::new(Cell::new(false));
            let flag = ran.clone();
            use_startup().then(move || flag.set(true));
            assert!(ran.get());
        });
    }
}

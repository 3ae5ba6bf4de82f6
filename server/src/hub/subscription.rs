//! What a subscriber reads the hub's entries through.
//!
//! The broadcast channel holds the newest `lag_capacity` entries for its
//! slowest subscriber. Most are sent as they are, and that many of them
//! fit the hub's byte budget; a long one is sent as a weak reference, the
//! hub holding the frame for as long as a subscriber may still need it (its
//! lag window, bounded in entries and in bytes). A subscriber that falls
//! further behind finds the oldest long frames gone and is told how many it
//! missed, exactly as when the channel itself overflows — so however slow
//! a subscriber is and however long the lines, what is held for it stays
//! within twice the budget.

use std::sync::{Arc, Weak};

use tokio::sync::broadcast;
use tokio::sync::broadcast::error::{RecvError, TryRecvError};

use super::Frame;

/// An entry as the channel carries it.
#[derive(Clone, Debug)]
pub(super) enum Sent {
    Held(Arc<Frame>),
    /// A long entry, held by the hub's lag window.
    Window(Weak<Frame>),
}

impl Sent {
    /// The frame, unless the hub no longer holds it.
    fn frame(self) -> Option<Arc<Frame>> {
        match self {
            Sent::Held(frame) => Some(frame),
            Sent::Window(weak) => weak.upgrade(),
        }
    }
}

/// Receives every entry published after it was made.
#[derive(Debug)]
pub struct Subscription {
    channel: broadcast::Receiver<Sent>,
    /// The first live frame after a run of lost ones: returned by the next
    /// call, after the lag has been reported.
    pending: Option<Arc<Frame>>,
}

impl Subscription {
    pub(super) fn new(channel: broadcast::Receiver<Sent>) -> Self {
        Subscription {
            channel,
            pending: None,
        }
    }

    /// The next entry; `Lagged(n)` when `n` entries were lost before it
    /// (the next call returns it); `Closed` when the hub is gone.
    /// Cancel safe, like the channel's own `recv`.
    pub async fn recv(&mut self) -> Result<Arc<Frame>, RecvError> {
        if let Some(frame) = self.pending.take() {
            return Ok(frame);
        }
        let first = self.channel.recv().await;
        self.settle(first)
    }

    /// [`recv`](Self::recv) without waiting: `Empty` when nothing is
    /// queued.
    pub fn try_recv(&mut self) -> Result<Arc<Frame>, TryRecvError> {
        if let Some(frame) = self.pending.take() {
            return Ok(frame);
        }
        let Some(first) = queued(self.channel.try_recv()) else {
            return Err(TryRecvError::Empty);
        };
        self.settle(first).map_err(without_waiting)
    }

    /// Whether nothing is queued for this subscriber.
    pub fn is_empty(&self) -> bool {
        self.pending.is_none() && self.channel.is_empty()
    }

    /// Turns what the channel gave into an entry or a count of the lost
    /// ones: frames the hub no longer holds are counted together with
    /// whatever the channel itself overwrote, up to the first live one.
    fn settle(&mut self, first: Result<Sent, RecvError>) -> Result<Arc<Frame>, RecvError> {
        let mut missed = 0;
        let mut next = first;
        loop {
            match next {
                Ok(sent) => match sent.frame() {
                    Some(frame) if missed == 0 => return Ok(frame),
                    Some(frame) => {
                        self.pending = Some(frame);
                        return Err(RecvError::Lagged(missed));
                    }
                    None => missed += 1,
                },
                Err(RecvError::Lagged(n)) => missed += n,
                Err(RecvError::Closed) if missed == 0 => return Err(RecvError::Closed),
                Err(RecvError::Closed) => return Err(RecvError::Lagged(missed)),
            }
            // Only reached with `missed` above zero.
            next = queued(self.channel.try_recv()).ok_or(RecvError::Lagged(missed))?;
        }
    }
}

/// What a `try_recv` found, as `recv` would give it; `None` when nothing
/// was queued.
fn queued<T>(found: Result<T, TryRecvError>) -> Option<Result<T, RecvError>> {
    match found {
        Ok(value) => Some(Ok(value)),
        Err(TryRecvError::Lagged(n)) => Some(Err(RecvError::Lagged(n))),
        Err(TryRecvError::Closed) => Some(Err(RecvError::Closed)),
        Err(TryRecvError::Empty) => None,
    }
}

/// A `recv` error as the `try_recv` one.
pub(crate) fn without_waiting(error: RecvError) -> TryRecvError {
    match error {
        RecvError::Lagged(n) => TryRecvError::Lagged(n),
        RecvError::Closed => TryRecvError::Closed,
    }
}

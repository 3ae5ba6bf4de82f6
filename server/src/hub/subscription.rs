//! What a subscriber reads the hub's entries through.
//!
//! The broadcast channel carries weak references; the hub holds the strong
//! ones for as long as a subscriber may still need them (its lag window,
//! bounded in entries and in bytes). A subscriber that falls further
//! behind finds the oldest frames gone and is told how many it missed,
//! exactly as when the channel itself overflows — so however slow a
//! subscriber is, the memory held for it stays within the window.

use std::sync::{Arc, Weak};

use tokio::sync::broadcast;
use tokio::sync::broadcast::error::{RecvError, TryRecvError};

use super::Frame;

/// Receives every entry published after it was made.
#[derive(Debug)]
pub struct Subscription {
    channel: broadcast::Receiver<Weak<Frame>>,
    /// The first live frame after a run of lost ones: returned by the next
    /// call, after the lag has been reported.
    pending: Option<Arc<Frame>>,
}

impl Subscription {
    pub(super) fn new(channel: broadcast::Receiver<Weak<Frame>>) -> Self {
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
        let first = match self.channel.try_recv() {
            Ok(weak) => Ok(weak),
            Err(TryRecvError::Lagged(n)) => Err(RecvError::Lagged(n)),
            Err(TryRecvError::Closed) => Err(RecvError::Closed),
            Err(TryRecvError::Empty) => return Err(TryRecvError::Empty),
        };
        self.settle(first).map_err(|e| match e {
            RecvError::Lagged(n) => TryRecvError::Lagged(n),
            RecvError::Closed => TryRecvError::Closed,
        })
    }

    /// Whether nothing is queued for this subscriber.
    pub fn is_empty(&self) -> bool {
        self.pending.is_none() && self.channel.is_empty()
    }

    /// Turns what the channel gave into an entry or a count of the lost
    /// ones: frames the hub no longer holds are counted together with
    /// whatever the channel itself overwrote, up to the first live one.
    fn settle(&mut self, first: Result<Weak<Frame>, RecvError>) -> Result<Arc<Frame>, RecvError> {
        let mut missed = 0;
        let mut next = first;
        loop {
            match next {
                Ok(weak) => match weak.upgrade() {
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
            next = match self.channel.try_recv() {
                Ok(weak) => Ok(weak),
                Err(TryRecvError::Lagged(n)) => Err(RecvError::Lagged(n)),
                Err(TryRecvError::Closed) => Err(RecvError::Closed),
                // Only reached with `missed` above zero.
                Err(TryRecvError::Empty) => return Err(RecvError::Lagged(missed)),
            };
        }
    }
}

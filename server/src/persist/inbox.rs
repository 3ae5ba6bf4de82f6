//! What the writer reads: the hub's entries as they come, and an overflow
//! for when it falls behind.
//!
//! The writer runs at the lowest priority, so a busy CPU can keep it off
//! for a while. Then a task at the server's priority moves what waits for
//! it out of the hub's lag window into the overflow (bounded), and the
//! writer catches up from there instead of missing what the hub moved
//! past. While the writer keeps up, it reads the hub directly and nothing
//! is moved.

use std::collections::VecDeque;
use std::sync::Arc;

use tokio::sync::broadcast::error::{RecvError, TryRecvError};

use crate::hub::{without_waiting, Frame, Subscription};

/// What the overflow may hold, by `Frame::size`, besides its count.
pub(super) const OVERFLOW_BYTES: u64 = 64 * 1024 * 1024;

pub(super) struct Inbox {
    entries: Subscription,
    /// Entries moved out of the hub, and (as `Err`) how many the hub had
    /// moved past before them.
    overflow: VecDeque<Result<Arc<Frame>, u64>>,
    overflow_bytes: u64,
    max_overflow: usize,
}

impl Inbox {
    /// Reads `entries`, with an overflow of up to `max_overflow` of them.
    pub(super) fn new(entries: Subscription, max_overflow: usize) -> Self {
        Inbox {
            entries,
            overflow: VecDeque::new(),
            overflow_bytes: 0,
            max_overflow,
        }
    }

    pub(super) fn is_empty(&self) -> bool {
        self.overflow.is_empty() && self.entries.is_empty()
    }

    /// The next entry, oldest first (or how many were lost), waiting for
    /// one. Cancel safe.
    pub(super) async fn next(&mut self) -> Result<Arc<Frame>, RecvError> {
        match self.take_moved() {
            Some(taken) => taken,
            None => self.entries.recv().await,
        }
    }

    /// [`next`](Self::next) without waiting.
    pub(super) fn try_next(&mut self) -> Result<Arc<Frame>, TryRecvError> {
        match self.take_moved() {
            Some(taken) => taken.map_err(without_waiting),
            None => self.entries.try_recv(),
        }
    }

    fn take_moved(&mut self) -> Option<Result<Arc<Frame>, RecvError>> {
        Some(match self.overflow.pop_front()? {
            Ok(frame) => {
                self.overflow_bytes -= frame.size();
                Ok(frame)
            }
            Err(missed) => Err(RecvError::Lagged(missed)),
        })
    }

    /// Moves what waits in the hub into the overflow, as far as it has
    /// room.
    pub(super) fn rescue(&mut self) {
        while self.overflow.len() < self.max_overflow && self.overflow_bytes < OVERFLOW_BYTES {
            match self.entries.try_recv() {
                Ok(frame) => {
                    self.overflow_bytes += frame.size();
                    self.overflow.push_back(Ok(frame));
                }
                Err(TryRecvError::Lagged(missed)) => self.overflow.push_back(Err(missed)),
                Err(TryRecvError::Empty | TryRecvError::Closed) => break,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hub::{test_hub, LogHub, NewEntry};
    use app::{Level, Stream};

    fn publish(hub: &LogHub, n: usize, length: usize) {
        for _ in 0..n {
            hub.publish(NewEntry {
                process_name: "web",
                stream: Stream::Stdout,
                pid: None,
                level: Level::Info,
                message: "x".repeat(length),
                continued: false,
            });
        }
    }

    /// Everything the inbox gives, as `seq`s, and lags as negative counts.
    fn drain(inbox: &mut Inbox) -> Vec<i64> {
        let mut taken = Vec::new();
        loop {
            match inbox.try_next() {
                Ok(frame) => taken.push(frame.entry.seq as i64),
                Err(TryRecvError::Lagged(n)) => taken.push(-(n as i64)),
                Err(TryRecvError::Empty | TryRecvError::Closed) => return taken,
            }
        }
    }

    #[test]
    fn a_writer_behind_finds_its_entries_in_the_overflow() {
        // The hub lets a subscriber lag 16 entries; the overflow holds 25.
        let hub = test_hub(1, 16);
        let mut inbox = Inbox::new(hub.subscribe(), 25);
        for _ in 0..3 {
            publish(&hub, 10, 10);
            inbox.rescue();
        }
        // Full: 5 are left in the hub, and 15 more push 4 out of it.
        publish(&hub, 15, 10);
        inbox.rescue();
        let mut want: Vec<i64> = (1..=25).collect();
        want.push(-4);
        want.extend(30..=45);
        assert_eq!(drain(&mut inbox), want);
        assert!(inbox.is_empty());
        // Lost while moving: counted where it happened.
        publish(&hub, 20, 10);
        inbox.rescue();
        let mut want = vec![-4];
        want.extend(50..=65);
        assert_eq!(drain(&mut inbox), want);
        // Caught up, it reads the hub directly again.
        publish(&hub, 1, 10);
        assert_eq!(drain(&mut inbox), vec![66]);
    }

    #[test]
    fn the_overflow_is_bounded_in_bytes() {
        let hub = test_hub(1, 1000);
        let mut inbox = Inbox::new(hub.subscribe(), 1000);
        // About 2 MiB each with their JSON.
        publish(&hub, 40, 1024 * 1024);
        inbox.rescue();
        let moved = inbox.overflow.len();
        assert!(inbox.overflow_bytes >= OVERFLOW_BYTES - 3 * 1024 * 1024);
        assert!(inbox.overflow_bytes < OVERFLOW_BYTES + 3 * 1024 * 1024);
        assert!((31..=33).contains(&moved), "{moved}");
        // The rest waits in the hub, and nothing was lost.
        assert_eq!(drain(&mut inbox), (1..=40).collect::<Vec<i64>>());
    }
}

//! A bounded FIFO: once full, each push evicts the oldest item.

use std::collections::VecDeque;

/// Keeps at most `capacity` items, dropping the oldest first, so a viewer
/// left open for days holds a fixed amount of memory.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RingBuffer<T> {
    items: VecDeque<T>,
    capacity: usize,
}

impl<T> RingBuffer<T> {
    /// A buffer holding at most `capacity` items (at least one).
    pub fn new(capacity: usize) -> Self {
        let capacity = capacity.max(1);
        Self {
            // Grow on demand: most sessions never fill a large buffer.
            items: VecDeque::with_capacity(capacity.min(1024)),
            capacity,
        }
    }

    pub fn capacity(&self) -> usize {
        self.capacity
    }

    pub fn len(&self) -> usize {
        self.items.len()
    }

    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// Appends `item`, returning the evicted oldest item when full.
    pub fn push(&mut self, item: T) -> Option<T> {
        let evicted = if self.items.len() == self.capacity {
            self.items.pop_front()
        } else {
            None
        };
        self.items.push_back(item);
        evicted
    }

    /// Inserts `item` before the oldest one, if there is room; returns
    /// whether it was inserted (the newest items are never evicted for
    /// older ones).
    pub fn push_front(&mut self, item: T) -> bool {
        if self.items.len() == self.capacity {
            return false;
        }
        self.items.push_front(item);
        true
    }

    pub fn oldest(&self) -> Option<&T> {
        self.items.front()
    }

    /// Appends every item, oldest first; returns how many were evicted.
    pub fn extend<I: IntoIterator<Item = T>>(&mut self, items: I) -> usize {
        items.into_iter().filter_map(|item| self.push(item)).count()
    }

    /// Items from oldest to newest.
    pub fn iter(&self) -> impl DoubleEndedIterator<Item = &T> + ExactSizeIterator + '_ {
        self.items.iter()
    }

    pub fn newest(&self) -> Option<&T> {
        self.items.back()
    }

    pub fn clear(&mut self) {
        self.items.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_newest_items_up_to_capacity() {
        let mut ring = RingBuffer::new(3);
        assert_eq!(ring.extend(1..=5), 2);
        assert_eq!(ring.iter().copied().collect::<Vec<_>>(), vec![3, 4, 5]);
        assert_eq!(ring.len(), 3);
        assert_eq!(ring.newest(), Some(&5));
    }

    #[test]
    fn push_reports_the_evicted_item() {
        let mut ring = RingBuffer::new(2);
        assert_eq!(ring.push('a'), None);
        assert_eq!(ring.push('b'), None);
        assert_eq!(ring.push('c'), Some('a'));
    }

    #[test]
    fn zero_capacity_still_keeps_one_item() {
        let mut ring = RingBuffer::new(0);
        ring.push(1);
        ring.push(2);
        assert_eq!(ring.capacity(), 1);
        assert_eq!(ring.iter().copied().collect::<Vec<_>>(), vec![2]);
    }

    #[test]
    fn push_front_only_fills_free_room() {
        let mut ring = RingBuffer::new(3);
        ring.extend([5, 6]);
        assert!(ring.push_front(4));
        assert!(!ring.push_front(3));
        assert_eq!(ring.iter().copied().collect::<Vec<_>>(), vec![4, 5, 6]);
        assert_eq!(ring.oldest(), Some(&4));
    }

    #[test]
    fn clear_empties_the_buffer() {
        let mut ring = RingBuffer::new(4);
        ring.extend([1, 2]);
        ring.clear();
        assert!(ring.is_empty());
        assert_eq!(ring.newest(), None);
    }
}

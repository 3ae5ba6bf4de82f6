//! Joining several lines into one entry, for output such as stack traces.

use std::time::Duration;

use app::ansi::strip_ansi;
use app::Level;

use crate::config::{Multiline, MultilineRule};

/// An entry ready to publish.
#[derive(Debug, PartialEq, Eq)]
pub struct Joined {
    pub message: String,
    pub level: Level,
    pub continued: bool,
}

/// Collects lines into entries per the process's `multiline` rule; with no
/// rule every line is an entry of its own.
#[derive(Debug)]
pub struct Joiner {
    multiline: Option<Multiline>,
    pending: Option<Joined>,
    max_bytes: usize,
}

impl Joiner {
    pub fn new(multiline: Option<Multiline>, max_bytes: usize) -> Self {
        Self {
            multiline,
            pending: None,
            max_bytes,
        }
    }

    /// How long to wait for the next line before the pending entry is
    /// complete; `None` when nothing is pending.
    pub fn idle_timeout(&self) -> Option<Duration> {
        self.pending.as_ref()?;
        self.multiline.as_ref().map(|m| m.timeout)
    }

    /// Adds a line (or a piece of a split line, `continued`); returns the
    /// entries it completes.
    pub fn push(&mut self, message: String, level: Level, continued: bool) -> Vec<Joined> {
        let Some(multiline) = &self.multiline else {
            return vec![Joined {
                message,
                level,
                continued,
            }];
        };
        let joins = continued
            || match &multiline.rule {
                MultilineRule::Start(start) => !start.is_match(&strip_ansi(&message)),
                MultilineRule::Continuation(more) => more.is_match(&strip_ansi(&message)),
            };
        let mut done = Vec::new();
        match &mut self.pending {
            Some(pending)
                if joins && pending.message.len() + 1 + message.len() <= self.max_bytes =>
            {
                if !continued {
                    pending.message.push('\n');
                }
                pending.message.push_str(&message);
            }
            Some(_) if joins => {
                // Too long to join: the group goes on in a new entry.
                done.extend(self.pending.take());
                self.pending = Some(Joined {
                    message,
                    level,
                    continued: true,
                });
            }
            _ => {
                done.extend(self.pending.take());
                self.pending = Some(Joined {
                    message,
                    level,
                    continued,
                });
            }
        }
        done
    }

    /// The pending entry, if any.
    pub fn flush(&mut self) -> Option<Joined> {
        self.pending.take()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use regex::Regex;

    fn continuation_joiner(max_bytes: usize) -> Joiner {
        Joiner::new(
            Some(Multiline {
                rule: MultilineRule::Continuation(Regex::new(r"^\s").expect("regex")),
                timeout: Duration::from_millis(50),
            }),
            max_bytes,
        )
    }

    #[test]
    fn without_a_rule_every_line_is_an_entry() {
        let mut joiner = Joiner::new(None, 100);
        assert_eq!(joiner.push("a".into(), Level::Info, false).len(), 1);
        assert_eq!(joiner.idle_timeout(), None);
        assert_eq!(joiner.flush(), None);
    }

    #[test]
    fn continuation_lines_join_the_previous_entry() {
        let mut joiner = continuation_joiner(100);
        assert!(joiner
            .push("panic: boom".into(), Level::Critical, false)
            .is_empty());
        assert!(joiner
            .push("  at main.go:12".into(), Level::Info, false)
            .is_empty());
        assert_eq!(joiner.idle_timeout(), Some(Duration::from_millis(50)));
        let done = joiner.push("next".into(), Level::Info, false);
        assert_eq!(
            done,
            vec![Joined {
                message: "panic: boom\n  at main.go:12".into(),
                level: Level::Critical,
                continued: false
            }]
        );
        assert_eq!(joiner.flush().map(|j| j.message), Some("next".into()));
    }

    #[test]
    fn a_group_longer_than_the_limit_goes_on_in_a_continued_entry() {
        let mut joiner = continuation_joiner(12);
        joiner.push("head".into(), Level::Error, false);
        joiner.push(" aaaa".into(), Level::Info, false);
        let done = joiner.push(" bbbbbb".into(), Level::Info, false);
        assert_eq!(done.len(), 1);
        assert_eq!(done[0].message, "head\n aaaa");
        let rest = joiner.flush().expect("pending");
        assert_eq!(rest.message, " bbbbbb");
        assert!(rest.continued);
    }
}

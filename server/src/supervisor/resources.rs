//! CPU and memory of each process group, read from /proc.
//!
//! One scan of /proc serves every group, and scans happen at most once a
//! second and only when someone asks (an API call, or a `/ws/status`
//! client being connected).

use std::collections::HashMap;
use std::time::Duration;

use tokio::time::Instant;

/// Minimum time between two scans.
pub const SAMPLE_INTERVAL: Duration = Duration::from_secs(1);

/// What one process group uses.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Usage {
    /// Percent of one core since the previous scan (none on the first).
    pub cpu_percent: Option<f64>,
    /// CPU time of the group's live processes, in seconds.
    pub cpu_seconds: f64,
    pub rss_bytes: u64,
}

#[derive(Debug)]
pub struct ResourceSampler {
    last_scan: Option<Instant>,
    /// CPU ticks per group at the last scan.
    ticks: HashMap<u32, u64>,
    usage: HashMap<u32, Usage>,
    ticks_per_second: f64,
    page_size: u64,
}

impl Default for ResourceSampler {
    fn default() -> Self {
        use nix::unistd::{sysconf, SysconfVar};
        let ticks_per_second = sysconf(SysconfVar::CLK_TCK).ok().flatten().unwrap_or(100) as f64;
        let page_size = sysconf(SysconfVar::PAGE_SIZE)
            .ok()
            .flatten()
            .unwrap_or(4096) as u64;
        Self {
            last_scan: None,
            ticks: HashMap::new(),
            usage: HashMap::new(),
            ticks_per_second,
            page_size,
        }
    }
}

impl ResourceSampler {
    /// Usage of the group led by `pgid`, from a scan at most a second old.
    pub fn usage(&mut self, pgid: u32, now: Instant) -> Option<Usage> {
        let stale = self
            .last_scan
            .is_none_or(|last| now.saturating_duration_since(last) >= SAMPLE_INTERVAL);
        if stale {
            self.scan(now);
        }
        self.usage.get(&pgid).copied()
    }

    fn scan(&mut self, now: Instant) {
        let elapsed = self
            .last_scan
            .map(|last| now.saturating_duration_since(last).as_secs_f64());
        let totals = scan_proc();
        let mut usage = HashMap::with_capacity(totals.len());
        for (&pgid, &(ticks, rss_pages)) in &totals {
            let cpu_percent = match (elapsed, self.ticks.get(&pgid)) {
                (Some(elapsed), Some(&before)) if elapsed > 0.0 && ticks >= before => {
                    Some((ticks - before) as f64 / self.ticks_per_second / elapsed * 100.0)
                }
                _ => None,
            };
            usage.insert(
                pgid,
                Usage {
                    cpu_percent,
                    cpu_seconds: ticks as f64 / self.ticks_per_second,
                    rss_bytes: rss_pages * self.page_size,
                },
            );
        }
        self.ticks = totals
            .into_iter()
            .map(|(pgid, (ticks, _))| (pgid, ticks))
            .collect();
        self.usage = usage;
        self.last_scan = Some(now);
    }
}

/// CPU ticks (user + system) and resident pages, summed per process group.
fn scan_proc() -> HashMap<u32, (u64, u64)> {
    let mut totals: HashMap<u32, (u64, u64)> = HashMap::new();
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return totals;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(pid) = name
            .to_str()
            .filter(|n| n.bytes().all(|b| b.is_ascii_digit()))
        else {
            continue;
        };
        // The process may be gone by now; that is not an error.
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        if let Some((pgid, ticks, rss_pages)) = parse_stat(&stat) {
            let total = totals.entry(pgid).or_default();
            total.0 += ticks;
            total.1 += rss_pages;
        }
    }
    totals
}

/// The fields of a /proc stat line, split once, numbered as in proc(5).
/// The command name (field 2) may hold spaces and parentheses, so fields
/// are counted from the last `)`.
pub(crate) struct StatFields<'a>(Vec<&'a str>);

impl<'a> StatFields<'a> {
    pub(crate) fn parse(stat: &'a str) -> Option<Self> {
        let after_name = &stat[stat.rfind(')')? + 1..];
        Some(Self(after_name.split_whitespace().collect()))
    }

    /// Field `n` (1-based; the first after the name is field 3, the state).
    pub(crate) fn get(&self, n: usize) -> Option<&'a str> {
        self.0.get(n.checked_sub(3)?).copied()
    }
}

/// Process group, utime + stime and rss from a /proc/<pid>/stat line.
fn parse_stat(stat: &str) -> Option<(u32, u64, u64)> {
    let fields = StatFields::parse(stat)?;
    let field = |n: usize| fields.get(n).and_then(|f| f.parse::<u64>().ok());
    let pgid = u32::try_from(field(5)?).ok()?;
    let ticks = field(14)? + field(15)?;
    let rss_pages = field(24)?;
    Some((pgid, ticks, rss_pages))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_a_stat_line_with_a_tricky_command_name() {
        let line = "4242 (my (odd) name) S 1 4242 4242 0 -1 4194304 100 0 0 0 250 50 0 0 20 0 1 0 12345 10000000 321 18446744073709551615";
        assert_eq!(parse_stat(line), Some((4242, 300, 321)));
    }

    #[test]
    fn rejects_truncated_lines() {
        assert_eq!(parse_stat("1 (x) S 0"), None);
        assert_eq!(parse_stat("garbage"), None);
    }

    #[tokio::test]
    async fn measures_this_process_group() {
        let pgid = nix::unistd::getpgrp().as_raw() as u32;
        let mut sampler = ResourceSampler::default();
        let first = sampler
            .usage(pgid, Instant::now())
            .expect("our own group exists");
        assert!(first.rss_bytes > 1024 * 1024, "{first:?}");
        assert_eq!(
            first.cpu_percent, None,
            "no CPU figure before a second scan"
        );
        let later = Instant::now() + SAMPLE_INTERVAL;
        let second = sampler.usage(pgid, later).expect("still there");
        assert!(second.cpu_percent.is_some());
    }
}

//! Finding what a process left behind, through `/proc`: everything it
//! started (marked by a variable each child inherits), and whatever still
//! holds its output pipes; and, as the child subreaper, reaping the
//! orphans that end up ours.
//!
//! A process group is not enough: `setsid cmd &` leaves it, and a shell that
//! exits leaves its children to whoever reaps orphans. Every child Logdeck
//! starts carries `_LOGDECK_PROCESS=<run id>/<name>` in its environment, and
//! so does everything it starts (unless it clears its environment); and a
//! process that keeps a child's stdout open, whatever its environment, is
//! found by the pipe it holds.

use std::collections::BTreeSet;
use std::os::fd::AsRawFd;
use std::sync::Mutex;

use nix::sys::signal::{kill, Signal};
use nix::sys::wait::{waitpid, WaitPidFlag};
use nix::unistd::Pid;

/// The variable that marks a child and its descendants.
pub const MARKER_VAR: &str = "_LOGDECK_PROCESS";

/// Pids this server's runners spawned and wait for themselves: never
/// reaped here. Process-wide, as the subreaper role is (tests run several
/// servers in one process).
static RUNNER_CHILDREN: Mutex<BTreeSet<i32>> = Mutex::new(BTreeSet::new());

/// Orphans given to us, seen alive with a marker: reaped once they exit.
static ADOPTED: Mutex<BTreeSet<ProcId>> = Mutex::new(BTreeSet::new());

/// A process, told apart from a later one that reuses its pid by its start
/// time (clock ticks after boot).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct ProcId {
    pub pid: i32,
    start: u64,
}

/// What `/proc/<pid>/stat` says of a process.
#[derive(Clone, Copy, Debug)]
struct Stat {
    pid: i32,
    ppid: i32,
    state: u8,
    start: u64,
}

fn read_stat(pid: i32) -> Option<Stat> {
    let stat = std::fs::read(format!("/proc/{pid}/stat")).ok()?;
    // The command name may hold spaces and parentheses: fields are counted
    // after the last ')'.
    let close = stat.iter().rposition(|&b| b == b')')?;
    let rest = std::str::from_utf8(&stat[close + 1..]).ok()?;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    Some(Stat {
        pid,
        state: *fields.first()?.as_bytes().first()?,
        ppid: fields.get(1)?.parse().ok()?,
        start: fields.get(19)?.parse().ok()?,
    })
}

/// Every process's pid, but ours.
fn pids() -> impl Iterator<Item = i32> {
    let own = std::process::id() as i32;
    std::fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| entry.file_name().to_str()?.parse::<i32>().ok())
        .filter(move |&pid| pid != own)
}

/// The value of the marker for process `name` of the run `run_id`.
pub fn marker(run_id: &str, name: &str) -> String {
    format!("{run_id}/{name}")
}

/// Live processes whose environment carries the marker `value` exactly,
/// or (with `prefix`) any marker starting with it.
pub fn marked(value: &str, prefix: bool) -> Vec<ProcId> {
    let wanted = format!("{MARKER_VAR}={value}");
    pids()
        .filter(|&pid| {
            std::fs::read(format!("/proc/{pid}/environ")).is_ok_and(|environ| {
                environ.split(|&b| b == 0).any(|var| {
                    if prefix {
                        var.starts_with(wanted.as_bytes())
                    } else {
                        var == wanted.as_bytes()
                    }
                })
            })
        })
        .filter_map(live)
        .collect()
}

/// The pipe behind `fd`, as `/proc` names it (`pipe:[12345]`).
pub fn pipe_of(fd: &impl AsRawFd) -> Option<String> {
    let target = std::fs::read_link(format!("/proc/self/fd/{}", fd.as_raw_fd())).ok()?;
    let name = target.to_str()?;
    name.starts_with("pipe:").then(|| name.to_owned())
}

/// Live processes holding an end of one of `pipes`.
pub fn pipe_holders(pipes: &[String]) -> Vec<ProcId> {
    if pipes.is_empty() {
        return Vec::new();
    }
    pids()
        .filter(|&pid| {
            std::fs::read_dir(format!("/proc/{pid}/fd")).is_ok_and(|fds| {
                fds.flatten().any(|fd| {
                    std::fs::read_link(fd.path())
                        .ok()
                        .and_then(|target| target.to_str().map(|t| pipes.iter().any(|p| p == t)))
                        .unwrap_or(false)
                })
            })
        })
        .filter_map(live)
        .collect()
}

/// `pid` as a [`ProcId`] if it runs (a zombie has already ended).
fn live(pid: i32) -> Option<ProcId> {
    let stat = read_stat(pid)?;
    (stat.state != b'Z').then_some(ProcId {
        pid,
        start: stat.start,
    })
}

/// Sends SIGKILL to each of `ids` that is still the same process; those
/// that were given to us as orphans are reaped by the next sweep.
pub fn kill_all(ids: &[ProcId]) {
    let mut adopted = ADOPTED.lock().unwrap_or_else(|e| e.into_inner());
    for id in ids {
        if live(id.pid) == Some(*id) {
            adopted.insert(*id);
            let _ = kill(Pid::from_raw(id.pid), Signal::SIGKILL);
        }
    }
}

/// Makes this process the one orphaned descendants are given to (instead
/// of init), so they can still be found and stopped.
pub fn become_subreaper() {
    if let Err(error) = nix::sys::prctl::set_child_subreaper(true) {
        tracing::warn!("cannot become the child subreaper ({error}); orphaned descendants of processes go to init");
    }
}

/// A runner's child, which its runner waits for.
pub fn register(pid: u32) {
    if let Ok(pid) = i32::try_from(pid) {
        RUNNER_CHILDREN
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(pid);
    }
}

/// The runner has waited for its child.
pub fn unregister(pid: u32) {
    if let Ok(pid) = i32::try_from(pid) {
        RUNNER_CHILDREN
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&pid);
    }
}

/// Whether `pid`'s environment carries a marker of ours.
fn carries_marker(pid: i32) -> bool {
    let marker = format!("{MARKER_VAR}=");
    std::fs::read(format!("/proc/{pid}/environ")).is_ok_and(|environ| {
        environ
            .split(|&b| b == 0)
            .any(|var| var.starts_with(marker.as_bytes()))
    })
}

/// Reaps the orphans given to us that have exited; returns how many.
/// Only children seen alive with a marker (so descendants of a process we
/// ran), never a runner's own child nor anything else this process may
/// have started.
pub fn reap_adopted() -> usize {
    let own = std::process::id() as i32;
    let children: Vec<Stat> = pids()
        .filter_map(read_stat)
        .filter(|s| s.ppid == own)
        .collect();
    let runners = RUNNER_CHILDREN
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .clone();
    let mut adopted = ADOPTED.lock().unwrap_or_else(|e| e.into_inner());
    let mut reaped = 0;
    for child in children {
        if runners.contains(&child.pid) {
            continue;
        }
        let id = ProcId {
            pid: child.pid,
            start: child.start,
        };
        if child.state == b'Z' {
            if adopted.remove(&id)
                && waitpid(Pid::from_raw(child.pid), Some(WaitPidFlag::WNOHANG)).is_ok()
            {
                reaped += 1;
            }
        } else if carries_marker(child.pid) {
            adopted.insert(id);
        }
    }
    // Forget those that are gone (reaped by the parent they still had).
    adopted.retain(|id| read_stat(id.pid).is_some_and(|s| s.start == id.start));
    reaped
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A child killed when the test ends, pass or panic.
    struct Spawned(std::process::Child);

    impl Drop for Spawned {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }

    /// `find` until it gives something, for at most a minute (a child
    /// shows its own environment only once it has exec'd, which a busy
    /// machine can delay).
    fn eventually<T>(mut find: impl FnMut() -> Vec<T>) -> Vec<T> {
        let started = std::time::Instant::now();
        loop {
            let found = find();
            if !found.is_empty() || started.elapsed() > std::time::Duration::from_secs(60) {
                return found;
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
    }

    #[test]
    fn marked_processes_and_pipe_holders_are_found() {
        let value = format!("test-{}/{}", std::process::id(), fastrand::u64(..));
        let mut child = Spawned(
            std::process::Command::new("sleep")
                .arg("30")
                .env(MARKER_VAR, &value)
                .stdout(std::process::Stdio::piped())
                .spawn()
                .expect("spawn sleep"),
        );
        let pid = child.0.id() as i32;
        let found = eventually(|| marked(&value, false));
        assert_eq!(found.iter().map(|p| p.pid).collect::<Vec<_>>(), vec![pid]);
        let prefix = value.split('/').next().expect("run part");
        assert!(marked(prefix, true).iter().any(|p| p.pid == pid));
        assert!(marked(&format!("{value}x"), false).is_empty());

        let stdout = child.0.stdout.take().expect("stdout");
        let pipe = pipe_of(&stdout).expect("a pipe");
        assert!(pipe.starts_with("pipe:["), "{pipe}");
        let holders = pipe_holders(std::slice::from_ref(&pipe));
        assert!(holders.iter().any(|p| p.pid == pid), "{holders:?}");

        kill_all(&found);
        let status = child.0.wait().expect("wait");
        assert!(!status.success());
        assert!(marked(&value, false).is_empty());
    }
}

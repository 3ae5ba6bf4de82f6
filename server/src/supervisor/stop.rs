//! Stopping a child and everything it started.

use nix::sys::signal::{killpg, Signal};
use nix::unistd::Pid;

/// Sends `signal` to the process group led by `pgid`. A group that is
/// already gone (ESRCH) is the expected outcome after it exits.
pub fn signal_group(pgid: u32, signal: Signal) {
    if let Ok(pgid) = i32::try_from(pgid) {
        let _ = killpg(Pid::from_raw(pgid), signal);
    }
}

/// Whether any process of the group led by `pgid` is still alive.
pub fn group_alive(pgid: u32) -> bool {
    let Ok(pgid) = i32::try_from(pgid) else {
        return false;
    };
    // Signal 0 only checks that the group exists and may be signalled.
    killpg(Pid::from_raw(pgid), None::<Signal>).is_ok()
}

/// `exited with code 3`, `killed by SIGSEGV`.
pub fn describe_exit(status: std::process::ExitStatus) -> String {
    use std::os::unix::process::ExitStatusExt;
    match (status.code(), status.signal()) {
        (Some(code), _) => format!("exited with code {code}"),
        (None, Some(signal)) => format!("killed by {}", signal_name(signal)),
        (None, None) => "exited".to_owned(),
    }
}

/// `SIGTERM` for 15.
pub fn signal_name(signal: i32) -> String {
    Signal::try_from(signal).map_or_else(|_| format!("signal {signal}"), |s| s.as_str().to_owned())
}

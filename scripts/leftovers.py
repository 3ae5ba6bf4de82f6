#!/usr/bin/env python3
"""Finds the processes a test run left behind, stops them and fails.

`make test` gives every process it starts, and everything those start,
TESTRUN_LOGDECK=<a value unique to the run> in their environment (children
inherit it). Once the run is over only make itself and this script's other
ancestors may still carry it: anything else is a server, a child process or
a browser that a test failed to stop. They are listed, sent SIGTERM, then
SIGKILL, and the script exits 1.

    scripts/leftovers.py            checks the current TESTRUN_LOGDECK
"""

import os
import signal
import sys
import time

MARKER = "TESTRUN_LOGDECK"


def ancestors():
    """This process and every process above it."""
    pids = set()
    pid = os.getpid()
    while pid > 1 and pid not in pids:
        pids.add(pid)
        try:
            with open(f"/proc/{pid}/stat", "rb") as stat:
                # The command name may hold spaces and parentheses: the
                # parent pid is the second field after the last ')'.
                pid = int(stat.read().rsplit(b")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            break
    return pids


def carriers(entry):
    """Pids (other than ours) whose environment holds `entry`."""
    mine = ancestors()
    found = []
    for name in os.listdir("/proc"):
        if not name.isdigit() or int(name) in mine:
            continue
        try:
            with open(f"/proc/{name}/environ", "rb") as environ:
                if entry in environ.read().split(b"\0"):
                    found.append(int(name))
        except OSError:
            continue  # gone meanwhile, or not ours to read
    return found


def describe(pid):
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as cmdline:
            return cmdline.read().replace(b"\0", b" ").decode(errors="replace").strip()
    except OSError:
        return "?"


def main():
    run = os.environ.get(MARKER)
    if not run:
        print(f"leftovers: {MARKER} is not set; nothing to check", file=sys.stderr)
        return 0
    entry = f"{MARKER}={run}".encode()
    left = carriers(entry)
    if not left:
        print("leftovers: no process of this test run is left", file=sys.stderr)
        return 0
    print(f"leftovers: {len(left)} process(es) of this test run still running:", file=sys.stderr)
    for pid in left:
        print(f"  {pid}: {describe(pid)}", file=sys.stderr)
    for sig in (signal.SIGTERM, signal.SIGKILL):
        for pid in left:
            try:
                os.kill(pid, sig)
            except OSError:
                pass
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and carriers(entry):
            time.sleep(0.1)
        left = carriers(entry)
        if not left:
            break
    print("leftovers: stopped them; failing the run", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""Builds every test binary, then runs them all at once and reports each.

`cargo test` runs its test binaries one after another, and most of this suite's time is spent
waiting (real daemons, Redis, the simulator's latency, a 30 s Redis outage), not computing: on
two cores the binaries finish in about the time of the slowest one when they run side by side.
Each binary's output goes to target/test-logs/<name>.log; a failing binary's log is printed
whole. Exit status: 0 when every binary passed.

Used by scripts/test when it is given no arguments; `scripts/test ARGS` is `cargo test ARGS`.
"""

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

# Test threads per binary. The suite's long tests wait on real time (daemons, Redis, leases)
# rather than compute, so the binaries that hold them run more at once than there are cores.
THREADS = {"engine": 6, "cli": 4}
DEFAULT_THREADS = 3
# No binary runs at a lower priority: the processes its tests start (a `check` of 1,000
# accounts, daemons) would inherit it and starve, which fails the tests that time them.

RESULT = re.compile(r"test result: (\w+)\. (\d+) passed; (\d+) failed")


def build(root):
    """Builds the test binaries; returns (name, path) for each, the library's as `lib`."""
    command = ["cargo", "test", "--no-run", "--message-format=json-render-diagnostics"]
    done = subprocess.run(command, cwd=root, stdout=subprocess.PIPE, text=True)
    if done.returncode != 0:
        sys.exit(done.returncode)
    binaries = []
    for line in done.stdout.splitlines():
        message = json.loads(line)
        if message.get("reason") != "compiler-artifact":
            continue
        if not message.get("profile", {}).get("test") or not message.get("executable"):
            continue
        kind = message["target"]["kind"]
        name = message["target"]["name"]
        if "lib" in kind:
            name = "lib"
        elif "bin" in kind:
            name = "bin-" + name
        binaries.append((name, message["executable"]))
    return binaries


def main():
    root = Path(__file__).resolve().parent.parent
    binaries = build(root)
    logs = root / "target" / "test-logs"
    logs.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    running = {}
    for name, path in binaries:
        threads = THREADS.get(name, DEFAULT_THREADS)
        log = open(logs / f"{name}.log", "w")
        process = subprocess.Popen(
            [path, f"--test-threads={threads}"],
            cwd=root,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        running[name] = (process, log)
    print(
        f"scripts/test: {len(running)} test binaries running at once; "
        f"their output is in {logs.relative_to(root)}/",
        flush=True,
    )
    failed = []
    totals = [0, 0]
    while running:
        for name, (process, log) in list(running.items()):
            if process.poll() is None:
                continue
            log.close()
            del running[name]
            text = (logs / f"{name}.log").read_text(errors="replace")
            summary = RESULT.search(text)
            passed, failures = (int(summary[2]), int(summary[3])) if summary else (0, 0)
            totals[0] += passed
            totals[1] += failures
            took = time.monotonic() - started
            if process.returncode == 0:
                print(f"  ok      {name}: {passed} passed ({took:.0f} s)", flush=True)
            else:
                failed.append(name)
                print(f"  FAILED  {name} (exit {process.returncode}, {took:.0f} s):", flush=True)
                print(text, flush=True)
        time.sleep(0.2)
    took = time.monotonic() - started
    print(f"scripts/test: {totals[0]} passed, {totals[1]} failed in {took:.0f} s")
    if failed:
        print(f"scripts/test: failed: {', '.join(failed)} (logs in {logs})", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""How long a line appended to a followed `[[log]]` file takes to come out of `tokentop tail`.

Appends SAMPLES lines (one every 20 ms) to a file that `tokentop tail` follows and times each
until tail prints it; prints p50, p99 and the maximum. Needs the release build.
    scripts/measure-follow-latency.py [SAMPLES]
"""
import os
import selectors
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.path.join(ROOT, "target", "release", "tokentop")


def main() -> int:
    samples = int(sys.argv[1]) if len(sys.argv) > 1 else 200
    if not os.access(BIN, os.X_OK):
        print("build it first: cargo build --release", file=sys.stderr)
        return 1
    with tempfile.TemporaryDirectory() as work:
        log = os.path.join(work, "app.log")
        open(log, "w").close()
        config = os.path.join(work, "config.toml")
        with open(config, "w") as f:
            f.write(f'[[log]]\nname = "app"\nfile = "{log}"\n')
        os.chmod(config, 0o600)
        tail = subprocess.Popen(
            [BIN, "--config", config, "--data-dir", os.path.join(work, "data"), "tail", "--level", "error"],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
        )
        try:
            return measure(tail, log, samples)
        finally:
            tail.kill()


def measure(tail: subprocess.Popen, log: str, samples: int) -> int:
    sel = selectors.DefaultSelector()
    sel.register(tail.stdout, selectors.EVENT_READ)
    time.sleep(1.0)  # past start-up
    latencies = []
    pending = b""
    with open(log, "ab", buffering=0) as out:
        for i in range(samples):
            marker = f"marker-{i}".encode()
            started = time.monotonic()
            out.write(b"ERROR Failed to send message " + marker + b"\n")
            while marker not in pending:
                if not sel.select(timeout=5):
                    print(f"line {i} did not come out within 5 s", file=sys.stderr)
                    return 1
                pending += os.read(tail.stdout.fileno(), 65536)
            latencies.append(time.monotonic() - started)
            pending = pending[pending.index(marker) + len(marker):]
            time.sleep(0.02)
    latencies.sort()
    pick = lambda q: latencies[min(len(latencies) - 1, int(q * len(latencies)))] * 1000
    print(
        f"appended line to tail output over {samples} lines: p50 {pick(0.5):.2f} ms, "
        f"p99 {pick(0.99):.2f} ms, max {latencies[-1] * 1000:.2f} ms"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env bash
# The daemon at rest with idle `[[log]]` files, beside `tail -F` on the same files, in one run:
# CPU over a window (60 s unless given), from /proc/PID/stat (utime + stime, in clock ticks).
# Against a local `tokentop sim`; needs curl.   scripts/measure-idle.sh [FILES] [SECONDS]
# RELAY=1 also runs the webhook relay (one destination, down) and prints the daemon's RSS.
set -euo pipefail
cd "$(dirname "$0")/.."
files="${1:-20}"
window="${2:-60}"
bin=target/release/tokentop
[ -x "$bin" ] || { echo "build it first: cargo build --release" >&2; exit 1; }
work="$(mktemp -d)"
pids=()
cleanup() { for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT

"$bin" sim --listen 127.0.0.1:0 > "$work/sim.out" &
pids+=($!)
for _ in $(seq 100); do grep -q listening "$work/sim.out" 2>/dev/null && break; sleep 0.05; done
sim_url="$(grep -o 'http://[0-9.:]*' "$work/sim.out")"
token="$(curl -s -XPOST "$sim_url/_sim/tokens" -d '{"type":"SYSTEM_USER","lifetime_secs":0}' | sed 's/.*"access_token":"\([^"]*\)".*/\1/')"

mkdir -p "$work/logs"
{
    printf '[[account]]\nname = "main"\napp-id = "100000000000001"\napp-secret = "sim-app-secret"\naccess-token = "%s"\nphone-number-id = "106540352242922"\n\n' "$token"
    if [ "${RELAY:-0}" = 1 ]; then
        printf '[webhook]\nlisten = "127.0.0.1:0"\nverify-token = "idle-measure"\n\n[[webhook.forward]]\nname = "app"\nurl = "http://127.0.0.1:9/webhook"\n\n'
    fi
    for i in $(seq "$files"); do
        echo "started" > "$work/logs/app$i.log"
        printf '[[log]]\nname = "app%d"\nfile = "%s/logs/app%d.log"\n\n' "$i" "$work" "$i"
    done
} > "$work/config.toml"
chmod 600 "$work/config.toml"

"$bin" --config "$work/config.toml" --data-dir "$work/data" --graph-url "$sim_url" daemon 2> "$work/daemon.err" &
daemon=$!
pids+=("$daemon")
tail -q -F "$work"/logs/*.log > /dev/null 2>&1 &
tail_pid=$!
pids+=("$tail_pid")
# Past start-up: first inspection, first health round.
sleep 5

ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
hz="$(getconf CLK_TCK)"
d0="$(ticks "$daemon")"; t0="$(ticks "$tail_pid")"
sleep "$window"
d1="$(ticks "$daemon")"; t1="$(ticks "$tail_pid")"
percent() { awk -v t="$1" -v hz="$hz" -v s="$window" 'BEGIN { printf "%.4f%%", 100 * t / hz / s }'; }
relay=""
[ "${RELAY:-0}" = 1 ] && relay=" and the webhook relay"
rss="$(awk '/^VmRSS/ {printf "%.1f MB", $2 / 1024}' "/proc/$daemon/status")"
echo "idle over ${window}s with ${files} idle [[log]] files${relay}: tokentop daemon (RSS ${rss}) $(percent $((d1 - d0))) of a core ($((d1 - d0)) ticks), tail -F $(percent $((t1 - t0))) ($((t1 - t0)) ticks)"

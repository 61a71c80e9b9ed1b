#!/usr/bin/env bash
# The release daemon's resident memory with 1,000 simulator accounts (issue 21 §3), two runs:
#   (a) the default config: accounts only, no [serve], [proxy] or [cluster]
#   (b) [serve] (metrics), [proxy] and [cluster] (its own redis-server on a loopback port) on
# Each prints VmRSS and VmHWM from /proc/PID/status after start-up settles (SETTLE_SECS, 60 s
# unless given; (b) is then scraped once), and the thread count. Needs curl and redis-server.
#   scripts/measure-memory.sh [ACCOUNTS]
# HEAPTRACK=1 runs each daemon under heaptrack instead and leaves its profiles in the current
# directory, heaptrack.memory-{default,all}.zst (read them with heaptrack_print; the RSS
# printed then includes heaptrack's own).
set -euo pipefail
out_dir="$PWD"
cd "$(dirname "$0")/.."
accounts="${1:-1000}"
settle="${SETTLE_SECS:-60}"
bin="$PWD/target/release/tokentop"
[ -x "$bin" ] || { echo "build it first: cargo build --release" >&2; exit 1; }
work="$(mktemp -d)"
pids=()
cleanup() {
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
    rm -rf "$work"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

"$bin" sim --listen 127.0.0.1:0 > "$work/sim.out" &
pids+=($!)
for _ in $(seq 100); do grep -q listening "$work/sim.out" 2>/dev/null && break; sleep 0.05; done
sim_url="$(grep -o 'http://[0-9.:]*' "$work/sim.out")"
# One curl for every token: the URL glob repeats the request (the query is ignored).
curl -s -XPOST "$sim_url/_sim/tokens?n=[1-$accounts]" -d '{"type":"SYSTEM_USER","lifetime_secs":0}' \
    | grep -o '"access_token":"[^"]*"' | cut -d'"' -f4 > "$work/tokens"
[ "$(wc -l < "$work/tokens")" -eq "$accounts" ] || { echo "the simulator minted too few tokens" >&2; exit 1; }

accounts_toml() {
    awk '{ printf "[[account]]\nname = \"acct%d\"\napp-id = \"100000000000001\"\napp-secret = \"sim-app-secret\"\naccess-token = \"%s\"\nphone-number-id = \"106540352242922\"\n\n", NR, $0 }' "$work/tokens"
}

# run SLUG NAME CONFIG: starts the daemon on CONFIG, waits SETTLE_SECS, prints its memory, stops it.
run() {
    local slug="$1" name="$2" config="$3" data="$work/data-$1" pid
    chmod 600 "$config"
    local cmd=("$bin" --config "$config" --data-dir "$data" --graph-url "$sim_url" daemon)
    if [ "${HEAPTRACK:-0}" = 1 ]; then
        heaptrack -o "$out_dir/heaptrack.memory-$slug" "${cmd[@]}" 2> "$work/daemon-$slug.err" &
    else
        "${cmd[@]}" 2> "$work/daemon-$slug.err" &
    fi
    pid=$!
    pids+=("$pid")
    sleep "$settle"
    # With [serve], scraped once as Prometheus would (the rendering is kept until a metric
    # changes), then given a moment.
    local scraped="" metrics_url
    metrics_url="$(grep -o '/status[a-z/{} ]* on http://[0-9.:]*' "$work/daemon-$slug.err" | sed 's/.* on //')" || true
    if [ -n "$metrics_url" ]; then
        scraped="$(curl -s -o /dev/null -w '%{size_download}' "$metrics_url/metrics")"
        curl -s -o /dev/null "$metrics_url/status"
        scraped=", one /metrics scrape of $((scraped / 1024)) KB and one /status"
        sleep 2
    fi
    # Under heaptrack the daemon is heaptrack's child.
    local daemon="$pid"
    [ "${HEAPTRACK:-0}" = 1 ] && daemon="$(pgrep -n -P "$pid" tokentop || pgrep -n -f "$data")"
    awk -v name="$name" -v n="$accounts" -v s="$settle" -v scraped="$scraped" '
        /^VmRSS/ { rss = $2 } /^VmHWM/ { hwm = $2 } /^Threads/ { threads = $2 }
        END { printf "%s, %d accounts, after %d s%s: VmRSS %.1f MB (%d kB), VmHWM %.1f MB (%d kB), %d threads\n",
              name, n, s, scraped, rss / 1024, rss, hwm / 1024, hwm, threads }' "/proc/$daemon/status"
    kill -INT "$daemon"
    wait "$pid" 2>/dev/null || true
    grep -q "ERROR" "$work/daemon-$slug.err" && { echo "the daemon logged errors:" >&2; grep ERROR "$work/daemon-$slug.err" | head -5 >&2; }
    return 0
}

accounts_toml > "$work/default.toml"
run default "default config" "$work/default.toml"

redis_port="$(free_port)"
redis-server --port "$redis_port" --bind 127.0.0.1 --save "" --appendonly no --dir "$work" > /dev/null &
pids+=($!)
for _ in $(seq 200); do (exec 3<>"/dev/tcp/127.0.0.1/$redis_port") 2>/dev/null && break; sleep 0.05; done
{
    accounts_toml
    printf '[serve]\nlisten = "127.0.0.1:0"\n\n'
    printf '[proxy]\nlisten = "127.0.0.1:0"\n\n'
    printf '[cluster]\nredis-url = "redis://127.0.0.1:%s/0"\n\n' "$redis_port"
} > "$work/all.toml"
run all "serve + proxy + cluster" "$work/all.toml"

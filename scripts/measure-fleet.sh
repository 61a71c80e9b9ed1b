#!/usr/bin/env bash
# Issue 23's budgets for a large fleet in one run, against a local `tokentop sim` with
# ACCOUNTS (10,000) never-expiring system-user accounts with phone ids, one file each in
# `[accounts] dir`, no log files:
#   1. `check`: wall time, peak memory and the Graph requests it made (simulator's count)
#   2. the daemon at rest: CPU over WINDOW_SECS (60) after SETTLE_SECS (60), resident memory
#   3. `/metrics`: bytes plain and gzip
#   4. a reload that adds 100 account files: time until the daemon's reload.json counts them,
#      and the token exchanges it made (none may be)
#   5. the Graph requests per minute the daemon made at rest (each endpoint), per 1,000 accounts
#   6. the dashboard (tmux, 120x40): time to the first frame listing accounts, idle CPU
# STARTUP_ONLY=1 measures only how fast the fleet comes up (RUNS times each, 5): `config check`
# and the dashboard's first frame, without the minutes of the daemon and idle windows.
# Builds nothing: needs target/release/tokentop (TOKENTOP_BIN=path for another build).
# Needs tmux, curl and python3.   scripts/measure-fleet.sh        ACCOUNTS=10000 WINDOW_SECS=60
set -euo pipefail
cd "$(dirname "$0")/.."
accounts="${ACCOUNTS:-10000}"
window="${WINDOW_SECS:-60}"
settle="${SETTLE_SECS:-60}"
bin="$(realpath "${TOKENTOP_BIN:-target/release/tokentop}")"
[ -x "$bin" ] || { echo "measure-fleet: $bin is missing; build it first: cargo build --release" >&2; exit 1; }
for tool in tmux curl python3; do
    command -v "$tool" >/dev/null || { echo "measure-fleet: needs $tool (apt-get install $tool)" >&2; exit 1; }
done
work="$(mktemp -d)"
socket="tokentop-fleet-$$"
pids=()
cleanup() {
    tmux -L "$socket" kill-server 2>/dev/null || true
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
    # The dashboard is tmux's child, not ours: it may still be writing its data dir as it ends.
    for _ in $(seq 100); do rm -rf "$work" 2>/dev/null && break; sleep 0.05; done
}
trap cleanup EXIT

"$bin" sim --listen 127.0.0.1:0 > "$work/sim.out" &
pids+=($!)
for _ in $(seq 100); do grep -q listening "$work/sim.out" 2>/dev/null && break; sleep 0.05; done
sim_url="$(grep -o 'http://[0-9.:]*' "$work/sim.out")"
total=$((accounts + 100))
# One curl for every token: the URL glob repeats the request.
curl -s -XPOST "$sim_url/_sim/tokens?n=[1-$total]" -d '{"type":"SYSTEM_USER","lifetime_secs":0}' \
    | grep -o '"access_token":"[^"]*"' | cut -d'"' -f4 > "$work/tokens"
[ "$(wc -l < "$work/tokens")" -eq "$total" ] || { echo "measure-fleet: the simulator minted too few tokens" >&2; exit 1; }
account_files() { # dir first last
    sed -n "$2,$3p" "$work/tokens" | awk -v dir="$1" -v first="$2" '{
        file = sprintf("%s/acct%d.toml", dir, first + NR - 1)
        printf "app-id = \"100000000000001\"\napp-secret = \"sim-app-secret\"\naccess-token = \"%s\"\nphone-number-id = \"106540352242922\"\n", $0 > file
        close(file)
    }'
}
mkdir -p "$work/accounts.d" "$work/later"
account_files "$work/accounts.d" 1 "$accounts"
account_files "$work/later" $((accounts + 1)) "$total"
chmod 600 "$work"/accounts.d/* "$work"/later/*
serve_port="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
serve_url="http://127.0.0.1:$serve_port"
cat > "$work/fleet.toml" <<EOF
[accounts]
dir = "accounts.d"

[serve]
listen = "127.0.0.1:$serve_port"
EOF
chmod 600 "$work/fleet.toml"
stats() { curl -s "$sim_url/_sim/stats"; }
# Starts the dashboard in tmux (120x40, session dash) and prints the milliseconds until a frame
# lists accounts (polling every 2 ms), or - after 10 s.
first_frame_ms() { # data-dir
    tmux -L "$socket" new-session -d -s dash -x 120 -y 40 \
        "env TERM=xterm-256color $bin --config $work/fleet.toml --data-dir $1 --graph-url $sim_url watch"
    local start_ns ms="-"
    start_ns="$(date +%s%N)"
    for _ in $(seq 5000); do
        if tmux -L "$socket" capture-pane -p -t dash 2>/dev/null | grep -q "acct"; then
            ms=$(( ($(date +%s%N) - start_ns) / 1000000 ))
            break
        fi
        sleep 0.002
    done
    echo "$ms"
}
if [ -n "${STARTUP_ONLY:-}" ]; then
    runs="${RUNS:-5}"
    echo "fleet of ${accounts} accounts, startup (${runs} runs each):"
    for i in $(seq "$runs"); do
        /usr/bin/time -f "%e s (user %U s, sys %S s)" -o "$work/config.time" \
            "$bin" --config "$work/fleet.toml" --data-dir "$work/data-config" config check > /dev/null 2>&1 || true
        echo "  config check: $(tail -1 "$work/config.time")"
    done
    for i in $(seq "$runs"); do
        echo "  dashboard first frame: $(first_frame_ms "$work/data-dash-$i") ms"
        # Quit and wait for it to end, so the next run starts on a quiet machine.
        tmux -L "$socket" send-keys -t dash q 2>/dev/null || true
        for _ in $(seq 500); do tmux -L "$socket" has-session -t dash 2>/dev/null || break; sleep 0.02; done
        tmux -L "$socket" kill-server 2>/dev/null || true
    done
    exit 0
fi
total_of() { grep -o '"total":[0-9]*' | cut -d: -f2; }
endpoint_of() { { grep -o "\"$1\":[0-9]*" || echo ":0"; } | head -1 | cut -d: -f2; }
run() { exec "$bin" --config "$work/fleet.toml" --graph-url "$sim_url" "$@"; }

# 1. check
before="$(stats | total_of)"
/usr/bin/time -f "%e %M" -o "$work/check.time" \
    "$bin" --config "$work/fleet.toml" --data-dir "$work/data-check" --graph-url "$sim_url" check > /dev/null 2>&1 || true
check_requests=$(( $(stats | total_of) - before ))
read -r check_secs check_kb < <(tail -1 "$work/check.time")

# 2. the daemon
run --data-dir "$work/data" daemon > /dev/null 2> "$work/daemon.err" &
daemon_pid=$!
pids+=("$daemon_pid")
sleep "$settle"
thread_ns() { for f in /proc/"$1"/task/*/schedstat; do t="${f%/schedstat}"; echo "${t##*/} $(cut -d' ' -f1 "$f" 2>/dev/null || echo 0)"; done; }
cpu_percent() { # before after seconds
    awk -v s="$3" 'NR == FNR { start[$1] = $2; next } { d = $2 - start[$1]; if (d > 0) t += d } END { printf "%.4f%%", t / (s * 1e9) * 100 }' "$1" "$2"
}
stats > "$work/stats-before"
thread_ns "$daemon_pid" > "$work/daemon-before"
sleep "$window"
thread_ns "$daemon_pid" > "$work/daemon-after"
stats > "$work/stats-after"
daemon_cpu="$(cpu_percent "$work/daemon-before" "$work/daemon-after" "$window")"
daemon_rss="$(awk '/^VmRSS/ {printf "%.1f MB", $2 / 1024}' "/proc/$daemon_pid/status")"
rest_requests=$(( $(total_of < "$work/stats-after") - $(total_of < "$work/stats-before") ))

# 3. /metrics
metrics_plain="$(curl -s "$serve_url/metrics" | wc -c)"
# The gzip rendering is kept until a metric changes: the first one is a full encoding.
metrics_ms="$(curl -s -o "$work/metrics.gz" -w '%{time_total}' -H 'Accept-Encoding: gzip' "$serve_url/metrics" | awk '{printf "%d", $1 * 1000}')"
metrics_gzip="$(wc -c < "$work/metrics.gz")"

# 4. a reload adding 100 account files: renamed in at once, noticed by the watch.
exchanges_before="$(stats | endpoint_of exchange)"
start_ns="$(date +%s%N)"
mv "$work"/later/*.toml "$work/accounts.d/"
reload_ms="-"
for _ in $(seq 2500); do
    if grep -q "\"accounts\": *$total" "$work/data/reload.json" 2>/dev/null; then
        reload_ms=$(( ($(date +%s%N) - start_ns) / 1000000 ))
        break
    fi
    sleep 0.004
done
exchanges=$(( $(stats | endpoint_of exchange) - exchanges_before ))
kill "$daemon_pid"

# 6. the dashboard
first_ms="$(first_frame_ms "$work/data-dash")"
dash_pid="$(tmux -L "$socket" display-message -p -t dash '#{pane_pid}')"
sleep "$settle"
thread_ns "$dash_pid" > "$work/dash-before"
sleep "$window"
thread_ns "$dash_pid" > "$work/dash-after"
dash_cpu="$(cpu_percent "$work/dash-before" "$work/dash-after" "$window")"
dash_rss="$(awk '/^VmRSS/ {printf "%.1f MB", $2 / 1024}' "/proc/$dash_pid/status")"

per_minute="$(awk -v r="$rest_requests" -v w="$window" -v a="$accounts" 'BEGIN { printf "%.1f", r / w * 60 / a * 1000 }')"
echo "fleet of ${accounts} accounts (budgets of issue 23):"
printf '  %-46s %-28s %s\n' \
    "check" "${check_secs} s, $((check_kb / 1024)) MB, ${check_requests} requests" "< 2 s, <= 400 requests" \
    "daemon at rest over ${window} s" "${daemon_cpu} of a core, ${daemon_rss}" "<= 0.2%, <= 150 MB" \
    "Graph requests at rest" "${rest_requests} in ${window} s (${per_minute}/min per 1,000)" "spread over the interval" \
    "/metrics" "${metrics_plain} bytes, ${metrics_gzip} gzip" "<= 2 MB gzip" \
    "/metrics gzip, first scrape (encoded)" "${metrics_ms} ms" "" \
    "reload adding 100 files" "${reload_ms} ms, ${exchanges} exchanges" "< 1 s, 0 exchanges" \
    "dashboard first frame" "${first_ms} ms" "< 200 ms" \
    "dashboard idle over ${window} s (fleet view)" "${dash_cpu} of a core, ${dash_rss}" "<= 0.2%"
if grep -q ERROR "$work/daemon.err"; then
    echo "measure-fleet: the daemon logged errors:" >&2
    grep ERROR "$work/daemon.err" | head -5 >&2
fi

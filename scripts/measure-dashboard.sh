#!/usr/bin/env bash
# Measures the dashboard's budgets on the real binary in a real terminal (tmux, 120x40):
#   1. idle CPU over 60 s: one never-expiring account (account view), then 1,000 of them
#      (the fleet view), one after the other in the same run
#   2. time to first frame (median of 10 starts, polling the pane every 2 ms)
#   3. resident memory with 100 accounts, 10k history rows and 50k buffered log lines
# Against a local `tokentop sim`; needs tmux and curl.   scripts/measure-dashboard.sh
# IDLE_SECS=60 sets the idle window, FLEET_ACCOUNTS=1000 the fleet's size, IDLE_ONLY=1 stops
# after 1, ACCOUNT_ONLY=1 stops after the one account's idle CPU, TOKENTOP_BIN=path measures
# that binary instead of building the release one.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -n "${TOKENTOP_BIN:-}" ]; then
    bin="$(realpath "$TOKENTOP_BIN")"
else
    cargo build --release --quiet
    bin="$PWD/target/release/tokentop"
fi
work="$(mktemp -d)"
socket="tokentop-measure-$$"
sim_pid=""
cleanup() { tmux -L "$socket" kill-server 2>/dev/null || true; [ -n "$sim_pid" ] && kill "$sim_pid" 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT

"$bin" sim --listen 127.0.0.1:0 > "$work/sim.out" &
sim_pid=$!
for _ in $(seq 100); do grep -q listening "$work/sim.out" 2>/dev/null && break; sleep 0.05; done
sim_url="$(grep -o 'http://[0-9.:]*' "$work/sim.out")"
mint() { curl -s -XPOST "$sim_url/_sim/tokens" -d '{"type":"SYSTEM_USER","lifetime_secs":0}' | sed 's/.*"access_token":"\([^"]*\)".*/\1/'; }

account() { # name token
    printf '[[account]]\nname = "%s"\napp-id = "100000000000001"\napp-secret = "sim-app-secret"\naccess-token = "%s"\nphone-number-id = "106540352242922"\n\n' "$1" "$2"
}
stop_dashboard() {
    tmux -L "$socket" kill-server 2>/dev/null || true
    while tmux -L "$socket" list-sessions >/dev/null 2>&1; do sleep 0.05; done
}
start_dashboard() { # config-file data-dir
    stop_dashboard
    tmux -L "$socket" new-session -d -s m -x 120 -y 40 \
        "env TERM=xterm-256color $bin --config $1 --data-dir $2 --graph-url $sim_url watch"
}
pane_pid() { tmux -L "$socket" display-message -p -t m '#{pane_pid}'; }
cpu_ns() { cat /proc/"$1"/task/*/schedstat | awk '{s += $1} END {print s}'; }

# 1. Idle CPU (IDLE_SECS=60 by default).
idle_secs="${IDLE_SECS:-60}"
idle_cpu() { # config-file data-dir settle-secs what
    start_dashboard "$1" "$2"
    sleep "$3"
    local pid before after idle
    pid="$(pane_pid)"
    before="$(cpu_ns "$pid")"; sleep "$idle_secs"; after="$(cpu_ns "$pid")"
    idle="$(awk -v d=$((after - before)) -v s="$idle_secs" 'BEGIN {printf "%.3f", d / (s * 1e9) * 100}')"
    echo "idle CPU over $idle_secs s at 120x40, $4: ${idle}% of one core ($(( (after - before) / 1000000 )) ms CPU)"
}
mkdir -p "$work/idle"
account main "$(mint)" > "$work/idle.toml"; chmod 600 "$work/idle.toml"
idle_cpu "$work/idle.toml" "$work/idle" 5 "1 account (account view)"
[ -n "${ACCOUNT_ONLY:-}" ] && exit 0
# The fleet: every account has its own never-expiring token; the first inspections and phone
# checks of all of them settle before the window starts.
fleet_accounts="${FLEET_ACCOUNTS:-1000}"
mkdir -p "$work/fleet"
: > "$work/fleet.toml"
for i in $(seq "$fleet_accounts"); do account "acct$i" "$(mint)" >> "$work/fleet.toml"; done
chmod 600 "$work/fleet.toml"
idle_cpu "$work/fleet.toml" "$work/fleet" 20 "$fleet_accounts accounts (fleet view)"
[ -n "${IDLE_ONLY:-}" ] && exit 0

# 2. Time to first frame.
times=()
for _ in $(seq 10); do
    start="$(date +%s%N)"
    start_dashboard "$work/idle.toml" "$work/idle"
    for _ in $(seq 5000); do
        tmux -L "$socket" capture-pane -p -t m 2>/dev/null | grep -q "ACCESS TOKEN" && break
        sleep 0.002
    done
    times+=($(( ($(date +%s%N) - start) / 1000000 )))
done
sorted="$(printf '%s\n' "${times[@]}" | sort -n | tr '\n' ' ')"
median="$(printf '%s\n' "${times[@]}" | sort -n | sed -n 5p)"
echo "time to first frame (10 starts, ms, sorted): $sorted-> median ${median} ms"

# 3. Memory: 100 accounts, 10k history rows, 50k log lines.
mkdir -p "$work/big"
: > "$work/big.toml"
for i in $(seq 100); do account "acct$i" "$(mint)" >> "$work/big.toml"; done
printf '[[log]]\nname = "backend"\nfile = "%s"\n' "$work/app.log" >> "$work/big.toml"
chmod 600 "$work/big.toml"; : > "$work/app.log"
for i in $(seq 10000); do
    printf '{"time":"2026-11-28T10:%02d:%02dZ","account":"acct%d","event":"refresh","trigger":"scheduled","outcome":"ok","latency_ms":312,"new_expires_at":1800000000,"token":"EAAG…x9Qf"}\n' $((i / 60 % 60)) $((i % 60)) $((i % 100 + 1))
done > "$work/big/history.jsonl"
start_dashboard "$work/big.toml" "$work/big"
sleep 5
# In chunks the follower and the dashboard take whole (a burst would be thinned to the newest
# 500 lines per batch, and buffer less).
for chunk in $(seq 0 124); do
    for i in $(seq $((chunk * 400 + 1)) $((chunk * 400 + 400))); do
        echo "2026-11-28T10:00:00Z INFO request $i WhatsApp message sent to=15551234567"
    done >> "$work/app.log"
    sleep 0.3
done
sleep 5
pid="$(pane_pid)"
rss_kb="$(awk '/VmRSS/ {print $2}' /proc/"$pid"/status)"
echo "resident memory with 100 accounts, 10k history rows, 50k log lines: $((rss_kb / 1024)) MB (${rss_kb} kB)"

#!/usr/bin/env bash
# Issue 21's table in one run: what tokentop costs at rest with 1,000 simulator accounts, each
# row beside its comparison, all measured over the same window (60 s unless given):
#   - the daemon with no [[log]] files, and its resident memory
#   - the daemon with 20 idle [[log]] files, beside `tail -F` on the same files
#   - the dashboard (tmux, 120x40) with the same 20 idle files, and with none (the fleet view)
#   - the dashboard with one account (the account view), beside htop and btop at 120x40
# CPU is each process's own (/proc/PID/task/*/schedstat), so the processes running side by
# side do not count against each other. Builds nothing: needs target/release/tokentop
# (TOKENTOP_BIN=path for another build). Needs tmux and curl; installs htop and btop from
# Debian's packages when missing (sudo when not root). Classification is measured by
# `cargo bench --bench classify` (beside wc -l, grep and rg).
#   scripts/measure-rest.sh [SECONDS]          ACCOUNTS=1000 FILES=20 SETTLE_SECS=30
set -euo pipefail
cd "$(dirname "$0")/.."
window="${1:-60}"
accounts="${ACCOUNTS:-1000}"
files="${FILES:-20}"
settle="${SETTLE_SECS:-30}"
bin="$(realpath "${TOKENTOP_BIN:-target/release/tokentop}")"
[ -x "$bin" ] || { echo "measure-rest: $bin is missing; build it first: cargo build --release" >&2; exit 1; }
if ! command -v htop >/dev/null 2>&1 || ! command -v btop >/dev/null 2>&1; then
    echo "measure-rest: installing htop and btop (apt-get)" >&2
    sudo=""
    [ "$(id -u)" -ne 0 ] && sudo=sudo
    $sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends htop btop >/dev/null \
        || { echo "measure-rest: could not install htop and btop; apt-get install htop btop" >&2; exit 1; }
fi
work="$(mktemp -d)"
socket="tokentop-rest-$$"
pids=()
cleanup() {
    tmux -L "$socket" kill-server 2>/dev/null || true
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT

"$bin" sim --listen 127.0.0.1:0 > "$work/sim.out" &
pids+=($!)
for _ in $(seq 100); do grep -q listening "$work/sim.out" 2>/dev/null && break; sleep 0.05; done
sim_url="$(grep -o 'http://[0-9.:]*' "$work/sim.out")"
# One curl for every token: the URL glob repeats the request.
curl -s -XPOST "$sim_url/_sim/tokens?n=[1-$accounts]" -d '{"type":"SYSTEM_USER","lifetime_secs":0}' \
    | grep -o '"access_token":"[^"]*"' | cut -d'"' -f4 > "$work/tokens"
[ "$(wc -l < "$work/tokens")" -eq "$accounts" ] || { echo "measure-rest: the simulator minted too few tokens" >&2; exit 1; }

accounts_toml() { # how many
    head -n "$1" "$work/tokens" | awk '{ printf "[[account]]\nname = \"acct%d\"\napp-id = \"100000000000001\"\napp-secret = \"sim-app-secret\"\naccess-token = \"%s\"\nphone-number-id = \"106540352242922\"\n\n", NR, $0 }'
}
mkdir -p "$work/logs"
logs_toml() {
    for i in $(seq "$files"); do
        printf '[[log]]\nname = "app%d"\nfile = "%s/logs/app%d.log"\n\n' "$i" "$work" "$i"
    done
}
for i in $(seq "$files"); do echo "started" > "$work/logs/app$i.log"; done
accounts_toml "$accounts" > "$work/fleet.toml"
{ accounts_toml "$accounts"; logs_toml; } > "$work/fleet-logs.toml"
accounts_toml 1 > "$work/one.toml"
chmod 600 "$work"/*.toml

daemon() { # slug config; its pid in $started
    "$bin" --config "$2" --data-dir "$work/data-$1" --graph-url "$sim_url" daemon > /dev/null 2> "$work/$1.err" &
    started=$!
    pids+=("$started")
}
window_of() { # session command...
    local session="$1"
    shift
    tmux -L "$socket" new-session -d -s "$session" -x 120 -y 40 "env TERM=xterm-256color $*"
}
dashboard() { # session config
    window_of "$1" "$bin" --config "$2" --data-dir "$work/data-$1" --graph-url "$sim_url" watch
}
pane_pid() { tmux -L "$socket" display-message -p -t "$1" '#{pane_pid}'; }

daemon daemon-bare "$work/fleet.toml"
daemon_bare="$started"
daemon daemon-logs "$work/fleet-logs.toml"
daemon_logs="$started"
tail -q -F "$work"/logs/*.log > /dev/null 2>&1 &
tail_pid=$!
pids+=("$tail_pid")
dashboard dash-logs "$work/fleet-logs.toml"
dashboard dash-fleet "$work/fleet.toml"
dashboard dash-one "$work/one.toml"
window_of htop htop
window_of btop btop
# Past start-up: every account's first inspection and health round.
sleep "$settle"

declare -A pid_of=(
    [daemon-bare]="$daemon_bare" [daemon-logs]="$daemon_logs" [tail]="$tail_pid"
    [dash-logs]="$(pane_pid dash-logs)" [dash-fleet]="$(pane_pid dash-fleet)"
    [dash-one]="$(pane_pid dash-one)" [htop]="$(pane_pid htop)" [btop]="$(pane_pid btop)"
)
# Per thread, so a thread that ends inside the window (tokio's idle blocking threads do)
# cannot make the sum go back: "TID ns" lines, and the growth of each thread's time (a thread
# born inside the window counts from 0). A thread that ended inside the window is not counted;
# /proc/PID/stat's clock ticks, which include it, are printed beside as a cross-check.
thread_ns() { for f in /proc/"$1"/task/*/schedstat; do t="${f%/schedstat}"; echo "${t##*/} $(cut -d' ' -f1 "$f" 2>/dev/null || echo 0)"; done; }
ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
hz="$(getconf CLK_TCK)"
for name in "${!pid_of[@]}"; do
    thread_ns "${pid_of[$name]}" > "$work/before-$name"
    ticks "${pid_of[$name]}" > "$work/ticks-$name"
done
sleep "$window"
declare -A percent
for name in "${!pid_of[@]}"; do
    thread_ns "${pid_of[$name]}" > "$work/after-$name"
    grown="$(awk 'NR == FNR { start[$1] = $2; next } { d = $2 - start[$1]; if (d > 0) s += d } END { print s + 0 }' "$work/before-$name" "$work/after-$name")"
    tick_diff=$(( $(ticks "${pid_of[$name]}") - $(cat "$work/ticks-$name") ))
    percent[$name]="$(awk -v d="$grown" -v s="$window" -v t="$tick_diff" -v hz="$hz" 'BEGIN {printf "%.4f%% (%d ticks)", d / (s * 1e9) * 100, t}')"
done
rss="$(awk '/^VmRSS/ {printf "%.1f MB", $2 / 1024}' "/proc/$daemon_bare/status")"

echo "at rest over ${window} s, ${accounts} accounts, all side by side (CPU of one core; budgets of issue 21):"
printf '  %-50s %-22s %s\n' \
    "daemon, no log files" "${percent[daemon-bare]}" "keep ~0.001%" \
    "daemon, ${files} idle [[log]] files" "${percent[daemon-logs]}" "<= 0.02%; tail -F on the same files: ${percent[tail]}" \
    "dashboard 120x40, ${files} idle [[log]] files" "${percent[dash-logs]}" "<= 0.12%" \
    "dashboard 120x40, no log files (fleet view)" "${percent[dash-fleet]}" "<= 0.10%; htop ${percent[htop]}, btop ${percent[btop]}" \
    "dashboard 120x40, 1 account (account view)" "${percent[dash-one]}" "<= 0.07%" \
    "daemon resident memory, no log files" "$rss" "<= 30 MB"
for slug in daemon-bare daemon-logs; do
    if grep -q ERROR "$work/$slug.err"; then
        echo "measure-rest: the $slug daemon logged errors:" >&2
        grep ERROR "$work/$slug.err" | head -5 >&2
    fi
done

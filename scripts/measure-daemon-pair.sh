#!/usr/bin/env bash
# Daemons of several builds side by side at rest, in the same minutes (the VM moves by 40%
# between windows): one `tokentop sim`, ACCOUNTS (1,000) never-expiring accounts, one daemon
# per binary given, SETTLE_SECS (75) to settle, then each one's CPU over WINDOW seconds from
# its threads' schedstat and from `perf stat -e task-clock,context-switches` (which also
# counts blocking-pool threads that end inside the window). FILES (0) idle `[[log]]` files
# each, the same files for every daemon. Needs curl and perf.
#   scripts/measure-daemon-pair.sh WINDOW BIN [BIN...]      ACCOUNTS=1000 FILES=0 SETTLE_SECS=75 KEEP=1
set -euo pipefail
window="$1"; shift
settle="${SETTLE_SECS:-75}"
accounts="${ACCOUNTS:-1000}"
files="${FILES:-0}"
work="$(mktemp -d)"
pids=()
cleanup() { for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done; wait 2>/dev/null || true; [ -n "${KEEP:-}" ] || rm -rf "$work"; }
trap cleanup EXIT
bin0="$1"
"$bin0" sim --listen 127.0.0.1:0 > "$work/sim.out" &
pids+=($!)
for _ in $(seq 100); do grep -q listening "$work/sim.out" 2>/dev/null && break; sleep 0.05; done
sim_url="$(grep -o 'http://[0-9.:]*' "$work/sim.out")"
curl -s -XPOST "$sim_url/_sim/tokens?n=[1-$accounts]" -d '{"type":"SYSTEM_USER","lifetime_secs":0}' \
    | grep -o '"access_token":"[^"]*"' | cut -d'"' -f4 > "$work/tokens"
awk '{ printf "[[account]]\nname = \"acct%d\"\napp-id = \"100000000000001\"\napp-secret = \"sim-app-secret\"\naccess-token = \"%s\"\nphone-number-id = \"106540352242922\"\n\n", NR, $0 }' "$work/tokens" > "$work/fleet.toml"
mkdir -p "$work/logs"
for f in $(seq "$files"); do
  echo started > "$work/logs/app$f.log"
  printf '[[log]]\nname = "app%d"\nfile = "%s/logs/app%d.log"\n\n' "$f" "$work" "$f" >> "$work/fleet.toml"
done
chmod 600 "$work/fleet.toml"
declare -a dpids names
i=0
for bin in "$@"; do
  "$bin" --config "$work/fleet.toml" --data-dir "$work/data-$i" --graph-url "$sim_url" daemon > /dev/null 2> "$work/$i.err" &
  dpids+=($!); pids+=($!); names+=("$bin"); i=$((i+1))
done
echo "pids: ${dpids[*]}  work: $work" >&2
sleep "$settle"
thread_ns() { for f in /proc/"$1"/task/*/schedstat; do t="${f%/schedstat}"; echo "${t##*/} $(cut -d' ' -f1 "$f" 2>/dev/null || echo 0)"; done; }
for j in "${!dpids[@]}"; do thread_ns "${dpids[$j]}" > "$work/before-$j"; done
for j in "${!dpids[@]}"; do perf stat -x, -e task-clock,context-switches -p "${dpids[$j]}" -o "$work/perf-$j" -- sleep "$window" & done
sleep "$window"; sleep 1
for j in "${!dpids[@]}"; do
  thread_ns "${dpids[$j]}" > "$work/after-$j"
  grown="$(awk 'NR == FNR { start[$1] = $2; next } { d = $2 - start[$1]; if (d > 0) s += d } END { print s + 0 }' "$work/before-$j" "$work/after-$j")"
  awk -v d="$grown" -v s="$window" -v n="${names[$j]}" 'BEGIN {printf "%-34s schedstat %.4f%% (%.2f ms/min)", n, d / (s * 1e9) * 100, d/1e6/s*60}'
  awk -F, -v s="$window" '/task-clock/ {tc=$1} /context-switches/ {cs=$1} END {printf "   perf task-clock %.4f%% (%.2f ms/min), %d switches/min\n", tc/(s*1e3)*100, tc/s*60, cs/s*60}' "$work/perf-$j"
done

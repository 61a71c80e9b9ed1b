#!/usr/bin/env bash
# The Graph API proxy side by side with nginx, in one run (issue 21 part 5): the same
# `tokentop sim` upstream (with --require-proof), `wrk` POSTing a text message to
# /v21.0/<phone-number-id>/messages
#   - directly to the simulator (the request carries the token and appsecret_proof itself),
#   - through nginx (one worker; adds the fixed Authorization header and appsecret_proof,
#     keep-alive upstream, access_log on to a file: tokentop logs a line per request too),
#   - through tokentop's proxy (`tokentop daemon` with [proxy] on loopback, one account),
# with 1 connection / 1 thread for latency (p50, p99) and 32 connections / 2 threads for
# throughput, then a table with the added latency (via - direct) and the CPU per request of
# the process in the middle during the 32-connection run (the simulator's for direct sends:
# the upstream's own cost, which the other two rows also pay in the simulator).
#   scripts/measure-proxy.sh            DURATION=10 (seconds per run)   ROUNDS=1
# ROUNDS=n repeats every run n times, interleaved, and prints the median of each cell.
# PERF=1 also records `perf record -g` on the daemon during its 32-connection run and prints
# `perf report --no-children` (the top of it) afterwards; PERF_DATA=path keeps perf.data;
# PERF_CALL_GRAPH=dwarf records call graphs by DWARF unwinding (release builds have no frame
# pointers, so `-g` alone loses most of the Rust stack).
# Builds nothing: needs target/release/tokentop (TOKENTOP_BIN=path runs another build).
# BEFORE_BIN=path adds a row "before": a second daemon of that build (e.g. an older commit's)
# on the same simulator, measured in the same rounds, for a before/after comparison that a
# busy machine does not skew. Installs nginx-light and wrk from Debian's packages when missing
# (sudo when not root).
set -euo pipefail
cd "$(dirname "$0")/.."
duration="${DURATION:-10}"
rounds="${ROUNDS:-1}"
bin="${TOKENTOP_BIN:-target/release/tokentop}"
[ -x "$bin" ] || { echo "measure-proxy: $bin is missing; build it first: cargo build --release" >&2; exit 1; }

nginx_bin="$(command -v nginx || true)"
[ -z "$nginx_bin" ] && [ -x /usr/sbin/nginx ] && nginx_bin=/usr/sbin/nginx
if [ -z "$nginx_bin" ] || ! command -v wrk >/dev/null 2>&1; then
    echo "measure-proxy: installing nginx-light and wrk (apt-get)" >&2
    sudo=""
    [ "$(id -u)" -ne 0 ] && sudo=sudo
    if ! { $sudo apt-get update && DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y --no-install-recommends nginx-light wrk; }; then
        echo "measure-proxy: could not install nginx-light and wrk; install them yourself: apt-get install -y --no-install-recommends nginx-light wrk" >&2
        exit 1
    fi
    nginx_bin="$(command -v nginx || echo /usr/sbin/nginx)"
fi
# Debian's package starts a system nginx on :80; this script starts its own.
if command -v systemctl >/dev/null 2>&1; then systemctl stop nginx 2>/dev/null || true; fi

work="$(mktemp -d)"
pids=()
cleanup() {
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    [ -f "$work/nginx.pid" ] && kill "$(cat "$work/nginx.pid" 2>/dev/null)" 2>/dev/null || true
    wait 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
wait_port() {
    for _ in $(seq 200); do
        (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
        sleep 0.05
    done
    echo "measure-proxy: nothing listens on 127.0.0.1:$1 ($2); see $work" >&2
    exit 1
}

phone=106540352242922
app_secret=sim-app-secret
sim_port="$(free_port)"
"$bin" sim --listen "127.0.0.1:$sim_port" --require-proof --app-secret "$app_secret" \
    --data-dir "$work/sim-data" > "$work/sim.out" 2>&1 &
sim=$!
pids+=("$sim")
wait_port "$sim_port" "tokentop sim"
sim_url="http://127.0.0.1:$sim_port"
token="$(curl -s -XPOST "$sim_url/_sim/tokens" -d '{"type":"SYSTEM_USER","lifetime_secs":0}' | sed 's/.*"access_token":"\([^"]*\)".*/\1/')"
proof="$(printf '%s' "$token" | openssl dgst -sha256 -hmac "$app_secret" | sed 's/.*= //')"

nginx_port="$(free_port)"
mkdir -p "$work/nginx"
cat > "$work/nginx/nginx.conf" <<EOF
worker_processes 1;
daemon off;
pid $work/nginx.pid;
error_log $work/nginx/error.log warn;
events { worker_connections 1024; }
http {
    access_log $work/nginx/access.log;
    client_body_temp_path $work/nginx/body;
    proxy_temp_path $work/nginx/proxy;
    upstream sim { server 127.0.0.1:$sim_port; keepalive 64; }
    server {
        listen 127.0.0.1:$nginx_port;
        location / {
            proxy_pass http://sim\$uri?appsecret_proof=$proof;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Authorization "Bearer $token";
        }
    }
}
EOF
"$nginx_bin" -p "$work/nginx" -c "$work/nginx/nginx.conf" 2> "$work/nginx.err" &
nginx_master=$!
pids+=("$nginx_master")
wait_port "$nginx_port" "nginx"

# start_daemon NAME BIN: a daemon with [proxy] on a free port; sets daemon_port, daemon_pid.
start_daemon() {
    daemon_port="$(free_port)"
    cat > "$work/$1.toml" <<EOF
[proxy]
listen = "127.0.0.1:$daemon_port"

[[account]]
name = "main"
app-id = "100000000000001"
app-secret = "$app_secret"
access-token = "$token"
phone-number-id = "$phone"
EOF
    chmod 600 "$work/$1.toml"
    # stderr to a file, as a service manager would take it (the daemon logs at INFO there).
    "$2" --config "$work/$1.toml" --data-dir "$work/$1-data" --graph-url "$sim_url" daemon \
        2> "$work/$1.err" &
    daemon_pid=$!
    pids+=("$daemon_pid")
    wait_port "$daemon_port" "tokentop daemon ($2)"
}
start_daemon tokentop "$bin"
proxy_port="$daemon_port"
daemon="$daemon_pid"
targets=(direct nginx tokentop)
if [ -n "${BEFORE_BIN:-}" ]; then
    [ -x "$BEFORE_BIN" ] || { echo "measure-proxy: BEFORE_BIN=$BEFORE_BIN is not an executable" >&2; exit 1; }
    start_daemon before "$BEFORE_BIN"
    before_port="$daemon_port"
    before_daemon="$daemon_pid"
    targets+=(before)
fi

cat > "$work/post.lua" <<'EOF'
wrk.method = "POST"
wrk.body = '{"messaging_product":"whatsapp","to":"15551234567","type":"text","text":{"body":"measure"}}'
wrk.headers["Content-Type"] = "application/json"
EOF
path="/v21.0/$phone/messages"
declare -A url=(
    [direct]="$sim_url$path?appsecret_proof=$proof"
    [nginx]="http://127.0.0.1:$nginx_port$path"
    [tokentop]="http://127.0.0.1:$proxy_port$path"
    [before]="http://127.0.0.1:${before_port:-0}$path"
)
# Each target is checked once: a send must be accepted (200) before it is measured.
for target in "${targets[@]}"; do
    auth=()
    [ "$target" = direct ] && auth=(-H "Authorization: Bearer $token")
    status="$(curl -s -o "$work/check.out" -w '%{http_code}' "${auth[@]}" -H 'Content-Type: application/json' \
        -d '{"messaging_product":"whatsapp","to":"15551234567","type":"text","text":{"body":"check"}}' "${url[$target]}")"
    if [ "$status" != 200 ]; then
        echo "measure-proxy: a send $target answered $status: $(cat "$work/check.out")" >&2
        exit 1
    fi
done

# wrk's figures in microseconds ("86.00us", "1.20ms", "2.00s").
to_us() { awk '{ v = $1; if (v ~ /us$/) { sub(/us$/, "", v); print v } else if (v ~ /ms$/) { sub(/ms$/, "", v); print v * 1000 } else if (v ~ /s$/) { sub(/s$/, "", v); print v * 1000000 } else print v }'; }
# run NAME TARGET CONNECTIONS THREADS: wrk's output in $work/NAME.out.
run() {
    local auth=()
    [ "$2" = direct ] && auth=(-H "Authorization: Bearer $token")
    wrk -t"$4" -c"$3" -d"${duration}s" --latency -s "$work/post.lua" "${auth[@]}" "${url[$2]}" > "$work/$1.out"
    if grep -q "Non-2xx" "$work/$1.out"; then
        echo "measure-proxy: $2 answered non-2xx during the run:" >&2
        grep "Non-2xx" "$work/$1.out" >&2
    fi
}
# CPU time (user + system, clock ticks) of the process in the middle: the simulator for direct
# sends, nginx's worker, tokentop's daemon.
ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }
percentile() { awk -v p="$2" '$1 == p { print $2 }' "$work/$1.out" | to_us; }
rate() { awk '/Requests\/sec/ { printf "%.0f", $2 }' "$work/$1.out"; }
median() { sort -n | awk '{ v[NR] = $1 } END { if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

declare -A p50 p99 rps cpu
for round in $(seq "$rounds"); do
    for target in "${targets[@]}"; do
        run "lat-$target-$round" "$target" 1 1
        p50[$target]+="$(percentile "lat-$target-$round" 50%) "
        p99[$target]+="$(percentile "lat-$target-$round" 99%) "
    done
    for target in "${targets[@]}"; do
        if [ "${PERF:-0}" = 1 ] && [ "$target" = tokentop ] && [ "$round" = 1 ]; then
            perf record --call-graph "${PERF_CALL_GRAPH:-fp}" -o "$work/perf.data" -p "$daemon" -- sleep "$duration" > /dev/null 2>&1 &
            perf_pid=$!
        fi
        case "$target" in
            direct) middle_pid="$sim" ;;
            nginx) middle_pid="$(pgrep -P "$nginx_master" | head -1)" ;;
            tokentop) middle_pid="$daemon" ;;
            before) middle_pid="$before_daemon" ;;
        esac
        before="$(ticks "$middle_pid")"
        run "rps-$target-$round" "$target" 32 2
        used="$(( $(ticks "$middle_pid") - before ))"
        rps[$target]+="$(rate "rps-$target-$round") "
        sent="$(awk '/requests in/ { print $1 }' "$work/rps-$target-$round.out")"
        cpu[$target]+="$(awk -v t="$used" -v hz="$(getconf CLK_TCK)" -v n="$sent" 'BEGIN { printf "%.1f", t / hz * 1000000 / n }') "
    done
done
[ "${PERF:-0}" = 1 ] && wait "$perf_pid" 2>/dev/null || true

cell() { tr ' ' '\n' <<< "$1" | grep . | median; }
load="$(cut -d' ' -f1-3 /proc/loadavg)"
echo "tokentop proxy vs nginx, $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores, load average $load, ${duration}s per run, median of $rounds round(s)"
printf '%-10s %10s %10s %12s %12s %14s %14s\n' "" "p50 (us)" "p99 (us)" "added p50" "added p99" "32 conn req/s" "CPU us/req"
d50="$(cell "${p50[direct]}")"; d99="$(cell "${p99[direct]}")"
for target in "${targets[@]}"; do
    t50="$(cell "${p50[$target]}")"; t99="$(cell "${p99[$target]}")"
    if [ "$target" = direct ]; then a50="-"; a99="-"; else
        a50="$(awk -v a="$t50" -v b="$d50" 'BEGIN { printf "%.0f", a - b }')"
        a99="$(awk -v a="$t99" -v b="$d99" 'BEGIN { printf "%.0f", a - b }')"
    fi
    printf '%-10s %10.0f %10.0f %12s %12s %14s %14s\n' "$target" "$t50" "$t99" "$a50" "$a99" \
        "$(cell "${rps[$target]}" | awk '{ printf "%.0f", $1 }')" "$(cell "${cpu[$target]}" | awk '{ printf "%.1f", $1 }')"
done
if [ "${PERF:-0}" = 1 ]; then
    [ -n "${PERF_DATA:-}" ] && cp "$work/perf.data" "$PERF_DATA"
    perf report -i "$work/perf.data" --no-children --percent-limit 0.7 --stdio 2>/dev/null | grep -v '^$' | grep -v '^#' | grep '%' | head -60
fi

#!/usr/bin/env bash
# Makes assets/dashboard.png from a real `tokentop demo` run, with Debian packages only:
# tmux draws it (120x40), `capture-pane -e` keeps the colours, aha turns the ANSI text into
# HTML, and headless Chromium screenshots the page.
#   apt-get install -y tmux aha chromium fonts-dejavu-core
#   scripts/screenshot.sh [seconds-into-the-demo]   (default 78: production is in backoff)
set -euo pipefail
cd "$(dirname "$0")/.."
delay="${1:-78}"
for tool in tmux aha chromium; do
    command -v "$tool" >/dev/null || { echo "needs $tool: apt-get install -y tmux aha chromium fonts-dejavu-core" >&2; exit 1; }
done
cargo build --release --quiet
work="$(mktemp -d)"
socket="tokentop-shot-$$"
trap 'tmux -L "$socket" kill-server 2>/dev/null || true; rm -rf "$work"' EXIT
tmux -L "$socket" new-session -d -s shot -x 120 -y 40 \
    "env TERM=xterm-256color $PWD/target/release/tokentop demo"
sleep "$delay"
tmux -L "$socket" capture-pane -e -p -t shot > "$work/screen.ans"
tmux -L "$socket" send-keys -t shot q
aha --black --title "tokentop demo" < "$work/screen.ans" \
    | sed 's|<pre>|<pre style="font-family: DejaVu Sans Mono, monospace; font-size: 14px; line-height: 17px; margin: 8px">|' \
    > "$work/screen.html"
chromium --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
    --disable-background-networking --disable-component-update --disable-sync \
    --user-data-dir="$work/chromium" --hide-scrollbars --window-size=1045,700 \
    --screenshot="$PWD/assets/dashboard.png" "file://$work/screen.html" 2>/dev/null
echo "wrote assets/dashboard.png"

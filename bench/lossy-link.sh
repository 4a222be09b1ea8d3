#!/usr/bin/env bash
# The file benchmark across an impaired link, next to nc on the same link.
#
# Usage (root, as CI is): bench/lossy-link.sh [DELAY=20ms] [LOSS=0.5%] [RATE=100mbit] [SIZE_MIB=64] [EXTRA --set ARGS...]
#   e.g. bench/lossy-link.sh 20ms 0.5% 100mbit 64
#        bench/lossy-link.sh 20ms 0.5% 100mbit 64 --set transfer.window=4m --set transfer.max-concurrent-receives=2
#
# Two network namespaces joined by an emulated link (bench/impaired-link.sh: DELAY each way, so RTT = 2 x DELAY,
# random LOSS per packet each way, RATE each way with a drop-tail bottleneck queue of one bandwidth-delay product;
# the link itself is the user-space emulator bench/linkem.c): the server runs in attB at 10.210.0.2, the client in
# attA at 10.210.0.1. Each tool moves the same file once; the script prints MiB/s for both and their ratio.
# Needs root, gcc (the emulator is built on first use, into bench/bin/), nc (netcat-openbsd), bc, and the .NET SDK.
# The link stays up only while the script runs; to look at it by hand: bench/impaired-link.sh up 20ms 0.5% 100mbit
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
link=$repo/bench/impaired-link.sh
delay=${1:-20ms}; loss=${2:-0.5%}; rate=${3:-100mbit}; size_mib=${4:-64}
shift $(( $# < 4 ? $# : 4 )) || true
extra=("$@")
[ "$(id -u)" = 0 ] || { echo "lossy-link: needs root (network namespaces)" >&2; exit 2; }
command -v nc >/dev/null || { echo "lossy-link: nc not installed (apt-get install netcat-openbsd)" >&2; exit 2; }
command -v bc >/dev/null || { echo "lossy-link: bc not installed (apt-get install bc)" >&2; exit 2; }
command -v gcc >/dev/null || [ -x "$repo/bench/bin/linkem" ] || { echo "lossy-link: gcc not installed (apt-get install gcc)" >&2; exit 2; }

build_log=$(dotnet build "$repo/src/AkkaTcpTransfer.Cli" -c Release -v quiet -nologo 2>&1) \
  || { echo "$build_log" >&2; echo "lossy-link: build failed" >&2; exit 1; }
cli="$repo/src/AkkaTcpTransfer.Cli/bin/Release/net10.0/akka-tcp-transfer.dll"
work=$(mktemp -d /tmp/lossy-link.XXXXXX)
cleanup() {
  exec 3>&- 2>/dev/null || true
  pkill -f "$work" 2>/dev/null || true
  bash "$link" down >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT
head -c $((size_mib * 1048576)) /dev/urandom > "$work/file.bin"
bash "$link" up "$delay" "$loss" "$rate"

now() { date +%s.%N; }
wait_for() { # FILE PATTERN TIMEOUT_S
  local deadline=$(( $(date +%s) + $3 ))
  until grep -q "$2" "$1" 2>/dev/null; do
    [ "$(date +%s)" -lt "$deadline" ] || { echo "lossy-link: timed out waiting for $2 in $1" >&2; cat "$1" >&2; exit 1; }
    sleep 0.05
  done
}

# --- akka-tcp-transfer: server in attB, client in attA
mkdir -p "$work/server" "$work/client"
ip netns exec attB dotnet "$cli" server --host 10.210.0.2 --port 7420 --json --downloads "$work/server" --state-dir "$work/server-state" \
  --set transfer.sync-on-complete=off "${extra[@]}" < /dev/null > "$work/server.out" 2> "$work/server.err" &
wait_for "$work/server.out" '"listening"' 30
mkfifo "$work/client.in"
ip netns exec attA dotnet "$cli" client --host 10.210.0.2 --port 7420 --name lossy --json --downloads "$work/client" \
  --state-dir "$work/client-state" --trust-on-first-use --set akka.loglevel=INFO \
  "${extra[@]}" < "$work/client.in" > "$work/client.out" 2> "$work/client.err" &
exec 3> "$work/client.in"
wait_for "$work/client.out" '"connected"' 30
start=$(now)
echo "/send $work/file.bin" >&3
wait_for "$work/server.out" '"transfer-completed"' 600
ours=$(echo "$size_mib / ($(now) - $start)" | bc -l)
grep -o 'window grew to .*' "$work/client.err" | head -1 || true
echo "/quit" >&3
exec 3>&-

# --- nc on the same link
ip netns exec attB sh -c "exec nc -l 10.210.0.2 7421 > '$work/nc.out' < /dev/null" &
ncpid=$!
sleep 0.3
start=$(now)
ip netns exec attA sh -c "exec nc -N 10.210.0.2 7421 < '$work/file.bin'"
wait $ncpid
theirs=$(echo "$size_mib / ($(now) - $start)" | bc -l)
[ "$(stat -c %s "$work/nc.out")" = "$((size_mib * 1048576))" ] || { echo "lossy-link: nc lost bytes" >&2; exit 1; }

# drops the emulator did not decide on: the kernel's queue in front of it overflowed (the machine was too busy)
for ns in attA attB; do
  kdrops=$(ip netns exec "$ns" cat /sys/class/net/lk0/statistics/tx_dropped)
  [ "$kdrops" = 0 ] || echo "lossy-link: warning: $kdrops packets dropped by the kernel in front of the emulator in $ns" >&2
done
printf 'link: one-way delay %s, loss %s, rate %s; file %s MiB\n' "$delay" "$loss" "$rate" "$size_mib"
printf '| akka-tcp-transfer | %.2f MiB/s |\n| nc | %.2f MiB/s |\n| ratio | %.2f x |\n' "$ours" "$theirs" "$(echo "$ours / $theirs" | bc -l)"

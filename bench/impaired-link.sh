#!/usr/bin/env bash
# Two network namespaces joined by an impaired link: delay, random loss and a rate limit, in both directions.
#
# Usage (root): bench/impaired-link.sh up DELAY LOSS RATE [QUEUE]
#               bench/impaired-link.sh down
#               bench/impaired-link.sh status
#   e.g. bench/impaired-link.sh up 20ms 0.5% 100mbit     # RTT 40 ms, 0.5 % loss each way, 100 Mbit/s each way
#        bench/impaired-link.sh up 50ms 0 1gbit 4mb       # with a bottleneck queue of 4 MiB
#        bench/impaired-link.sh up 0 1% none              # loss only, no delay, no rate limit
#        ip netns exec attA ping 10.210.0.2
#
#   DELAY  one-way delay (RTT = 2 x DELAY): 0, 500us, 20ms
#   LOSS   random loss per packet, each way: 0, 0.5%
#   RATE   bottleneck rate each way, on IP packet bytes: 10mbit, 100mbit, 1gbit, or none
#   QUEUE  bottleneck queue, drop-tail: 256kb, 4mb; default one bandwidth-delay product of the RTT
#          (at least 100 full-sized packets)
#
# Layout: namespace attA holds TUN device lk0 with 10.210.0.1/24, namespace attB holds lk0 with 10.210.0.2/24.
# This kernel has no netem qdisc, so the link itself is a user-space program, bench/linkem.c (built here with
# gcc on first use, into bench/bin/): it reads each packet that one namespace sends into its lk0, and writes it
# into the other namespace's lk0 once the loss draw, the rate limit and the delay let it through. See the
# comment at the top of linkem.c for the model. Its log and counters: /run/impaired-link/linkem.log.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
ns_a=attA ns_b=attB dev=lk0 addr_a=10.210.0.1 addr_b=10.210.0.2
state=/run/impaired-link
bin=$here/bin/linkem

die() { echo "impaired-link: $*" >&2; exit 2; }
[ "$(id -u)" = 0 ] || die "needs root (network namespaces)"

linkem_pid() { # prints the emulator's pid if it is running
  local pid
  pid=$(cat "$state/linkem.pid" 2>/dev/null) || return 1
  grep -qa linkem "/proc/$pid/cmdline" 2>/dev/null && echo "$pid"
}

down() {
  local pid
  if pid=$(linkem_pid); then
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.02; done
  fi
  rm -f "$state/linkem.pid"
  ip netns del "$ns_a" 2>/dev/null || true   # deleting a namespace deletes its lk0 too
  ip netns del "$ns_b" 2>/dev/null || true
}

up() {
  local delay=${1:?usage: up DELAY LOSS RATE [QUEUE]} loss=${2:?usage: up DELAY LOSS RATE [QUEUE]}
  local rate=${3:?usage: up DELAY LOSS RATE [QUEUE]} queue=${4:-auto}
  if [ ! -x "$bin" ] || [ "$here/linkem.c" -nt "$bin" ]; then
    command -v gcc >/dev/null || die "gcc not installed (apt-get install gcc)"
    mkdir -p "$here/bin"
    gcc -O2 -Wall -pthread -o "$bin" "$here/linkem.c"
  fi
  down
  mkdir -p "$state"
  local ns addr
  for ns in "$ns_a" "$ns_b"; do
    [ "$ns" = "$ns_a" ] && addr=$addr_a || addr=$addr_b
    ip netns add "$ns"
    ip -n "$ns" link set lo up
    ip -n "$ns" tuntap add dev "$dev" mode tun
    # IPv4 only: keeps IPv6 router solicitations and the like out of the link and its counters
    ip netns exec "$ns" sysctl -qw "net.ipv6.conf.$dev.disable_ipv6=1" 2>/dev/null || true
    # a long device queue, so that bursts from TCP wait for linkem instead of being dropped by the kernel:
    # the only drops on this link should be the ones linkem decides on
    ip -n "$ns" link set "$dev" mtu 1500 txqueuelen 10000 up
    ip -n "$ns" addr add "$addr/24" dev "$dev"
  done
  # setsid: the emulator outlives the shell that started it, until `down`
  setsid "$bin" "$ns_a:$dev" "$ns_b:$dev" "$delay" "$loss" "$rate" "$queue" \
    < /dev/null > "$state/linkem.log" 2>&1 &
  echo $! > "$state/linkem.pid"
  # linkem logs its first line once it holds both devices and its threads run
  for _ in $(seq 100); do
    grep -q '<->' "$state/linkem.log" 2>/dev/null && break
    kill -0 "$(cat "$state/linkem.pid")" 2>/dev/null || { cat "$state/linkem.log" >&2; down; die "linkem failed"; }
    sleep 0.02
  done
  echo "impaired-link: $ns_a $addr_a <-> $ns_b $addr_b: delay $delay each way, loss $loss, rate $rate, queue $queue"
}

status() {
  local pid
  pid=$(linkem_pid) || { echo "impaired-link: down"; return 1; }
  kill -USR1 "$pid"
  sleep 0.2
  head -1 "$state/linkem.log"
  tail -2 "$state/linkem.log"
  for ns in "$ns_a" "$ns_b"; do
    echo "$ns: $(ip -n "$ns" -br addr show dev "$dev")"
    # kernel-side drops on the device (its queue overflowing because linkem fell behind) show as TX dropped
    ip -n "$ns" -s link show dev "$dev" | sed -n '/TX:/{n;s/^ */  TX: /;p}'
  done
}

case ${1:-} in
  up) shift; up "$@" ;;
  down) down ;;
  status) status ;;
  *) echo "usage: $0 up DELAY LOSS RATE [QUEUE] | down | status" >&2; exit 2 ;;
esac

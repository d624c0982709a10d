#!/usr/bin/env bash
# Load test of veil-relay on a local three-node NATS JetStream cluster,
# with 1 to 3 relay nodes, or of one relay on the Badger store, for the
# README's performance table. Everything runs on 127.0.0.1 and stops by
# itself; nothing is installed: nats-server is built from the Go module
# the tests use.
#
#   contrib/jetstream/loadtest.sh RELAYS [STORE] [veil-load flags...]
#
# RELAYS is 1, 2 or 3; STORE is jetstream (default) or badger (RELAYS must
# be 1). The flags go to every veil-load; --messages and --conns are split
# evenly between the relay nodes (one veil-load per node, run at once).
# Prints each veil-load's JSON line (with its relay node's CPU per
# message), then the total msgs/s, the worst p99 and the CPU the NATS
# servers spent per message. BASE_PORT (default 24000) moves the ports;
# NATS_NODES (default 3) is 3 for a cluster or 1 for one server;
# REPLICAS (default NATS_NODES) sets the stream replicas; SHARDS (default
# the relay's, 16) the message streams (--nats-shards).
set -euo pipefail
cd "$(dirname "$0")/../.."

relays=${1:-1}
store=${2:-jetstream}
shift $(( $# >= 2 ? 2 : $# ))
messages=60000
conns=60
extra=()
while [ $# -gt 0 ]; do
	case "$1" in
	--messages) messages=$2; shift 2 ;;
	--conns) conns=$2; shift 2 ;;
	*) extra+=("$1"); shift ;;
	esac
done
case "$relays" in 1|2|3) ;; *) echo "loadtest: RELAYS must be 1, 2 or 3" >&2; exit 2 ;; esac
case "$store" in
jetstream) ;;
badger) [ "$relays" = 1 ] || { echo "loadtest: the badger store serves one relay node" >&2; exit 2; } ;;
*) echo "loadtest: STORE must be jetstream or badger" >&2; exit 2 ;;
esac
base=${BASE_PORT:-24000}
nats_nodes=${NATS_NODES:-3}
case "$nats_nodes" in 1|3) ;; *) echo "loadtest: NATS_NODES must be 1 or 3" >&2; exit 2 ;; esac
replicas=${REPLICAS:-$nats_nodes}
shards=${SHARDS:-16}

work=$(mktemp -d)
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	rm -rf "$work"
}
trap cleanup EXIT

go build -o "$work/nats-server" github.com/nats-io/nats-server/v2
go build -o "$work/veil-relay" ./cmd/veil-relay
go build -o "$work/veil-load" ./cmd/veil-load

urls=""
nats_pids=()
if [ "$store" = jetstream ]; then
	for i in $(seq 1 "$nats_nodes"); do
		routes=""
		for j in $(seq 1 "$nats_nodes"); do
			[ "$j" = "$i" ] || routes="${routes:+$routes, }nats-route://127.0.0.1:$((base + 100 + j))"
		done
		cat >"$work/nats-$i.conf" <<CONF
server_name: n$i
listen: 127.0.0.1:$((base + i))
jetstream { store_dir: "$work/nats-$i" }
CONF
		[ "$nats_nodes" = 1 ] || cat >>"$work/nats-$i.conf" <<CONF
cluster { name: loadtest, listen: 127.0.0.1:$((base + 100 + i)), routes: [$routes] }
CONF
		"$work/nats-server" -c "$work/nats-$i.conf" >"$work/nats-$i.log" 2>&1 &
		pids+=($!)
		nats_pids+=($!)
		urls="${urls:+$urls,}nats://127.0.0.1:$((base + i))"
	done
fi

cpu_ticks() { # user + system clock ticks of the given processes
	local t=0 p
	for p in "$@"; do
		t=$((t + $(awk '{ print $14 + $15 }' "/proc/$p/stat")))
	done
	echo "$t"
}

# One identity for every relay node: the address pins one fingerprint.
"$work/veil-relay" init --data "$work/relay" --listen 127.0.0.1:1 >/dev/null

start_relay() { # index; appends the address to addrs
	local i=$1 port=$((base + 200 + $1)) args
	args=(serve --listen "127.0.0.1:$port" --data "$work/relay" --log-level error)
	if [ "$store" = jetstream ]; then
		args+=(--store jetstream --nats "$urls" --nats-replicas "$replicas" --nats-shards "$shards")
	else
		args+=(--store badger)
	fi
	for _ in $(seq 1 30); do # the JetStream cluster may still be electing
		: >"$work/relay-$i.addr"
		"$work/veil-relay" "${args[@]}" >"$work/relay-$i.addr" 2>"$work/relay-$i.log" &
		local pid=$!
		for _ in $(seq 1 50); do
			if [ -s "$work/relay-$i.addr" ]; then
				pids+=("$pid")
				relay_pids+=("$pid")
				addrs+=("$(head -1 "$work/relay-$i.addr")")
				return 0
			fi
			kill -0 "$pid" 2>/dev/null || break
			sleep 0.1
		done
		kill "$pid" 2>/dev/null || true
		wait "$pid" 2>/dev/null || true
		sleep 1
	done
	echo "loadtest: relay $i did not start:" >&2
	cat "$work/relay-$i.log" >&2
	return 1
}

addrs=()
relay_pids=()
loaders=()
for i in $(seq 1 "$relays"); do
	start_relay "$i"
done

nats_before=$(cpu_ticks "${nats_pids[@]}")
for i in $(seq 1 "$relays"); do
	"$work/veil-load" --relay "${addrs[$((i - 1))]}" --relay-pid "${relay_pids[$((i - 1))]}" --json \
		--messages $((messages / relays)) --conns $((conns / relays)) "${extra[@]}" >"$work/load-$i.json" &
	pids+=($!)
	loaders+=($!)
done
for p in "${loaders[@]}"; do wait "$p"; done
nats_after=$(cpu_ticks "${nats_pids[@]}")

total=0
worst=0
for i in $(seq 1 "$relays"); do
	line=$(cat "$work/load-$i.json")
	echo "$line"
	rate=$(sed -E 's/.*"msgs_per_sec":([0-9.]+).*/\1/' <<<"$line")
	p99=$(sed -E 's/.*"p99_ms":([0-9.]+).*/\1/' <<<"$line")
	total=$(awk -v a="$total" -v b="$rate" 'BEGIN { print a + b }')
	worst=$(awk -v a="$worst" -v b="$p99" 'BEGIN { print (b > a) ? b : a }')
done
nats_us=$(awk -v t=$((nats_after - nats_before)) -v hz="$(getconf CLK_TCK)" -v n="$messages" \
	'BEGIN { printf "%.0f", t / hz * 1e6 / n }')
[ "$store" = jetstream ] || { replicas=-; shards=-; nats_nodes=0; }
printf 'store=%s relays=%d nats_servers=%d replicas=%s shards=%s total_msgs_per_sec=%.0f worst_p99_ms=%.1f nats_cpu_us_per_msg=%s\n' \
	"$store" "$relays" "$nats_nodes" "$replicas" "$shards" "$total" "$worst" "$nats_us"

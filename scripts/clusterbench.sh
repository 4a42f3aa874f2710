#!/usr/bin/env bash
# Side by side, in one run: one jmqx node against a three-node cluster on
# 127.0.0.1, .2 and .3 (the same ports on each, as on three hosts), with the
# clients spread over the nodes and every subscriber on another node than its
# publisher (mqttbench -addr a,b,c -sub-offset 1). Same suite entries, same
# client counts; single node and cluster alternate ROUNDS times, since the
# machine is shared and noisy: read the ratios.
#
#   scripts/clusterbench.sh BENCH_DIR [ROUNDS]     # BENCH_DIR: ../shared/bench
#
# Prints msgs/s, QoS 1 loss and latency p50/p99 per entry and the ratio
# cluster/single. Starts and stops only its own processes.
set -euo pipefail

bench=$(cd "${1:?usage: $0 BENCH_DIR [ROUNDS]}" && pwd)
rounds=${2:-2}
root=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d)
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null || true; done
	rm -rf "$work"
}
trap cleanup EXIT

go build -o "$work/jmqx" "$root/cmd/jmqx"
(cd "$bench" && go build -o "$work/mqttbench" ./cmd/mqttbench)

# Suite entries: name, then mqttbench flags (from the standard suite).
entries=(
	"pairs-q1|-scenario pairs -pubs 500 -qos 1 -size 64 -inflight 20 -duration 12s -warmup 2s"
	"fanin-q0|-scenario fanin -pubs 100 -subs 1 -qos 0 -size 64 -inflight 20 -duration 12s -warmup 2s"
	"latency-q1|-scenario latency -pubs 20 -qos 1 -size 64 -rate 200 -duration 12s -warmup 2s"
)
mqtt=21883

# start_node I [JOIN]: a node on 127.0.0.I with the default tenant on $mqtt.
start_node() {
	local i=$1 join=()
	[ -n "${2:-}" ] && join=(--join "$2")
	"$work/jmqx" serve --data-dir "$work/run/n$i" --bind-host "127.0.0.$i" --advertise-host "127.0.0.$i" \
		--admin-addr "127.0.0.$i:21083" --raft-addr "127.0.0.$i:21084" \
		--gossip-addr "127.0.0.$i:21085" --cluster-addr "127.0.0.$i:21086" \
		--mqtt-addr "127.0.0.$i:$mqtt" --ws-addr= --log-level warn "${join[@]}" >>"$work/node$i.log" 2>&1 &
	pids+=($!)
}

# wait_links N: until node 1 sees N-1 peers with their link up (and is ready).
wait_links() {
	local want=$(($1 - 1))
	for _ in $(seq 1 300); do
		if "$work/jmqx" cluster members --server 127.0.0.1:21083 --json 2>/dev/null |
			python3 -c "import json,sys; m=json.load(sys.stdin); sys.exit(0 if sum(x.get('link')=='up' for x in m)==$want and sum(x.get('healthy') for x in m)==$want+1 else 1)"; then
			return 0
		fi
		sleep 0.1
	done
	echo "cluster not ready; logs in $work" >&2
	exit 1
}

# wait_mqtt N: until the default tenant listens on nodes 1..N.
wait_mqtt() {
	for i in $(seq 1 "$1"); do
		for _ in $(seq 1 300); do
			if (exec 3<>"/dev/tcp/127.0.0.$i/$mqtt") 2>/dev/null; then
				continue 2
			fi
			sleep 0.1
		done
		echo "node $i does not serve MQTT on $mqtt; logs in $work" >&2
		exit 1
	done
}

stop_all() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
	pids=()
	rm -rf "$work/run"
}

run_entry() { # LABEL ADDRS EXTRA FLAGS...
	local label=$1 addrs=$2 extra=$3
	shift 3
	"$work/mqttbench" -addr "$addrs" $extra "$@" -json | python3 -c "
import json,sys
r=json.load(sys.stdin)
print(json.dumps({'label': '$label', 'result': r}))" >>"$work/results.jsonl"
}

for round in $(seq 1 "$rounds"); do
	for setup in single cluster; do
		if [ $setup = single ]; then
			start_node 1
			wait_links 1
			wait_mqtt 1
			addrs=127.0.0.1:$mqtt
			extra=""
		else
			start_node 1
			wait_links 1
			start_node 2 127.0.0.1:21083
			start_node 3 127.0.0.1:21083
			wait_links 3
			wait_mqtt 3
			addrs=127.0.0.1:$mqtt,127.0.0.2:$mqtt,127.0.0.3:$mqtt
			extra="-sub-offset 1"
		fi
		for e in "${entries[@]}"; do
			name=${e%%|*}
			flags=${e#*|}
			echo "round $round: $setup $name" >&2
			# shellcheck disable=SC2086
			if ! run_entry "$setup $name" "$addrs" "$extra" $flags; then
				echo "mqttbench failed; node logs in $work:" >&2
				tail -n 5 "$work"/node*.log >&2
				exit 1
			fi
		done
		stop_all
	done
done

python3 - "$work/results.jsonl" <<'EOF'
import json, sys, collections
rows = collections.defaultdict(list)
for line in open(sys.argv[1]):
    d = json.loads(line)
    rows[d["label"]].append(d["result"])

def summary(label):
    rs = rows[label]
    rate = sum(r["recv_rate"] for r in rs) / len(rs)
    p50 = sum(r["latency_ms"]["p50"] for r in rs) / len(rs)
    p99 = sum(r["latency_ms"]["p99"] for r in rs) / len(rs)
    return rate, p50, p99, sum(r["loss"] for r in rs), [round(r["recv_rate"]) for r in rs]

print(f"{'entry':10s} {'single msg/s':>13s} {'cluster msg/s':>14s} {'ratio':>6s}  {'p50/p99 ms single':>18s}  {'cluster':>14s}  loss s/c  runs single / cluster")
for entry in sorted({l.split(" ", 1)[1] for l in rows}):
    s = summary("single " + entry)
    c = summary("cluster " + entry)
    print(f"{entry:10s} {s[0]:13.0f} {c[0]:14.0f} {c[0] / s[0]:6.2f}  {s[1]:8.2f}/{s[2]:<9.2f}  {c[1]:6.2f}/{c[2]:<7.2f}  {s[3]}/{c[3]}  {s[4]} / {c[4]}")
EOF

#!/bin/bash
# SPDX-License-Identifier: MIT
# ns:udp between two network namespaces joined by a veth pair, with real loss and a real rate
# limit (issue 17): nftables drops 5 % of the data datagrams on the way in (numgen random)
# and 5 % of the status messages and NAKs on the way back, and tc tbf limits the link to
# 400 Mbit/s (the kernel's netem is not available on these machines). 64 MiB in 1 KiB
# messages, each checked by the receiving process for order and content; then 200000
# messages of 32 bytes. Every process has its own embedded driver. Traffic goes only to
# addresses inside the namespaces this test creates; everything is removed at the end.
#   netns.sh UDP_PEER      (root; skips with 77 otherwise, or without ip, nft or tc)
set -u
peer=$1
if [ "$(id -u)" != 0 ]; then
	echo "netns: not root: skipped"
	exit 77
fi
for t in ip nft tc; do
	command -v $t >/dev/null || { echo "netns: $t missing: skipped"; exit 77; }
done
a=nsA$$ b=nsB$$ work=$(mktemp -d /tmp/ns-netns-XXXXXX)
cleanup() {
	[ -n "${pids:-}" ] && kill -KILL $pids 2>/dev/null
	ip netns del $a 2>/dev/null
	ip netns del $b 2>/dev/null
	rm -rf "$work"
}
trap cleanup EXIT
passed=0 failed=0
check() { # NAME OK DETAIL
	if [ "$2" = 1 ]; then passed=$((passed + 1)); echo "ok $1: $3"
	else failed=$((failed + 1)); echo "FAILED $1: $3"; fi
}

ip netns add $a && ip netns add $b &&
	ip link add veth$$a type veth peer name veth$$b &&
	ip link set veth$$a netns $a && ip link set veth$$b netns $b &&
	ip -n $a addr add 10.77.0.1/24 dev veth$$a && ip -n $b addr add 10.77.0.2/24 dev veth$$b &&
	ip -n $a link set veth$$a up && ip -n $b link set veth$$b up &&
	ip -n $a link set lo up && ip -n $b link set lo up ||
	{ echo "netns: cannot set up the namespaces: skipped"; exit 77; }
port=40177
# Loss: data into B, and status messages and NAKs (from B's endpoint port) into A.
ip netns exec $b nft -f - <<EOF || { echo "FAILED: nftables rule"; exit 1; }
table inet nsloss {
	chain input {
		type filter hook input priority 0;
		udp dport $port numgen random mod 100 < 5 counter drop
	}
}
EOF
ip netns exec $a nft -f - <<EOF || { echo "FAILED: nftables rule"; exit 1; }
table inet nsloss {
	chain input {
		type filter hook input priority 0;
		udp sport $port numgen random mod 100 < 5 counter drop
	}
}
EOF
tc -n $a qdisc add dev veth$$a root tbf rate 400mbit burst 256kb latency 50ms ||
	{ echo "FAILED: tc tbf"; exit 1; }
ch="ns:udp?endpoint=10.77.0.2:$port"

stream() { # COUNT LEN
	NANOSTREAM_DIR=$work/b ip netns exec $b timeout 90 "$peer" sub "$ch" 7 "$1" >"$work/sub.log" 2>&1 &
	local sub=$!
	pids="$sub"
	for _ in $(seq 100); do grep -q subscribed "$work/sub.log" && break; sleep 0.05; done
	local t0=$(date +%s.%N)
	NANOSTREAM_DIR=$work/a ip netns exec $a timeout 90 "$peer" stream "$ch" 7 "$1" "$2" >"$work/pub.log" 2>&1 &
	local pub=$!
	pids="$sub $pub"
	wait $sub
	rc=$?
	local t1=$(date +%s.%N)
	kill -TERM $pub 2>/dev/null
	wait $pub 2>/dev/null
	pids=
	secs=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", b - a }')
}

stream 65536 1024
dropped_b=$(ip netns exec $b nft list table inet nsloss | grep -o 'packets [0-9]*' | head -1)
dropped_a=$(ip netns exec $a nft list table inet nsloss | grep -o 'packets [0-9]*' | head -1)
check "64-mib-under-loss-and-tbf" $((rc == 0)) \
	"$(tail -1 "$work/sub.log") in ${secs} s; nftables dropped ${dropped_b#packets } data and ${dropped_a#packets } control datagrams; tbf 400 Mbit/s"
in_time=0
[ "$rc" = 0 ] && awk -v s="$secs" 'BEGIN { exit !(s <= 60) }' && in_time=1
check "64-mib-within-60-s" $in_time "${secs} s"

stream 200000 32
check "small-messages-under-loss" $((rc == 0)) "$(tail -1 "$work/sub.log") in ${secs} s"

echo "$passed passed, $failed failed"
[ $failed = 0 ]

#!/bin/bash
# SPDX-License-Identifier: MIT
# One publisher, three receivers, on a Linux bridge with multicast (issue 19): a publisher
# namespace and three receiver namespaces, each joined by a veth pair to a bridge in a hub
# namespace (so nothing touches the host's network). Receiver 2 is slow (it sleeps 20 ms after
# every poll of at most 64 messages), receiver 3 is lossy (nftables drops 5 % of the data on
# its way in). Every process has its own embedded driver; every receiver checks every
# message (order, content).
#
#   fc=min     all three get every message; the fast receiver finishes with the slow one
#   fc=max     the fast two get everything, much sooner; the slow one's image ends, with
#              what it got in order
#   fc=tagged,g:7/2 (receivers 1 and 3 tagged 7): the tagged two get everything without
#              waiting for the slow, untagged one
#   MDC        dynamic multi-destination-cast over the same bridge, fc=min: all three
#   tshark     the multicast and MDC traffic captured at a receiver decodes with Wireshark's
#              Aeron dissector, no frame malformed
#
#   netns-group.sh UDP_PEER      (root; skips with 77 otherwise, or without ip or nft)
#   NS_STAT=path/to/ns-stat      also prints the drivers' UDP counters after each case
set -u
peer=$1
if [ "$(id -u)" != 0 ]; then
	echo "netns-group: not root: skipped"
	exit 77
fi
for t in ip nft; do
	command -v $t >/dev/null || { echo "netns-group: $t missing: skipped"; exit 77; }
done
hub=nsH$$ p=nsP$$ r1=nsR1$$ r2=nsR2$$ r3=nsR3$$
work=$(mktemp -d /tmp/ns-netns-group-XXXXXX)
pids=""
cleanup() {
	[ -n "$pids" ] && kill -KILL $pids 2>/dev/null
	for n in $hub $p $r1 $r2 $r3; do ip netns del $n 2>/dev/null; done
	rm -rf "$work"
}
trap cleanup EXIT
passed=0 failed=0
check() { # NAME OK DETAIL
	if [ "$2" = 1 ]; then passed=$((passed + 1)); echo "ok $1: $3"
	else failed=$((failed + 1)); echo "FAILED $1: $3"; fi
}

ip netns add $hub || { echo "netns-group: cannot make namespaces: skipped"; exit 77; }
ip -n $hub link add br0 type bridge mcast_snooping 0 && ip -n $hub link set br0 up ||
	{ echo "netns-group: no bridge: skipped"; exit 77; }
i=1
for n in $p $r1 $r2 $r3; do
	ip netns add $n &&
		ip link add v$i$$ type veth peer name h$i$$ &&
		ip link set v$i$$ netns $n && ip link set h$i$$ netns $hub &&
		ip -n $hub link set h$i$$ master br0 && ip -n $hub link set h$i$$ up &&
		ip -n $n addr add 10.79.0.$i/24 dev v$i$$ && ip -n $n link set v$i$$ up &&
		ip -n $n link set lo up &&
		ip -n $n route add 224.0.0.0/4 dev v$i$$ ||
		{ echo "netns-group: cannot set up namespace $n: skipped"; exit 77; }
	i=$((i + 1))
done
port=40279 control=40280
# Receiver 3 loses 5 % of the data on its way in.
ip netns exec $r3 nft -f - <<EOF || { echo "FAILED: nftables rule"; exit 1; }
table inet nsloss {
	chain input {
		type filter hook input priority 0;
		udp dport $port numgen random mod 100 < 5 counter drop
	}
}
EOF

# run NAME PUB_CHANNEL SUB_CHANNEL_1 SUB_CHANNEL_2 SUB_CHANNEL_3 COUNT LEN: the three
# receivers (the second slow), then the publisher; each receiver's end time in $work/NAME.tN.
run() {
	local name=$1 pch=$2 count=$6 len=$7
	local subs=("$3" "$4" "$5") ns=($r1 $r2 $r3) spids=()
	pids=""
	for k in 0 1 2; do
		local slow=0
		[ $k = 1 ] && slow=20
		(
			trap - EXIT # the subshell must not tear the namespaces down
			NANOSTREAM_DIR=$work/$name.d$k UDP_PEER_SLOW_MS=$slow ip netns exec ${ns[$k]} \
				timeout 90 "$peer" sub "${subs[$k]}" 9 "$count" >"$work/$name.s$k" 2>&1
			echo $? >"$work/$name.rc$k"
			date +%s.%N >"$work/$name.t$k"
		) &
		spids+=($!)
		pids="$pids $!"
	done
	for k in 0 1 2; do
		for _ in $(seq 100); do grep -q subscribed "$work/$name.s$k" && break; sleep 0.05; done
	done
	date +%s.%N >"$work/$name.t0start"
	NANOSTREAM_DIR=$work/$name.dp ip netns exec $p timeout 90 "$peer" stream "$pch" 9 "$count" \
		"$len" >"$work/$name.pub" 2>&1 &
	local pub=$!
	pids="$pids $pub"
	for sp in "${spids[@]}"; do wait "$sp"; done
	if [ -n "${NS_STAT:-}" ]; then
		for d in dp d0 d1 d2; do
			echo "== $name $d"
			"$NS_STAT" -d "$work/$name.$d" | grep -E "udp (naks|retrans|flow|images)|snd-lim" | grep -v " 0  udp"
			"$NS_STAT" -e -d "$work/$name.$d" | grep -v "no errors" | cut -c1-200
		done
	fi
	kill -TERM $pub 2>/dev/null
	wait $pub 2>/dev/null
	pids=""
}
took() { # NAME K: seconds from the start to receiver K's end
	awk -v a="$(cat "$work/$1.t0start")" -v b="$(cat "$work/$1.t$2")" 'BEGIN { printf "%.2f", b - a }'
}
rc() { cat "$work/$1.rc$2" 2>/dev/null || echo 9; }
said() { tail -1 "$work/$1.s$2"; }

g=239.255.77.1:$port
mc() { # OWN_ADDRESS_LAST_BYTE EXTRA
	echo "ns:udp?endpoint=$g|interface=10.79.0.$1${2:-}"
}
count=20000

# Captured at receiver 1 while the min stream and the MDC stream run (tshark below).
cap=0
command -v tcpdump >/dev/null && command -v tshark >/dev/null && cap=1
capture=""
cap_start() { # FILE
	[ $cap = 1 ] || return 0
	ip netns exec $r1 timeout 60 tcpdump -i v2$$ -s 0 -w "$work/$1" udp 2>/dev/null &
	capture=$!
	sleep 0.5
}
cap_stop() {
	[ -n "$capture" ] || return 0
	sleep 0.3
	kill -INT $capture 2>/dev/null
	wait $capture 2>/dev/null
	capture=""
}

cap_start min.pcap
run min "$(mc 1 "|fc=min,g:/3")" "$(mc 2)" "$(mc 3)" "$(mc 4)" $count 1024
cap_stop
ok=$(($(rc min 0) == 0 && $(rc min 1) == 0 && $(rc min 2) == 0))
check "min-all-three-everything" $ok "fast: $(said min 0); slow: $(said min 1); lossy: $(said min 2)"
# The publisher waits for the slow one: the fast one ends within 20 % of the slow one's time.
fast=$(took min 0) slow=$(took min 1)
ok=$(awk -v f="$fast" -v s="$slow" 'BEGIN { print (f >= 0.8 * s) ? 1 : 0 }')
check "min-runs-at-the-slowest-pace" $ok "fast receiver done after ${fast} s, slow after ${slow} s"

# 16 MiB terms (Aeron's default for UDP): the lossy receiver's NAKs (up to 10 ms late) still
# find their data; 60 MiB, so the slow one falls behind what the publisher holds.
run max "$(mc 1 "|fc=max,g:/3|term-length=16m")" "$(mc 2)" "$(mc 3)" "$(mc 4)" 60000 1024
ok=$(($(rc max 0) == 0 && $(rc max 2) == 0))
check "max-the-fast-two-everything" $ok "fast: $(said max 0); lossy: $(said max 2)"
# Never held back: the fast receiver's rate at least twice the pace min kept to.
fast=$(took max 0) slow=$(took min 1)
ok=$(awk -v f="$fast" -v s="$slow" -v c=$count 'BEGIN { print (60000 / f >= 2 * c / s) ? 1 : 0 }')
check "max-never-waits" $ok \
	"the fast receiver had 60000 messages after ${fast} s; under min, $count took ${slow} s"
ok=0
said max 1 | grep -q "image ended" && said max 1 | grep -q ", 0 out of order" && ok=1
check "max-slow-image-ends-clearly" $ok "slow: $(said max 1)"

run tagged "$(mc 1 "|fc=tagged,g:7/2")" "$(mc 2 "|gtag=7")" "$(mc 3)" "$(mc 4 "|gtag=7")" \
	$count 1024
ok=$(($(rc tagged 0) == 0 && $(rc tagged 2) == 0))
fast=$(took tagged 0)
ok2=$(awk -v f="$fast" -v s="$(took min 1)" 'BEGIN { print (f < 0.5 * s) ? 1 : 0 }')
check "tagged-follows-its-group" $((ok && ok2)) \
	"tagged: $(said tagged 0) / $(said tagged 2) after ${fast} s; untagged slow: $(said tagged 1)"

mdc() { # RECEIVER_LAST_BYTE
	echo "ns:udp?endpoint=10.79.0.$1:$port|control=10.79.0.1:$control"
}
cap_start mdc.pcap
run mdc "ns:udp?control=10.79.0.1:$control|control-mode=dynamic|fc=min,g:/3" \
	"$(mdc 2)" "$(mdc 3)" "$(mdc 4)" $count 1024
cap_stop
ok=$(($(rc mdc 0) == 0 && $(rc mdc 1) == 0 && $(rc mdc 2) == 0))
check "mdc-dynamic-all-three-everything" $ok "$(said mdc 0); $(said mdc 1); $(said mdc 2)"

if [ $cap = 1 ]; then
	d="-d udp.port==$port,aeron -d udp.port==$control,aeron"
	for f in min mdc; do
		frames=$(tshark -r "$work/$f.pcap" $d -Y aeron 2>/dev/null | wc -l)
		bad=$(tshark -r "$work/$f.pcap" $d -Y "_ws.malformed || _ws.expert.severity >= error" \
			2>/dev/null | wc -l)
		types=""
		for k in data sm nak setup; do
			types="$types $k $(tshark -r "$work/$f.pcap" $d -Y "aeron.$k" 2>/dev/null | wc -l)"
		done
		check "tshark-decodes-$f-traffic" $((frames > 1000 && bad == 0)) \
			"$frames datagrams decoded as Aeron at receiver 1 (datagrams with:$types), $bad malformed"
	done
else
	echo "netns-group: tcpdump or tshark missing: the capture checks are skipped"
fi
dropped=$(ip netns exec $r3 nft list table inet nsloss | grep -o 'packets [0-9]*' | head -1)
echo "# nftables dropped ${dropped#packets } data datagrams at receiver 3 in all"
echo "$passed passed, $failed failed"
[ $failed = 0 ]

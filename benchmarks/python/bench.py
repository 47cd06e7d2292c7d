#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""32-byte messages between two Python processes: nanostream (IPC), pyzmq (ipc://, PUSH/PULL
and PAIR) and multiprocessing (Queue, Pipe), in the same run.

  PYTHONPATH=build/src/python python3 benchmarks/python/bench.py [--rounds 5]
      [--messages 1000000] [--round-trips 20000] [--json FILE]

For each system, each round: a sender process offers --messages messages as fast as it can
and the receiver takes each one as bytes (rate: messages over the time from the first send to
the last receive, on CLOCK_MONOTONIC, which both processes share); then --round-trips ping-
pongs of one message each way (round trip p50 and p99). Rounds alternate the systems' order
(the two vCPUs of a VM flip between placements); the table gives medians over rounds and
nanostream's ratios against pyzmq, the targets being >= 5 x its rate and <= 0.5 x its round
trip. pyzmq is Debian's python3-zmq; a system whose module is missing is left out.
"""
import argparse
import json
import multiprocessing as mp
import os
import shutil
import statistics
import sys
import tempfile
import time

MSG = bytes(range(32))
now = time.perf_counter_ns  # CLOCK_MONOTONIC on Linux: one clock for both processes


# ---- receivers / echoers (child processes) ----

def ns_child(where, mode, n, ready, result):
    import nanostream
    with nanostream.Client(where, embedded=False) as c:
        if mode == "rate":
            sub = c.add_subscription("ns:ipc", 1001)
            ready.set()
            receive = sub.receive
            for _ in range(n):
                receive()
            result.put(now())
        else:
            sub = c.add_subscription("ns:ipc", 1002)
            pub = c.add_publication("ns:ipc", 1003, exclusive=True)
            ready.set()
            receive, offer = sub.receive, pub.offer
            for _ in range(n):
                m = receive()
                while offer(m) < 0:
                    pass
            result.put(0)


def serve(mode, n, recv, send, result):
    """A peer's receiving side: take n messages (then the time), or echo n of them."""
    if mode == "rate":
        for _ in range(n):
            recv()
        result.put(now())
    else:
        for _ in range(n):
            send(recv())
        result.put(0)


def zmq_child(where, mode, n, ready, result):
    import zmq
    ctx = zmq.Context()
    s = ctx.socket(zmq.PULL if mode == "rate" else zmq.PAIR)
    s.bind(where)
    ready.set()
    serve(mode, n, s.recv, s.send, result)
    s.close(linger=0)
    ctx.term()


def queue_child(qs, mode, n, ready, result):
    ready.set()
    serve(mode, n, qs[0].get, qs[1].put, result)


def pipe_child(conn, mode, n, ready, result):
    ready.set()
    serve(mode, n, conn.recv_bytes, conn.send_bytes, result)


# ---- senders (this process) ----

def drive(mode, n, send, recv):
    """A peer's sending side: n messages as fast as it takes them (the start time), or n
    ping-pongs (their round trips, ns)."""
    if mode == "rate":
        t0 = now()
        for _ in range(n):
            send(MSG)
        return t0
    rtts = []
    for _ in range(n):
        t = now()
        send(MSG)
        recv()
        rtts.append(now() - t)
    return rtts


def run_nanostream(mode, n):
    import nanostream
    where = tempfile.mkdtemp(prefix="nsb-py-")
    try:
        with nanostream.Client(where) as c:  # the embedded driver lives here
            return pair(ns_child, where, mode, n, lambda: ns_sender(c, mode, n))
    finally:
        shutil.rmtree(where, ignore_errors=True)


def ns_sender(c, mode, n):
    if mode == "rate":
        pub = c.add_publication("ns:ipc", 1001, exclusive=True)
        pub.wait_connected(30)
        offer = pub.offer
        t0 = now()
        for _ in range(n):
            while offer(MSG) < 0:
                pass
        return t0
    pub = c.add_publication("ns:ipc", 1002, exclusive=True)
    sub = c.add_subscription("ns:ipc", 1003)
    pub.wait_connected(30)
    sub.wait_connected(30)
    offer, receive = pub.offer, sub.receive
    rtts = []
    for _ in range(n):
        t = now()
        while offer(MSG) < 0:
            pass
        receive()
        rtts.append(now() - t)
    return rtts


def run_zmq(mode, n):
    import zmq
    where = "ipc://" + tempfile.mktemp(prefix="nsb-zmq-")

    def send():
        ctx = zmq.Context()
        s = ctx.socket(zmq.PUSH if mode == "rate" else zmq.PAIR)
        s.connect(where)
        try:
            return drive(mode, n, s.send, s.recv)
        finally:
            s.close(linger=-1)  # until everything queued was delivered
            ctx.term()

    try:
        return pair(zmq_child, where, mode, n, send)
    finally:
        try:
            os.unlink(where[len("ipc://"):])
        except OSError:
            pass


def run_queue(mode, n):
    ctx = mp.get_context("spawn")
    qs = (ctx.Queue(), ctx.Queue())
    return pair(queue_child, qs, mode, n, lambda: drive(mode, n, qs[0].put, qs[1].get))


def run_pipe(mode, n):
    ctx = mp.get_context("spawn")
    a, b = ctx.Pipe()
    return pair(pipe_child, b, mode, n, lambda: drive(mode, n, a.send_bytes, a.recv_bytes))


def pair(child, arg, mode, n, send):
    """Start the child, run the sender here; rate in messages/s or the round trips in ns."""
    ctx = mp.get_context("spawn")
    ready, result = ctx.Event(), ctx.Queue()
    p = ctx.Process(target=child, args=(arg, mode, n, ready, result), daemon=True)
    p.start()
    if not ready.wait(60):
        p.kill()
        raise RuntimeError(f"{child.__name__}: not ready in 60 s")
    out = send()
    deadline = time.monotonic() + 600
    while True:
        try:
            end = result.get(timeout=1)
            break
        except Exception:  # queue.Empty: the child is still at it, or gone
            if not p.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(f"{child.__name__} ({mode}): no result; exit code "
                                   f"{p.exitcode}")
    p.join(60)
    if mode == "rate":
        return n / ((end - out) / 1e9)
    return out


SYSTEMS = {
    "nanostream": run_nanostream,
    "pyzmq": run_zmq,
    "mp.Queue": run_queue,
    "mp.Pipe": run_pipe,
}


def available():
    out = ["nanostream"]
    try:
        import zmq  # noqa: F401
        out.append("pyzmq")
    except ImportError:
        print("# pyzmq not installed (python3-zmq): left out")
    return out + ["mp.Queue", "mp.Pipe"]


def pct(xs, q):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(q * len(xs)))]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--messages", type=int, default=1_000_000)
    ap.add_argument("--round-trips", type=int, default=20_000)
    ap.add_argument("--json")
    args = ap.parse_args()
    systems = available()
    rates = {s: [] for s in systems}
    p50 = {s: [] for s in systems}
    p99 = {s: [] for s in systems}
    for r in range(args.rounds):
        order = systems[r % len(systems):] + systems[:r % len(systems)]
        for s in order:
            # Queue and Pipe are slow: a tenth of the messages keeps a round short.
            n = args.messages if s in ("nanostream", "pyzmq") else args.messages // 10
            rate = SYSTEMS[s]("rate", n)
            rtts = SYSTEMS[s]("rtt", args.round_trips)[args.round_trips // 10:]  # warm-up out
            rates[s].append(rate)
            p50[s].append(pct(rtts, 0.5))
            p99[s].append(pct(rtts, 0.99))
            print(f"# round {r + 1} {s:11} {rate / 1e6:8.3f} M msg/s  round trip p50 "
                  f"{pct(rtts, 0.5) / 1e3:7.2f} us  p99 {pct(rtts, 0.99) / 1e3:7.2f} us",
                  flush=True)
    med = {s: (statistics.median(rates[s]), statistics.median(p50[s]),
               statistics.median(p99[s])) for s in systems}
    print(f"\n32-byte messages between two Python processes, medians of {args.rounds} rounds")
    print(f"{'system':12} {'M msg/s':>9} {'rtt p50 us':>11} {'rtt p99 us':>11}")
    for s in systems:
        print(f"{s:12} {med[s][0] / 1e6:9.3f} {med[s][1] / 1e3:11.2f} {med[s][2] / 1e3:11.2f}")
    out = {"rounds": args.rounds, "medians": med,
           "runs": {s: {"rate": rates[s], "p50": p50[s], "p99": p99[s]} for s in systems}}
    if "pyzmq" in med:
        # Ratios per round, then their median (each round's systems ran close in time).
        rr = statistics.median(a / b for a, b in zip(rates["nanostream"], rates["pyzmq"]))
        r50 = statistics.median(a / b for a, b in zip(p50["nanostream"], p50["pyzmq"]))
        r99 = statistics.median(a / b for a, b in zip(p99["nanostream"], p99["pyzmq"]))
        print(f"\nnanostream / pyzmq (median of per-round ratios): rate {rr:.2f} x "
              f"(target >= 5: {'met' if rr >= 5 else 'MISSED'}), round trip p50 {r50:.4f} x "
              f"(target <= 0.5: {'met' if r50 <= 0.5 else 'MISSED'}), p99 {r99:.4f} x")
        out["ratios"] = {"rate": rr, "rtt_p50": r50, "rtt_p99": r99}
    if args.json:
        with open(args.json, "w") as f:
            json.dump(out, f, indent=1)


if __name__ == "__main__":
    main()

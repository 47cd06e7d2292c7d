// SPDX-License-Identifier: MIT
// The C++ wrapper (nanostream/nanostream.hpp) on two of ours.c's workloads, written as a C++
// user writes them: ring.p1c1.b1.cxx (a typed_ring<uint64_t>, the producer's publish() with a
// lambda, a consumer whose handler is a lambda) and ring.pingpong.rtt.cxx (two typed rings,
// echo and timer lambdas). Same ring options, events, checks and pinning as the C workloads,
// so their ratios (main.c) say what the wrapper costs.
#include <atomic>
#include <cstdint>
#include <ctime>

#include <nanostream/nanostream.hpp>

extern "C" {
#include "hist.h"
#include "nsb.h"
}

namespace
{

constexpr uint64_t capacity = uint64_t(1) << 16;
constexpr uint64_t clock_every = 4096;

ns_ring_opts
opts(const nsb_workload *w, uint64_t cap)
{
	ns_ring_opts o = ns::ring_options();
	o.capacity = cap;
	o.producer = NS_PRODUCER_SINGLE;
	o.wait = w->p.wait;
	o.max_consumers = 8;
	return o;
}

int
run_p1c1(const nsb_workload *w, const nsb_env *env, nsb_run *run)
{
	try {
		ns::typed_ring<uint64_t> ring(opts(w, capacity));
		struct alignas(NSB_LINE) {
			uint64_t next = 0, count = 0, bad = 0;
		} ck;
		ns::consumer c(ring, [&ck](uint64_t &v) {
			if (v != ck.next)
				ck.bad++;
			else
				ck.next++;
			ck.count++;
		});
		c.start(env->cpus[1 % env->ncpus], "nsb-consumer");
		nsb_pin(env, 0);
		int64_t t0 = nsb_now(), end = t0 + int64_t(env->seconds * 1e9);
		uint64_t n = 0;
		for (;;) {
			if (ring.publish([n](uint64_t &e) { e = n; }) < 0)
				break;
			n++;
			if ((n & (clock_every - 1)) == 0 && nsb_now() > end)
				break;
		}
		uint64_t left = 0;
		int rc = ring.drain(ns::clock::now() + std::chrono::seconds(60), &left);
		int64_t elapsed = nsb_now() - t0;
		c.join();
		if (rc != 0)
			nsb_fail(run, "drain: %s (%llu left)", ns_strerror(rc),
				 (unsigned long long)left);
		if (ck.count != n || ck.bad != 0)
			nsb_fail(run, "consumer: %llu of %llu events, %llu out of order",
				 (unsigned long long)ck.count, (unsigned long long)n,
				 (unsigned long long)ck.bad);
		run->value = double(n) / (double(elapsed) / 1e9);
		return 0;
	} catch (const ns::error &e) {
		nsb_fail(run, "%s", e.what());
		return -1;
	}
}

struct ping {
	int64_t sent_ns;
	uint64_t n;
};

int
run_pingpong(const nsb_workload *w, const nsb_env *env, nsb_run *run)
{
	try {
		ns::typed_ring<ping> ping_ring(opts(w, 1024)), pong_ring(opts(w, 1024));
		struct alignas(NSB_LINE) {
			int64_t end = 0;
			uint64_t next = 0, bad = 0;
			alignas(NSB_LINE) std::atomic<int> done{ 0 };
		} pp;
		nsb_hist *hist = run->hist;
		auto send = [](ns::typed_ring<ping> &r, uint64_t n) {
			r.publish([n](ping &e) {
				e.n = n;
				e.sent_ns = nsb_now();
			});
		};
		ns::consumer echo(ping_ring, [&pong_ring](ping &in) {
			pong_ring.publish([&in](ping &out) { out = in; });
		});
		ns::consumer timer(pong_ring, [&](ping &in) {
			int64_t now = nsb_now();
			nsb_hist_record(hist, uint64_t(now - in.sent_ns));
			pp.bad += in.n != pp.next;
			pp.next = in.n + 1;
			if (now < pp.end)
				send(ping_ring, in.n + 1);
			else
				pp.done.store(1, std::memory_order_release);
		});
		echo.start(env->cpus[1 % env->ncpus], "nsb-echo");
		timer.start(env->cpus[0], "nsb-timer");
		pp.end = nsb_now() + int64_t(env->seconds * 1e9);
		send(ping_ring, 0);
		timespec nap = { 0, 1000000 };
		while (!pp.done.load(std::memory_order_acquire))
			nanosleep(&nap, nullptr);
		ping_ring.halt();
		pong_ring.halt();
		echo.join();
		timer.join();
		if (pp.bad != 0 || hist->total == 0)
			nsb_fail(run, "ping-pong: %llu out of order", (unsigned long long)pp.bad);
		return 0;
	} catch (const ns::error &e) {
		nsb_fail(run, "%s", e.what());
		return -1;
	}
}

} // namespace

extern "C" const nsb_workload nsb_cxx_workloads[] = {
	{ "ring.p1c1.b1",
	  ".cxx",
	  NSB_RATE,
	  2,
	  run_p1c1,
	  { NS_WAIT_BUSY_SPIN, 1, 8, 1, 0, nullptr, 0, 0 },
	  "ring.p1c1.b1 through the C++ wrapper (typed_ring<uint64_t>, lambdas)" },
	{ "ring.pingpong.rtt",
	  ".cxx",
	  NSB_LATENCY,
	  2,
	  run_pingpong,
	  { NS_WAIT_BUSY_SPIN, 1, 16, 1, 0, nullptr, 0, 0 },
	  "ring.pingpong.rtt through the C++ wrapper (typed rings, echo and timer lambdas)" },
	{ nullptr, nullptr, NSB_RATE, 0, nullptr, {}, nullptr },
};

/* SPDX-License-Identifier: MIT */
/*
 * Lost wake-ups (docs/testing.md R3): single-event hand-offs in ping-pong between the main
 * thread and a consumer thread through two rings, with each strategy that sleeps. A lost
 * wake-up hangs a hand-off (the meson timeout catches it) or, with a timed sleep, stalls it;
 * every hand-off is timed and none may take over 100 ms. The sleeping kinds run with
 * NS_RING_F_NO_SPIN, so every wait that finds nothing sleeps; the *_spin_then_sleep cells run
 * them as shipped (5 us of spinning first), which a ping-pong mostly ends while spinning: they
 * check the hand-over from spinning to sleeping.
 *
 * Hand-offs per strategy: NS_WAKEUP_HANDOFFS (default 1,000,000; 300,000 under sanitizers),
 * times NS_STRESS_SCALE.
 */
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <cmocka.h>

#include <nanostream/nanostream.h>

#include "ring/ring.h"
#include "testutil.h"

#if defined(__SANITIZE_THREAD__) || defined(__SANITIZE_ADDRESS__)
#define SANITIZED 1
#else
#define SANITIZED 0
#endif

#define STALL_NS INT64_C(100000000)

struct pong {
	ns_ring *back;
	int64_t handled;
	int64_t stop_at;
	ns_consumer *self;
};

/* The consumer thread answers each ping with a pong carrying the same value. */
static int
answer(void *ctx, void *slot, int64_t seq, bool end)
{
	struct pong *p = ctx;
	(void)end;
	int64_t out = ns_ring_claim(p->back);
	if (out < 0)
		return (int)out;
	*(uint64_t *)ns_ring_slot(p->back, out) = *(uint64_t *)slot;
	ns_ring_publish(p->back, out);
	if (seq == p->stop_at)
		ns_consumer_halt(p->self);
	return 0;
}

static ns_ring *
make_ring(uint32_t wait, uint32_t flags)
{
	struct ns_ring_opts o = NS_RING_OPTS_INIT;
	ns_ring *r = NULL;

	o.flags = flags;
	o.capacity = 64;
	o.slot_size = 8;
	o.wait = wait;
	o.phase_spin_ns = 1000;
	o.phase_yield_ns = 1000;
	assert_int_equal(ns_ring_create(&r, &o), 0);
	return r;
}

static void
ping_pong(uint32_t wait, uint32_t flags)
{
	const char *env = getenv("NS_WAKEUP_HANDOFFS");
	int64_t n = (int64_t)tu_scaled(env != NULL ? strtoull(env, NULL, 10)
						   : (SANITIZED ? 300000 : 1000000));
	ns_ring *ping = make_ring(wait, flags);
	ns_ring *pong = make_ring(wait, flags);
	struct ns_consumer_opts co = NS_CONSUMER_OPTS_INIT;
	struct pong p = { .back = pong, .stop_at = n - 1 };
	int64_t slowest = 0, stalls = 0, start;
	uint32_t gate;

	co.on_event = answer;
	co.ctx = &p;
	assert_int_equal(ns_consumer_create(&p.self, ping, &co), 0);
	assert_int_equal(nsi_gate_register(pong, &gate, &start, NSI_GATE_AT_CURSOR, NULL), 0);
	assert_int_equal(ns_consumer_start(p.self, -1, "ns-pong"), 0);

	int64_t t_all = ns_clock_ns();
	for (int64_t i = 0; i < n; i++) {
		int64_t t0 = ns_clock_ns();
		int64_t seq = ns_ring_claim(ping);
		assert_int_equal(seq, i);
		*(uint64_t *)ns_ring_slot(ping, seq) = (uint64_t)i * 3;
		ns_ring_publish(ping, seq);
		/* Sleeps through the strategy until the answer arrives. */
		int64_t got = nsi_ring_wait_for(pong, i, NULL, false);
		assert_int_equal(got, i);
		assert_int_equal(*(uint64_t *)ns_ring_slot(pong, i), (uint64_t)i * 3);
		nsi_gate_release(pong, gate, i);
		int64_t took = ns_clock_ns() - t0;
		if (took > slowest)
			slowest = took;
		if (took > STALL_NS)
			stalls++;
	}
	double secs = (double)(ns_clock_ns() - t_all) / 1e9;
	assert_int_equal(ns_consumer_join(p.self), 0);
	printf("# wait %u%s: %lld hand-offs in %.2f s (%.2f us each), slowest %.3f ms, over 100 "
	       "ms: "
	       "%lld\n",
	       wait, flags & NS_RING_F_NO_SPIN ? " (no spin)" : "", (long long)n, secs,
	       secs * 1e6 / (double)n, (double)slowest / 1e6, (long long)stalls);
	assert_int_equal(stalls, 0);
	ns_consumer_destroy(p.self);
	ns_ring_destroy(ping);
	ns_ring_destroy(pong);
}

static void
blocking_never_loses_a_wakeup(void **state)
{
	(void)state;
	ping_pong(NS_WAIT_BLOCKING, NS_RING_F_NO_SPIN);
}

static void
lite_blocking_never_loses_a_wakeup(void **state)
{
	(void)state;
	ping_pong(NS_WAIT_LITE_BLOCKING, NS_RING_F_NO_SPIN);
}

static void
timeout_blocking_never_loses_a_wakeup(void **state)
{
	(void)state;
	ping_pong(NS_WAIT_TIMEOUT_BLOCKING, NS_RING_F_NO_SPIN);
}

static void
phased_never_loses_a_wakeup(void **state)
{
	(void)state;
	ping_pong(NS_WAIT_PHASED, 0);
}

static void
blocking_spin_then_sleep(void **state)
{
	(void)state;
	ping_pong(NS_WAIT_BLOCKING, 0);
}

static void
lite_blocking_spin_then_sleep(void **state)
{
	(void)state;
	ping_pong(NS_WAIT_LITE_BLOCKING, 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(blocking_never_loses_a_wakeup),
		cmocka_unit_test(lite_blocking_never_loses_a_wakeup),
		cmocka_unit_test(timeout_blocking_never_loses_a_wakeup),
		cmocka_unit_test(phased_never_loses_a_wakeup),
		cmocka_unit_test(blocking_spin_then_sleep),
		cmocka_unit_test(lite_blocking_spin_then_sleep),
	};
	return cmocka_run_group_tests_name("lost-wakeup", tests, NULL, NULL);
}

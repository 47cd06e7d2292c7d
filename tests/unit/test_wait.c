/* SPDX-License-Identifier: MIT */
/*
 * Every wait strategy: deadlines, the timeout strategy's own timeout, wake-ups on publish and
 * on consumer progress, and halt waking sleepers. Threads synchronise through published state
 * (the signal's waiter count, flags), never through sleeps.
 */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <cmocka.h>

#include <nanostream/ring.h>
#include <nanostream/consumer.h>

#include "ring/ring.h"

#define KINDS 7
static const char *const kind_names[KINDS] = { "busy-spin", "yield",	     "sleep",
					       "blocking",  "lite-blocking", "timeout-blocking",
					       "phased" };

/* Generous upper bound that only catches hangs; accuracy is reported, not asserted. */
#define HANG_BOUND_NS INT64_C(2000000000)

static ns_ring *
make_ring(uint32_t kind, uint32_t producer, uint64_t timeout_ns)
{
	struct ns_ring_opts o = NS_RING_OPTS_INIT;
	ns_ring *r = NULL;

	o.capacity = 4;
	o.slot_size = 8;
	o.producer = producer;
	o.wait = kind;
	o.timeout_ns = timeout_ns;
	o.sleep_ns = 50000;
	o.phase_spin_ns = 1000;
	o.phase_yield_ns = 10000;
	assert_int_equal(ns_ring_create(&r, &o), 0);
	return r;
}

/* Wait (yielding) until a thread sleeps on @sig; only meaningful for sleeping kinds. */
static void
await_sleeper(uint32_t kind, const struct nsi_signal *sig)
{
	if (!nsi_wait_kind_blocks(kind))
		return;
	while (nsi_signal_waiters(sig) == 0)
		sched_yield();
}

static void
claim_until_times_out_after_deadline(void **state)
{
	(void)state;
	for (uint32_t kind = 0; kind < KINDS; kind++) {
		for (uint32_t mode = 0; mode < 2; mode++) {
			ns_ring *r = make_ring(kind, mode, 0);
			uint32_t g;
			int64_t start;

			assert_int_equal(nsi_gate_register(r, &g, &start, NSI_GATE_AT_CURSOR, NULL),
					 0);
			assert_int_equal(ns_ring_claim_n(r, 4), 0);
			int64_t t0 = ns_clock_ns();
			int64_t deadline = t0 + 20000000;
			assert_int_equal(ns_ring_claim_until(r, 1, deadline), -ETIMEDOUT);
			int64_t t1 = ns_clock_ns();
			assert_true(t1 >= deadline);
			assert_true(t1 - t0 < HANG_BOUND_NS);
			printf("# %s/%s: deadline overshoot %.3f ms\n", kind_names[kind],
			       mode ? "multi" : "single", (double)(t1 - deadline) / 1e6);
			ns_ring_destroy(r);
		}
	}
}

static void
timeout_strategy_consumer_wait_times_out(void **state)
{
	(void)state;
	for (uint32_t mode = 0; mode < 2; mode++) {
		ns_ring *r = make_ring(NS_WAIT_TIMEOUT_BLOCKING, mode, 5000000);
		for (int trial = 0; trial < 10; trial++) {
			int64_t t0 = ns_clock_ns();
			assert_int_equal(nsi_ring_wait_for(r, 0, NULL, true), -ETIMEDOUT);
			int64_t t1 = ns_clock_ns();
			assert_true(t1 - t0 >= 5000000);
			assert_true(t1 - t0 < HANG_BOUND_NS);
		}
		/* Without the strategy timeout the same wait only ends on an event or halt. */
		ns_ring_destroy(r);
	}
}

struct waiter {
	ns_ring *ring;
	ns_consumer *consumer;
	int64_t seq;
	int64_t result;
	uint32_t started;
};

static void *
claimer(void *arg)
{
	struct waiter *w = arg;

	__atomic_store_n(&w->started, 1, __ATOMIC_RELEASE);
	w->result = ns_ring_claim(w->ring);
	return NULL;
}

static void *
reader(void *arg)
{
	struct waiter *w = arg;

	__atomic_store_n(&w->started, 1, __ATOMIC_RELEASE);
	w->result = nsi_ring_wait_for(w->ring, w->seq, NULL, false);
	return NULL;
}

static void *
runner(void *arg)
{
	struct waiter *w = arg;

	__atomic_store_n(&w->started, 1, __ATOMIC_RELEASE);
	w->result = ns_consumer_run(w->consumer);
	return NULL;
}

/* Start @fn on a thread; return once it has started and, for sleeping kinds, sleeps on @sig. */
static void
start_waiter(pthread_t *th, void *(*fn)(void *), struct waiter *w, uint32_t kind,
	     const struct nsi_signal *sig)
{
	assert_int_equal(pthread_create(th, NULL, fn, w), 0);
	while (__atomic_load_n(&w->started, __ATOMIC_ACQUIRE) == 0)
		sched_yield();
	await_sleeper(kind, sig);
}

/*
 * Fill a 4-slot ring that one consumer gate holds back, then start a thread whose claim must
 * wait for room. Returns the gate.
 */
static uint32_t
block_a_claimer(ns_ring *r, uint32_t kind, struct waiter *w, pthread_t *th)
{
	uint32_t g;
	int64_t start;

	assert_int_equal(nsi_gate_register(r, &g, &start, NSI_GATE_AT_CURSOR, NULL), 0);
	assert_int_equal(ns_ring_claim_n(r, 4), 0);
	assert_int_equal(ns_ring_publish_n(r, 0, 4), 0);
	start_waiter(th, claimer, w, kind, &r->progress_sig);
	return g;
}

static void
blocked_producer_wakes_when_consumer_releases(void **state)
{
	(void)state;
	for (uint32_t kind = 0; kind < KINDS; kind++) {
		for (uint32_t mode = 0; mode < 2; mode++) {
			ns_ring *r = make_ring(kind, mode, 0);
			struct waiter w = { .ring = r };
			pthread_t th;

			nsi_gate_release(r, block_a_claimer(r, kind, &w, &th), 0);
			assert_int_equal(pthread_join(th, NULL), 0);
			assert_int_equal(w.result, 4);
			ns_ring_destroy(r);
		}
	}
}

static void
blocked_reader_wakes_on_publish(void **state)
{
	(void)state;
	for (uint32_t kind = 0; kind < KINDS; kind++) {
		for (uint32_t mode = 0; mode < 2; mode++) {
			ns_ring *r = make_ring(kind, mode, 0);
			struct waiter w = { .ring = r, .seq = 0 };
			pthread_t th;

			start_waiter(&th, reader, &w, kind, &r->publish_sig);
			assert_int_equal(ns_ring_claim_n(r, 2), 0);
			assert_int_equal(ns_ring_publish_n(r, 0, 2), 0);
			assert_int_equal(pthread_join(th, NULL), 0);
			assert_in_range(w.result, 0, 1);
			ns_ring_destroy(r);
		}
	}
}

static void
halt_wakes_blocked_producer(void **state)
{
	(void)state;
	for (uint32_t kind = 0; kind < KINDS; kind++) {
		for (uint32_t mode = 0; mode < 2; mode++) {
			ns_ring *r = make_ring(kind, mode, 0);
			struct waiter w = { .ring = r };
			pthread_t th;

			block_a_claimer(r, kind, &w, &th);
			assert_int_equal(ns_ring_halt(r), 0);
			assert_int_equal(pthread_join(th, NULL), 0);
			assert_int_equal(w.result, -ESHUTDOWN);
			ns_ring_destroy(r);
		}
	}
}

static int
count_event(void *ctx, void *slot, int64_t seq, bool end_of_batch)
{
	(void)slot, (void)seq, (void)end_of_batch;
	(*(int *)ctx)++;
	return 0;
}

static void
halt_wakes_blocked_consumer(void **state)
{
	(void)state;
	for (uint32_t kind = 0; kind < KINDS; kind++) {
		for (uint32_t mode = 0; mode < 2; mode++) {
			ns_ring *r = make_ring(kind, mode, 0);
			struct ns_consumer_opts co = NS_CONSUMER_OPTS_INIT;
			struct waiter w = { .ring = r };
			int events = 0;
			pthread_t th;

			co.on_event = count_event;
			co.ctx = &events;
			assert_int_equal(ns_consumer_create(&w.consumer, r, &co), 0);
			start_waiter(&th, runner, &w, kind, &r->publish_sig);
			assert_int_equal(ns_ring_halt(r), 0);
			assert_int_equal(pthread_join(th, NULL), 0);
			assert_int_equal(w.result, -ESHUTDOWN);
			assert_int_equal(events, 0);
			ns_consumer_destroy(w.consumer);
			ns_ring_destroy(r);
		}
	}
}

static void
consumer_halt_wakes_blocked_consumer(void **state)
{
	(void)state;
	for (uint32_t kind = 0; kind < KINDS; kind++) {
		ns_ring *r = make_ring(kind, NS_PRODUCER_SINGLE, 0);
		struct ns_consumer_opts co = NS_CONSUMER_OPTS_INIT;
		struct waiter w = { .ring = r };
		int events = 0;
		pthread_t th;

		co.on_event = count_event;
		co.ctx = &events;
		assert_int_equal(ns_consumer_create(&w.consumer, r, &co), 0);
		start_waiter(&th, runner, &w, kind, &r->publish_sig);
		assert_int_equal(ns_consumer_halt(w.consumer), 0);
		assert_int_equal(pthread_join(th, NULL), 0);
		assert_int_equal(w.result, 0);
		assert_int_equal(ns_ring_is_halted(r), 0);
		ns_consumer_destroy(w.consumer);
		ns_ring_destroy(r);
	}
}

static int64_t probe_calls;

static int64_t
never_there(const void *arg)
{
	(void)arg;
	probe_calls++;
	return -1;
}

/*
 * The sleeping kinds spin before their first sleep unless the ring says NS_RING_F_NO_SPIN:
 * a wait that never ends within its 20 ms deadline probes thousands of times while spinning,
 * and only a few times (once per sleep and wake-up) when it sleeps at once.
 */
static void
sleeping_kinds_spin_first_unless_told(void **state)
{
	(void)state;
	const uint32_t kinds[3] = { NS_WAIT_BLOCKING, NS_WAIT_LITE_BLOCKING,
				    NS_WAIT_TIMEOUT_BLOCKING };
	for (int k = 0; k < 3; k++) {
		for (int no_spin = 0; no_spin < 2; no_spin++) {
			struct ns_ring_opts o = NS_RING_OPTS_INIT;
			ns_ring *r = NULL;
			o.wait = kinds[k];
			o.flags = no_spin ? NS_RING_F_NO_SPIN : 0;
			assert_int_equal(ns_ring_create(&r, &o), 0);
			struct nsi_wait_req req = { .probe = never_there,
						    .target = 0,
						    .halted = &r->halted,
						    .deadline_ns = ns_clock_ns() + 20000000 };
			probe_calls = 0;
			assert_int_equal(nsi_wait(&r->wait, &r->publish_sig, &req), -ETIMEDOUT);
			printf("# %s%s: %lld probes in a 20 ms wait\n", kind_names[kinds[k]],
			       no_spin ? " (no spin)" : "", (long long)probe_calls);
			if (no_spin)
				assert_true(probe_calls < 64);
			else
				assert_true(probe_calls >= 64);
			ns_ring_destroy(r);
		}
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(claim_until_times_out_after_deadline),
		cmocka_unit_test(sleeping_kinds_spin_first_unless_told),
		cmocka_unit_test(timeout_strategy_consumer_wait_times_out),
		cmocka_unit_test(blocked_producer_wakes_when_consumer_releases),
		cmocka_unit_test(blocked_reader_wakes_on_publish),
		cmocka_unit_test(halt_wakes_blocked_producer),
		cmocka_unit_test(halt_wakes_blocked_consumer),
		cmocka_unit_test(consumer_halt_wakes_blocked_consumer),
	};
	return cmocka_run_group_tests_name("wait", tests, NULL, NULL);
}

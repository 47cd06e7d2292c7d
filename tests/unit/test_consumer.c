/* SPDX-License-Identifier: MIT */
/* The minimal batch consumer: order, batches, end_of_batch, errors, halting, skipped slots. */
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <nanostream/ring.h>
#include <nanostream/consumer.h>

#include "core/ring.h"

struct log {
	ns_consumer *self;
	int64_t seqs[64];
	uint64_t values[64];
	bool ends[64];
	int n;
	int stop_after; /* halt itself after this many events */
	int fail_at;	/* return -EPROTO at this event index (-1: never) */
};

static int
on_event(void *ctx, void *slot, int64_t seq, bool end_of_batch)
{
	struct log *l = ctx;

	if (l->n == l->fail_at)
		return -EPROTO;
	l->seqs[l->n] = seq;
	l->values[l->n] = *(uint64_t *)slot;
	l->ends[l->n] = end_of_batch;
	if (++l->n == l->stop_after)
		ns_consumer_halt(l->self);
	return 0;
}

static ns_ring *
make_ring(uint32_t producer)
{
	struct ns_ring_opts o = NS_RING_OPTS_INIT;
	ns_ring *r = NULL;

	o.capacity = 8;
	o.slot_size = 8;
	o.producer = producer;
	assert_int_equal(ns_ring_create(&r, &o), 0);
	return r;
}

static ns_consumer *
make_consumer(ns_ring *r, struct log *l, uint32_t max_batch)
{
	struct ns_consumer_opts co = NS_CONSUMER_OPTS_INIT;
	ns_consumer *c = NULL;

	co.on_event = on_event;
	co.ctx = l;
	co.max_batch = max_batch;
	assert_int_equal(ns_consumer_create(&c, r, &co), 0);
	l->self = c;
	return c;
}

static void
publish_values(ns_ring *r, uint64_t from, int n)
{
	int64_t first = ns_ring_claim_n(r, (uint32_t)n);
	assert_true(first >= 0);
	for (int i = 0; i < n; i++)
		*(uint64_t *)ns_ring_slot(r, first + i) = from + (uint64_t)i;
	assert_int_equal(ns_ring_publish_n(r, first, (uint32_t)n), 0);
}

static void
events_arrive_in_order_with_end_of_batch(void **state)
{
	(void)state;
	for (uint32_t mode = 0; mode < 2; mode++) {
		ns_ring *r = make_ring(mode);
		struct log l = { .stop_after = 6, .fail_at = -1 };
		ns_consumer *c = make_consumer(r, &l, 4);

		assert_int_equal(ns_consumer_sequence(c), -1);
		publish_values(r, 100, 6);
		assert_int_equal(ns_consumer_run(c), 0);
		assert_int_equal(l.n, 6);
		for (int i = 0; i < 6; i++) {
			assert_int_equal(l.seqs[i], i);
			assert_int_equal(l.values[i], 100 + (uint64_t)i);
		}
		/* max_batch 4: batches are 0..3 and 4..5. */
		const bool ends[6] = { false, false, false, true, false, true };
		for (int i = 0; i < 6; i++)
			assert_int_equal(l.ends[i], ends[i]);
		assert_int_equal(ns_consumer_sequence(c), 5);
		/* Everything released: the producer has the whole ring again. */
		assert_int_equal(ns_ring_remaining(r), 8);
		ns_consumer_destroy(c);
		ns_ring_destroy(r);
	}
}

static void
consumer_gates_producer(void **state)
{
	(void)state;
	ns_ring *r = make_ring(NS_PRODUCER_SINGLE);
	struct log l = { .stop_after = 3, .fail_at = -1 };
	ns_consumer *c = make_consumer(r, &l, 0);

	publish_values(r, 0, 8);
	assert_int_equal(ns_ring_try_claim(r), -EAGAIN);
	assert_int_equal(ns_consumer_run(c), 0);
	assert_int_equal(l.n, 8); /* halt takes effect after the batch in progress */
	assert_int_equal(ns_ring_try_claim(r), 8);
	ns_consumer_destroy(c);
	/* Destroyed: no longer gates. */
	assert_int_equal(ns_ring_try_claim_n(r, 8), 9);
	ns_ring_destroy(r);
}

static void
handler_error_stops_and_ungates(void **state)
{
	(void)state;
	for (uint32_t mode = 0; mode < 2; mode++) {
		ns_ring *r = make_ring(mode);
		struct log l = { .stop_after = -1, .fail_at = 2 };
		ns_consumer *c = make_consumer(r, &l, 0);

		publish_values(r, 0, 8);
		assert_int_equal(ns_consumer_run(c), -EPROTO);
		assert_int_equal(l.n, 2);
		assert_int_equal(ns_consumer_sequence(c), 1);
		/* Left the gating set: the producer is never held back by it again. */
		assert_int_equal(ns_ring_try_claim_n(r, 8), 8);
		assert_int_equal(ns_consumer_run(c), -EALREADY);
		ns_consumer_destroy(c);
		ns_ring_destroy(r);
	}
}

static void
halt_before_run_returns_at_once(void **state)
{
	(void)state;
	ns_ring *r = make_ring(NS_PRODUCER_SINGLE);
	struct log l = { .stop_after = -1, .fail_at = -1 };
	ns_consumer *c = make_consumer(r, &l, 0);

	publish_values(r, 0, 2);
	assert_int_equal(ns_consumer_halt(c), 0);
	assert_int_equal(ns_consumer_halt(c), 0);
	assert_int_equal(ns_consumer_run(c), 0);
	assert_int_equal(l.n, 0);
	ns_consumer_destroy(c);
	ns_ring_destroy(r);
}

static void
halted_ring_drains_published_then_stops(void **state)
{
	(void)state;
	ns_ring *r = make_ring(NS_PRODUCER_MULTI);
	struct log l = { .stop_after = -1, .fail_at = -1 };
	ns_consumer *c = make_consumer(r, &l, 0);

	publish_values(r, 0, 5);
	assert_int_equal(ns_ring_halt(r), 0);
	assert_int_equal(ns_consumer_run(c), -ESHUTDOWN);
	assert_int_equal(l.n, 5);
	ns_consumer_destroy(c);
	struct ns_consumer_opts co = NS_CONSUMER_OPTS_INIT;
	co.on_event = on_event;
	assert_int_equal(ns_consumer_create(&c, r, &co), -ESHUTDOWN);
	ns_ring_destroy(r);
}

static void
skipped_slots_are_never_delivered(void **state)
{
	(void)state;
	ns_ring *r = make_ring(NS_PRODUCER_MULTI);
	struct log l = { .stop_after = 3, .fail_at = -1 };
	ns_consumer *c = make_consumer(r, &l, 0);

	int64_t a = ns_ring_claim_n(r, 2); /* 0..1 published */
	int64_t b = ns_ring_claim_n(r, 2); /* 2..3 abandoned */
	int64_t d = ns_ring_claim(r);	   /* 4 published */
	int64_t e = ns_ring_claim(r);	   /* 5 abandoned, last of the batch */
	*(uint64_t *)ns_ring_slot(r, a) = 10;
	*(uint64_t *)ns_ring_slot(r, a + 1) = 11;
	*(uint64_t *)ns_ring_slot(r, d) = 14;
	assert_int_equal(ns_ring_publish_n(r, a, 2), 0);
	assert_int_equal(ns_ring_abandon(r, b, 2), 0);
	assert_int_equal(ns_ring_publish(r, d), 0);
	assert_int_equal(ns_ring_abandon(r, e, 1), 0);
	assert_int_equal(ns_consumer_run(c), 0);
	assert_int_equal(l.n, 3);
	assert_int_equal(l.values[0], 10);
	assert_int_equal(l.values[1], 11);
	assert_int_equal(l.values[2], 14);
	/* The last delivered event closes the batch even though an abandoned slot follows. */
	assert_true(l.ends[2]);
	assert_int_equal(ns_consumer_sequence(c), 5);
	ns_consumer_destroy(c);
	ns_ring_destroy(r);
}

static void
too_many_consumers_is_ebusy(void **state)
{
	(void)state;
	struct ns_ring_opts o = NS_RING_OPTS_INIT;
	struct ns_consumer_opts co = NS_CONSUMER_OPTS_INIT;
	ns_consumer *c[3] = { NULL, NULL, NULL };
	ns_consumer *extra = NULL;
	ns_ring *r = NULL;
	int dummy;

	o.max_consumers = 3;
	assert_int_equal(ns_ring_create(&r, &o), 0);
	co.on_event = on_event;
	co.ctx = &dummy;
	for (int i = 0; i < 3; i++)
		assert_int_equal(ns_consumer_create(&c[i], r, &co), 0);
	assert_int_equal(ns_consumer_create(&extra, r, &co), -EBUSY);
	assert_null(extra);
	ns_consumer_destroy(c[1]);
	assert_int_equal(ns_consumer_create(&extra, r, &co), 0); /* the freed place is reused */
	ns_consumer_destroy(extra);
	ns_consumer_destroy(c[0]);
	ns_consumer_destroy(c[2]);
	ns_ring_destroy(r);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(events_arrive_in_order_with_end_of_batch),
		cmocka_unit_test(consumer_gates_producer),
		cmocka_unit_test(handler_error_stops_and_ungates),
		cmocka_unit_test(halt_before_run_returns_at_once),
		cmocka_unit_test(halted_ring_drains_published_then_stops),
		cmocka_unit_test(skipped_slots_are_never_delivered),
		cmocka_unit_test(too_many_consumers_is_ebusy),
	};
	return cmocka_run_group_tests_name("consumer", tests, NULL, NULL);
}

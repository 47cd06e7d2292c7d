/* SPDX-License-Identifier: MIT */
/* Event translators: one-call publishing with 1, 2, 3 arguments, batches, try forms. */
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <nanostream/ring.h>

#include "ring/ring.h"

struct ev {
	int64_t seq;
	uint64_t a;
	uint64_t b;
	uint64_t c;
};

static int
fill1(void *slot, int64_t seq, void *arg)
{
	struct ev *e = slot;
	e->seq = seq;
	e->a = *(uint64_t *)arg;
	return 0;
}

static int
fill2(void *slot, int64_t seq, void *a0, void *a1)
{
	struct ev *e = slot;
	e->seq = seq;
	e->a = *(uint64_t *)a0;
	e->b = *(uint64_t *)a1;
	return 0;
}

static int
fill3(void *slot, int64_t seq, void *a0, void *a1, void *a2)
{
	struct ev *e = slot;
	e->seq = seq;
	e->a = *(uint64_t *)a0;
	e->b = *(uint64_t *)a1;
	e->c = *(uint64_t *)a2;
	return 0;
}

static int
fail_on_seven(void *slot, int64_t seq, void *arg)
{
	struct ev *e = slot;
	if (*(uint64_t *)arg == 7)
		return -EPROTO;
	e->seq = seq;
	e->a = 0xbad; /* half-written: must never be seen */
	if (*(uint64_t *)arg == 8)
		return 1; /* a positive failure */
	e->a = *(uint64_t *)arg;
	return 0;
}

static int
fail2(void *slot, int64_t seq, void *a0, void *a1)
{
	(void)slot, (void)seq, (void)a0, (void)a1;
	return -EIO;
}

static int
fail3(void *slot, int64_t seq, void *a0, void *a1, void *a2)
{
	(void)slot, (void)seq, (void)a0, (void)a1, (void)a2;
	return -EIO;
}

static ns_ring *
make_ring(uint64_t capacity, uint32_t producer, uint32_t *gate)
{
	struct ns_ring_opts o = NS_RING_OPTS_INIT;
	ns_ring *r = NULL;
	int64_t start;

	o.capacity = capacity;
	o.slot_size = sizeof(struct ev);
	o.producer = producer;
	assert_int_equal(ns_ring_create(&r, &o), 0);
	assert_int_equal(nsi_gate_register(r, gate, &start, NSI_GATE_AT_CURSOR, NULL), 0);
	return r;
}

static const struct ev *
ev_at(ns_ring *r, int64_t seq)
{
	return ns_ring_slot(r, seq);
}

static void
translators_fill_and_publish(void **state)
{
	(void)state;
	for (uint32_t mode = 0; mode < 2; mode++) {
		uint32_t g;
		ns_ring *r = make_ring(16, mode, &g);
		uint64_t x = 11, y = 22, z = 33;

		assert_int_equal(ns_publish(r, fill1, &x), 0);
		assert_int_equal(ns_publish2(r, fill2, &x, &y), 1);
		assert_int_equal(ns_publish3(r, fill3, &x, &y, &z), 2);
		assert_int_equal(ns_publish_try(r, fill1, &y), 3);
		assert_int_equal(ns_publish2_try(r, fill2, &y, &z), 4);
		assert_int_equal(ns_publish3_try(r, fill3, &z, &y, &x), 5);
		for (int64_t s = 0; s < 6; s++) {
			assert_int_equal(ns_ring_is_published(r, s), 1);
			assert_int_equal(ev_at(r, s)->seq, s);
		}
		assert_int_equal(ev_at(r, 0)->a, 11);
		assert_int_equal(ev_at(r, 1)->b, 22);
		assert_int_equal(ev_at(r, 2)->c, 33);
		assert_int_equal(ev_at(r, 3)->a, 22);
		assert_int_equal(ev_at(r, 4)->b, 33);
		assert_int_equal(ev_at(r, 5)->c, 11);
		ns_ring_destroy(r);
	}
}

static void
batch_publishes_all_with_one_claim(void **state)
{
	(void)state;
	for (uint32_t mode = 0; mode < 2; mode++) {
		uint32_t g;
		ns_ring *r = make_ring(8, mode, &g);
		uint64_t vals[6] = { 1, 2, 3, 4, 5, 6 };
		void *args[6];

		for (int i = 0; i < 6; i++)
			args[i] = &vals[i];
		assert_int_equal(ns_publish_batch(r, fill1, args, 6), 0);
		for (int64_t s = 0; s < 6; s++)
			assert_int_equal(ev_at(r, s)->a, (uint64_t)s + 1);
		/* 2 free slots: a batch of 3 does not fit (try), a batch of 2 does and wraps. */
		assert_int_equal(ns_publish_batch_try(r, fill1, args, 3), -EAGAIN);
		assert_int_equal(ns_publish_batch_try(r, fill1, args, 2), 6);
		assert_int_equal(ns_publish_try(r, fill1, args[0]), -EAGAIN);
		nsi_gate_release(r, g, 3);
		assert_int_equal(ns_publish_batch(r, fill1, args + 2, 4), 8);
		assert_int_equal(ev_at(r, 11)->a, 6);
		assert_int_equal(ev_at(r, 11)->seq, 11);
		assert_int_equal(ns_publish_batch(r, fill1, args, 9), -EINVAL);
		assert_int_equal(ns_publish_batch(r, fill1, args, 0), -EINVAL);
		ns_ring_destroy(r);
	}
}

static void
failing_translator_abandons_slot(void **state)
{
	(void)state;
	for (uint32_t mode = 0; mode < 2; mode++) {
		uint32_t g;
		ns_ring *r = make_ring(16, mode, &g);
		uint64_t ok = 1, bad = 7, positive = 8;
		uint64_t y = 2;

		assert_int_equal(ns_publish(r, fill1, &ok), 0);
		assert_int_equal(ns_publish(r, fail_on_seven, &bad), -EPROTO);
		assert_int_equal(ns_publish_try(r, fail_on_seven, &positive), -ECANCELED);
		assert_int_equal(ns_publish2(r, fail2, &ok, &y), -EIO);
		assert_int_equal(ns_publish3_try(r, fail3, &ok, &y, &y), -EIO);
		int64_t next = ns_publish(r, fill1, &ok);
		/* SINGLE rewinds (sequence 1 is reused); MULTI skips the four failed slots. */
		assert_int_equal(next, mode == NS_PRODUCER_SINGLE ? 1 : 5);
		/* A reader sees exactly the two good events, never a half-written one. */
		int64_t seen = 0;
		int64_t hi = nsi_ring_wait_for(r, 0, NULL, false);
		assert_int_equal(hi, next);
		for (int64_t s = 0; s <= hi; s++) {
			if (mode == NS_PRODUCER_MULTI && nsi_mp_is_skipped(r, s))
				continue;
			assert_int_equal(ev_at(r, s)->a, 1);
			seen++;
		}
		assert_int_equal(seen, 2);
		ns_ring_destroy(r);
	}
}

static void
batch_with_failing_translator_abandons_whole_batch(void **state)
{
	(void)state;
	for (uint32_t mode = 0; mode < 2; mode++) {
		uint32_t g;
		ns_ring *r = make_ring(16, mode, &g);
		uint64_t vals[4] = { 1, 2, 7, 4 };
		void *args[4] = { &vals[0], &vals[1], &vals[2], &vals[3] };

		assert_int_equal(ns_publish_batch(r, fail_on_seven, args, 4), -EPROTO);
		assert_int_equal(ns_publish_batch_try(r, fail_on_seven, args, 4), -EPROTO);
		for (int64_t s = 0; s < 8; s++)
			assert_int_equal(ns_ring_is_published(r, s), 0);
		int64_t first = ns_publish_batch(r, fail_on_seven, args, 2);
		assert_int_equal(first, mode == NS_PRODUCER_SINGLE ? 0 : 8);
		assert_int_equal(ns_ring_is_published(r, first + 1), 1);
		ns_ring_destroy(r);
	}
}

static void
translators_after_halt_return_eshutdown(void **state)
{
	(void)state;
	uint32_t g;
	ns_ring *r = make_ring(16, NS_PRODUCER_MULTI, &g);
	uint64_t x = 1;
	void *args[1] = { &x };

	assert_int_equal(ns_ring_halt(r), 0);
	assert_int_equal(ns_publish(r, fill1, &x), -ESHUTDOWN);
	assert_int_equal(ns_publish2_try(r, fill2, &x, &x), -ESHUTDOWN);
	assert_int_equal(ns_publish_batch(r, fill1, args, 1), -ESHUTDOWN);
	ns_ring_destroy(r);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(translators_fill_and_publish),
		cmocka_unit_test(batch_publishes_all_with_one_claim),
		cmocka_unit_test(failing_translator_abandons_slot),
		cmocka_unit_test(batch_with_failing_translator_abandons_whole_batch),
		cmocka_unit_test(translators_after_halt_return_eshutdown),
	};
	return cmocka_run_group_tests_name("publish", tests, NULL, NULL);
}

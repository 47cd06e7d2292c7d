/* SPDX-License-Identifier: MIT */
/* Single-threaded behaviour of the ring: claim, publish, wrap, full, abandon, span, init. */
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include <nanostream/consumer.h>
#include <nanostream/ring.h>

#include "ring/ring.h"

static ns_ring *
make_ring(uint64_t capacity, uint32_t producer)
{
	struct ns_ring_opts o = NS_RING_OPTS_INIT;
	ns_ring *r = NULL;

	o.capacity = capacity;
	o.slot_size = 16;
	o.producer = producer;
	assert_int_equal(ns_ring_create(&r, &o), 0);
	assert_non_null(r);
	return r;
}

/* A gate the test moves by hand, standing in for a consumer. */
static uint32_t
add_gate(ns_ring *r, int64_t *start)
{
	uint32_t g;

	assert_int_equal(nsi_gate_register(r, &g, start, NSI_GATE_AT_CURSOR, NULL), 0);
	return g;
}

static void
create_defaults_report_geometry(void **state)
{
	(void)state;
	struct ns_ring_opts o = NS_RING_OPTS_INIT;
	ns_ring *r = NULL;

	assert_int_equal(ns_ring_create(&r, &o), 0);
	assert_int_equal(ns_ring_capacity(r), 1024);
	assert_int_equal(ns_ring_slot_size(r), 64);
	assert_int_equal(ns_ring_cursor(r), -1);
	assert_int_equal(ns_ring_remaining(r), 1024);
	assert_int_equal(ns_ring_is_halted(r), 0);
	ns_ring_destroy(r);
}

static void
claim_publish_wraps_many_laps_in_order(void **state)
{
	(void)state;
	for (uint32_t mode = 0; mode < 2; mode++) {
		ns_ring *r = make_ring(8, mode);
		int64_t start;
		uint32_t g = add_gate(r, &start);

		assert_int_equal(start, -1);
		for (int64_t i = 0; i < 8 * 1000; i++) {
			int64_t seq = ns_ring_claim(r);
			assert_int_equal(seq, i);
			uint64_t *slot = ns_ring_slot(r, seq);
			slot[0] = (uint64_t)i * 3;
			assert_int_equal(ns_ring_is_published(r, seq), 0);
			assert_int_equal(ns_ring_publish(r, seq), 0);
			assert_int_equal(ns_ring_is_published(r, seq), 1);
			/* Read it back as a consumer would, then release it. */
			assert_int_equal(nsi_ring_wait_for(r, seq, NULL, false), seq);
			assert_int_equal(((uint64_t *)ns_ring_slot(r, seq))[0], (uint64_t)i * 3);
			nsi_gate_release(r, g, seq);
		}
		assert_int_equal(ns_ring_cursor(r), 8 * 1000 - 1);
		ns_ring_destroy(r);
	}
}

static void
try_claim_when_full_returns_eagain(void **state)
{
	(void)state;
	for (uint32_t mode = 0; mode < 2; mode++) {
		ns_ring *r = make_ring(4, mode);
		int64_t start;
		uint32_t g = add_gate(r, &start);

		for (int64_t i = 0; i < 4; i++) {
			assert_int_equal(ns_ring_try_claim(r), i);
			assert_int_equal(ns_ring_remaining(r), 3 - i);
		}
		assert_int_equal(ns_ring_try_claim(r), -EAGAIN);
		assert_int_equal(ns_ring_try_claim_n(r, 1), -EAGAIN);
		assert_int_equal(ns_ring_publish_n(r, 0, 4), 0);
		/* The consumer releases two: exactly two more fit, and a claim of 3 does not. */
		nsi_gate_release(r, g, 1);
		assert_int_equal(ns_ring_try_claim_n(r, 3), -EAGAIN);
		assert_int_equal(ns_ring_try_claim_n(r, 2), 4);
		assert_int_equal(ns_ring_try_claim(r), -EAGAIN);
		ns_ring_destroy(r);
	}
}

static void
claim_n_over_capacity_is_einval_not_deadlock(void **state)
{
	(void)state;
	for (uint32_t mode = 0; mode < 2; mode++) {
		ns_ring *r = make_ring(8, mode);

		assert_int_equal(ns_ring_claim_n(r, 9), -EINVAL);
		assert_int_equal(ns_ring_try_claim_n(r, 9), -EINVAL);
		assert_int_equal(ns_ring_claim_until(r, 9, ns_clock_ns() + 1000000), -EINVAL);
		assert_int_equal(ns_ring_claim_n(r, 0), -EINVAL);
		/* Nothing changed: a full-capacity claim still works. */
		assert_int_equal(ns_ring_claim_n(r, 8), 0);
		ns_ring_destroy(r);
	}
}

static void
claim_until_full_ring_times_out_and_claims_nothing(void **state)
{
	(void)state;
	for (uint32_t mode = 0; mode < 2; mode++) {
		ns_ring *r = make_ring(4, mode);
		int64_t start;
		uint32_t g = add_gate(r, &start);

		assert_int_equal(ns_ring_claim_n(r, 4), 0);
		assert_int_equal(ns_ring_claim_until(r, 1, ns_clock_ns() + 1000000), -ETIMEDOUT);
		assert_int_equal(ns_ring_claim_until(r, 1, 0), -ETIMEDOUT);
		assert_int_equal(ns_ring_claim_until(r, 1, -5), -ETIMEDOUT);
		assert_int_equal(ns_ring_publish_n(r, 0, 4), 0);
		nsi_gate_release(r, g, 0);
		/* The timed-out claims left no hole: the next claim is sequence 4. */
		assert_int_equal(ns_ring_claim_until(r, 1, ns_clock_ns() + 1000000), 4);
		ns_ring_destroy(r);
	}
}

static void
no_consumer_never_blocks(void **state)
{
	(void)state;
	for (uint32_t mode = 0; mode < 2; mode++) {
		ns_ring *r = make_ring(4, mode);

		for (int64_t i = 0; i < 100; i++) {
			assert_int_equal(ns_ring_try_claim(r), i);
			assert_int_equal(ns_ring_publish(r, i), 0);
		}
		ns_ring_destroy(r);
	}
}

static void
abandon_sp_rewinds_latest_claim(void **state)
{
	(void)state;
	ns_ring *r = make_ring(8, NS_PRODUCER_SINGLE);

	assert_int_equal(ns_ring_claim_n(r, 2), 0);
	assert_int_equal(ns_ring_publish_n(r, 0, 2), 0);
	assert_int_equal(ns_ring_claim_n(r, 3), 2);
	/* Not the latest claim, or partly published: refused, nothing changes. */
	assert_int_equal(ns_ring_abandon(r, 2, 2), -EINVAL);
	assert_int_equal(ns_ring_abandon(r, 1, 4), -EINVAL);
	assert_int_equal(ns_ring_abandon(r, 2, 3), 0);
	assert_int_equal(ns_ring_cursor(r), 1);
	assert_int_equal(ns_ring_is_published(r, 2), 0);
	/* The same sequences are handed out again. */
	assert_int_equal(ns_ring_claim(r), 2);
	assert_int_equal(ns_ring_publish(r, 2), 0);
	assert_int_equal(ns_ring_is_published(r, 2), 1);
	ns_ring_destroy(r);
}

static void
abandon_mp_marks_slots_skipped(void **state)
{
	(void)state;
	ns_ring *r = make_ring(8, NS_PRODUCER_MULTI);

	assert_int_equal(ns_ring_claim_n(r, 3), 0);
	assert_int_equal(ns_ring_claim_n(r, 2), 3);
	/* Abandon the older claim while the newer is outstanding. */
	assert_int_equal(ns_ring_abandon(r, 0, 3), 0);
	assert_int_equal(ns_ring_abandon(r, 0, 1), -EINVAL); /* already given back */
	assert_int_equal(ns_ring_abandon(r, 5, 1), -EINVAL); /* never claimed */
	for (int64_t s = 0; s < 3; s++) {
		assert_int_equal(ns_ring_is_published(r, s), 0);
		assert_true(nsi_mp_is_skipped(r, s));
	}
	assert_int_equal(ns_ring_publish_n(r, 3, 2), 0);
	assert_int_equal(ns_ring_abandon(r, 3, 1), -EINVAL); /* already published */
	/* A reader sees 0..4 as ready (0..2 to be stepped over). */
	assert_int_equal(nsi_ring_wait_for(r, 0, NULL, false), 4);
	assert_false(nsi_mp_is_skipped(r, 3));
	ns_ring_destroy(r);
}

/*
 * Issue 14.8: abandoning an old sequence (published, consumed, its slot reused by a newer
 * event) returned 0 in MULTI mode and overwrote the newer event's mark: the newer sequence
 * read as unpublished and a poller stuck there for ever. Now -EINVAL, nothing changed.
 */
static void
abandon_mp_of_an_old_sequence_is_refused(void **state)
{
	(void)state;
	ns_ring *r = make_ring(4, NS_PRODUCER_MULTI);
	for (int64_t s = 0; s < 6; s++) {
		assert_int_equal(ns_ring_try_claim(r), s);
		assert_int_equal(ns_ring_publish(r, s), 0);
	}
	/* 1 was published and its slot now holds 5; 0 four laps back holds 4. */
	for (int64_t old = 0; old <= 1; old++) {
		assert_int_equal(ns_ring_abandon(r, old, 1), -EINVAL);
		assert_int_equal(ns_ring_is_published(r, old + 4), 1);
	}
	assert_int_equal(ns_ring_abandon(r, 0, 2), -EINVAL);
	assert_int_equal(ns_ring_is_published(r, 4), 1);
	/* Claimed and unpublished still can be given back. */
	assert_int_equal(ns_ring_try_claim(r), 6);
	assert_int_equal(ns_ring_abandon(r, 6, 1), 0);
	assert_true(nsi_mp_is_skipped(r, 6));
	ns_ring_destroy(r);
}

static int
count_event(void *ctx, void *slot, int64_t seq, bool end_of_batch)
{
	(void)slot;
	(void)end_of_batch;
	int64_t *seen = ctx;
	seen[seen[0] + 1] = seq;
	seen[0]++;
	return 0;
}

/*
 * Claims of "up to n" (a queue's push of what fits), SINGLE and MULTI: as many as there is
 * room for, never more, at least one; -EAGAIN with nothing claimed when full; the claimed
 * range is the next one and publishes and reads back in order; -ESHUTDOWN after a halt.
 */
static void
try_claim_upto_takes_what_fits(void **state)
{
	(void)state;
	const uint32_t kinds[2] = { NS_PRODUCER_SINGLE, NS_PRODUCER_MULTI };
	for (int k = 0; k < 2; k++) {
		ns_ring *r = make_ring(8, kinds[k]);
		struct ns_poller_opts po = NS_POLLER_OPTS_INIT;
		ns_poller *p = NULL;
		assert_int_equal(ns_poller_create(&p, r, &po), 0);
		uint32_t got = 0;
		assert_int_equal(ns_ring_try_claim_upto(r, 5, &got), 0);
		assert_int_equal(got, 5);
		assert_int_equal(ns_ring_try_claim_upto(r, 5, &got), 5); /* 3 left */
		assert_int_equal(got, 3);
		got = 99;
		assert_int_equal(ns_ring_try_claim_upto(r, 1, &got), -EAGAIN);
		assert_int_equal(got, 0);
		assert_int_equal(ns_ring_remaining(r), 0);
		for (int64_t s = 0; s < 8; s++)
			*(int64_t *)ns_ring_slot(r, s) = 100 + s;
		assert_int_equal(ns_ring_publish_n(r, 0, 5), 0);
		assert_int_equal(ns_ring_publish_n(r, 5, 3), 0);
		int64_t seen[16] = { 0 };
		assert_int_equal(ns_poller_poll(p, count_event, seen, 2), NS_POLLER_PROCESSING);
		/* Two slots freed: a claim of up to 8 gets exactly those two, 8 and 9. */
		assert_int_equal(ns_ring_try_claim_upto(r, 8, &got), 8);
		assert_int_equal(got, 2);
		assert_int_equal(ns_ring_publish_n(r, 8, 2), 0);
		assert_int_equal(ns_poller_poll(p, count_event, seen, 0), NS_POLLER_PROCESSING);
		assert_int_equal(seen[0], 10);
		for (int64_t s = 0; s < 10; s++)
			assert_int_equal(seen[s + 1], s);
		assert_int_equal(ns_ring_halt(r), 0);
		assert_int_equal(ns_ring_try_claim_upto(r, 1, &got), -ESHUTDOWN);
		assert_int_equal(got, 0);
		ns_poller_destroy(p);
		ns_ring_destroy(r);
	}
}

/*
 * A MULTI ring read one event per poll (a queue's user): each poll hands exactly the next
 * event, in order, however many are published after it; a slot given back (abandoned) is
 * passed over without reaching the handler; a claim still being filled stops the reader there.
 */
static void
mp_poll_of_one_takes_one(void **state)
{
	(void)state;
	ns_ring *r = make_ring(64, NS_PRODUCER_MULTI);
	struct ns_poller_opts po = NS_POLLER_OPTS_INIT;
	ns_poller *p = NULL;
	assert_int_equal(ns_poller_create(&p, r, &po), 0);
	assert_int_equal(ns_ring_claim_n(r, 40), 0);
	for (int64_t s = 0; s < 40; s++)
		if (s != 5 && s != 30)
			assert_int_equal(ns_ring_publish(r, s), 0);
	assert_int_equal(ns_ring_abandon(r, 5, 1), 0);
	int64_t seen[64] = { 0 };
	for (int i = 0; i < 5; i++) {
		assert_int_equal(ns_poller_poll(p, count_event, seen, 1), NS_POLLER_PROCESSING);
		assert_int_equal(seen[0], i + 1);
		assert_int_equal(seen[i + 1], i);
	}
	/* 5 was given back: the poll moves past it and hands nothing. */
	assert_int_equal(ns_poller_poll(p, count_event, seen, 1), NS_POLLER_PROCESSING);
	assert_int_equal(seen[0], 5);
	for (int64_t s = 6; s < 30; s++) {
		assert_int_equal(ns_poller_poll(p, count_event, seen, 1), NS_POLLER_PROCESSING);
		assert_int_equal(seen[seen[0]], s);
	}
	assert_int_equal(seen[0], 29);
	/* 30 is claimed and not published: nothing past it, whatever is published beyond. */
	assert_int_equal(ns_poller_poll(p, count_event, seen, 1), NS_POLLER_IDLE);
	assert_int_equal(ns_poller_poll(p, count_event, seen, 8), NS_POLLER_IDLE);
	assert_int_equal(ns_ring_publish(r, 30), 0);
	assert_int_equal(ns_poller_poll(p, count_event, seen, 4), NS_POLLER_PROCESSING);
	assert_int_equal(seen[0], 33);
	for (int k = 0; k < 4; k++)
		assert_int_equal(seen[30 + k], 30 + k);
	ns_poller_destroy(p);
	ns_ring_destroy(r);
}

/*
 * A gap in a plain MULTI ring: 0..2 claimed, 0 and 2 published. Only 0 is delivered; 2 waits
 * for 1 (consumers see sequences in order, never across a claim still being filled).
 */
static void
mp_gap_delivers_only_up_to_it(void **state)
{
	(void)state;
	ns_ring *r = make_ring(8, NS_PRODUCER_MULTI);
	struct ns_poller_opts po = NS_POLLER_OPTS_INIT;
	ns_poller *p = NULL;
	assert_int_equal(ns_poller_create(&p, r, &po), 0);
	assert_int_equal(ns_ring_claim_n(r, 3), 0);
	assert_int_equal(ns_ring_publish(r, 0), 0);
	assert_int_equal(ns_ring_publish(r, 2), 0);
	int64_t seen[16] = { 0 };
	(void)ns_poller_poll(p, count_event, seen, 0);
	assert_int_equal(seen[0], 1);
	assert_int_equal(seen[1], 0);
	(void)ns_poller_poll(p, count_event, seen, 0);
	assert_int_equal(seen[0], 1); /* still waiting for 1 */
	assert_int_equal(ns_ring_publish(r, 1), 0);
	(void)ns_poller_poll(p, count_event, seen, 0);
	assert_int_equal(seen[0], 3);
	assert_int_equal(seen[2], 1);
	assert_int_equal(seen[3], 2);
	ns_poller_destroy(p);
	ns_ring_destroy(r);
}

static void
span_splits_at_ring_end(void **state)
{
	(void)state;
	ns_ring *r = make_ring(8, NS_PRODUCER_SINGLE);
	struct ns_ring_span sp;

	assert_int_equal(ns_ring_claim_n(r, 6), 0);
	assert_int_equal(ns_ring_span(r, 0, 6, &sp), 0);
	assert_ptr_equal(sp.data[0], ns_ring_slot(r, 0));
	assert_int_equal(sp.count[0], 6);
	assert_null(sp.data[1]);
	assert_int_equal(sp.count[1], 0);
	assert_int_equal(sp.stride, 16);
	assert_int_equal(ns_ring_publish_n(r, 0, 6), 0);

	assert_int_equal(ns_ring_claim_n(r, 5), 6);
	assert_int_equal(ns_ring_span(r, 6, 5, &sp), 0);
	assert_ptr_equal(sp.data[0], ns_ring_slot(r, 6));
	assert_int_equal(sp.count[0], 2);
	assert_ptr_equal(sp.data[1], ns_ring_slot(r, 8));
	assert_ptr_equal(sp.data[1], ns_ring_slot(r, 0));
	assert_int_equal(sp.count[1], 3);
	ns_ring_destroy(r);
}

/*
 * NS_RING_F_SEQ_IN_SLOT: the stride holds the 8-byte header, the caller's bytes never touch
 * it (a claimed slot filled with 0xff still reads as unpublished), readers find runs by the
 * headers alone, and abandoned MULTI slots are stepped over.
 */
static void
seq_in_slot_layout_and_publication(void **state)
{
	(void)state;
	static const uint32_t sizes[][2] = { { 8, 16 },	  { 16, 32 },	{ 56, 64 },
					     { 64, 128 }, { 120, 128 }, { 200, 256 } };
	for (uint32_t mode = 0; mode < 2; mode++) {
		for (size_t k = 0; k < sizeof(sizes) / sizeof(sizes[0]); k++) {
			struct ns_ring_opts o = NS_RING_OPTS_INIT;
			struct ns_ring_span sp;
			ns_ring *r = NULL;
			uint32_t size = sizes[k][0];

			o.capacity = 8;
			o.slot_size = size;
			o.producer = mode;
			o.flags = NS_RING_F_SEQ_IN_SLOT;
			assert_int_equal(ns_ring_create(&r, &o), 0);
			assert_int_equal(ns_ring_slot_size(r), size);
			int64_t start;
			uint32_t g = add_gate(r, &start);
			uint8_t *s0 = ns_ring_slot(r, 0);
			assert_int_equal((uintptr_t)s0 % 8, 0);
			assert_int_equal((uint8_t *)ns_ring_slot(r, 1) - s0, sizes[k][1]);
			assert_int_equal(ns_ring_claim_n(r, 1), 0);
			assert_int_equal(ns_ring_span(r, 0, 1, &sp), 0);
			assert_int_equal(sp.stride, sizes[k][1]);
			assert_int_equal(ns_ring_abandon(r, 0, 1), 0);
			int64_t base = mode == NS_PRODUCER_MULTI ? 1 : 0;
			/* SINGLE takes the claim back; MULTI leaves a slot to step over. */
			assert_int_equal(nsi_ring_available(r, 0), base - 1);
			if (mode == NS_PRODUCER_MULTI)
				assert_true(nsi_mp_is_skipped(r, 0));

			for (int64_t lap = 0; lap < 50; lap++) {
				int64_t first = ns_ring_claim_n(r, 3);
				assert_int_equal(first, base + lap * 3);
				for (int64_t q = first; q < first + 3; q++) {
					memset(ns_ring_slot(r, q), 0xff, size);
					assert_int_equal(nsi_ring_available(r, q), q - 1);
				}
				for (int64_t q = first; q < first + 3; q++)
					*(int64_t *)ns_ring_slot(r, q) = q * 7;
				assert_int_equal(ns_ring_publish_n(r, first, 3), 0);
				/* The whole run, found from the headers (MULTI: from the skipped 0). */
				int64_t from = lap == 0 ? 0 : first;
				assert_int_equal(nsi_ring_wait_for(r, from, NULL, false),
						 first + 2);
				for (int64_t q = first; q < first + 3; q++) {
					uint8_t *slot = ns_ring_slot(r, q);
					assert_int_equal(*(int64_t *)slot, q * 7);
					for (uint32_t b = 8; b < size; b++)
						assert_int_equal(slot[b], 0xff);
				}
				assert_int_equal(nsi_ring_available(r, first + 3), first + 2);
				nsi_gate_release(r, g, first + 2);
			}
			assert_int_equal(ns_ring_cursor(r), base + 50 * 3 - 1);
			ns_ring_destroy(r);
		}
	}
}

struct init_log {
	uint64_t calls;
	uint64_t fail_at;
};

static int
init_slot(void *arg, void *slot, uint64_t index)
{
	struct init_log *log = arg;
	uint64_t *s = slot;

	assert_int_equal(s[0], 0); /* zero-filled before init */
	if (log->calls == log->fail_at)
		return -ENOTSUP;
	log->calls++;
	s[0] = index + 100;
	return 0;
}

static void
slot_init_runs_once_per_slot(void **state)
{
	(void)state;
	struct ns_ring_opts o = NS_RING_OPTS_INIT;
	struct init_log log = { .fail_at = UINT64_MAX };
	ns_ring *r = NULL;

	o.capacity = 16;
	o.slot_size = 8;
	o.slot_init = init_slot;
	o.slot_init_arg = &log;
	assert_int_equal(ns_ring_create(&r, &o), 0);
	assert_int_equal(log.calls, 16);
	for (int64_t i = 0; i < 16; i++)
		assert_int_equal(*(uint64_t *)ns_ring_slot(r, i), (uint64_t)i + 100);
	ns_ring_destroy(r);
}

static void
slot_init_failure_fails_create_untouched(void **state)
{
	(void)state;
	struct ns_ring_opts o = NS_RING_OPTS_INIT;
	struct init_log log = { .fail_at = 5 };
	ns_ring *r = (ns_ring *)&log; /* must stay untouched */

	o.capacity = 16;
	o.slot_init = init_slot;
	o.slot_init_arg = &log;
	assert_int_equal(ns_ring_create(&r, &o), -ENOTSUP);
	assert_ptr_equal(r, (ns_ring *)&log);
	assert_int_equal(log.calls, 5);
}

static void
halt_fails_claims_with_eshutdown(void **state)
{
	(void)state;
	for (uint32_t mode = 0; mode < 2; mode++) {
		ns_ring *r = make_ring(4, mode);

		assert_int_equal(ns_ring_claim(r), 0);
		assert_int_equal(ns_ring_halt(r), 0);
		assert_int_equal(ns_ring_halt(r), 0); /* idempotent */
		assert_int_equal(ns_ring_is_halted(r), 1);
		assert_int_equal(ns_ring_claim(r), -ESHUTDOWN);
		assert_int_equal(ns_ring_claim_n(r, 2), -ESHUTDOWN);
		assert_int_equal(ns_ring_try_claim(r), -ESHUTDOWN);
		assert_int_equal(ns_ring_try_claim_n(r, 2), -ESHUTDOWN);
		assert_int_equal(ns_ring_claim_until(r, 1, ns_clock_ns() + 1000), -ESHUTDOWN);
		/* Publishing what was claimed before the halt still works. */
		assert_int_equal(ns_ring_publish(r, 0), 0);
		assert_int_equal(ns_ring_is_published(r, 0), 1);
		ns_ring_destroy(r);
	}
}

static void
options_size_versions_are_honoured(void **state)
{
	(void)state;
	struct {
		struct ns_ring_opts o;
		uint64_t future_field;
	} big;
	ns_ring *r = NULL;

	/* A caller built against newer headers with an unknown option set: refused. */
	memset(&big, 0, sizeof(big));
	big.o.size = sizeof(big);
	big.o.capacity = 8;
	big.o.slot_size = 8;
	big.future_field = 1;
	assert_int_equal(ns_ring_create(&r, &big.o), -EINVAL);
	assert_null(r);
	/* The same with the unknown option left zero: accepted. */
	big.future_field = 0;
	assert_int_equal(ns_ring_create(&r, &big.o), 0);
	ns_ring_destroy(r);
	r = NULL;
	/* Shorter than any released layout (0.1's is the first): refused (test_sizes has more). */
	big.o.size = (uint32_t)offsetof(struct ns_ring_opts, wait);
	assert_int_equal(ns_ring_create(&r, &big.o), -EINVAL);
	assert_null(r);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(create_defaults_report_geometry),
		cmocka_unit_test(claim_publish_wraps_many_laps_in_order),
		cmocka_unit_test(try_claim_when_full_returns_eagain),
		cmocka_unit_test(claim_n_over_capacity_is_einval_not_deadlock),
		cmocka_unit_test(claim_until_full_ring_times_out_and_claims_nothing),
		cmocka_unit_test(no_consumer_never_blocks),
		cmocka_unit_test(abandon_sp_rewinds_latest_claim),
		cmocka_unit_test(abandon_mp_marks_slots_skipped),
		cmocka_unit_test(abandon_mp_of_an_old_sequence_is_refused),
		cmocka_unit_test(mp_gap_delivers_only_up_to_it),
		cmocka_unit_test(mp_poll_of_one_takes_one),
		cmocka_unit_test(try_claim_upto_takes_what_fits),
		cmocka_unit_test(span_splits_at_ring_end),
		cmocka_unit_test(seq_in_slot_layout_and_publication),
		cmocka_unit_test(slot_init_runs_once_per_slot),
		cmocka_unit_test(slot_init_failure_fails_create_untouched),
		cmocka_unit_test(halt_fails_claims_with_eshutdown),
		cmocka_unit_test(options_size_versions_are_honoured),
	};
	return cmocka_run_group_tests_name("ring", tests, NULL, NULL);
}

/* SPDX-License-Identifier: MIT */
/*
 * Ring stress (docs/testing.md R1): P producers push events into one ring; one consumer checks
 * every event. Each event carries its producer id, the producer's own sequence, a payload
 * derived from both, and a CRC32C over all of that. The consumer asserts: no unknown producer,
 * per-producer sequences consecutive (nothing lost, duplicated or reordered), every CRC and
 * payload right, and the exact total.
 *
 *   stress_ring P [slotseq]
 *                     P = 1 (SINGLE producer mode), or 2 and 4 (MULTI mode; 4 oversubscribes
 *                     two cores). Runs every wait strategy with claims of 1 and of 64
 *                     (every other block of 64 claimed with ns_ring_try_claim_upto(): what
 *                     fits);
 *                     "slotseq" makes the ring with NS_RING_F_SEQ_IN_SLOT.
 *                     The pull_* cells read with a poller on its own thread instead of a
 *                     consumer, turn by turn with ns_poller_take() (copy-out),
 *                     ns_poller_peek() + ns_poller_release() (half of each run),
 *                     ns_poller_poll_runs() and ns_poller_poll().
 *
 * Counts: NS_STRESS_EVENTS events per cell (default 1,000,000, also under sanitizers), times
 * NS_STRESS_SCALE (nightly: 10). With P = 2 one extra "main" cell (busy spin, claims of 1) runs
 * 100,000,000 events (10,000,000 under sanitizers), times the scale, with the yielding strategy.
 */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <nanostream/nanostream.h>

#include "event.h"
#include "testutil.h"

#if defined(__SANITIZE_THREAD__) || defined(__SANITIZE_ADDRESS__)
#define SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer) || __has_feature(address_sanitizer)
#define SANITIZED 1
#endif
#endif
#ifndef SANITIZED
#define SANITIZED 0
#endif

#define MAX_PRODUCERS 8

struct cell {
	uint32_t producers;
	uint32_t wait;
	uint32_t batch;
	bool pull; /* read with a poller */
	uint64_t per_producer;
};

struct checker {
	ns_consumer *self;
	ns_poller *poller; /* pull cells */
	size_t stride;
	uint32_t producers;
	uint64_t target;
	uint64_t total;
	uint64_t next_pseq[MAX_PRODUCERS];
	uint64_t bad_producer;
	uint64_t bad_order;
	uint64_t bad_crc;
	uint64_t bad_payload;
	uint64_t bad_len;
};

struct producer {
	ns_ring *ring;
	struct tu_barrier *start;
	uint32_t id;
	uint32_t batch;
	uint64_t count;
	int64_t error; /* first negative result, 0 if none */
};

static int
check_event(void *ctx, void *slot, int64_t seq, bool end_of_batch)
{
	struct checker *c = ctx;
	const struct tu_event *e = slot;

	(void)seq;
	(void)end_of_batch;
	if (e->producer >= c->producers) {
		c->bad_producer++;
	} else {
		if (e->pseq != c->next_pseq[e->producer])
			c->bad_order++;
		c->next_pseq[e->producer] = e->pseq + 1;
		if (e->payload != tu_event_payload(e->producer, e->pseq))
			c->bad_payload++;
	}
	if (e->len != sizeof(*e))
		c->bad_len++;
	if (e->crc != tu_event_crc(e))
		c->bad_crc++;
	if (++c->total == c->target)
		ns_consumer_halt(c->self);
	return 0;
}

static int
translate_event(void *slot, int64_t seq, void *arg)
{
	const struct producer *p = arg;

	(void)seq;
	tu_event_fill(slot, p->id, p->count);
	return 0;
}

static void *
produce(void *arg)
{
	struct producer *p = arg;
	uint64_t total = p->count;
	uint64_t pseq = 0;

	tu_barrier_wait(p->start);
	for (uint64_t block = 0; pseq < total; block++) {
		if (p->batch == 1 && (p->id & 1)) {
			/* Odd producers use the one-call translator form. */
			p->count = pseq;
			int64_t seq = ns_publish(p->ring, translate_event, p);
			if (seq < 0) {
				p->error = seq;
				break;
			}
			pseq++;
			continue;
		}
		uint64_t left = total - pseq;
		uint32_t n = left < p->batch ? (uint32_t)left : p->batch;
		int64_t first;
		if (p->batch > 1 && (block & 1)) {
			/* Every other block: a claim of what fits (1 to n), retried while full. */
			uint32_t got = 0;
			while ((first = ns_ring_try_claim_upto(p->ring, n, &got)) == -EAGAIN)
				sched_yield();
			n = got;
		} else {
			first = ns_ring_claim_n(p->ring, n);
		}
		if (first < 0) {
			p->error = first;
			break;
		}
		struct ns_ring_span span;
		ns_ring_span(p->ring, first, n, &span);
		for (int run = 0; run < 2; run++) {
			uint8_t *slot = span.data[run];
			for (size_t i = 0; i < span.count[run]; i++, slot += span.stride)
				tu_event_fill((struct tu_event *)slot, p->id, pseq++);
		}
		ns_ring_publish_n(p->ring, first, n);
	}
	p->count = total;
	return NULL;
}

static void *
consume(void *arg)
{
	return (void *)(intptr_t)ns_consumer_run(arg);
}

static int
check_run(void *ctx, void *first, int64_t seq, uint32_t count, uint32_t stride, bool end)
{
	for (uint32_t i = 0; i < count; i++)
		check_event(ctx, (char *)first + (size_t)i * stride, seq + i,
			    end && i == count - 1);
	return 0;
}

/* A poller's thread: every pull call in turn until it has every event. */
static void *
pull_consume(void *arg)
{
	struct checker *c = arg;
	struct tu_event ev;
	uint64_t turn = 0;
	void *first;
	int64_t seq;
	int rc;

	while (c->total < c->target) {
		switch (turn++ & 3) {
		case 0:
			rc = ns_poller_take(c->poller, &ev, sizeof(ev));
			if (rc == NS_POLLER_PROCESSING)
				check_event(c, &ev, 0, true);
			break;
		case 1:
			rc = ns_poller_peek(c->poller, 64, &first, &seq);
			if (rc > 0) {
				uint32_t half =
					((uint32_t)rc + 1) / 2; /* the rest is peeked again */
				check_run(c, first, seq, half, (uint32_t)c->stride, true);
				int rel = ns_poller_release(c->poller, half);
				if (rel != 0)
					return (void *)(intptr_t)rel;
				rc = NS_POLLER_PROCESSING;
			}
			break;
		case 2:
			rc = ns_poller_poll_runs(c->poller, check_run, c, 64);
			break;
		default:
			rc = ns_poller_poll(c->poller, check_event, c, 64);
			break;
		}
		if (rc < 0)
			return (void *)(intptr_t)rc;
		if (rc != NS_POLLER_PROCESSING)
			sched_yield(); /* up to 4 producers share the 2 cores with us */
	}
	return NULL;
}

static uint32_t g_ring_flags; /* ns_ring_opts.flags */

static void
run_cell(const struct cell *cell)
{
	struct ns_ring_opts ro = NS_RING_OPTS_INIT;
	struct ns_consumer_opts co = NS_CONSUMER_OPTS_INIT;
	struct checker chk = { .producers = cell->producers,
			       .target = cell->per_producer * cell->producers };
	struct producer prod[MAX_PRODUCERS];
	pthread_t threads[MAX_PRODUCERS + 1];
	struct tu_barrier start;
	ns_ring *ring = NULL;
	void *crc;

	ro.capacity = 1024;
	ro.slot_size = sizeof(struct tu_event);
	ro.producer = cell->producers == 1 ? NS_PRODUCER_SINGLE : NS_PRODUCER_MULTI;
	ro.wait = cell->wait;
	ro.sleep_ns = 20000;
	ro.flags = g_ring_flags;
	assert_int_equal(ns_ring_create(&ring, &ro), 0);
	if (cell->pull) {
		struct ns_poller_opts po = NS_POLLER_OPTS_INIT;
		struct ns_ring_layout lay = NS_RING_LAYOUT_INIT;
		assert_int_equal(ns_poller_create(&chk.poller, ring, &po), 0);
		assert_int_equal(ns_ring_get_layout(ring, &lay), 0);
		chk.stride = (size_t)lay.stride;
		chk.self = ns_poller_consumer(chk.poller);
	} else {
		co.on_event = check_event;
		co.ctx = &chk;
		assert_int_equal(ns_consumer_create(&chk.self, ring, &co), 0);
	}

	int64_t t0 = ns_clock_ns();
	tu_barrier_init(&start, cell->producers);
	assert_int_equal(pthread_create(&threads[cell->producers], NULL,
					cell->pull ? pull_consume : consume,
					cell->pull ? (void *)&chk : (void *)chk.self),
			 0);
	for (uint32_t i = 0; i < cell->producers; i++) {
		prod[i] = (struct producer){ .ring = ring,
					     .start = &start,
					     .id = i,
					     .batch = cell->batch,
					     .count = cell->per_producer };
		assert_int_equal(pthread_create(&threads[i], NULL, produce, &prod[i]), 0);
	}
	for (uint32_t i = 0; i < cell->producers; i++) {
		assert_int_equal(pthread_join(threads[i], NULL), 0);
		assert_int_equal(prod[i].error, 0);
	}
	assert_int_equal(pthread_join(threads[cell->producers], &crc), 0);
	double secs = (double)(ns_clock_ns() - t0) / 1e9;

	printf("# P=%u wait=%u batch=%u%s: %llu events in %.2f s, lost %lld, bad order %llu, "
	       "bad crc %llu\n",
	       cell->producers, cell->wait, cell->batch, cell->pull ? " pulled" : "",
	       (unsigned long long)chk.total, secs, (long long)(chk.target - chk.total),
	       (unsigned long long)chk.bad_order, (unsigned long long)chk.bad_crc);
	assert_int_equal((intptr_t)crc, 0); /* the consumer stopped because it had them all */
	assert_int_equal(chk.total, chk.target);
	assert_int_equal(chk.bad_producer, 0);
	assert_int_equal(chk.bad_order, 0);
	assert_int_equal(chk.bad_crc, 0);
	assert_int_equal(chk.bad_payload, 0);
	assert_int_equal(chk.bad_len, 0);
	for (uint32_t i = 0; i < cell->producers; i++)
		assert_int_equal(chk.next_pseq[i], cell->per_producer);
	/* Nothing more arrived after the last event. */
	assert_int_equal(ns_consumer_sequence(chk.self), ns_ring_cursor(ring));
	if (cell->pull)
		ns_poller_destroy(chk.poller);
	else
		ns_consumer_destroy(chk.self);
	ns_ring_destroy(ring);
}

static uint32_t g_producers;

static uint64_t
events_per_cell(void)
{
	const char *s = getenv("NS_STRESS_EVENTS");
	uint64_t base = s != NULL ? strtoull(s, NULL, 10) : 1000000;

	return tu_scaled(base);
}

static void
stress_cell(void **state)
{
	const uint32_t *wb = *state;
	struct cell cell = {
		.producers = g_producers, .wait = wb[0], .batch = wb[1], .pull = wb[2] != 0
	};

	cell.per_producer = events_per_cell() / g_producers;
	run_cell(&cell);
}

static void
stress_main_mp_cell(void **state)
{
	(void)state;
	/*
	 * Yielding: three busy-spinning threads on two cores crawl (a descheduled consumer
	 * stalls both producers for a whole time slice), which the busy-spin cells above cover.
	 */
	struct cell cell = { .producers = 2, .wait = NS_WAIT_YIELD, .batch = 1 };

	cell.per_producer = tu_scaled(SANITIZED ? 10000000 : 100000000) / 2;
	run_cell(&cell);
}

#define CELL(name, wait, batch, pull)                                                              \
	static uint32_t name##_state[3] = { wait, batch, pull };                                   \
	static int name##_setup(void **state)                                                      \
	{                                                                                          \
		*state = name##_state;                                                             \
		return 0;                                                                          \
	}

CELL(spin_b1, NS_WAIT_BUSY_SPIN, 1, 0)
CELL(spin_b64, NS_WAIT_BUSY_SPIN, 64, 0)
CELL(yield_b1, NS_WAIT_YIELD, 1, 0)
CELL(yield_b64, NS_WAIT_YIELD, 64, 0)
CELL(sleep_b1, NS_WAIT_SLEEP, 1, 0)
CELL(sleep_b64, NS_WAIT_SLEEP, 64, 0)
CELL(blocking_b1, NS_WAIT_BLOCKING, 1, 0)
CELL(blocking_b64, NS_WAIT_BLOCKING, 64, 0)
CELL(lite_b1, NS_WAIT_LITE_BLOCKING, 1, 0)
CELL(lite_b64, NS_WAIT_LITE_BLOCKING, 64, 0)
CELL(timeout_b1, NS_WAIT_TIMEOUT_BLOCKING, 1, 0)
CELL(timeout_b64, NS_WAIT_TIMEOUT_BLOCKING, 64, 0)
CELL(phased_b1, NS_WAIT_PHASED, 1, 0)
CELL(phased_b64, NS_WAIT_PHASED, 64, 0)
CELL(pull_spin_b1, NS_WAIT_BUSY_SPIN, 1, 1)
CELL(pull_spin_b64, NS_WAIT_BUSY_SPIN, 64, 1)
CELL(pull_yield_b1, NS_WAIT_YIELD, 1, 1)
CELL(pull_blocking_b64, NS_WAIT_BLOCKING, 64, 1)

#define CELL_TEST(name) cmocka_unit_test_setup(stress_cell, name##_setup)

int
main(int argc, char **argv)
{
	char group[40];
	const struct CMUnitTest cells[] = {
		CELL_TEST(spin_b1),	  CELL_TEST(spin_b64),	    CELL_TEST(yield_b1),
		CELL_TEST(yield_b64),	  CELL_TEST(sleep_b1),	    CELL_TEST(sleep_b64),
		CELL_TEST(blocking_b1),	  CELL_TEST(blocking_b64),  CELL_TEST(lite_b1),
		CELL_TEST(lite_b64),	  CELL_TEST(timeout_b1),    CELL_TEST(timeout_b64),
		CELL_TEST(phased_b1),	  CELL_TEST(phased_b64),    CELL_TEST(pull_spin_b1),
		CELL_TEST(pull_spin_b64), CELL_TEST(pull_yield_b1), CELL_TEST(pull_blocking_b64),
	};
	const struct CMUnitTest main_cell[] = {
		cmocka_unit_test(stress_main_mp_cell),
	};

	g_producers = argc > 1 ? (uint32_t)strtoul(argv[1], NULL, 10) : 1;
	if (g_producers == 0 || g_producers > MAX_PRODUCERS) {
		fprintf(stderr, "usage: %s PRODUCERS (1..%d)\n", argv[0], MAX_PRODUCERS);
		return 2;
	}
	if (argc > 2 && strcmp(argv[2], "main") == 0)
		return cmocka_run_group_tests_name("stress-main-mp-cell", main_cell, NULL, NULL);
	if (argc > 2 && strcmp(argv[2], "slotseq") == 0)
		g_ring_flags = NS_RING_F_SEQ_IN_SLOT;
	snprintf(group, sizeof(group), "stress-p%u%s", g_producers,
		 g_ring_flags != 0 ? "-slotseq" : "");
	return cmocka_run_group_tests_name(group, cells, NULL, NULL);
}

/* SPDX-License-Identifier: MIT */
/*
 * Litmus tests for the sequencers (docs/testing.md R2), jcstress-style: two threads meet at a
 * barrier, race once, meet again, and the outcome goes into a histogram. Each test names the
 * outcomes that must never happen and asserts that none did, and the outcomes that show the
 * threads really raced (each order) and asserts that they occurred.
 *
 * Iterations: 1,000,000 per test (NS_LITMUS_ITERATIONS overrides), times NS_STRESS_SCALE.
 */
#include <errno.h>
#include <pthread.h>
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

static uint64_t
iterations(void)
{
	const char *s = getenv("NS_LITMUS_ITERATIONS");

	return tu_scaled(s != NULL ? strtoull(s, NULL, 10) : 1000000);
}

/* Two threads run actor(ctx, id, iteration) once per iteration, between two barriers. */
struct litmus {
	struct tu_barrier barrier;
	uint64_t iterations;
	void (*setup)(struct litmus *l, uint64_t it); /* thread 0, before the race */
	void (*actor)(struct litmus *l, int id, uint64_t it);
	void (*judge)(struct litmus *l, uint64_t it); /* thread 0, after the race */
	ns_ring *ring;
	uint32_t gate;
	int64_t seq;	   /* the sequence(s) raced on this iteration */
	int64_t result[2]; /* per-thread observations */
	uint64_t histogram[4];
	uint64_t forbidden;
	uint64_t rng[2]; /* per thread: the random delay before the racing step */
};

/*
 * A random delay (0 to 31 pauses) before the racing step, drawn per thread: without it the
 * two threads leave the barrier in a fixed order on a loaded machine, and the race never
 * happens (the histograms split exactly). With it, every order occurs, and the tests assert
 * that it did.
 */
static void
jitter(struct litmus *l, int id)
{
	uint64_t x = l->rng[id];
	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	l->rng[id] = x;
	for (uint64_t i = x % 32; i > 0; i--)
		tu_relax();
}

/* At least 0.1% of the iterations: the outcome really occurred, not once by luck. */
static void
occurred(const struct litmus *l, uint64_t count, const char *what)
{
	if (count * 1000 < l->iterations)
		fail_msg("%s: %llu of %llu iterations (less than 0.1%%): the threads did not race",
			 what, (unsigned long long)count, (unsigned long long)l->iterations);
}

static void *
litmus_thread(void *arg)
{
	struct litmus *l = arg;

	for (uint64_t it = 0; it < l->iterations; it++) {
		if (l->setup != NULL)
			l->setup(l, it);
		tu_barrier_wait(&l->barrier);
		jitter(l, 1);
		l->actor(l, 1, it);
		tu_barrier_wait(&l->barrier);
		tu_barrier_wait(&l->barrier); /* judge runs between these */
	}
	return NULL;
}

static void
litmus_run(struct litmus *l)
{
	pthread_t th;
	void (*setup)(struct litmus *, uint64_t) = l->setup;

	l->iterations = iterations();
	l->rng[0] = 0x9e3779b97f4a7c15u;
	l->rng[1] = 0xd1b54a32d192ed03u;
	tu_barrier_init(&l->barrier, 2);
	l->setup = NULL; /* only thread 0 sets up */
	assert_int_equal(pthread_create(&th, NULL, litmus_thread, l), 0);
	for (uint64_t it = 0; it < l->iterations; it++) {
		if (setup != NULL)
			setup(l, it);
		tu_barrier_wait(&l->barrier);
		jitter(l, 0);
		l->actor(l, 0, it);
		tu_barrier_wait(&l->barrier);
		l->judge(l, it);
		tu_barrier_wait(&l->barrier);
	}
	assert_int_equal(pthread_join(th, NULL), 0);
}

static ns_ring *
make_ring(uint32_t producer, uint64_t capacity)
{
	struct ns_ring_opts o = NS_RING_OPTS_INIT;
	ns_ring *r = NULL;

	o.capacity = capacity;
	o.slot_size = 8;
	o.producer = producer;
	assert_int_equal(ns_ring_create(&r, &o), 0);
	return r;
}

/*
 * 1. MULTI publish order: thread 0 publishes s then s+1; thread 1 reads availability of s+1,
 * then of s. Forbidden: s+1 available but s not.
 */
static void
order_setup(struct litmus *l, uint64_t it)
{
	(void)it;
	l->seq = ns_ring_claim_n(l->ring, 2);
}

static void
order_actor(struct litmus *l, int id, uint64_t it)
{
	(void)it;
	if (id == 0) {
		ns_ring_publish(l->ring, l->seq);
		ns_ring_publish(l->ring, l->seq + 1);
	} else {
		int second = ns_ring_is_published(l->ring, l->seq + 1);
		int first = ns_ring_is_published(l->ring, l->seq);
		l->result[1] = second * 2 + first;
	}
}

static void
order_judge(struct litmus *l, uint64_t it)
{
	(void)it;
	l->histogram[l->result[1]]++;
	if (l->result[1] == 2) /* second seen, first not */
		l->forbidden++;
}

static void
mp_publish_order_is_never_seen_reversed(void **state)
{
	(void)state;
	struct litmus l = { .setup = order_setup, .actor = order_actor, .judge = order_judge };

	l.ring = make_ring(NS_PRODUCER_MULTI, 1024);
	litmus_run(&l);
	printf("# neither %llu, first only %llu, both %llu, second only (forbidden) %llu\n",
	       (unsigned long long)l.histogram[0], (unsigned long long)l.histogram[1],
	       (unsigned long long)l.histogram[3], (unsigned long long)l.histogram[2]);
	assert_int_equal(l.forbidden, 0);
	occurred(&l, l.histogram[0], "read before the publishes");
	occurred(&l, l.histogram[3], "read after the publishes");
	ns_ring_destroy(l.ring);
}

/*
 * 2. Payload before sequence: thread 0 writes the payload (plain store) and publishes;
 * thread 1 reads the payload only if the sequence is published. Forbidden: published but
 * the payload is stale. Under TSan a missing release/acquire pair is also reported as a race.
 */
static void
payload_setup(struct litmus *l, uint64_t it)
{
	(void)it;
	l->seq = ns_ring_claim(l->ring);
}

static void
payload_actor(struct litmus *l, int id, uint64_t it)
{
	uint64_t *slot = ns_ring_slot(l->ring, l->seq);

	if (id == 0) {
		*slot = it + 1;
		ns_ring_publish(l->ring, l->seq);
	} else if (ns_ring_is_published(l->ring, l->seq) == 1) {
		l->result[1] = *slot == it + 1 ? 1 : 2;
	} else {
		l->result[1] = 0;
	}
}

static void
payload_judge(struct litmus *l, uint64_t it)
{
	(void)it;
	l->histogram[l->result[1]]++;
	if (l->result[1] == 2)
		l->forbidden++;
}

static void
payload_is_visible_with_its_sequence(void **state)
{
	(void)state;
	for (uint32_t mode = 0; mode < 2; mode++) {
		struct litmus l = { .setup = payload_setup,
				    .actor = payload_actor,
				    .judge = payload_judge };

		l.ring = make_ring(mode, 1024);
		litmus_run(&l);
		printf("# %s: not yet %llu, seen with payload %llu, stale payload (forbidden) "
		       "%llu\n",
		       mode ? "multi" : "single", (unsigned long long)l.histogram[0],
		       (unsigned long long)l.histogram[1], (unsigned long long)l.histogram[2]);
		assert_int_equal(l.forbidden, 0);
		occurred(&l, l.histogram[0], "read before the publish");
		occurred(&l, l.histogram[1], "read after the publish");
		ns_ring_destroy(l.ring);
	}
}

/*
 * 3. No lost claim: both threads claim one slot by fetch-and-add at once. Forbidden: the
 * same sequence twice, or the cursor not advanced by exactly two.
 */
static void
claim_setup(struct litmus *l, uint64_t it)
{
	(void)it;
	l->seq = ns_ring_cursor(l->ring);
}

static void
claim_actor(struct litmus *l, int id, uint64_t it)
{
	(void)it;
	l->result[id] = ns_ring_claim(l->ring);
}

static void
claim_judge(struct litmus *l, uint64_t it)
{
	(void)it;
	int64_t lo = l->result[0] < l->result[1] ? l->result[0] : l->result[1];
	int64_t hi = l->result[0] < l->result[1] ? l->result[1] : l->result[0];
	bool ok = lo == l->seq + 1 && hi == l->seq + 2 && ns_ring_cursor(l->ring) == l->seq + 2;

	l->histogram[l->result[0] < l->result[1] ? 0 : 1]++;
	if (!ok)
		l->forbidden++;
}

static void
mp_claim_never_loses_an_update(void **state)
{
	(void)state;
	struct litmus l = { .setup = claim_setup, .actor = claim_actor, .judge = claim_judge };

	l.ring = make_ring(NS_PRODUCER_MULTI, 1024);
	litmus_run(&l);
	printf("# thread 0 first %llu, thread 1 first %llu, lost or duplicated (forbidden) %llu\n",
	       (unsigned long long)l.histogram[0], (unsigned long long)l.histogram[1],
	       (unsigned long long)l.forbidden);
	assert_int_equal(l.forbidden, 0);
	occurred(&l, l.histogram[0], "thread 0 claimed first");
	occurred(&l, l.histogram[1], "thread 1 claimed first");
	ns_ring_destroy(l.ring);
}

/*
 * 4. try-claim never over-claims: the consumer gate leaves exactly one free slot and both
 * threads try to claim it. Forbidden: both succeed, or both fail.
 */
static void
try_setup(struct litmus *l, uint64_t it)
{
	(void)it;
	int64_t cursor = ns_ring_cursor(l->ring);

	/* The gate trails so that exactly one of the 4 slots is free. */
	nsi_gate_release(l->ring, l->gate, cursor - 3);
	l->seq = cursor;
}

static void
try_actor(struct litmus *l, int id, uint64_t it)
{
	(void)it;
	l->result[id] = ns_ring_try_claim(l->ring);
}

static void
try_judge(struct litmus *l, uint64_t it)
{
	(void)it;
	bool ok0 = l->result[0] >= 0;
	bool ok1 = l->result[1] >= 0;

	l->histogram[(ok0 ? 1 : 0) + (ok1 ? 2 : 0)]++;
	if (ok0 == ok1)
		l->forbidden++;
	else if ((ok0 ? l->result[0] : l->result[1]) != l->seq + 1)
		l->forbidden++;
	if (!ok0 && l->result[0] != -EAGAIN)
		l->forbidden++;
	if (!ok1 && l->result[1] != -EAGAIN)
		l->forbidden++;
}

static void
mp_try_claim_never_hands_out_a_slot_twice(void **state)
{
	(void)state;
	struct litmus l = { .setup = try_setup, .actor = try_actor, .judge = try_judge };
	int64_t start;

	l.ring = make_ring(NS_PRODUCER_MULTI, 4);
	assert_int_equal(nsi_gate_register(l.ring, &l.gate, &start, NSI_GATE_AT_CURSOR, NULL), 0);
	assert_int_equal(ns_ring_claim_n(l.ring, 3), 0);
	litmus_run(&l);
	printf("# thread 0 won %llu, thread 1 won %llu, both or neither (forbidden) %llu\n",
	       (unsigned long long)l.histogram[1], (unsigned long long)l.histogram[2],
	       (unsigned long long)l.forbidden);
	assert_int_equal(l.forbidden, 0);
	occurred(&l, l.histogram[1], "thread 0 won");
	occurred(&l, l.histogram[2], "thread 1 won");
	ns_ring_destroy(l.ring);
}

/*
 * 5. No torn sequence: thread 0 stores a value with all bits flipped from the last; thread 1
 * loads once. Forbidden: any value other than the old or the new one.
 */
static struct nsi_seq torn_seq;

static void
torn_setup(struct litmus *l, uint64_t it)
{
	(void)it;
	l->seq = nsi_seq_load_relaxed(&torn_seq);
}

static void
torn_actor(struct litmus *l, int id, uint64_t it)
{
	(void)it;
	if (id == 0)
		nsi_seq_store_release(&torn_seq, ~l->seq);
	else
		l->result[1] = nsi_seq_load_acquire(&torn_seq);
}

static void
torn_judge(struct litmus *l, uint64_t it)
{
	(void)it;
	if (l->result[1] == l->seq)
		l->histogram[0]++;
	else if (l->result[1] == ~l->seq)
		l->histogram[1]++;
	else
		l->forbidden++;
}

static void
sequence_reads_are_never_torn(void **state)
{
	(void)state;
	struct litmus l = { .setup = torn_setup, .actor = torn_actor, .judge = torn_judge };

	nsi_seq_init(&torn_seq, INT64_C(0x5555555555555555));
	litmus_run(&l);
	printf("# old %llu, new %llu, torn (forbidden) %llu\n", (unsigned long long)l.histogram[0],
	       (unsigned long long)l.histogram[1], (unsigned long long)l.forbidden);
	assert_int_equal(l.forbidden, 0);
	occurred(&l, l.histogram[0], "read the old value");
	occurred(&l, l.histogram[1], "read the new value");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(mp_publish_order_is_never_seen_reversed),
		cmocka_unit_test(payload_is_visible_with_its_sequence),
		cmocka_unit_test(mp_claim_never_loses_an_update),
		cmocka_unit_test(mp_try_claim_never_hands_out_a_slot_twice),
		cmocka_unit_test(sequence_reads_are_never_torn),
	};
	return cmocka_run_group_tests_name("litmus", tests, NULL, NULL);
}

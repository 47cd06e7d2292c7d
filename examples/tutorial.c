/* SPDX-License-Identifier: MIT */
/*
 * The tutorial's program (docs/tutorial.md), whole: orders pass three stages on one ring.
 * decode splits the raw word into quantity and price, price computes the notional, journal
 * adds the notionals up. The tutorial's code blocks are excerpts of this file (the docs suite
 * checks that they are), and the examples suite runs it.
 *
 *   tutorial [ORDERS]      (default 1000000)
 *
 * Prints the journaled total and the total computed directly; exits 0 when they agree.
 */
#include <stdio.h>
#include <stdlib.h>

#include <nanostream/nanostream.h>

struct order {
	uint64_t raw;	   /* as received */
	uint32_t qty;	   /* decode */
	uint32_t px;	   /* decode */
	uint64_t notional; /* price */
};

/* Order i as the feed sends it: price i % 50 + 10 in the high word, quantity i % 100 + 1. */
static uint64_t
make_raw(int64_t i)
{
	return (uint64_t)(i % 50 + 10) << 32 | (uint64_t)(i % 100 + 1);
}

static int
decode(void *ctx, void *slot, int64_t seq, bool end_of_batch)
{
	struct order *o = slot;
	(void)ctx, (void)seq, (void)end_of_batch;
	o->qty = (uint32_t)o->raw;
	o->px = (uint32_t)(o->raw >> 32);
	return 0;
}

static int
price(void *ctx, void *slot, int64_t seq, bool end_of_batch)
{
	struct order *o = slot;
	(void)ctx, (void)seq, (void)end_of_batch;
	o->notional = (uint64_t)o->qty * o->px;
	return 0;
}

static int
journal(void *ctx, void *slot, int64_t seq, bool end_of_batch)
{
	(void)seq, (void)end_of_batch;
	*(uint64_t *)ctx += ((const struct order *)slot)->notional;
	return 0; /* a negative errno would go to the error policy */
}

static int
receive(void *slot, int64_t seq, void *arg)
{
	struct order *o = slot;
	(void)arg;
	o->raw = make_raw(seq);
	return 0;
}

int
main(int argc, char **argv)
{
	const int orders = argc > 1 ? atoi(argv[1]) : 1000000;
	uint64_t total = 0; /* the journal's sum; read once the stages have stopped */

	struct ns_ring_opts ro = NS_RING_OPTS_INIT;
	ro.capacity = 1024;		     /* a power of two */
	ro.slot_size = sizeof(struct order); /* a multiple of 8 */
	ro.wait = NS_WAIT_YIELD;	     /* four threads on a small machine: do not spin */
	ns_ring *ring;
	int rc = ns_ring_create(&ring, &ro);
	if (rc < 0) {
		fprintf(stderr, "ns_ring_create: %s\n", ns_strerror(rc));
		return 1;
	}

	ns_event_fn stages[3] = { decode, price, journal };
	ns_consumer *c[3];
	for (int i = 0; i < 3; i++) {
		struct ns_consumer_opts co = NS_CONSUMER_OPTS_INIT;
		co.on_event = stages[i];
		co.ctx = &total;
		co.after = i > 0 ? &c[i - 1] : NULL;
		co.after_count = i > 0 ? 1 : 0;
		if (ns_consumer_create(&c[i], ring, &co) < 0 ||
		    ns_consumer_start(c[i], -1, "pipeline") < 0)
			return 1;
	}

	/* The first half of the orders by hand, the rest through a translator. */
	for (int i = 0; i < orders / 2; i++) {
		int64_t seq = ns_ring_claim(ring); /* waits while the ring is full */
		struct order *o = ns_ring_slot(ring, seq);
		o->raw = make_raw(i);
		ns_ring_publish(ring, seq);
	}
	for (int i = orders / 2; i < orders; i++)
		ns_publish(ring, receive, NULL);

	/* Refuse new claims, wait (here up to 60 s) until every stage handled every order,
	 * then halt the ring: the stages return -ESHUTDOWN. */
	ns_ring_drain(ring, ns_clock_ns() + INT64_C(60000000000), NULL);
	for (int i = 0; i < 3; i++)
		ns_consumer_join(c[i]);
	for (int i = 2; i >= 0; i--) /* downstream stages first */
		ns_consumer_destroy(c[i]);
	ns_ring_destroy(ring);

	uint64_t expected = 0;
	for (int64_t i = 0; i < orders; i++)
		expected += (uint64_t)(i % 100 + 1) * (uint64_t)(i % 50 + 10);
	printf("%d orders: journaled notional %llu (expected %llu)\n", orders,
	       (unsigned long long)total, (unsigned long long)expected);
	return total == expected ? 0 : 1;
}

/* SPDX-License-Identifier: MIT */
/*
 * Diamond: a journaller and a replicator handle each event in parallel; the business logic
 * runs after both, so it never acts on an event that is not yet journaled and replicated.
 * Two producer threads publish into a multi-producer ring.
 */
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>

#include <nanostream/nanostream.h>

#define EVENTS_PER_PRODUCER 500000

struct request {
	uint64_t amount;
	uint8_t journaled;
	uint8_t replicated;
};

static int
journal(void *ctx, void *slot, int64_t seq, bool end_of_batch)
{
	(void)ctx, (void)seq, (void)end_of_batch;
	((struct request *)slot)->journaled = 1;
	return 0;
}

static int
replicate(void *ctx, void *slot, int64_t seq, bool end_of_batch)
{
	(void)ctx, (void)seq, (void)end_of_batch;
	((struct request *)slot)->replicated = 1;
	return 0;
}

struct ledger {
	uint64_t balance;
	uint64_t unsafe; /* requests seen before both upstream stages finished them */
};

static int
apply(void *ctx, void *slot, int64_t seq, bool end_of_batch)
{
	struct ledger *l = ctx;
	const struct request *r = slot;

	(void)seq, (void)end_of_batch;
	if (!r->journaled || !r->replicated)
		l->unsafe++;
	l->balance += r->amount;
	return 0;
}

static void *
produce(void *arg)
{
	ns_ring *ring = arg;

	for (int i = 0; i < EVENTS_PER_PRODUCER; i++) {
		int64_t seq = ns_ring_claim(ring);
		struct request *r = ns_ring_slot(ring, seq);
		r->amount = 3;
		r->journaled = 0;
		r->replicated = 0;
		ns_ring_publish(ring, seq);
	}
	return NULL;
}

int
main(void)
{
	struct ns_ring_opts ro = NS_RING_OPTS_INIT;
	struct ns_consumer_opts co = NS_CONSUMER_OPTS_INIT;
	struct ledger ledger = { 0 };
	ns_consumer *both[2], *logic;
	pthread_t producers[2];
	ns_ring *ring;

	ro.capacity = 1024;
	ro.slot_size = sizeof(struct request);
	ro.producer = NS_PRODUCER_MULTI;
	ro.wait = NS_WAIT_YIELD;
	if (ns_ring_create(&ring, &ro) < 0)
		return 1;
	co.on_event = journal;
	if (ns_consumer_create(&both[0], ring, &co) < 0)
		return 1;
	co.on_event = replicate;
	if (ns_consumer_create(&both[1], ring, &co) < 0)
		return 1;
	co.on_event = apply;
	co.ctx = &ledger;
	co.after = both; /* after the journaller and the replicator */
	co.after_count = 2;
	if (ns_consumer_create(&logic, ring, &co) < 0)
		return 1;
	ns_consumer_start(both[0], -1, "journal");
	ns_consumer_start(both[1], -1, "replicate");
	ns_consumer_start(logic, -1, "logic");

	for (int i = 0; i < 2; i++)
		pthread_create(&producers[i], NULL, produce, ring);
	for (int i = 0; i < 2; i++)
		pthread_join(producers[i], NULL);
	ns_ring_drain(ring, ns_clock_ns() + INT64_C(60000000000), NULL);
	ns_consumer_join(logic);
	ns_consumer_join(both[0]);
	ns_consumer_join(both[1]);

	printf("balance %" PRIu64 " (expected %d), unsafe %" PRIu64 "\n", ledger.balance,
	       2 * EVENTS_PER_PRODUCER * 3, ledger.unsafe);
	int ok = ledger.balance == 2 * EVENTS_PER_PRODUCER * 3 && ledger.unsafe == 0;
	ns_consumer_destroy(logic);
	ns_consumer_destroy(both[0]);
	ns_consumer_destroy(both[1]);
	ns_ring_destroy(ring);
	return ok ? 0 : 1;
}

/* SPDX-License-Identifier: MIT */
/*
 * Multicast: three consumers each see every event. One keeps a running total, one the
 * maximum, one counts odd values; all three run on their own threads, in parallel.
 */
#include <inttypes.h>
#include <stdio.h>

#include <nanostream/nanostream.h>

#define EVENTS 1000000

struct tick {
	uint64_t price;
};

static int
add_up(void *ctx, void *slot, int64_t seq, bool end_of_batch)
{
	(void)seq, (void)end_of_batch;
	*(uint64_t *)ctx += ((const struct tick *)slot)->price;
	return 0;
}

static int
track_max(void *ctx, void *slot, int64_t seq, bool end_of_batch)
{
	uint64_t price = ((const struct tick *)slot)->price;

	(void)seq, (void)end_of_batch;
	if (price > *(uint64_t *)ctx)
		*(uint64_t *)ctx = price;
	return 0;
}

static int
count_odd(void *ctx, void *slot, int64_t seq, bool end_of_batch)
{
	(void)seq, (void)end_of_batch;
	*(uint64_t *)ctx += ((const struct tick *)slot)->price & 1;
	return 0;
}

int
main(void)
{
	struct ns_ring_opts ro = NS_RING_OPTS_INIT;
	ns_event_fn handlers[3] = { add_up, track_max, count_odd };
	uint64_t results[3] = { 0, 0, 0 };
	ns_consumer *consumers[3];
	ns_ring *ring;

	ro.capacity = 1024;
	ro.slot_size = sizeof(struct tick);
	ro.wait = NS_WAIT_YIELD;
	if (ns_ring_create(&ring, &ro) < 0)
		return 1;
	for (int i = 0; i < 3; i++) {
		struct ns_consumer_opts co = NS_CONSUMER_OPTS_INIT;
		co.on_event = handlers[i];
		co.ctx = &results[i];
		if (ns_consumer_create(&consumers[i], ring, &co) < 0 ||
		    ns_consumer_start(consumers[i], -1, "multicast") < 0)
			return 1;
	}

	for (uint64_t i = 1; i <= EVENTS; i++) {
		int64_t seq = ns_ring_claim(ring);
		((struct tick *)ns_ring_slot(ring, seq))->price = i;
		ns_ring_publish(ring, seq);
	}
	ns_ring_drain(ring, ns_clock_ns() + INT64_C(60000000000), NULL);
	for (int i = 0; i < 3; i++)
		ns_consumer_join(consumers[i]);

	printf("total %" PRIu64 ", max %" PRIu64 ", odd %" PRIu64 "\n", results[0], results[1],
	       results[2]);
	int ok = results[0] == (uint64_t)EVENTS * (EVENTS + 1) / 2 && results[1] == EVENTS &&
		 results[2] == EVENTS / 2;
	for (int i = 0; i < 3; i++)
		ns_consumer_destroy(consumers[i]);
	ns_ring_destroy(ring);
	return ok ? 0 : 1;
}

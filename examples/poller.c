/* SPDX-License-Identifier: MIT */
/*
 * Poller: a single-threaded event loop that handles ring events between its other duties,
 * without a consumer thread. Here a producer thread feeds the ring and the main loop polls.
 */
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>

#include <nanostream/nanostream.h>

#define EVENTS 1000000

static void *
produce(void *arg)
{
	ns_ring *ring = arg;

	for (uint64_t i = 1; i <= EVENTS; i++) {
		int64_t seq = ns_ring_claim(ring);
		*(uint64_t *)ns_ring_slot(ring, seq) = i;
		ns_ring_publish(ring, seq);
	}
	return NULL;
}

static int
on_event(void *ctx, void *slot, int64_t seq, bool end_of_batch)
{
	(void)seq, (void)end_of_batch;
	*(uint64_t *)ctx += *(const uint64_t *)slot;
	return 0;
}

int
main(void)
{
	struct ns_ring_opts ro = NS_RING_OPTS_INIT;
	struct ns_poller_opts po = NS_POLLER_OPTS_INIT;
	uint64_t sum = 0, idle_polls = 0, other_work = 0;
	ns_poller *poller;
	pthread_t producer;
	ns_ring *ring;

	ro.capacity = 1024;
	ro.slot_size = 8;
	if (ns_ring_create(&ring, &ro) < 0 || ns_poller_create(&poller, ring, &po) < 0)
		return 1;
	pthread_create(&producer, NULL, produce, ring);

	while (ns_consumer_sequence(ns_poller_consumer(poller)) < EVENTS - 1) {
		int state = ns_poller_poll(poller, on_event, &sum, 256);
		if (state < 0)
			return 1;
		if (state == NS_POLLER_IDLE) {
			idle_polls++;
			other_work++; /* the loop's other duties (timers, sockets, ...) go here */
		}
	}
	pthread_join(producer, NULL);

	printf("sum %" PRIu64 " (expected %" PRIu64 "), idle polls %" PRIu64 "\n", sum,
	       (uint64_t)EVENTS * (EVENTS + 1) / 2, idle_polls);
	int ok = sum == (uint64_t)EVENTS * (EVENTS + 1) / 2 && other_work == idle_polls;
	ns_poller_destroy(poller);
	ns_ring_destroy(ring);
	return ok ? 0 : 1;
}

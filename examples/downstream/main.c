/* SPDX-License-Identifier: MIT */
/*
 * A program outside the nanostream tree: it finds the installed library through pkg-config
 * (Makefile) or Meson's dependency('nanostream') (meson.build), moves 1,000,000 events from
 * this thread to a consumer thread and checks their sum.
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include <nanostream/nanostream.h>

#define EVENTS 1000000u

static int
add(void *ctx, void *slot, int64_t seq, bool end_of_batch)
{
	uint64_t *sum = ctx, v;
	(void)seq, (void)end_of_batch;
	memcpy(&v, slot, sizeof(v));
	*sum += v;
	return 0;
}

int
main(void)
{
	struct ns_ring_opts ro = NS_RING_OPTS_INIT;
	struct ns_consumer_opts co = NS_CONSUMER_OPTS_INIT;
	ns_ring *ring = NULL;
	ns_consumer *consumer = NULL;
	uint64_t sum = 0;
	int rc;

	if (ns_version_number() != NS_VERSION_NUMBER)
		fprintf(stderr, "note: headers %s, library %s\n", NS_VERSION_STRING, ns_version());
	ro.slot_size = 8;
	ro.capacity = 4096;
	rc = ns_ring_create(&ring, &ro);
	if (rc != 0) {
		fprintf(stderr, "ns_ring_create: %s\n", ns_strerror(rc));
		return 1;
	}
	co.on_event = add;
	co.ctx = &sum;
	rc = ns_consumer_create(&consumer, ring, &co);
	if (rc == 0)
		rc = ns_consumer_start(consumer, -1, "downstream");
	if (rc != 0) {
		fprintf(stderr, "consumer: %s\n", ns_strerror(rc));
		return 1;
	}
	for (uint64_t i = 1; i <= EVENTS; i++) {
		int64_t seq = ns_ring_claim(ring);
		if (seq < 0)
			return 1;
		memcpy(ns_ring_slot(ring, seq), &i, sizeof(i));
		ns_ring_publish(ring, seq);
	}
	/* Every event handled, then the consumer stops; halt anyway if that takes over 10 s. */
	rc = ns_ring_drain(ring, ns_clock_ns() + 10 * INT64_C(1000000000), NULL);
	if (rc != 0)
		ns_ring_halt(ring);
	ns_consumer_join(consumer);
	ns_consumer_destroy(consumer);
	ns_ring_destroy(ring);
	uint64_t want = (uint64_t)EVENTS * (EVENTS + 1) / 2;
	printf("downstream: nanostream %s, %u events, sum %" PRIu64 " (%s)\n", ns_version(), EVENTS,
	       sum, sum == want && rc == 0 ? "ok" : "WRONG");
	return sum == want && rc == 0 ? 0 : 1;
}

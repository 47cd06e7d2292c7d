/* SPDX-License-Identifier: MIT */
/*
 * The quick-start demo: one producer pushes events through a ring to a consumer thread, which
 * verifies a checksum over every event. Prints the rate and the checksum.
 *
 *   demo [events] [spin|yield|sleep|blocking|lite|timeout|phased]
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <nanostream/nanostream.h>

struct event {
	uint64_t value;
};

struct totals {
	uint64_t expected_events;
	uint64_t events;
	uint64_t checksum;
	uint64_t next_value; /* events must arrive in order */
	uint64_t out_of_order;
	ns_consumer *self;
};

/* A 64-bit mix (splitmix64's finaliser) so the checksum depends on every event's value. */
static uint64_t
mix(uint64_t x)
{
	x ^= x >> 30;
	x *= UINT64_C(0xbf58476d1ce4e5b9);
	x ^= x >> 27;
	x *= UINT64_C(0x94d049bb133111eb);
	return x ^ (x >> 31);
}

static int
on_event(void *ctx, void *slot, int64_t seq, bool end_of_batch)
{
	struct totals *t = ctx;
	const struct event *e = slot;

	(void)seq;
	(void)end_of_batch;
	if (e->value != t->next_value)
		t->out_of_order++;
	t->next_value = e->value + 1;
	t->checksum += mix(e->value);
	if (++t->events == t->expected_events)
		ns_consumer_halt(t->self);
	return 0;
}

static void *
consumer_thread(void *arg)
{
	ns_consumer *c = arg;
	intptr_t rc = ns_consumer_run(c);
	return (void *)rc;
}

static int
parse_wait(const char *s)
{
	static const char *const names[] = { "spin", "yield",	"sleep", "blocking",
					     "lite", "timeout", "phased" };
	for (int i = 0; i < (int)(sizeof(names) / sizeof(names[0])); i++) {
		if (strcmp(s, names[i]) == 0)
			return i;
	}
	return -1;
}

int
main(int argc, char **argv)
{
	uint64_t n = argc > 1 ? strtoull(argv[1], NULL, 10) : 10000000;
	int wait = argc > 2 ? parse_wait(argv[2]) : NS_WAIT_YIELD;
	struct ns_ring_opts ro = NS_RING_OPTS_INIT;
	struct ns_consumer_opts co = NS_CONSUMER_OPTS_INIT;
	struct totals t = { .expected_events = n };
	ns_ring *ring = NULL;
	ns_consumer *consumer = NULL;
	pthread_t th;
	void *ret;
	int rc;

	if (n == 0 || wait < 0) {
		fprintf(stderr,
			"usage: %s [events] [spin|yield|sleep|blocking|lite|timeout|phased]\n",
			argv[0]);
		return 2;
	}
	ro.capacity = 4096;
	ro.slot_size = sizeof(struct event);
	ro.wait = (uint32_t)wait;
	rc = ns_ring_create(&ring, &ro);
	if (rc < 0) {
		fprintf(stderr, "ns_ring_create: %s\n", ns_strerror(rc));
		return 1;
	}
	co.on_event = on_event;
	co.ctx = &t;
	rc = ns_consumer_create(&consumer, ring, &co);
	if (rc < 0) {
		fprintf(stderr, "ns_consumer_create: %s\n", ns_strerror(rc));
		return 1;
	}
	t.self = consumer;
	if (pthread_create(&th, NULL, consumer_thread, consumer) != 0) {
		fprintf(stderr, "pthread_create failed\n");
		return 1;
	}

	uint64_t expected = 0;
	int64_t start = ns_clock_ns();
	for (uint64_t i = 0; i < n; i++) {
		int64_t seq = ns_ring_claim(ring);
		if (seq < 0) {
			fprintf(stderr, "ns_ring_claim: %s\n", ns_strerror((int)seq));
			return 1;
		}
		struct event *e = ns_ring_slot(ring, seq);
		e->value = i;
		ns_ring_publish(ring, seq);
		expected += mix(i);
	}
	pthread_join(th, &ret);
	int64_t elapsed = ns_clock_ns() - start;

	printf("nanostream %s demo: 1 producer -> ring of %" PRIu64 " slots -> 1 consumer thread\n",
	       ns_version(), ns_ring_capacity(ring));
	printf("events      %" PRIu64 " sent, %" PRIu64 " received, %" PRIu64 " out of order\n", n,
	       t.events, t.out_of_order);
	printf("rate        %.1f M events/s (%.2f ns/event)\n", (double)n * 1e3 / (double)elapsed,
	       (double)elapsed / (double)n);
	printf("checksum    %016" PRIx64 " expected %016" PRIx64 " -> %s\n", t.checksum, expected,
	       t.checksum == expected ? "OK" : "MISMATCH");

	ns_consumer_destroy(consumer);
	ns_ring_destroy(ring);
	return (intptr_t)ret == 0 && t.checksum == expected && t.events == n && t.out_of_order == 0
		       ? 0
		       : 1;
}

/* SPDX-License-Identifier: MIT */
/*
 * C on the other side of the Python binding's ring (tests/python/test_ring.py loads this with
 * ctypes): a producer thread that publishes numbered events, and a consumer thread
 * (ns_consumer) that checks what Python publishes. Each event: u64 sequence number, u64 its
 * check word (tu_mix64() of the number), the rest of the slot zero.
 */
#include <pthread.h>
#include <stdint.h>
#include <string.h>

#include <nanostream/nanostream.h>

#include "testutil.h"

uint64_t nspy_mix(uint64_t x);
int nspy_produce_start(ns_ring *ring, uint64_t count);
int nspy_produce_join(void);
int nspy_consume_start(ns_ring *ring);
int nspy_consume_join(uint64_t *count, uint64_t *bad, uint64_t *sum);

/* The tests' mix function (testutil.h), exported for Python's checks. */
uint64_t
nspy_mix(uint64_t x)
{
	return tu_mix64(x);
}

static struct {
	pthread_t thread;
	ns_ring *ring;
	uint64_t count;
	int rc;
} prod;

static void *
produce(void *arg)
{
	(void)arg;
	uint32_t size = ns_ring_slot_size(prod.ring);
	for (uint64_t i = 0; i < prod.count; i++) {
		int64_t seq = ns_ring_claim(prod.ring);
		if (seq < 0) {
			prod.rc = (int)seq;
			return NULL;
		}
		uint64_t *slot = ns_ring_slot(prod.ring, seq);
		memset(slot, 0, size);
		slot[0] = i;
		slot[1] = tu_mix64(i);
		ns_ring_publish(prod.ring, seq);
	}
	return NULL;
}

int
nspy_produce_start(ns_ring *ring, uint64_t count)
{
	prod.ring = ring;
	prod.count = count;
	prod.rc = 0;
	return -pthread_create(&prod.thread, NULL, produce, NULL);
}

int
nspy_produce_join(void)
{
	pthread_join(prod.thread, NULL);
	return prod.rc;
}

static struct {
	ns_consumer *consumer;
	uint64_t count, bad, sum;
} cons;

static int
on_event(void *ctx, void *slot, int64_t seq, bool end_of_batch)
{
	(void)ctx;
	(void)seq;
	(void)end_of_batch;
	const uint64_t *e = slot;
	if (e[0] != cons.count || e[1] != tu_mix64(e[0]))
		cons.bad++;
	cons.sum += e[0];
	cons.count++;
	return 0;
}

int
nspy_consume_start(ns_ring *ring)
{
	memset(&cons, 0, sizeof(cons));
	struct ns_consumer_opts o = NS_CONSUMER_OPTS_INIT;
	o.on_event = on_event;
	int rc = ns_consumer_create(&cons.consumer, ring, &o);
	if (rc != 0)
		return rc;
	return ns_consumer_start(cons.consumer, -1, "nspy-consumer");
}

int
nspy_consume_join(uint64_t *count, uint64_t *bad, uint64_t *sum)
{
	int rc = ns_consumer_join(cons.consumer);
	*count = cons.count;
	*bad = cons.bad;
	*sum = cons.sum;
	ns_consumer_destroy(cons.consumer);
	return rc;
}

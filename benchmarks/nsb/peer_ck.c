/* SPDX-License-Identifier: MIT */
/*
 * Concurrency Kit's ck_ring (Debian libck-dev) as a peer: single-producer single-consumer
 * where one producer, multi-producer (mpmc calls) for p2c1. ck_ring carries pointers; our
 * 64-bit values ride in them. It never waits: the harness spins (or yields) when full/empty.
 */
#include <ck_ring.h>
#include <stdlib.h>

#include "nsb.h"

struct ck_queue {
	ck_ring_t ring;
	ck_ring_buffer_t *buf;
	bool multi;
};

static void *
ckq_create(uint32_t capacity, uint32_t producers)
{
	struct ck_queue *q =
		aligned_alloc(NSB_LINE, (sizeof(*q) + NSB_LINE - 1) / NSB_LINE * NSB_LINE);
	if (q == NULL)
		return NULL;
	q->buf = aligned_alloc(NSB_LINE, capacity * sizeof(ck_ring_buffer_t));
	if (q->buf == NULL) {
		free(q);
		return NULL;
	}
	ck_ring_init(&q->ring, capacity);
	q->multi = producers > 1;
	return q;
}

static void
ckq_destroy(void *arg)
{
	struct ck_queue *q = arg;
	if (q != NULL)
		free(q->buf);
	free(q);
}

static bool
ckq_push(void *arg, uint64_t v)
{
	struct ck_queue *q = arg;
	void *p = (void *)(uintptr_t)v;
	return q->multi ? ck_ring_enqueue_mpmc(&q->ring, q->buf, p)
			: ck_ring_enqueue_spsc(&q->ring, q->buf, p);
}

static uint32_t
ckq_pop(void *arg, uint64_t *out, uint32_t max)
{
	struct ck_queue *q = arg;
	uint32_t n = 0;
	void *p;
	/* No burst call: take what is there, one by one, up to max. */
	while (n < max && (q->multi ? ck_ring_dequeue_mpmc(&q->ring, q->buf, &p)
				    : ck_ring_dequeue_spsc(&q->ring, q->buf, &p)))
		out[n++] = (uint64_t)(uintptr_t)p;
	return n;
}

const struct nsb_queue_ops nsb_ck_ops = {
	ckq_create, ckq_destroy, ckq_push, NULL, ckq_pop, NULL, false,
};

const struct nsb_workload nsb_ck_workloads[] = {
	{ "peer.ck.p1c1.b1",
	  "",
	  NSB_RATE,
	  2,
	  nsb_peer_flow,
	  { .wait = NSB_PEER_SPIN, .batch = 1, .producers = 1, .ops = &nsb_ck_ops },
	  "ck_ring spsc, 1 -> 1, busy spin" },
	{ "peer.ck.pingpong.rtt",
	  "",
	  NSB_LATENCY,
	  2,
	  nsb_peer_pingpong,
	  { .wait = NSB_PEER_SPIN, .batch = 1, .producers = 1, .ops = &nsb_ck_ops },
	  "ck_ring spsc, ping-pong, busy spin" },
	{ "peer.ck.p2c1",
	  "",
	  NSB_RATE,
	  3,
	  nsb_peer_flow,
	  { .wait = NSB_PEER_SPIN, .batch = 1, .producers = 2, .ops = &nsb_ck_ops },
	  "ck_ring mpmc, 2 producers -> 1 consumer, busy spin" },
	{ "peer.ck.p2c1",
	  ".yield",
	  NSB_RATE,
	  3,
	  nsb_peer_flow,
	  { .wait = NSB_PEER_YIELD, .batch = 1, .producers = 2, .ops = &nsb_ck_ops },
	  "ck_ring mpmc, 2 -> 1, yielding when full or empty" },
	{ NULL, NULL, 0, 0, NULL, { 0 }, NULL },
};

/* SPDX-License-Identifier: MIT */
/*
 * DPDK's rte_ring (librte-ring) as a peer, created on our own memory with rte_ring_init(), so
 * no EAL initialisation is needed. SP/SC for one producer, MP/SC for p2c1; bulk enqueue of 64
 * for b64 and burst dequeue for the consumer. It never waits: the harness spins or yields.
 */
#include <stdlib.h>

#include <rte_ring.h>

#include "nsb.h"

static void *
rteq_create(uint32_t capacity, uint32_t producers)
{
	ssize_t size = rte_ring_get_memsize(capacity);
	if (size < 0)
		return NULL;
	struct rte_ring *r =
		aligned_alloc(NSB_LINE, ((size_t)size + NSB_LINE - 1) / NSB_LINE * NSB_LINE);
	if (r == NULL)
		return NULL;
	unsigned flags = RING_F_SC_DEQ | (producers > 1 ? 0 : RING_F_SP_ENQ);
	if (rte_ring_init(r, "nsb", capacity, flags) != 0) {
		free(r);
		return NULL;
	}
	return r;
}

static void
rteq_destroy(void *r)
{
	free(r);
}

static bool
rteq_push(void *r, uint64_t v)
{
	return rte_ring_enqueue(r, (void *)(uintptr_t)v) == 0;
}

static bool
rteq_push_n(void *r, const uint64_t *v, uint32_t n)
{
	return rte_ring_enqueue_bulk(r, (void *const *)(const void *)v, n, NULL) == n;
}

static uint32_t
rteq_pop(void *r, uint64_t *out, uint32_t max)
{
	return rte_ring_dequeue_burst(r, (void **)(void *)out, max, NULL);
}

const struct nsb_queue_ops nsb_rte_ops = {
	rteq_create, rteq_destroy, rteq_push, rteq_push_n, rteq_pop, NULL, false,
};

const struct nsb_workload nsb_rte_workloads[] = {
	{ "peer.rte.p1c1.b1",
	  "",
	  NSB_RATE,
	  2,
	  nsb_peer_flow,
	  { .wait = NSB_PEER_SPIN, .batch = 1, .producers = 1, .ops = &nsb_rte_ops },
	  "rte_ring SP/SC, 1 -> 1, busy spin" },
	{ "peer.rte.p1c1.b64",
	  "",
	  NSB_RATE,
	  2,
	  nsb_peer_flow,
	  { .wait = NSB_PEER_SPIN, .batch = 64, .producers = 1, .ops = &nsb_rte_ops },
	  "rte_ring SP/SC, 1 -> 1, bulk enqueue of 64, busy spin" },
	{ "peer.rte.p1c1.b4",
	  "",
	  NSB_RATE,
	  2,
	  nsb_peer_flow,
	  { .wait = NSB_PEER_SPIN, .batch = 4, .producers = 1, .ops = &nsb_rte_ops },
	  "rte_ring SP/SC, 1 -> 1, bulk enqueue of 4, busy spin" },
	{ "peer.rte.p1c1.b16",
	  "",
	  NSB_RATE,
	  2,
	  nsb_peer_flow,
	  { .wait = NSB_PEER_SPIN, .batch = 16, .producers = 1, .ops = &nsb_rte_ops },
	  "rte_ring SP/SC, 1 -> 1, bulk enqueue of 16, busy spin" },
	{ "peer.rte.p1c1.b256",
	  "",
	  NSB_RATE,
	  2,
	  nsb_peer_flow,
	  { .wait = NSB_PEER_SPIN, .batch = 256, .producers = 1, .ops = &nsb_rte_ops },
	  "rte_ring SP/SC, 1 -> 1, bulk enqueue of 256, busy spin" },
	{ "peer.rte.pingpong.rtt",
	  "",
	  NSB_LATENCY,
	  2,
	  nsb_peer_pingpong,
	  { .wait = NSB_PEER_SPIN, .batch = 1, .producers = 1, .ops = &nsb_rte_ops },
	  "rte_ring SP/SC, ping-pong, busy spin" },
	{ "peer.rte.p2c1",
	  "",
	  NSB_RATE,
	  3,
	  nsb_peer_flow,
	  { .wait = NSB_PEER_SPIN, .batch = 1, .producers = 2, .ops = &nsb_rte_ops },
	  "rte_ring MP/SC, 2 producers -> 1 consumer, busy spin" },
	{ "peer.rte.p2c1",
	  ".yield",
	  NSB_RATE,
	  3,
	  nsb_peer_flow,
	  { .wait = NSB_PEER_YIELD, .batch = 1, .producers = 2, .ops = &nsb_rte_ops },
	  "rte_ring MP/SC, 2 -> 1, yielding when full or empty" },
	{ NULL, NULL, 0, 0, NULL, { 0 }, NULL },
};

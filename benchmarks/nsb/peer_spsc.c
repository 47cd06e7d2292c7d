/* SPDX-License-Identifier: MIT */
/*
 * A hand-written single-producer single-consumer ring: what a programmer writes when a queue
 * between two threads is all they need, and so the floor a queue-style use of our ring is
 * held to. Power-of-two array of 64-bit values; head and tail counters on lines of their own;
 * each side keeps a private copy of the other's counter and re-reads the shared one only
 * when the copy says full (producer) or empty (consumer). Written here for ns-bench.
 */
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "nsb.h"

struct spsc {
	uint64_t *buf;
	uint64_t mask;
	_Alignas(NSB_LINE) _Atomic uint64_t head; /* next to write: the producer's */
	uint64_t tail_cache;			  /* the producer's copy of tail */
	_Alignas(NSB_LINE) _Atomic uint64_t tail; /* next to read: the consumer's */
	uint64_t head_cache;			  /* the consumer's copy of head */
};

static void *
spsc_create(uint32_t capacity, uint32_t producers)
{
	if (producers != 1)
		return NULL;
	struct spsc *q = aligned_alloc(NSB_LINE, sizeof(struct spsc));
	if (q == NULL)
		return NULL;
	memset(q, 0, sizeof(*q));
	q->buf = aligned_alloc(NSB_LINE, capacity * sizeof(uint64_t));
	if (q->buf == NULL) {
		free(q);
		return NULL;
	}
	q->mask = capacity - 1;
	return q;
}

static void
spsc_destroy(void *arg)
{
	struct spsc *q = arg;
	if (q != NULL)
		free(q->buf);
	free(q);
}

static bool
spsc_push_n(void *arg, const uint64_t *v, uint32_t n)
{
	struct spsc *q = arg;
	uint64_t head = atomic_load_explicit(&q->head, memory_order_relaxed);
	if (head + n - q->tail_cache > q->mask + 1) {
		q->tail_cache = atomic_load_explicit(&q->tail, memory_order_acquire);
		if (head + n - q->tail_cache > q->mask + 1)
			return false;
	}
	for (uint32_t i = 0; i < n; i++)
		q->buf[(head + i) & q->mask] = v[i];
	atomic_store_explicit(&q->head, head + n, memory_order_release);
	return true;
}

static bool
spsc_push(void *arg, uint64_t v)
{
	return spsc_push_n(arg, &v, 1);
}

static uint32_t
spsc_pop(void *arg, uint64_t *out, uint32_t max)
{
	struct spsc *q = arg;
	uint64_t tail = atomic_load_explicit(&q->tail, memory_order_relaxed);
	if (q->head_cache - tail < max) {
		q->head_cache = atomic_load_explicit(&q->head, memory_order_acquire);
		if (q->head_cache == tail)
			return 0;
	}
	uint64_t n = q->head_cache - tail < max ? q->head_cache - tail : max;
	for (uint64_t i = 0; i < n; i++)
		out[i] = q->buf[(tail + i) & q->mask];
	atomic_store_explicit(&q->tail, tail + n, memory_order_release);
	return (uint32_t)n;
}

const struct nsb_queue_ops nsb_spsc_ops = {
	spsc_create, spsc_destroy, spsc_push, spsc_push_n, spsc_pop, NULL, false,
};

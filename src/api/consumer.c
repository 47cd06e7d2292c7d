/* SPDX-License-Identifier: MIT */
#include "config.h"

#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <nanostream/consumer.h>

#include "api/opts.h"
#include "core/ring.h"

struct ns_consumer {
	/* Read-mostly. */
	struct ns_ring *ring;
	ns_event_fn on_event;
	void *ctx;
	int64_t max_batch;
	uint32_t gate;
	bool is_gated;	  /* owns a gate (cleared when a handler error stops it) */
	uint32_t running; /* one ns_consumer_run() at a time */
	/* Written by other threads (ns_consumer_halt()), read once per batch. */
	uint32_t halt_requested NS_SHARED_ALIGNED;
	/* Written by the running thread once per batch, read by ns_consumer_sequence(). */
	int64_t sequence NS_SHARED_ALIGNED;
};

_Static_assert(offsetof(struct ns_consumer, halt_requested) % NS_FALSE_SHARING == 0 &&
		       offsetof(struct ns_consumer, sequence) % NS_FALSE_SHARING == 0 &&
		       offsetof(struct ns_consumer, sequence) >=
			       offsetof(struct ns_consumer, halt_requested) + NS_FALSE_SHARING,
	       "fields written by different threads sit on their own line pairs");

int
ns_consumer_create(ns_consumer **consumer, ns_ring *ring, const struct ns_consumer_opts *opts)
{
	struct ns_consumer_opts o;
	struct ns_consumer *c;
	int64_t start;
	int rc;

	if (consumer == NULL || ring == NULL || opts == NULL)
		return -EINVAL;
	rc = nsi_opts_copy(&o, sizeof(o), opts, opts->size);
	if (rc < 0)
		return rc;
	if (o.flags != 0 || o.reserved != 0 || o.on_event == NULL)
		return -EINVAL;
	if (nsi_ring_halted(ring))
		return -ESHUTDOWN;

	c = aligned_alloc(NS_FALSE_SHARING, sizeof(*c));
	if (c == NULL)
		return -ENOMEM;
	memset(c, 0, sizeof(*c));
	c->ring = ring;
	c->on_event = o.on_event;
	c->ctx = o.ctx;
	c->max_batch =
		o.max_batch != 0 && o.max_batch < ring->capacity ? o.max_batch : ring->capacity;
	rc = nsi_gate_register(ring, &c->gate, &start);
	if (rc < 0) {
		free(c);
		return rc;
	}
	c->is_gated = true;
	c->sequence = start;
	*consumer = c;
	return 0;
}

/* Leave the gating set: producers stop waiting on this consumer. */
static void
ungate(struct ns_consumer *c)
{
	if (c->is_gated) {
		nsi_gate_unregister(c->ring, c->gate);
		c->is_gated = false;
	}
}

static int
run_loop(struct ns_consumer *c)
{
	struct ns_ring *r = c->ring;
	const bool is_multi = r->producer == NS_PRODUCER_MULTI;
	int64_t next = nsi_load_relaxed_i64(&c->sequence) + 1;

	for (;;) {
		/* Pairs with the release in ns_consumer_halt(). */
		if (nsi_load_acquire_u32(&c->halt_requested) != 0)
			return 0;
		int64_t avail = nsi_ring_wait_for(r, next, &c->halt_requested, true);
		if (NS_UNLIKELY(avail < 0)) {
			if (avail == -ETIMEDOUT)
				continue; /* TIMEOUT_BLOCKING: nothing arrived in time; wait again */
			return avail == -ECANCELED ? 0 : (int)avail;
		}

		int64_t end = avail < next + c->max_batch - 1 ? avail : next + c->max_batch - 1;
		int64_t last = end; /* the last event delivered gets end_of_batch */
		while (is_multi && last >= next && nsi_mp_is_skipped(r, last))
			last--;
		for (int64_t s = next; s <= last; s++) {
			if (is_multi && nsi_mp_is_skipped(r, s))
				continue;
			int rc = c->on_event(c->ctx, nsi_ring_slot(r, s), s, s == last);
			if (NS_UNLIKELY(rc != 0)) {
				nsi_store_relaxed_i64(&c->sequence, s - 1);
				nsi_gate_release(r, c->gate, s - 1);
				ungate(c);
				return rc < 0 ? rc : -ECANCELED;
			}
		}
		nsi_store_relaxed_i64(&c->sequence, end);
		nsi_gate_release(r, c->gate, end);
		next = end + 1;
	}
}

int
ns_consumer_run(ns_consumer *consumer)
{
	uint32_t idle = 0;
	int rc;

	if (consumer == NULL)
		return -EINVAL;
	if (!nsi_cas_acq_rel_u32(&consumer->running, &idle, 1))
		return -EALREADY;
	rc = consumer->is_gated ? run_loop(consumer) : -EALREADY;
	nsi_store_release_u32(&consumer->running, 0);
	return rc;
}

int
ns_consumer_halt(ns_consumer *consumer)
{
	if (consumer == NULL)
		return -EINVAL;
	nsi_store_release_u32(&consumer->halt_requested, 1);
	/* It may be asleep on the publish signal: wake it (others re-check and sleep again). */
	nsi_signal_wake_all(&consumer->ring->publish_sig);
	return 0;
}

int64_t
ns_consumer_sequence(const ns_consumer *consumer)
{
	if (consumer == NULL)
		return -EINVAL;
	return nsi_load_relaxed_i64(&consumer->sequence);
}

void
ns_consumer_destroy(ns_consumer *consumer)
{
	if (consumer == NULL)
		return;
	ungate(consumer);
	free(consumer);
}

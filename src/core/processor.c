/* SPDX-License-Identifier: MIT */
#include "config.h"

#include <errno.h>

#include "core/processor.h"

/* A dependent consumer ignores the ring's halt until its upstream consumers have finished. */
static const uint32_t never_halted;

static void
count(uint64_t *counter, uint64_t n)
{
	/* Single writer: a plain add, published relaxed for ns_consumer_stats(). */
	nsi_store_relaxed_u64(counter, nsi_load_relaxed_u64(counter) + n);
}

int64_t
nsi_processor_upstream_min(const struct ns_consumer *c)
{
	int64_t min = INT64_MAX;

	for (uint32_t i = 0; i < c->after_count; i++) {
		/* Pairs with the release in nsi_processor_release(): their events are done. */
		int64_t s = nsi_load_acquire_i64(&c->after[i]->progress.sequence);
		if (s < min)
			min = s;
	}
	return min;
}

struct upstream_probe {
	const struct ns_consumer *consumer;
	int64_t target;
};

static int64_t
probe_upstream(const void *arg)
{
	const struct upstream_probe *p = arg;
	const struct ns_consumer *c = p->consumer;
	int64_t min = INT64_MAX;

	for (uint32_t i = 0; i < c->after_count; i++) {
		const struct ns_consumer *u = c->after[i];
		/* Finished first (acquire): the sequence read after it is then final. */
		uint32_t finished = nsi_load_acquire_u32(&u->progress.finished);
		int64_t s = nsi_load_acquire_i64(&u->progress.sequence);
		if (finished && s < p->target)
			return NSI_PROBE_BROKEN;
		if (s < min)
			min = s;
	}
	return min;
}

/* Highest sequence this consumer may handle now, waiting for it if needed. */
static int64_t
wait_available(struct ns_consumer *c, int64_t next)
{
	struct ns_ring *r = c->ring;

	if (c->after_count == 0) {
		int64_t avail = nsi_ring_available(r, next);
		if (NS_LIKELY(avail >= next))
			return avail;
		count(&c->stats.waits, 1);
		return nsi_ring_wait_for_slow(r, next, &c->halt_requested, true);
	}

	struct upstream_probe p = { .consumer = c, .target = next };
	int64_t avail = probe_upstream(&p);
	if (NS_LIKELY(avail >= next))
		return avail;
	count(&c->stats.waits, 1);
	struct nsi_wait_req req = {
		.probe = probe_upstream,
		.arg = &p,
		.target = next,
		.halted = &never_halted,
		.cancel = &c->halt_requested,
		.strategy_timeout = true,
	};
	return nsi_wait(&r->wait, &r->progress_sig, &req);
}

void
nsi_processor_release(struct ns_consumer *c, int64_t seq)
{
	/* Downstream consumers acquire this in probe_upstream(). */
	nsi_store_release_i64(&c->progress.sequence, seq);
	if (c->is_gated)
		nsi_gate_release(c->ring, c->gate, seq); /* also wakes sleepers on progress */
	else if (c->ring->notify)
		nsi_signal_notify(&c->ring->progress_sig);
}

void
nsi_processor_finish(struct ns_consumer *c)
{
	nsi_store_release_u32(&c->progress.finished, 1);
	/* Downstream consumers asleep on the progress signal must see it. */
	nsi_signal_wake_all(&c->ring->progress_sig);
}

/*
 * Handle events lo..end. Returns 0, or the code that stops the consumer (it has already been
 * reported to on_error and the finished part released).
 */
static int
handle_batch(struct ns_consumer *c, int64_t lo, int64_t end, int64_t avail)
{
	struct ns_ring *r = c->ring;
	const bool is_multi = r->producer == NS_PRODUCER_MULTI;
	int64_t last = end; /* the last event delivered gets end_of_batch */
	uint32_t attempts = 0;
	uint64_t delivered = 0;

	while (is_multi && last >= lo && nsi_mp_is_skipped(r, last))
		last--;
	if (c->on_batch_start != NULL)
		c->on_batch_start(c->ctx, (uint64_t)(end - lo + 1), (uint64_t)(avail - end));
	c->batch.lo = lo;
	c->batch.released = lo - 1;

	for (int64_t s = lo; s <= last; s++) {
		if (is_multi && nsi_mp_is_skipped(r, s))
			continue;
		void *slot = nsi_ring_slot(r, s);
		c->batch.received = s;
		int rc = c->on_event(c->ctx, slot, s, s == last);
		if (NS_LIKELY(rc == 0)) {
			delivered++;
			continue;
		}
		count(&c->stats.errors, 1);
		if (c->error_policy == NS_ERROR_SKIP) {
			if (c->on_error != NULL)
				c->on_error(c->ctx, slot, s, rc);
			continue;
		}
		if (c->error_policy == NS_ERROR_RETRY && attempts < c->max_retries) {
			/* Deliver the batch again from its first event not yet released. */
			attempts++;
			s = c->batch.released;
			continue;
		}
		if (c->on_error != NULL)
			c->on_error(c->ctx, slot, s, rc);
		count(&c->stats.events, delivered);
		nsi_processor_release(c, s - 1);
		return rc < 0 ? rc : -ECANCELED;
	}
	count(&c->stats.events, delivered);
	count(&c->stats.batches, 1);
	if ((uint64_t)(end - lo + 1) > nsi_load_relaxed_u64(&c->stats.max_batch))
		nsi_store_relaxed_u64(&c->stats.max_batch, (uint64_t)(end - lo + 1));
	nsi_processor_release(c, end);
	return 0;
}

int
nsi_processor_run(struct ns_consumer *c)
{
	int64_t next = nsi_load_relaxed_i64(&c->progress.sequence) + 1;
	int rc;

	if (c->on_start != NULL)
		c->on_start(c->ctx);
	for (;;) {
		/* Pairs with the release in ns_consumer_halt(). */
		if (nsi_load_acquire_u32(&c->halt_requested) != 0) {
			rc = 0;
			break;
		}
		int64_t avail = wait_available(c, next);
		if (NS_UNLIKELY(avail < 0)) {
			if (avail == -ETIMEDOUT) {
				if (c->on_timeout != NULL)
					c->on_timeout(c->ctx, next - 1);
				continue;
			}
			if (avail == -ECANCELED)
				rc = 0;
			else if (avail == -EPIPE && nsi_ring_halted(c->ring))
				rc = -ESHUTDOWN; /* upstream drained a halted ring: so are we */
			else
				rc = (int)avail;
			break;
		}
		int64_t end = avail < next + c->max_batch - 1 ? avail : next + c->max_batch - 1;
		rc = handle_batch(c, next, end, avail);
		if (NS_UNLIKELY(rc != 0)) {
			/* Stopped by an error: leave the gating set so producers never wait on us. */
			nsi_gate_unregister(c->ring, c->gate);
			c->is_gated = false;
			break;
		}
		next = end + 1;
	}
	nsi_processor_finish(c);
	if (c->on_shutdown != NULL)
		c->on_shutdown(c->ctx);
	return rc;
}

/* SPDX-License-Identifier: MIT */
#include "config.h"

#include <errno.h>

#include "consumer/consumer.h"
#include "util/cpu.h"

/* A dependent consumer ignores the ring's halt until its upstream consumers have finished. */
static const uint32_t never_halted;

static void
count(uint64_t *counter, uint64_t n)
{
	/* Single writer: a plain add, published relaxed for ns_consumer_stats(). */
	nsi_store_relaxed_u64(counter, nsi_load_relaxed_u64(counter) + n);
}

int64_t
nsi_consumer_progress(const struct ns_consumer *c, uint32_t *finished)
{
	if (c->workers == NULL) {
		/* Finished first: the sequence read after it is then final. */
		*finished = nsi_load_acquire_u32(&c->progress.finished);
		/* Pairs with the release in nsi_consumer_release(): those events are done. */
		return nsi_load_acquire_i64(&c->progress.sequence);
	}
	int64_t min = INT64_MAX;
	*finished = 0;
	for (uint32_t i = 0; i < c->worker_count; i++) {
		uint32_t f;
		int64_t s = nsi_consumer_progress(c->workers[i], &f);
		*finished |= f;
		if (s < min)
			min = s;
	}
	return min;
}

int64_t
nsi_consumer_upstream_min(const struct ns_consumer *c)
{
	int64_t min = INT64_MAX;

	for (uint32_t i = 0; i < c->after_count; i++) {
		uint32_t finished;
		int64_t s = nsi_consumer_progress(c->after[i], &finished);
		if (s < min)
			min = s;
	}
	return min;
}

struct upstream_probe {
	const struct ns_consumer *consumer;
	int64_t target;
};

int64_t
nsi_consumer_upstream_bound(const struct ns_consumer *c, int64_t target)
{
	int64_t min = INT64_MAX;

	for (uint32_t i = 0; i < c->after_count; i++) {
		uint32_t finished;
		int64_t s = nsi_consumer_progress(c->after[i], &finished);
		if (finished && s < target)
			return NSI_PROBE_BROKEN;
		if (s < min)
			min = s;
	}
	return min;
}

static int64_t
probe_upstream(const void *arg)
{
	const struct upstream_probe *p = arg;

	return nsi_consumer_upstream_bound(p->consumer, p->target);
}

/*
 * Coalescing. A consumer that finds a small batch already waiting, again and again, is
 * right on the producer's heels: each look at the cursor takes its cache line (and the
 * slot's) from a producer that is still writing, and both crawl (measured on 1 -> 1 with
 * one event per claim: 19 M events/s, against 90-115 M/s with a pause of ~150 ns between
 * batches). So after such a batch the consumer lets the producer publish a few more before
 * looking again. A batch that had to be waited for (a quiet stream, a ping-pong) never
 * triggers it, so latency is untouched there; in a saturated stream an event waits at most
 * NSI_COALESCE_NS longer. NS_CONSUMER_F_NO_COALESCE turns it off.
 */
#define NSI_COALESCE_BELOW 16  /* events: smaller batches found at the first look */
#define NSI_COALESCE_NS	   150 /* how long to let the producer run ahead */

static void
coalesce(void)
{
	int64_t until = nsi_clock_ns() + NSI_COALESCE_NS;
	do
		nsi_cpu_relax();
	while (nsi_clock_ns() < until);
}

/*
 * Highest sequence this consumer may handle now, waiting for it if needed. *waited tells
 * whether it was there at the first look (false) or had to be waited for (true).
 */
static int64_t
wait_available(struct ns_consumer *c, int64_t next, bool *waited)
{
	struct ns_ring *r = c->ring;

	*waited = false;
	if (c->after_count == 0) {
		int64_t avail = nsi_ring_available(r, next);
		if (NS_LIKELY(avail >= next))
			return avail;
		*waited = true;
		count(&c->stats.waits, 1);
		return nsi_ring_wait_for_slow(r, next, &c->halt_requested, true);
	}

	struct upstream_probe p = { .consumer = c, .target = next };
	int64_t avail = probe_upstream(&p);
	if (NS_LIKELY(avail >= next))
		return avail;
	*waited = true;
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
nsi_consumer_finish(struct ns_consumer *c)
{
	nsi_store_release_u32(&c->progress.finished, 1);
	/* Downstream consumers asleep on the progress signal must see it. */
	nsi_signal_wake_all(&c->ring->progress_sig);
}

/* Statistics at the end of a batch lo..end that was handled to the end. */
static void
count_batch(struct ns_consumer *c, int64_t lo, int64_t end, uint64_t delivered)
{
	count(&c->stats.events, delivered);
	count(&c->stats.batches, 1);
	if ((uint64_t)(end - lo + 1) > nsi_load_relaxed_u64(&c->stats.max_batch))
		nsi_store_relaxed_u64(&c->stats.max_batch, (uint64_t)(end - lo + 1));
}

/*
 * on_events: hand events lo..end over as runs of consecutive slots, split at the ring's wrap
 * and (MULTI) around abandoned slots. Returns as handle_batch() does.
 */
static int
handle_runs(struct ns_consumer *c, int64_t lo, int64_t end, int64_t last)
{
	struct ns_ring *r = c->ring;
	const bool is_multi = r->producer == NS_PRODUCER_MULTI;
	uint64_t delivered = 0;
	int64_t s = lo;

	while (s <= last) {
		if (is_multi && nsi_mp_is_skipped(r, s)) {
			s++;
			continue;
		}
		int64_t run_end = s | r->mask; /* the last sequence before the ring wraps */
		if (run_end > last)
			run_end = last;
		for (int64_t k = s + 1; is_multi && k <= run_end; k++) {
			if (nsi_mp_is_skipped(r, k)) {
				run_end = k - 1;
				break;
			}
		}
		uint32_t n = (uint32_t)(run_end - s + 1), attempts = 0;
		void *first = nsi_ring_slot(r, s);
		c->batch.received = run_end;
		for (;;) {
			int rc = c->on_events(c->ctx, first, s, n, (uint32_t)r->stride,
					      run_end == last);
			if (NS_LIKELY(rc == 0)) {
				delivered += n;
				break;
			}
			count(&c->stats.errors, 1);
			if (c->error_policy == NS_ERROR_RETRY && attempts < c->max_retries) {
				attempts++;
				continue;
			}
			if (c->on_error != NULL)
				c->on_error(c->ctx, first, s, rc);
			if (c->error_policy == NS_ERROR_SKIP)
				break;
			count(&c->stats.events, delivered);
			if (s - 1 > c->batch.released)
				nsi_consumer_release(c, s - 1);
			return rc < 0 ? rc : -ECANCELED;
		}
		s = run_end + 1;
	}
	count_batch(c, lo, end, delivered);
	nsi_consumer_release(c, end);
	return 0;
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
	if (c->on_events != NULL)
		return handle_runs(c, lo, end, last);

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
		nsi_consumer_release(c, s - 1);
		return rc < 0 ? rc : -ECANCELED;
	}
	count_batch(c, lo, end, delivered);
	nsi_consumer_release(c, end);
	return 0;
}

/*
 * What a failed wait means for the loop: 1 to wait again (a timeout, after on_timeout), or
 * the loop's result (0 for a halt).
 */
static int
wait_failed(struct ns_consumer *c, int64_t err, int64_t next)
{
	if (err == -ETIMEDOUT) {
		if (c->on_timeout != NULL)
			c->on_timeout(c->ctx, next - 1);
		return 1;
	}
	if (err == -ECANCELED)
		return 0;
	if (err == -EPIPE && nsi_ring_halted(c->ring))
		return -ESHUTDOWN; /* upstream drained a halted ring: so are we */
	return (int)err;
}

/* Stopped by an error: leave the gating set so producers never wait on us. */
static void
ungate(struct ns_consumer *c)
{
	nsi_gate_unregister(c->ring, c->gate);
	c->is_gated = false;
}

static int
end_run(struct ns_consumer *c, int rc)
{
	nsi_consumer_finish(c);
	if (c->on_shutdown != NULL)
		c->on_shutdown(c->ctx);
	return rc;
}

int
nsi_consumer_run(struct ns_consumer *c)
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
		bool waited;
		int64_t avail = wait_available(c, next, &waited);
		if (NS_UNLIKELY(avail < 0)) {
			rc = wait_failed(c, avail, next);
			if (rc == 1)
				continue;
			break;
		}
		int64_t end = avail < next + c->max_batch - 1 ? avail : next + c->max_batch - 1;
		rc = handle_batch(c, next, end, avail);
		if (NS_UNLIKELY(rc != 0)) {
			ungate(c);
			break;
		}
		if (!waited && end - next + 1 < NSI_COALESCE_BELOW && c->coalesce)
			coalesce();
		next = end + 1;
	}
	return end_run(c, rc);
}

int
nsi_worker_run(struct ns_consumer *w)
{
	const bool is_multi = w->ring->producer == NS_PRODUCER_MULTI;
	bool has_claim = false;
	uint32_t attempts = 0;
	int64_t s = 0;
	int rc;

	if (w->on_start != NULL)
		w->on_start(w->ctx);
	for (;;) {
		if (nsi_load_acquire_u32(&w->halt_requested) != 0) {
			rc = 0;
			break;
		}
		if (!has_claim) {
			/*
			 * Everything before our new sequence is finished or being handled by a
			 * worker whose own progress is below it, so s - 1 is a safe bound.
			 */
			s = nsi_seq_add_and_get(w->work_seq, 1);
			has_claim = true;
			attempts = 0;
			nsi_consumer_release(w, s - 1);
		}
		bool waited;
		int64_t avail = wait_available(w, s, &waited);
		if (NS_UNLIKELY(avail < 0)) {
			rc = wait_failed(w, avail, s);
			if (rc == 1)
				continue;
			break;
		}
		if (!(is_multi && nsi_mp_is_skipped(w->ring, s))) {
			void *slot = nsi_ring_slot(w->ring, s);
			w->batch.lo = s;
			w->batch.received = s;
			w->batch.released = s - 1;
			int erc = w->on_event(w->ctx, slot, s, true);
			if (NS_UNLIKELY(erc != 0)) {
				count(&w->stats.errors, 1);
				if (w->error_policy == NS_ERROR_RETRY &&
				    attempts < w->max_retries) {
					attempts++;
					continue; /* the same sequence again */
				}
				if (w->on_error != NULL)
					w->on_error(w->ctx, slot, s, erc);
				if (w->error_policy != NS_ERROR_SKIP) {
					rc = erc < 0 ? erc : -ECANCELED;
					ungate(w);
					break;
				}
			} else {
				count(&w->stats.events, 1);
			}
			count(&w->stats.batches, 1);
		}
		has_claim = false;
	}
	return end_run(w, rc);
}

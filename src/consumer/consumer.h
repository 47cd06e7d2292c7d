/* SPDX-License-Identifier: MIT */
#ifndef NSI_CONSUMER_CONSUMER_H
#define NSI_CONSUMER_CONSUMER_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include <nanostream/consumer.h>

#include "ring/ring.h"
#include "util/compiler.h"

/*
 * The batch loop behind ns_consumer (the Disruptor's batch event processor). It owns a gate on
 * the ring (so producers never overwrite what it has not finished) and publishes its progress
 * for the consumers that run after it. A consumer with upstream consumers waits on their
 * progress (the ring's progress signal) instead of on the cursor: everything they finished is
 * published.
 */

#define NSI_MAX_AFTER 1024 /* the most consumers a ring can have */

struct ns_consumer {
	/* Read-mostly, set at create. */
	struct ns_ring *ring;
	ns_event_fn on_event;
	ns_events_fn on_events; /* instead of on_event: runs of events */
	bool coalesce;		/* pause after small batches found at once (see batch.c) */
	void *ctx;
	void (*on_start)(void *ctx);
	void (*on_shutdown)(void *ctx);
	void (*on_batch_start)(void *ctx, uint64_t batch_size, uint64_t queue_depth);
	void (*on_timeout)(void *ctx, int64_t sequence);
	void (*on_error)(void *ctx, void *slot, int64_t seq, int code);
	int64_t max_batch;
	uint32_t error_policy;
	uint32_t max_retries;
	uint32_t after_count;
	struct ns_consumer **after;
	uint32_t gate;
	bool is_gated; /* owns a gate; cleared when it stops for good */

	/* Work pools: the pool's head has workers (and no gate); workers share work_seq. */
	struct ns_consumer **workers;
	uint32_t worker_count;
	struct nsi_seq *work_seq;
	bool is_poller; /* stepped by ns_poller_poll(); not runnable */

	/* Lifecycle, touched by the owning threads only (cold). */
	uint32_t running; /* one ns_consumer_run() at a time */
	bool is_started;  /* ns_consumer_start() made a thread not yet joined */
	pthread_t thread;
	int thread_result;

	/* Written by other threads (ns_consumer_halt()), read once per batch. */
	uint32_t halt_requested NS_SHARED_ALIGNED;

	/* Written by the running thread, read by downstream consumers and observers. */
	struct {
		int64_t sequence;  /* last finished (release) */
		uint32_t finished; /* will never progress again (release) */
	} progress NS_SHARED_ALIGNED;

	/* Counters: written by the running thread (relaxed), read by ns_consumer_stats(). */
	struct {
		uint64_t events;
		uint64_t batches;
		uint64_t max_batch;
		uint64_t waits;
		uint64_t errors;
	} stats NS_SHARED_ALIGNED;

	/* Private to the running thread. */
	struct {
		int64_t lo;	  /* first sequence of the current batch */
		int64_t received; /* last sequence handed to on_event */
		int64_t released; /* last sequence released early */
	} batch NS_SHARED_ALIGNED;

	/* A poller's, private to the polling thread (same line as batch: pollers have none). */
	struct {
		int64_t known;	/* highest sequence known readable: the cached bound */
		int64_t peeked; /* last sequence of the last ns_poller_peek() run */
	} pull;
};

/* The loop of ns_consumer_run(); see there for the return values. */
int nsi_consumer_run(struct ns_consumer *c);

/*
 * The lowest progress among the upstream consumers, or NSI_PROBE_BROKEN if one of them stopped
 * for good before @target.
 */
int64_t nsi_consumer_upstream_bound(const struct ns_consumer *c, int64_t target);

/* A work-pool worker's loop: claims one sequence at a time from the shared work sequence. */
int nsi_worker_run(struct ns_consumer *w);

/*
 * A consumer's progress as downstream consumers see it: its own sequence, or for a work
 * pool's head the lowest of its workers'. *finished is set when it will never progress again
 * (for a pool: when any worker stopped). Acquire: the events up to it are done.
 */
int64_t nsi_consumer_progress(const struct ns_consumer *c, uint32_t *finished);

/* Lowest progress among the upstream consumers (the probe of a dependent consumer). */
int64_t nsi_consumer_upstream_min(const struct ns_consumer *c);

/* Publish progress up to @seq: gate (producers), progress (downstream), signal sleepers. */
NS_INLINE void
nsi_consumer_release(struct ns_consumer *c, int64_t seq)
{
	/* Downstream consumers acquire this in their probe of the upstream progress. */
	nsi_store_release_i64(&c->progress.sequence, seq);
	if (c->is_gated)
		nsi_gate_release(c->ring, c->gate, seq); /* also wakes sleepers on progress */
	else if (c->ring->notify)
		nsi_signal_notify(&c->ring->progress_sig);
}

/* Free a consumer (halting and joining its thread, leaving the gating set). */
void nsi_consumer_free(struct ns_consumer *c);

/* Stop for good: leave the gating set and tell downstream consumers. */
void nsi_consumer_finish(struct ns_consumer *c);

#endif /* NSI_CONSUMER_CONSUMER_H */

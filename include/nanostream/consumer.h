/* SPDX-License-Identifier: MIT */
/** @file
 * Consumers: batch event processors, dependency graphs, work pools and pollers.
 */
#ifndef NANOSTREAM_CONSUMER_H
#define NANOSTREAM_CONSUMER_H

#include <stdint.h>
#include <stdbool.h>

#include <nanostream/common.h>
#include <nanostream/ring.h>

#ifdef __cplusplus
extern "C" {
#endif

/**
 * Consumers: batch event processors. A consumer reads every event published to its ring, in
 * sequence order, and gates the producers: a producer never overwrites a slot this consumer
 * has not finished with. Several consumers of one ring each see every event (multicast). A
 * consumer created with `after` consumers sees an event only once all of them have finished
 * it, which builds pipelines (A, then B, then C) and diamonds (A and B, then C).
 */
typedef struct ns_consumer ns_consumer;

/**
 * Handles one event. @p slot is the event's slot (valid only during the call), @p seq its
 * sequence, @p end_of_batch true for the last event of the batch. Return 0 to continue, or a
 * negative errno: the consumer's error policy decides what happens next.
 */
typedef int (*ns_event_fn)(void *ctx, void *slot, int64_t seq, bool end_of_batch);

/**
 * Handles a run of consecutive events (ns_consumer_opts.on_events, instead of on_event): @p first
 * is the slot of sequence @p seq, and the run holds @p count events, @p stride bytes apart (the
 * slot size, or more with NS_RING_F_SEQ_IN_SLOT), all valid only during the call. A batch arrives as one run or a few, in order:
 * runs split where the ring wraps and, in MULTI mode, around abandoned slots; the last run of
 * a batch has @p end_of_batch true. Per-event work becomes a loop the compiler sees whole, with
 * no call per event.
 * Return 0 when every event of the run is handled, or a negative errno: the error policy then
 * applies to the run as a whole (SKIP: on_error once, with the run's first slot, then carry
 * on; RETRY: the same run again, up to max_retries times; STOP: stop before the run).
 */
typedef int (*ns_events_fn)(void *ctx, void *first, int64_t seq, uint32_t count, uint32_t stride,
			    bool end_of_batch);

/** What a consumer does when on_event fails (ns_consumer_opts.error_policy). */
enum ns_error_policy {
	/** Stop: leave the gating set (producers never wait on it), run returns the code. */
	NS_ERROR_STOP = 0,
	/** Report the event to on_error, then carry on with the next one. */
	NS_ERROR_SKIP = 1,
	/** Retry the failing event up to max_retries times, then stop. */
	NS_ERROR_RETRY = 2,
};

/** Flags for ns_consumer_opts.flags. */
#define NS_CONSUMER_F_START_AT 0x1u /**< start after opts.start_sequence, not the cursor */
/**
 * Never pause between batches. By default a consumer that keeps finding small batches (under
 * 16 events) already waiting, right behind a fast producer, pauses ~150 ns before looking
 * again so the producer can publish more: several times the throughput of one-event claims,
 * at most that much added latency in a saturated stream, none when events have to be waited
 * for. Set this flag for the last nanoseconds of latency under saturation.
 */
#define NS_CONSUMER_F_NO_COALESCE 0x2u

/** Options for ns_consumer_create(). Start from NS_CONSUMER_OPTS_INIT. */
struct ns_consumer_opts {
	uint32_t size;	       /**< set by NS_CONSUMER_OPTS_INIT; do not change */
	uint32_t flags;	       /**< NS_CONSUMER_F_*; unknown bits -> -EINVAL */
	ns_event_fn on_event;  /**< required, unless on_events (at the end) is set instead */
	void *ctx;	       /**< passed to every callback */
	uint32_t max_batch;    /**< most events per batch; 0 = the ring's capacity */
	uint32_t error_policy; /**< enum ns_error_policy */
	uint32_t max_retries;  /**< NS_ERROR_RETRY: attempts after the first; 0 = 3 */
	uint32_t after_count;  /**< entries in after[], at most 1024 */
	/** Consumers of the same ring that must finish each event before this one sees it. */
	ns_consumer *const *after;
	/** Start after this sequence (with NS_CONSUMER_F_START_AT); -1 = from the beginning. */
	int64_t start_sequence;
	/** Optional callbacks, all on the consumer's thread. */
	void (*on_start)(void *ctx);	/**< before the first wait */
	void (*on_shutdown)(void *ctx); /**< after the loop ends, whatever the reason */
	/** Before each batch: its size and how many more events were already published. */
	void (*on_batch_start)(void *ctx, uint64_t batch_size, uint64_t queue_depth);
	/** NS_WAIT_TIMEOUT_BLOCKING: no event arrived within the strategy's timeout. */
	void (*on_timeout)(void *ctx, int64_t sequence);
	/** Exactly once per failing event, with the handler's code (SKIP and RETRY; and STOP). */
	void (*on_error)(void *ctx, void *slot, int64_t seq, int code);
	/** Instead of on_event (set exactly one): events in runs, see ns_events_fn. Since 0.1. */
	ns_events_fn on_events;
};

/** Initializer for struct ns_consumer_opts: sets size, and start_sequence to -1. */
#define NS_CONSUMER_OPTS_INIT                                                                      \
	{                                                                                          \
		.size = sizeof(struct ns_consumer_opts), .start_sequence = -1                      \
	}

/** A snapshot of a consumer's counters (ns_consumer_stats()). */
struct ns_consumer_stats {
	uint32_t size;	    /**< set by NS_CONSUMER_STATS_INIT; do not change */
	uint32_t reserved;  /**< written as 0 */
	uint64_t events;    /**< events handled (not counting skipped-by-abandon slots) */
	uint64_t batches;   /**< batches handled */
	uint64_t max_batch; /**< largest batch seen */
	uint64_t waits;	    /**< times the consumer found nothing to do and waited */
	uint64_t errors;    /**< failing events reported to the error policy */
	int64_t sequence;   /**< last sequence finished */
	int64_t lag;	    /**< published events not yet finished (cursor - sequence) */
};

/** Initializer for struct ns_consumer_stats: sets size. */
#define NS_CONSUMER_STATS_INIT                                                                     \
	{                                                                                          \
		.size = sizeof(struct ns_consumer_stats)                                           \
	}

/**
 * Create a consumer of @p ring. Without NS_CONSUMER_F_START_AT it starts after the ring's
 * current cursor (or after the slowest of its `after` consumers): it sees every event claimed
 * from now on, and gates producers from this call on. With the flag it starts after
 * opts.start_sequence, which must not be older than the ring can still hold.
 *
 * It gates producers until it is destroyed, whether or not it runs: start it (or destroy it)
 * before the ring fills, or claims wait forever.
 *
 * Returns 0 and sets *consumer, or a negative error code.
 * Errors: -EINVAL (NULL argument, opts->size outside the sized-struct rule, unknown non-zero
 * bytes, unknown flag, on_event NULL, unknown error policy, after_count over 1024 or after
 * NULL with a count, an `after` consumer of another ring or NULL, a start sequence the ring
 * no longer holds or beyond the cursor), -EBUSY (the ring already has max_consumers
 * consumers), -ENOMEM, -ESHUTDOWN (ring halted). On failure *consumer is untouched and
 * ns_errmsg() says why in words.
 * Ownership: destroy with ns_consumer_destroy() before destroying the ring, and before the
 * consumers it runs after.
 * Thread safety: any thread, also while producers run.
 * Progress: blocking (allocates).
 */
NS_API int ns_consumer_create(ns_consumer **consumer, ns_ring *ring,
			      const struct ns_consumer_opts *opts);

/**
 * Run the batch loop on the calling thread: wait for events through the ring's wait
 * strategy, hand each to on_event, then release the batch's slots.
 *
 * Returns why it stopped:
 *   0           ns_consumer_halt() was called
 *   -ESHUTDOWN  the ring was halted (after handling everything already published)
 *   -EPIPE      a consumer this one runs after stopped, and this one caught up with it
 *   -EALREADY   the consumer is running on another thread, or already stopped for good
 *   -EINVAL     consumer is NULL
 *   other       the handler's negative code (NS_ERROR_STOP, or RETRY exhausted): the
 *               consumer stopped and left the gating set
 * Ownership: the consumer stays the caller's; destroy it after run returns.
 * Thread safety: one thread at a time per consumer.
 * Progress: blocks until the consumer stops; waits through the ring's wait strategy.
 */
NS_API int ns_consumer_run(ns_consumer *consumer);

/**
 * Run the consumer on a new thread, pinned to @p cpu (or unpinned if @p cpu is negative) and
 * named @p name (at most 15 characters; NULL keeps the default).
 *
 * Returns 0, or -EINVAL (consumer NULL, cpu beyond the machine's CPUs), -EALREADY (already
 * started), or a pthread error code (negated). Join with ns_consumer_join().
 * Ownership: the thread belongs to the consumer: ns_consumer_join() or ns_consumer_destroy() reaps it; name is copied.
 * Thread safety: any thread; once per consumer.
 * Progress: blocking (creates a thread).
 */
NS_API int ns_consumer_start(ns_consumer *consumer, int cpu, const char *name);

/**
 * Wait for a thread started by ns_consumer_start() to end.
 *
 * Returns what ns_consumer_run() returned on that thread.
 * Errors: -EINVAL (consumer NULL, or not started).
 * Ownership: the thread is reaped; the consumer stays the caller's.
 * Thread safety: one thread, once per start.
 * Progress: blocks until the thread ends.
 */
NS_API int ns_consumer_join(ns_consumer *consumer);

/**
 * Ask the consumer to stop: ns_consumer_run() returns 0 after the batch in progress (or at
 * once, if it is waiting). Safe before run (run then returns at once), during it, and twice.
 *
 * Returns 0, or -EINVAL (consumer NULL).
 * Ownership: nothing changes hands.
 * Thread safety: any thread, also from inside a callback.
 * Progress: never blocks (may make a wake-up system call).
 */
NS_API int ns_consumer_halt(ns_consumer *consumer);

/**
 * Early release: from inside on_event, tell producers and downstream consumers that every
 * event up to and including @p seq is finished, before the batch ends. @p seq must be a sequence
 * of the current batch that on_event has already received.
 *
 * Returns 0, or -EINVAL (consumer NULL, or @p seq outside what the consumer has received).
 * Ownership: the released slots pass back to the producers: on_event must not touch them again.
 * Thread safety: only from the consumer's own callbacks.
 * Progress: wait-free.
 */
NS_API int ns_consumer_release(ns_consumer *consumer, int64_t seq);

/**
 * The sequence of the last event this consumer finished (-1 before the first after a create
 * on a fresh ring).
 * Returns the sequence (-1 or more), or -EINVAL.
 * Errors: -EINVAL (consumer NULL).
 * Ownership: nothing to own.
 * Thread safety: any thread.
 * Progress: wait-free.
 */
NS_API int64_t ns_consumer_sequence(const ns_consumer *consumer);

/**
 * Copy the consumer's counters into @p stats (declare it with NS_CONSUMER_STATS_INIT). Cheap (no locks, no
 * system calls) and safe while the consumer runs; the fields are each current but not taken
 * at one instant.
 * Returns 0, or -EINVAL (NULL argument, stats->size outside the sized-struct rule of nanostream/common.h).
 * Ownership: stats is the caller's; nothing is kept.
 * Thread safety: any thread.
 * Progress: wait-free.
 */
NS_API int ns_consumer_stats(const ns_consumer *consumer, struct ns_consumer_stats *stats);

/**
 * Destroy a consumer: it leaves the ring's gating set, so producers no longer wait on it.
 * NULL is accepted and ignored. A consumer started with ns_consumer_start() is halted and
 * joined first; one running through ns_consumer_run() on another thread must have returned.
 * Errors: none (NULL is ignored).
 * Ownership: frees the consumer; handles to it in other consumers' `after` lists must be gone first.
 * Thread safety: one thread, while no thread runs this consumer.
 * Progress: blocking (may join its thread).
 */
NS_API void ns_consumer_destroy(ns_consumer *consumer);

/**
 * Work pools: N worker threads share one stream of events; each event is handled by exactly
 * one worker (in no particular order across workers). A pool composes with `after` like a
 * consumer: ns_work_pool_consumer() is the handle to list in a downstream consumer's `after`,
 * and the pool itself may run after other consumers.
 */
typedef struct ns_work_pool ns_work_pool;

/** Most workers a pool may have. */
#define NS_WORK_POOL_MAX_WORKERS 64

/** Options for ns_work_pool_create(). Start from NS_WORK_POOL_OPTS_INIT. */
struct ns_work_pool_opts {
	uint32_t size;		   /**< set by NS_WORK_POOL_OPTS_INIT; do not change */
	uint32_t flags;		   /**< none defined; any bit -> -EINVAL */
	uint32_t workers;	   /**< 1 .. NS_WORK_POOL_MAX_WORKERS */
	uint32_t error_policy;	   /**< enum ns_error_policy; RETRY retries the failing event */
	ns_event_fn on_event;	   /**< required; end_of_batch is always true */
	void *ctx;		   /**< shared by all workers: on_event runs on several threads */
	uint32_t max_retries;	   /**< NS_ERROR_RETRY: attempts after the first; 0 = 3 */
	uint32_t after_count;	   /**< entries in after[], at most 1024 */
	ns_consumer *const *after; /**< consumers whose events the workers follow, or NULL */
	/** Exactly once per failing event, on the worker's thread. */
	void (*on_error)(void *ctx, void *slot, int64_t seq, int code);
};

/** Initializer for struct ns_work_pool_opts: sets size. */
#define NS_WORK_POOL_OPTS_INIT                                                                     \
	{                                                                                          \
		.size = sizeof(struct ns_work_pool_opts)                                           \
	}

/**
 * Create a work pool on @p ring; it starts after the cursor (or after its `after` consumers),
 * like a consumer, and gates the producers.
 *
 * Returns 0 and sets *pool, or a negative error code.
 * Errors: -EINVAL (NULL argument, opts->size outside the sized-struct rule, unknown non-zero
 * bytes, unknown flag, workers 0 or too many, on_event NULL, unknown error policy, bad `after`
 * list as for consumers), -EBUSY (not enough free consumer places on the ring: each worker
 * takes one), -ENOMEM, -ESHUTDOWN; ns_errmsg() says why in words.
 * Ownership: destroy with ns_work_pool_destroy() before the ring.
 * Thread safety: any thread.
 * Progress: blocking (allocates).
 */
NS_API int ns_work_pool_create(ns_work_pool **pool, ns_ring *ring,
			       const struct ns_work_pool_opts *opts);

/**
 * Start one thread per worker; @p cpus is NULL (unpinned) or holds one CPU per worker (-1 for
 * unpinned). Returns 0, -EINVAL (pool NULL, a CPU beyond the machine's), -EALREADY, or a
 * pthread error (negated; the workers already started are halted and joined).
 * Ownership: the threads belong to the pool; cpus is copied.
 * Thread safety: any thread; once per pool.
 * Progress: blocking (creates threads).
 */
NS_API int ns_work_pool_start(ns_work_pool *pool, const int *cpus);

/**
 * Ask every worker to stop after its current event.
 *
 * Returns 0, or -EINVAL (pool NULL).
 * Ownership: nothing changes hands.
 * Thread safety: any thread, also from on_event.
 * Progress: never blocks.
 */
NS_API int ns_work_pool_halt(ns_work_pool *pool);

/**
 * Wait for every worker thread to end. Returns 0 if all stopped because of a halt, else the
 * first non-zero worker result (see ns_consumer_run()), or -EINVAL (pool NULL or not
 * started). Thread safety: one thread, once per start. Blocks.
 * Ownership: the threads are reaped; the pool stays the caller's.
 * Thread safety: one thread, once per start.
 * Progress: blocks until every worker ends.
 */
NS_API int ns_work_pool_join(ns_work_pool *pool);

/**
 * The pool as an upstream consumer, to list in another consumer's `after`; its sequence is
 * the highest sequence up to which every event has been handled. Borrowed: valid until
 * ns_work_pool_destroy(); ns_consumer_sequence() and ns_consumer_halt() work on it;
 * ns_consumer_run() and ns_consumer_start() refuse it, and ns_consumer_destroy() ignores it.
 *
 * Returns the handle, or NULL if pool is NULL.
 * Errors: none (NULL for NULL).
 * Ownership: borrowed from the pool: valid until ns_work_pool_destroy(); do not destroy it.
 * Thread safety: any thread.
 * Progress: wait-free.
 */
NS_API ns_consumer *ns_work_pool_consumer(ns_work_pool *pool);

/**
 * Destroy the pool: halts and joins started workers and leaves the gating set. NULL is
 * accepted. Destroy consumers that run after the pool first.
 * Errors: none (NULL is ignored).
 * Ownership: frees the pool and its workers' consumer handle.
 * Thread safety: one thread.
 * Progress: blocking (joins started workers).
 */
NS_API void ns_work_pool_destroy(ns_work_pool *pool);

/**
 * What a claim on @p ring would wait for now: whether the ring is full and which consumer holds
 * it back, for finding out why a producer hangs. The slowest gating consumer is named by its
 * state, for example "a claim waits: all 1024 slots are claimed and not yet released (cursor
 * 1023); the slowest of 2 gating consumers is a consumer that has finished up to sequence -1
 * and is not running: it was never started (ns_consumer_start() or ns_consumer_run()), or its
 * thread ended; start it or destroy it". A poller and a work pool's workers are named as such.
 *
 * @p slowest (optional) receives the consumer furthest behind (for a poller, its
 * ns_poller_consumer(); for a work pool, one of its workers), NULL when no consumer gates the
 * ring; @p buf (optional, @p len bytes) receives the sentence, NUL-terminated, truncated to fit.
 * Returns 1 if a claim of one slot would wait now, 0 if not, or -EINVAL (ring NULL, or buf
 * NULL with len > 0).
 * Ownership: *slowest is borrowed: valid until that consumer is destroyed; buf is the caller's.
 * Thread safety: any thread (for example a watchdog, or a debugger's call), while no consumer
 * of the ring is being destroyed; the answer is a snapshot.
 * Progress: wait-free: reads each consumer's gate once; no allocation or system call.
 * Since 0.3.
 */
NS_API int ns_ring_waiting_on(const ns_ring *ring, ns_consumer **slowest, char *buf, size_t len);

/**
 * Pollers: pull-style consumption on the caller's thread, for loops that do other work
 * between events. A poller gates producers and may run after consumers, like a consumer.
 */
typedef struct ns_poller ns_poller;

/**
 * What ns_poller_poll() found (its non-negative results). The prefix NS_POLLER_ is the ring
 * poller's alone; a subscription's controlled handler answers with enum ns_controlled_action
 * (NS_CONTROLLED_*) instead. Since 0.3; 0.2 called these NS_POLL_IDLE, NS_POLL_PROCESSING and
 * NS_POLL_GATING (enum ns_poll_state), names kept, deprecated, until 0.4.
 */
enum ns_poller_state {
	NS_POLLER_IDLE = 0,	  /**< nothing published after the poller's position */
	NS_POLLER_PROCESSING = 1, /**< handled at least one event */
	NS_POLLER_GATING =
		2, /**< events are published, but an `after` consumer has not finished them */
	/** Deprecated name of NS_POLLER_IDLE (removed in 0.4). */
	NS_POLL_IDLE NS_DEPRECATED("use NS_POLLER_IDLE") = 0,
	/** Deprecated name of NS_POLLER_PROCESSING (removed in 0.4). */
	NS_POLL_PROCESSING NS_DEPRECATED("use NS_POLLER_PROCESSING") = 1,
	/** Deprecated name of NS_POLLER_GATING (removed in 0.4). */
	NS_POLL_GATING NS_DEPRECATED("use NS_POLLER_GATING") = 2,
};
/** The 0.2 name of enum ns_poller_state (removed in 0.4). */
#define ns_poll_state ns_poller_state

/** Options for ns_poller_create(). Start from NS_POLLER_OPTS_INIT. */
struct ns_poller_opts {
	uint32_t size;		   /**< set by NS_POLLER_OPTS_INIT; do not change */
	uint32_t flags;		   /**< none defined; any bit -> -EINVAL */
	uint32_t after_count;	   /**< entries in after[], at most 1024 */
	uint32_t reserved;	   /**< must be 0 */
	ns_consumer *const *after; /**< consumers the poller follows, or NULL */
};

/** Initializer for struct ns_poller_opts: sets size. */
#define NS_POLLER_OPTS_INIT                                                                        \
	{                                                                                          \
		.size = sizeof(struct ns_poller_opts)                                              \
	}

/**
 * Create a poller of @p ring, starting after the cursor (or after its `after` consumers).
 * Returns 0 and sets *poller, or a negative error code.
 * Errors: as ns_consumer_create() (ns_errmsg() says why in words). Ownership: destroy with
 * ns_poller_destroy() before the ring.
 * Thread safety: any thread.
 * Progress: blocking (allocates).
 */
NS_API int ns_poller_create(ns_poller **poller, ns_ring *ring, const struct ns_poller_opts *opts);

/**
 * Handle the events available now, at most @p max (0: up to the ring's capacity), without
 * waiting. @p handler returns 0 to go on, a positive value to stop after this event (it counts
 * as handled), or a negative errno to stop before it (the event stays unhandled and is offered
 * again by the next poll); end_of_batch marks the last event of this poll.
 *
 * Returns NS_POLLER_PROCESSING, NS_POLLER_GATING or NS_POLLER_IDLE (normal outcomes), or
 *   -ESHUTDOWN  the ring was halted and every published event was handled
 *   -EPIPE      an `after` consumer stopped for good and everything it finished was handled
 *   -EINVAL     poller or handler NULL
 *   other       the handler's negative code
 * Ownership: each slot is the handler's only during its call.
 * Thread safety: one thread at a time per poller.
 * Progress: never blocks; no allocation or system call (wait-free apart from the handler).
 */
NS_API NS_HOT int ns_poller_poll(ns_poller *poller, ns_event_fn handler, void *ctx, uint32_t max);

/**
 * As ns_poller_poll(), handing the events over as runs (see ns_events_fn): consecutive
 * slots, contiguous in memory, split only where the ring wraps and, on a multi-producer ring,
 * around abandoned slots. At most @p max events (0: up to the ring's capacity). @p handler
 * returns 0 to go on, a positive value to stop after this run (it counts as handled), or a
 * negative errno to stop before it (the run stays unhandled and is offered again).
 *
 * Returns as ns_poller_poll().
 * Ownership: each run is the handler's only during its call.
 * Thread safety: one thread at a time per poller.
 * Progress: never blocks; no allocation or system call (wait-free apart from the handler).
 * Since 0.3.
 */
NS_API NS_HOT int ns_poller_poll_runs(ns_poller *poller, ns_events_fn handler, void *ctx,
				      uint32_t max);

/**
 * Look at the events available now without taking them: sets *first to the slot of the next
 * event, *seq to its sequence, and returns how many events follow it in one contiguous run
 * (at most @p max; 0 means up to the ring's capacity). Event i of the run (0 <= i < count) is
 * at (char *)*first + i * stride, the stride of ns_ring_get_layout(). A run stops where the
 * ring wraps and, on a multi-producer ring, before an abandoned slot (abandoned slots at the
 * front are stepped over and released). Nothing is released: call ns_poller_release() with
 * the number handled. Peeking again without releasing shows the same events first.
 * The poller keeps the highest sequence it knows to be published and reads the ring's shared
 * state only once it has taken all of those, so a run of peeks and releases of one event each
 * reads no shared line but the slots'.
 *
 * Returns the run's length (>= 1), 0 when nothing is available now (*first and *seq are then
 * untouched; ns_poller_poll() tells idle from gating), or
 *   -ESHUTDOWN  the ring was halted and every published event was handled
 *   -EPIPE      an `after` consumer stopped for good and everything it finished was handled
 *   -EINVAL     poller, first or seq NULL
 * Ownership: the run's slots stay readable, and the producers keep off them, until released.
 * Thread safety: one thread at a time per poller.
 * Progress: wait-free; no allocation or system call.
 * Since 0.3.
 */
NS_API NS_HOT int ns_poller_peek(ns_poller *poller, uint32_t max, void **first, int64_t *seq);

/**
 * Release the first @p n events of the last ns_poller_peek(): they count as handled, their
 * slots go back to the producers, and consumers that run after the poller may take them.
 * @p n 0 does nothing.
 *
 * Returns 0, or -EINVAL (poller NULL, or @p n more than the last peek showed and not yet
 * released; nothing changes).
 * Ownership: the released slots are the ring's again: do not touch them.
 * Thread safety: the thread that peeked.
 * Progress: wait-free (with a sleeping wait strategy, one futex or condition-variable wake call
 * when a producer sleeps).
 * Since 0.3.
 */
NS_API NS_HOT int ns_poller_release(ns_poller *poller, uint32_t n);

/**
 * Take one event by copy: copies the first @p len bytes of the next event's slot into @p dst
 * and releases the slot (a queue's try-pop). @p len may be less than the slot size.
 *
 * Returns NS_POLLER_PROCESSING (an event was copied), NS_POLLER_IDLE or NS_POLLER_GATING
 * (nothing copied), or -ESHUTDOWN, -EPIPE (as ns_poller_peek()), -EINVAL (poller or dst NULL,
 * len 0 or over the slot size; nothing changes).
 * Ownership: dst is the caller's.
 * Thread safety: one thread at a time per poller.
 * Progress: wait-free; no allocation or system call.
 * Since 0.3.
 */
NS_API NS_HOT int ns_poller_take(ns_poller *poller, void *dst, uint32_t len);

/**
 * The poller as an upstream consumer, to list in another consumer's `after` (borrowed, valid
 * until ns_poller_destroy()). NULL if poller is NULL.
 * Returns the consumer handle, or NULL for NULL.
 * Errors: none (NULL for NULL).
 * Ownership: borrowed from the poller: valid until ns_poller_destroy(); do not destroy it.
 * Thread safety: any thread.
 * Progress: wait-free.
 */
NS_API ns_consumer *ns_poller_consumer(ns_poller *poller);

/**
 * Destroy a poller; it leaves the gating set. NULL is accepted.
 * Errors: none (NULL is ignored).
 * Ownership: frees the poller.
 * Thread safety: one thread, not during a poll.
 * Progress: wait-free apart from freeing memory.
 */
NS_API void ns_poller_destroy(ns_poller *poller);

#ifdef __cplusplus
}
#endif
#endif /* NANOSTREAM_CONSUMER_H */

/* SPDX-License-Identifier: MIT */
#ifndef NANOSTREAM_CONSUMER_H
#define NANOSTREAM_CONSUMER_H

#include <stdint.h>
#include <stdbool.h>

#include <nanostream/common.h>
#include <nanostream/ring.h>

#ifdef __cplusplus
extern "C" {
#endif

/*
 * Consumers: batch event processors. A consumer reads every event published to its ring, in
 * sequence order, and gates the producers: a producer never overwrites a slot this consumer
 * has not finished with. Several consumers of one ring each see every event.
 */

typedef struct ns_consumer ns_consumer;

/**
 * Handles one event. @slot is the event's slot (valid only during the call), @seq its
 * sequence, @end_of_batch true for the last event currently available. Return 0 to continue,
 * or a negative errno: the consumer then stops, leaves the ring's gating set (so producers
 * never wait on it) and ns_consumer_run() returns that code.
 */
typedef int (*ns_event_fn)(void *ctx, void *slot, int64_t seq, bool end_of_batch);

/** Options for ns_consumer_create(). Start from NS_CONSUMER_OPTS_INIT. */
struct ns_consumer_opts {
	uint32_t size;	      /* set by NS_CONSUMER_OPTS_INIT; do not change */
	uint32_t flags;	      /* none defined; any bit -> -EINVAL */
	ns_event_fn on_event; /* required */
	void *ctx;	      /* passed to every callback */
	uint32_t max_batch;   /* most events per batch; 0 = the ring's capacity */
	uint32_t reserved;    /* must be 0 */
};

#define NS_CONSUMER_OPTS_INIT                                                                      \
	{                                                                                          \
		.size = sizeof(struct ns_consumer_opts)                                            \
	}

/**
 * Create a consumer of @ring. It starts after the ring's current cursor: it sees every event
 * claimed from now on, and gates producers from this call on.
 *
 * Errors: -EINVAL (NULL argument, opts->size too small, unknown flag, reserved field set,
 * on_event NULL), -EBUSY (the ring already has max_consumers consumers), -ENOMEM,
 * -ESHUTDOWN (ring halted). On failure *consumer is untouched.
 * Ownership: destroy with ns_consumer_destroy() before destroying the ring.
 * Thread safety: any thread, also while producers run. May block (allocates).
 */
NS_API int ns_consumer_create(ns_consumer **consumer, ns_ring *ring,
			      const struct ns_consumer_opts *opts);

/**
 * Run the batch loop on the calling thread: wait for events through the ring's wait
 * strategy, hand each to on_event, then release the batch's slots to the producers.
 *
 * Returns why it stopped:
 *   0           ns_consumer_halt() was called (events published before are not all handled)
 *   -ESHUTDOWN  the ring was halted
 *   -EALREADY   the consumer is running on another thread, or stopped by a handler error
 *   -EINVAL     consumer is NULL
 *   other       the handler's negative code: the consumer stopped and left the gating set
 * Under NS_WAIT_TIMEOUT_BLOCKING a wait that times out simply waits again.
 * Thread safety: one thread at a time per consumer. Blocks until halted.
 */
NS_API int ns_consumer_run(ns_consumer *consumer);

/**
 * Ask the consumer to stop: ns_consumer_run() returns 0 after the batch in progress (or at
 * once, if it is waiting). Safe before run (run then returns at once), during it, and twice.
 *
 * Returns 0, or -EINVAL (consumer NULL).
 * Thread safety: any thread, also from inside on_event. Never blocks.
 */
NS_API int ns_consumer_halt(ns_consumer *consumer);

/**
 * The sequence of the last event this consumer finished (-1 before the first after a create
 * on a fresh ring), or -EINVAL if consumer is NULL.
 * Thread safety: any thread. Wait-free.
 */
NS_API int64_t ns_consumer_sequence(const ns_consumer *consumer);

/**
 * Destroy a consumer: it leaves the ring's gating set, so producers no longer wait on it.
 * NULL is accepted and ignored. The consumer must not be running.
 * Thread safety: one thread, while no thread runs this consumer.
 */
NS_API void ns_consumer_destroy(ns_consumer *consumer);

#ifdef __cplusplus
}
#endif
#endif /* NANOSTREAM_CONSUMER_H */

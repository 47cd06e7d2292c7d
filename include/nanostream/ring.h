/* SPDX-License-Identifier: MIT */
/** @file
 * The ring: claim, write and publish slots; ring creation, shutdown and queries.
 */
#ifndef NANOSTREAM_RING_H
#define NANOSTREAM_RING_H

#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>

#include <nanostream/common.h>
#include <nanostream/memory.h>

#ifdef __cplusplus
extern "C" {
#endif

/**
 * The ring: a pre-allocated array of fixed-size slots that producers fill and consumers read,
 * the LMAX Disruptor's data structure.
 *
 * Sequences. Every slot a producer claims has a 64-bit sequence number, starting at 0 and
 * growing by one per slot; slot memory is reused every `capacity` sequences. A producer claims
 * one or n consecutive sequences, writes the slots, then publishes them; consumers see a slot
 * only after it is published. A claim waits (through the ring's wait strategy) until every
 * consumer has finished with the slot's previous contents, so while the ring has consumers a
 * producer never overwrites an unread event; a ring with no consumer holds nothing back, and
 * its producers overwrite slots freely.
 *
 * Producer modes. NS_PRODUCER_SINGLE: one thread claims (the fastest mode; the ring does not
 * guard against two threads claiming). NS_PRODUCER_MULTI: any number of threads claim
 * concurrently; a blocking claim costs one fetch-and-add, and publishing is per slot, so
 * producers never wait for each other.
 */
typedef struct ns_ring ns_ring;

/** Producer modes for ns_ring_opts.producer. */
enum ns_producer_mode {
	NS_PRODUCER_SINGLE = 0, /**< exactly one claiming thread at a time */
	NS_PRODUCER_MULTI = 1,	/**< any number of concurrent claiming threads */
};

/**
 * Wait strategies for ns_ring_opts.wait: how a thread waits when a consumer finds nothing to
 * read or a producer finds the ring full. The same strategy serves both sides.
 */
enum ns_wait_kind {
	/**
	 * Spin on the sequence with a CPU pause. Lowest latency; burns a core. Since 0.3 a wait
	 * that has spun ~0.1 ms (4096 pauses) calls sched_yield() every 64 pauses after that, so
	 * a thread it waits for that has no core (more busy threads than cores) gets one; with
	 * a core per thread the call returns at once (~0.6 us on our VMs).
	 */
	NS_WAIT_BUSY_SPIN = 0,
	/** Spin spin_tries times, then sched_yield() between checks. */
	NS_WAIT_YIELD = 1,
	/** Spin spin_tries times, yield yield_tries times, then sleep sleep_ns between checks. */
	NS_WAIT_SLEEP = 2,
	/**
	 * Sleep on a mutex and condition variable. Publishers signal only when someone sleeps.
	 * Since 0.3 the three sleeping kinds (this one, LITE_BLOCKING and TIMEOUT_BLOCKING) spin
	 * for up to 5 us before their first sleep, so request/response traffic is answered
	 * without a wake-up (tens of microseconds on a VM); NS_RING_F_NO_SPIN sleeps at once.
	 */
	NS_WAIT_BLOCKING = 3,
	/** Sleep on a futex (after the 5 us spin, see NS_WAIT_BLOCKING). A publish with no sleeper costs one fence and one load. */
	NS_WAIT_LITE_BLOCKING = 4,
	/** Like LITE_BLOCKING, but a consumer's wait returns -ETIMEDOUT after timeout_ns. */
	NS_WAIT_TIMEOUT_BLOCKING = 5,
	/** Spin for phase_spin_ns, yield for phase_yield_ns, then sleep on a futex. */
	NS_WAIT_PHASED = 6,
};

/** Flags for ns_ring_opts.flags; any other set bit is rejected with -EINVAL. */
#define NS_RING_F_NONE 0u
/**
 * Latency layout: each slot carries its own publication mark in an 8-byte header in front of
 * the data, and consumers wait on the slot itself instead of the ring's cursor. A consumer that
 * waits for the next event then takes one cache-line transfer from the producer (the slot)
 * instead of two (the cursor, then the slot): the lowest latency for sparse traffic, such as
 * request/response. Costs memory: the slot stride becomes slot_size + 8 rounded up to a power
 * of two (up to 128 bytes; beyond, to a multiple of 64), so 8, 24, 56 and 120-byte slots waste
 * nothing; slot data is then 8-byte aligned (not slot_size-aligned), and
 * ns_ring_span()'s stride reports it. Works with both producer modes and every wait strategy.
 * Since 0.1.
 */
#define NS_RING_F_SEQ_IN_SLOT 0x1u

/**
 * With NS_WAIT_BLOCKING, NS_WAIT_LITE_BLOCKING or NS_WAIT_TIMEOUT_BLOCKING: sleep at once
 * when there is nothing to do, without the 5 us spin these kinds take first since 0.3 (the
 * 0.2 behaviour: no CPU spent on waits that end within microseconds, each paid with a
 * wake-up). Ignored by the other kinds. Since 0.3.
 */
#define NS_RING_F_NO_SPIN 0x2u

/**
 * Called once per slot by ns_ring_create() (the Disruptor's event factory): prepares slot
 * @p index (0 .. capacity - 1). The slot arrives zero-filled. Return 0, or a negative errno to
 * make ns_ring_create() fail with that code (a positive value is reported as -ECANCELED).
 */
typedef int (*ns_slot_init_fn)(void *arg, void *slot, uint64_t index);

/**
 * Options for ns_ring_create(). Start from NS_RING_OPTS_INIT and set what you need; fields
 * left at 0 take the documented default. `size` follows the sized-struct rule of
 * nanostream/common.h.
 */
struct ns_ring_opts {
	uint32_t size;		 /**< set by NS_RING_OPTS_INIT; do not change */
	uint32_t flags;		 /**< NS_RING_F_*; unknown bits -> -EINVAL */
	uint64_t capacity;	 /**< slots; a power of two, 1 .. 2^30 */
	uint32_t slot_size;	 /**< bytes per slot; a multiple of 8, 8 .. 65536 */
	uint32_t producer;	 /**< enum ns_producer_mode */
	uint32_t wait;		 /**< enum ns_wait_kind */
	uint32_t max_consumers;	 /**< consumers that may gate the ring at once; 0 = 16, max 1024 */
	uint32_t spin_tries;	 /**< YIELD, SLEEP: spins before yielding; 0 = 100 */
	uint32_t yield_tries;	 /**< SLEEP: yields before sleeping; 0 = 100 */
	uint64_t sleep_ns;	 /**< SLEEP: nanoseconds per sleep; 0 = 100000 (100 us) */
	uint64_t timeout_ns;	 /**< TIMEOUT_BLOCKING: consumer wait timeout; 0 = 1000000 (1 ms) */
	uint64_t phase_spin_ns;	 /**< PHASED: spin phase; 0 = 10000 (10 us) */
	uint64_t phase_yield_ns; /**< PHASED: yield phase; 0 = 100000 (100 us) */
	ns_slot_init_fn slot_init; /**< optional, see ns_slot_init_fn */
	void *slot_init_arg;	   /**< passed to slot_init */
	/* Memory (include/nanostream/memory.h). Since 0.1. */
	uint32_t mem_policy;  /**< enum ns_mem_policy; 0 = NS_MEM_AUTO */
	uint32_t mem_flags;   /**< NS_MEM_F_*; unknown bits -> -EINVAL */
	uint32_t mem_sources; /**< huge-page sources to try: NS_MEM_SRC_* bits; 0 = all */
	int32_t numa_node;    /**< with NS_MEM_F_BIND: the node (0 .. highest node) */
	/**
	 * Optional caller-managed memory for the ring's whole storage: at least
	 * ns_ring_mem_size() bytes, aligned to 128 bytes. The ring zeroes and uses it and never
	 * frees it; it must outlive the ring. Policy must be AUTO and mem_flags must not hold
	 * NS_MEM_F_LOCK or NS_MEM_F_BIND (lock or bind it yourself); mem_sources must be 0.
	 */
	void *mem_region;
	uint64_t mem_region_bytes; /**< bytes at mem_region */
};

/** Initializer for struct ns_ring_opts: sets size and the defaults (1024 slots of 64 bytes, SINGLE, BUSY_SPIN). */
#define NS_RING_OPTS_INIT                                                                          \
	{                                                                                          \
		.size = sizeof(struct ns_ring_opts), .flags = 0, .capacity = 1024,                 \
		.slot_size = 64, .producer = NS_PRODUCER_SINGLE, .wait = NS_WAIT_BUSY_SPIN         \
	}

/**
 * Two contiguous runs of slots covering a claimed range (see ns_ring_span()): a range that
 * crosses the end of the ring is split in two; otherwise run 1 is empty.
 */
struct ns_ring_span {
	void *data[2];	 /**< first slot of each run; data[1] is NULL when count[1] is 0 */
	size_t count[2]; /**< slots in each run; count[0] + count[1] is the claimed count */
	size_t stride; /**< bytes from one slot to the next: the slot size, more with NS_RING_F_SEQ_IN_SLOT */
};

/**
 * Create a ring: allocates its storage now under the memory policy (it is never reallocated;
 * pre-faulted unless NS_MEM_F_NO_PREFAULT), runs the optional slot initializer on each slot,
 * and sets the producer and wait machinery up.
 *
 * Returns 0 and sets *ring, or a negative error code.
 * Errors: -EINVAL (NULL argument; opts->size too small; unknown flag; capacity not a power of
 * two or out of range; slot_size not a multiple of 8 or out of range; unknown producer mode
 * or wait kind; max_consumers over 1024; unknown mem_policy, mem_flags or mem_sources bits;
 * NS_MEM_F_BIND with a node that does not exist or has no memory; mem_region misaligned,
 * smaller than ns_ring_mem_size(), or combined with a policy, lock, bind or sources),
 * -ENOMEM (out of memory; under NS_MEM_HUGE: no huge pages to be had), -EPERM or -ENOMEM
 * from mlock() (NS_MEM_F_LOCK beyond RLIMIT_MEMLOCK), another kernel error from mapping,
 * binding or pre-faulting, or the slot initializer's code.
 * On failure *ring is untouched and nothing leaks (no memory, mapping, file or huge page), and
 * ns_errmsg() says why in words (which option is wrong and what it must be).
 * Never prints, whatever the state of huge pages.
 * Ownership: the caller destroys the ring with ns_ring_destroy(); a caller-supplied mem_region stays the caller's.
 * Thread safety: any thread.
 * Progress: blocking (allocates, maps and pre-faults memory).
 */
NS_API int ns_ring_create(ns_ring **ring, const struct ns_ring_opts *opts);

/**
 * Bytes of storage a ring created with @p opts needs: its control block, slots, consumer gates
 * and (MULTI) availability words. The minimum size of ns_ring_opts.mem_region; a huge-page
 * mapping is this rounded up to whole huge pages.
 *
 * Returns the byte count (> 0), or -EINVAL for malformed options, as ns_ring_create() checks
 * them (whether a NUMA node exists, and whether mem_region is large enough, only create
 * checks); ns_errmsg() then says which option is wrong.
 * Ownership: nothing to own; opts is only read.
 * Thread safety: any thread.
 * Progress: wait-free; does not allocate.
 */
NS_API int64_t ns_ring_mem_size(const struct ns_ring_opts *opts);

/**
 * Report what the ring's memory turned out to be: source, page size, bytes, NUMA node,
 * whether it was pre-faulted and locked, and why huge pages were not used (see
 * struct ns_mem_info).
 *
 * Returns 0, or -EINVAL (NULL argument, info->size outside the sized-struct rule of
 * nanostream/common.h). Writes info->size bytes: the fields the library knows, zeros after.
 * Ownership: info is the caller's; nothing is kept.
 * Thread safety: any thread, while the ring exists.
 * Progress: wait-free; does not allocate.
 */
NS_API int ns_ring_mem_info(const ns_ring *ring, struct ns_mem_info *info);

/**
 * Destroy a ring and free its slots. NULL is accepted and ignored.
 *
 * Destroy every consumer of the ring first, and make sure no thread still uses it.
 * Errors: none (NULL is ignored).
 * Ownership: frees the ring and its storage (not a caller-supplied mem_region); every pointer into it becomes invalid.
 * Thread safety: one thread, after all others stopped using the ring and its consumers are destroyed.
 * Progress: blocking (unmaps memory).
 */
NS_API void ns_ring_destroy(ns_ring *ring);

/**
 * Claim one slot, waiting through the ring's wait strategy while the ring is full.
 *
 * Returns the slot's sequence (>= 0), or
 *   -ESHUTDOWN  the ring was halted (before or during the wait)
 *   -EINVAL     ring is NULL
 * Never times out: use ns_ring_claim_until() for a deadline. Every consumer the ring has gates
 * it, started or not: a consumer created and never started (or whose thread has ended) makes
 * this wait forever once the ring is full; start it, or destroy it. ns_ring_waiting_on()
 * (nanostream/consumer.h) says, from any thread, what a claim waits for and who holds it.
 * Ownership: the claimed slot is the caller's to write until it publishes or abandons it.
 * Thread safety: SINGLE mode: the one producer thread. MULTI mode: any thread.
 * Progress: blocks through the wait strategy while the ring is full; otherwise wait-free
 * (SINGLE) or one atomic fetch-and-add (MULTI).
 */
NS_API NS_HOT int64_t ns_ring_claim(ns_ring *ring);

/**
 * Claim @p n consecutive slots, waiting while the ring lacks room for them.
 *
 * Returns the first sequence of the range (the range is first .. first + n - 1), or
 *   -ESHUTDOWN  the ring was halted
 *   -EINVAL     ring is NULL, n is 0, or n exceeds the capacity (never a deadlock)
 * Ownership: as ns_ring_claim(), for every slot of the range.
 * Thread safety: as ns_ring_claim().
 * Progress: as ns_ring_claim().
 */
NS_API NS_HOT int64_t ns_ring_claim_n(ns_ring *ring, uint32_t n);

/**
 * Claim @p n consecutive slots, waiting at most until @p deadline_ns (CLOCK_MONOTONIC, see
 * ns_clock_ns()).
 *
 * Returns the first sequence of the range, or
 *   -ETIMEDOUT  (normal outcome) no room by the deadline; nothing was claimed
 *   -ESHUTDOWN  the ring was halted; nothing was claimed
 *   -EINVAL     ring is NULL, n is 0 or n exceeds the capacity
 * In MULTI mode this claims by compare-and-swap, so a timeout never leaves a hole.
 * Ownership: as ns_ring_claim(), for every slot of the range.
 * Thread safety: as ns_ring_claim().
 * Progress: lock-free; waits through the wait strategy at most until the deadline.
 */
NS_API int64_t ns_ring_claim_until(ns_ring *ring, uint32_t n, int64_t deadline_ns);

/**
 * Claim one slot if there is room now.
 *
 * Returns the sequence, or
 *   -EAGAIN     (normal outcome) the ring is full: back-pressure, retry or wait
 *   -ESHUTDOWN  the ring was halted
 *   -EINVAL     ring is NULL
 * Never claims more than there is room for.
 * Ownership: as ns_ring_claim().
 * Thread safety: as ns_ring_claim().
 * Progress: wait-free (SINGLE), lock-free (MULTI); never waits.
 */
NS_API NS_HOT int64_t ns_ring_try_claim(ns_ring *ring);

/**
 * Claim @p n consecutive slots if there is room for all of them now; otherwise claims nothing.
 *
 * Returns the first sequence, or -EAGAIN (normal outcome), -ESHUTDOWN, or -EINVAL (ring NULL,
 * n 0 or over the capacity).
 * Ownership: as ns_ring_claim(), for every slot of the range.
 * Thread safety: as ns_ring_claim().
 * Progress: as ns_ring_try_claim().
 */
NS_API NS_HOT int64_t ns_ring_try_claim_n(ns_ring *ring, uint32_t n);

/**
 * Claim up to @p n consecutive slots: as many as there is room for now, at least one (a queue's
 * "push what fits"). Publish the range with ns_ring_publish_n(ring, first, *claimed) or give
 * it back with ns_ring_abandon().
 *
 * Returns the first sequence and sets *claimed to the number of slots claimed (1 to n), or
 * -EAGAIN (normal outcome: the ring is full; nothing claimed), -ESHUTDOWN (halted), or -EINVAL
 * (ring or claimed NULL, n 0 or over the capacity); on an error *claimed is 0 (left alone for
 * -EINVAL).
 * Ownership: as ns_ring_claim(), for every slot of the range.
 * Thread safety: as ns_ring_claim().
 * Progress: as ns_ring_try_claim().
 */
NS_API NS_HOT int64_t ns_ring_try_claim_upto(ns_ring *ring, uint32_t n, uint32_t *claimed);

/**
 * The slot of sequence @p seq: where a producer writes a claimed event, or a consumer reads one.
 *
 * Returns NULL only when ring is NULL or seq is negative. Any other sequence maps to its slot
 * (seq modulo capacity); using a slot you have not claimed, or after publishing it, is a bug
 * that this call cannot detect.
 * Ownership: the memory belongs to the ring. For a producer the pointer is valid until it
 * publishes or abandons @p seq; for a consumer, until its handler returns.
 * Thread safety: any thread.
 * Progress: wait-free.
 */
NS_API NS_HOT void *ns_ring_slot(const ns_ring *ring, int64_t seq);

/**
 * Describe the claimed range @p first .. @p first + @p n - 1 as at most two contiguous runs, so a
 * batch can be filled without a call per slot.
 *
 * Returns 0, or -EINVAL (ring or span NULL, first negative, n 0 or over the capacity).
 * Ownership: as ns_ring_slot(); span is the caller's.
 * Thread safety: any thread.
 * Progress: wait-free.
 */
NS_API NS_HOT int ns_ring_span(const ns_ring *ring, int64_t first, uint32_t n,
			       struct ns_ring_span *span);

/**
 * Where a ring's slots are (ns_ring_get_layout()), for code that computes slot addresses
 * itself instead of calling ns_ring_slot() per event. Part of the ABI, promised for the
 * ring's whole life and for every later 0.x and 1.x release: the slot of sequence seq is at
 * slots + (seq & (capacity - 1)) * stride; the slots are one contiguous array (consecutive
 * sequences are consecutive slots until the ring wraps); the storage never moves. Nothing
 * else of the ring's layout is promised (where the cursor or the sequences live may change).
 */
struct ns_ring_layout {
	uint32_t size;	   /**< set by NS_RING_LAYOUT_INIT; do not change */
	uint32_t reserved; /**< written as 0 */
	void *slots;	   /**< the slot of sequence 0 (and of every multiple of the capacity) */
	uint64_t capacity; /**< slots in the ring, a power of two */
	uint64_t
		stride; /**< bytes from one slot to the next: the slot size, more with NS_RING_F_SEQ_IN_SLOT */
};

/** Initializer for struct ns_ring_layout: sets size. */
#define NS_RING_LAYOUT_INIT                                                                        \
	{                                                                                          \
		.size = sizeof(struct ns_ring_layout)                                              \
	}

/**
 * Describe where @p ring's slots are (see struct ns_ring_layout).
 *
 * Returns 0, or -EINVAL (ring or layout NULL, layout->size outside the sized-struct rule;
 * nothing written).
 * Ownership: layout is the caller's; the slots stay the ring's, valid until ns_ring_destroy().
 * Thread safety: any thread.
 * Progress: wait-free.
 * Since 0.3.
 */
NS_API int ns_ring_get_layout(const ns_ring *ring, struct ns_ring_layout *layout);

/**
 * The slot of sequence @p seq under @p layout (filled by ns_ring_get_layout()): the same
 * address as ns_ring_slot(), computed inline. @p seq must not be negative; the same rules of
 * use apply as for ns_ring_slot().
 * Thread safety: any thread. Progress: wait-free. Since 0.3.
 */
static inline void *
ns_ring_layout_slot(const struct ns_ring_layout *layout, int64_t seq)
{
	return (char *)layout->slots +
	       (size_t)((uint64_t)seq & (layout->capacity - 1)) * (size_t)layout->stride;
}

/**
 * Publish the claimed sequence @p seq: consumers may now read its slot.
 *
 * Returns 0, or -EINVAL (ring NULL or seq negative). Publishing a sequence this producer
 * did not claim is a bug (checked only with -Ddebug_checks=true). In SINGLE mode publishing
 * a sequence also publishes every earlier claimed one, so publish in claim order.
 * futex or condition-variable wake call when a thread sleeps).
 * Ownership: the slot passes to the consumers: the producer must not touch it again.
 * Thread safety: the thread that claimed @p seq.
 * Progress: wait-free (with a sleeping wait strategy, one futex or condition-variable wake call when a thread sleeps).
 */
NS_API NS_HOT int ns_ring_publish(ns_ring *ring, int64_t seq);

/**
 * Publish @p n claimed sequences starting at @p first, as one batch.
 *
 * Returns 0, or -EINVAL (ring NULL, first negative, n 0 or over the capacity).
 * Ownership: as ns_ring_publish(), for every slot of the range.
 * Thread safety: as ns_ring_publish().
 * Progress: as ns_ring_publish().
 */
NS_API NS_HOT int ns_ring_publish_n(ns_ring *ring, int64_t first, uint32_t n);

/**
 * Give back @p n claimed, unpublished sequences starting at @p first without publishing them:
 * no consumer ever sees their slots (use it when filling a claim fails half way).
 *
 * SINGLE mode rewinds the producer, so the range must be the most recent claim (the same
 * sequences are handed out again). MULTI mode marks the slots as skipped; consumers step over
 * them, and any claimed range may be abandoned.
 * Returns 0, or -EINVAL (ring NULL, n 0 or over the capacity, a range that is not claimed or
 * already published, or in SINGLE mode not the most recent claim); on -EINVAL nothing changes.
 * Ownership: the slots go back to the ring unread; the producer must not touch them again.
 * Thread safety: the thread that claimed the range.
 * Progress: wait-free.
 */
NS_API int ns_ring_abandon(ns_ring *ring, int64_t first, uint32_t n);

/**
 * Halt the ring: every waiting producer and consumer wakes and returns -ESHUTDOWN, and every
 * later claim fails with -ESHUTDOWN. Halting is permanent and idempotent.
 *
 * Returns 0, or -EINVAL (ring NULL).
 * Ownership: the ring stays the caller's: destroy it as usual.
 * Thread safety: any thread, any time, also from a consumer callback.
 * Progress: never blocks (may make wake-up system calls).
 */
NS_API int ns_ring_halt(ns_ring *ring);

/**
 * Shut the ring down without losing events: refuse new claims (they fail with -ESHUTDOWN,
 * and producers waiting for room give up without claiming), wait until every consumer has
 * handled every event claimed before, then halt the ring, which wakes and stops every
 * consumer (ns_consumer_run() returns -ESHUTDOWN; join their threads).
 *
 * In MULTI mode events claimed but not yet published are waited for; in either mode a claim
 * that overlaps the call itself may be refused or drained, never half-done.
 * Returns 0 when drained and halted, or
 *   -ETIMEDOUT  (normal outcome) @p deadline_ns (CLOCK_MONOTONIC) passed first: claims stay
 *               refused, consumers carry on; call again or ns_ring_halt()
 *   -ESHUTDOWN  the ring was halted meanwhile
 *   -EINVAL     ring is NULL
 * @p remaining (optional) receives how many claimed events the slowest consumer has not handled.
 * Ownership: nothing changes hands; remaining is the caller's.
 * Thread safety: any thread but a consumer of this ring (it would wait for itself).
 * Progress: blocking: waits through the wait strategy until drained or the deadline.
 */
NS_API int ns_ring_drain(ns_ring *ring, int64_t deadline_ns, uint64_t *remaining);

/**
 * Whether ns_ring_halt() was called: 1 if halted, 0 if not, -EINVAL if ring is NULL.
 * Returns 1 if halted, 0 if not, or -EINVAL.
 * Errors: -EINVAL (ring NULL).
 * Ownership: nothing to own.
 * Thread safety: any thread.
 * Progress: wait-free.
 */
NS_API int ns_ring_is_halted(const ns_ring *ring);

/**
 * Whether sequence @p seq is published and still in the ring: 1 yes, 0 no (not yet published,
 * abandoned, or already overwritten), -EINVAL (ring NULL or seq negative).
 * Returns 1 or 0 as above, or -EINVAL.
 * Errors: -EINVAL (ring NULL or seq negative).
 * Ownership: nothing to own.
 * Thread safety: any thread.
 * Progress: wait-free.
 */
NS_API int ns_ring_is_published(const ns_ring *ring, int64_t seq);

/**
 * The ring's cursor: in SINGLE mode the highest published sequence, in MULTI mode the
 * highest claimed one (claimed slots may still be unpublished; see ns_ring_is_published()).
 * Returns -1 before the first publish (SINGLE) or claim (MULTI), or -EINVAL if ring is NULL.
 * Ownership: nothing to own.
 * Thread safety: any thread.
 * Progress: wait-free.
 */
NS_API int64_t ns_ring_cursor(const ns_ring *ring);

/**
 * Slots a producer could claim now without waiting: capacity minus the slots that are claimed
 * and not yet released by the slowest consumer. Under concurrency it is a snapshot. In SINGLE
 * mode it is exact only on the producer thread.
 *
 * Returns the slot count (0 .. capacity), or -EINVAL (ring NULL).
 * Ownership: nothing to own.
 * Thread safety: any thread.
 * Progress: wait-free (reads every consumer's sequence).
 */
NS_API int64_t ns_ring_remaining(const ns_ring *ring);

/**
 * The ring's capacity in slots (0 if ring is NULL).
 * Returns the capacity, or 0 for NULL.
 * Errors: none (0 for NULL).
 * Ownership: nothing to own.
 * Thread safety: any thread.
 * Progress: wait-free.
 */
NS_API uint64_t ns_ring_capacity(const ns_ring *ring);

/**
 * The ring's slot size in bytes (0 if ring is NULL).
 * Returns the slot size, or 0 for NULL.
 * Errors: none (0 for NULL).
 * Ownership: nothing to own.
 * Thread safety: any thread.
 * Progress: wait-free.
 */
NS_API uint32_t ns_ring_slot_size(const ns_ring *ring);

/*
 * One-call publishing: the Disruptor's event translators. Each call claims, lets the
 * translator fill the slot, then publishes it. A translator returns 0 to publish, or a
 * negative errno: the claimed slots are then abandoned (never seen by consumers) and that
 * code is returned (a positive value is reported as -ECANCELED). Blocking forms wait through
 * the wait strategy while the ring is full; _try forms return -EAGAIN instead.
 */

/** A translator with one argument: fills @p slot (sequence @p seq) from @p arg. */
typedef int (*ns_translate_fn)(void *slot, int64_t seq, void *arg);
/** A translator with two arguments. */
typedef int (*ns_translate2_fn)(void *slot, int64_t seq, void *arg0, void *arg1);
/** A translator with three arguments. */
typedef int (*ns_translate3_fn)(void *slot, int64_t seq, void *arg0, void *arg1, void *arg2);

/**
 * Claim one slot (waiting while the ring is full), call translate(slot, seq, arg) to fill it,
 * then publish it; if the translator fails, abandon the slot instead.
 *
 * Returns the published sequence.
 * Errors: the translator's negative code (-ECANCELED for a positive one), -ESHUTDOWN (ring
 * halted), -EINVAL (ring or translate NULL). On an error nothing is published.
 * Ownership: arg stays the caller's; the translator must not keep the slot pointer.
 * Thread safety: as ns_ring_claim(); the translator runs on the calling thread.
 * Progress: as ns_ring_claim() (blocks while the ring is full), plus the translator.
 */
NS_API NS_HOT int64_t ns_publish(ns_ring *ring, ns_translate_fn translate, void *arg);

/**
 * ns_publish() with a two-argument translator: translate(slot, seq, arg0, arg1).
 * Returns the published sequence, or a negative error code as ns_publish().
 * Errors, ownership, thread safety, progress: as ns_publish().
 */
NS_API NS_HOT int64_t ns_publish2(ns_ring *ring, ns_translate2_fn translate, void *arg0,
				  void *arg1);

/**
 * ns_publish() with a three-argument translator: translate(slot, seq, arg0, arg1, arg2).
 * Returns the published sequence, or a negative error code as ns_publish().
 * Errors, ownership, thread safety, progress: as ns_publish().
 */
NS_API NS_HOT int64_t ns_publish3(ns_ring *ring, ns_translate3_fn translate, void *arg0, void *arg1,
				  void *arg2);

/**
 * ns_publish() without waiting: claims only if there is room now.
 *
 * Returns the published sequence.
 * Errors: -EAGAIN (normal outcome: the ring is full, nothing was claimed), the translator's
 * code, -ESHUTDOWN, -EINVAL, as ns_publish().
 * Ownership and thread safety: as ns_publish().
 * Progress: as ns_ring_try_claim() (never waits), plus the translator.
 */
NS_API NS_HOT int64_t ns_publish_try(ns_ring *ring, ns_translate_fn translate, void *arg);

/**
 * ns_publish_try() with a two-argument translator.
 * Returns the published sequence, or a negative error code as ns_publish_try().
 * Errors, ownership, thread safety, progress: as ns_publish_try().
 */
NS_API NS_HOT int64_t ns_publish2_try(ns_ring *ring, ns_translate2_fn translate, void *arg0,
				      void *arg1);

/**
 * ns_publish_try() with a three-argument translator.
 * Returns the published sequence, or a negative error code as ns_publish_try().
 * Errors, ownership, thread safety, progress: as ns_publish_try().
 */
NS_API NS_HOT int64_t ns_publish3_try(ns_ring *ring, ns_translate3_fn translate, void *arg0,
				      void *arg1, void *arg2);

/**
 * Publish @p count events with one claim: translate(slot_i, first + i, args[i]) fills event i.
 * All or nothing: if any translator fails, the whole batch is abandoned and its code returned.
 *
 * Returns the first sequence of the batch.
 * Errors: the translator's code, -ESHUTDOWN, -EINVAL (ring, translate or args NULL, count 0 or
 * over the capacity).
 * Ownership: args and what they point to stay the caller's; the translator must not keep the
 * slot pointer.
 * Thread safety: as ns_ring_claim(); the translator runs on the calling thread.
 * Progress: as ns_ring_claim() (blocks while the ring is full), plus the translators.
 */
NS_API NS_HOT int64_t ns_publish_batch(ns_ring *ring, ns_translate_fn translate, void *const *args,
				       uint32_t count);

/**
 * ns_publish_batch() without waiting: claims the batch only if there is room for all of it now.
 *
 * Returns the first sequence of the batch.
 * Errors: -EAGAIN (normal outcome: not enough room, nothing claimed), otherwise as
 * ns_publish_batch().
 * Ownership and thread safety: as ns_publish_batch().
 * Progress: as ns_ring_try_claim() (never waits), plus the translators.
 */
NS_API NS_HOT int64_t ns_publish_batch_try(ns_ring *ring, ns_translate_fn translate,
					   void *const *args, uint32_t count);

#ifdef __cplusplus
}
#endif
#endif /* NANOSTREAM_RING_H */

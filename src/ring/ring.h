/* SPDX-License-Identifier: MIT */
#ifndef NSI_RING_RING_H
#define NSI_RING_RING_H

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <nanostream/ring.h>

#include "ring/sequence.h"
#include "util/wait.h"
#include "mem/region.h"
#include "util/atomic.h"
#include "util/compiler.h"

/*
 * The ring and its sequencers. Code here assumes valid arguments: ring.c checks them.
 *
 * Sequences: the cursor starts at -1; the first claim is sequence 0. A claim of n slots ending
 * at `next` may proceed once every gating sequence (consumer) is >= next - capacity, i.e. the
 * slot's previous occupant has been released.
 *
 * SINGLE: the producer keeps its last claimed sequence (sp.next) and the highest sequence it
 * may claim without looking at the gates (sp.limit: the slowest gate when last read, plus the
 * capacity) in its own line, and reads the gates only when a claim would pass the limit.
 * Publishing stores the cursor (release).
 *
 * MULTI: the cursor is the highest claimed sequence, advanced by fetch-add (blocking claims)
 * or compare-and-swap (try and deadline claims, which must not over-claim). Publishing stores
 * the slot's lap number into avail[] (release); readers find the highest contiguous published
 * sequence by scanning avail[], so producers never wait for each other. An abandoned slot's
 * word carries NSI_AVAIL_SKIP as well as its lap.
 *
 * NS_RING_F_SEQ_IN_SLOT: the availability words live in an 8-byte header in front of each
 * slot (the slot stride grows to hold it) and SINGLE publishes them too, before the cursor.
 * Consumers then look at the slot's own line only: they wait on the header of the next slot
 * and find how far they may read by scanning headers, never reading the cursor, so one cache
 * line moves from producer to consumer per event instead of two. Any header whose lap matches
 * its sequence's lap was published in that lap, so the scan needs no upper bound other than
 * one capacity (the producers cannot be further ahead of the reader).
 */

#define NSI_LAP_MASK   0x7fffffffu
#define NSI_AVAIL_SKIP 0x80000000u
#define NSI_GATE_FREE  INT64_MAX
#define NSI_SCAN_MAX   256 /* availability words read per look, at most */

/* A consumer's gating sequence; NSI_GATE_FREE when the gate is unused. */
struct nsi_gate {
	int64_t value;
	uint32_t in_use;
	void *owner; /* who registered it (diagnostics only: ns_ring_waiting_on()) */
} NS_SHARED_ALIGNED;

struct ns_ring {
	/* Read-mostly after create: shared by every thread without contention. */
	uint8_t *slots;	     /* slot 0's data (after its header with NS_RING_F_SEQ_IN_SLOT) */
	uint8_t *avail;	     /* availability word of slot 0: MULTI or NS_RING_F_SEQ_IN_SLOT */
	size_t stride;	     /* bytes from one slot to the next */
	size_t avail_stride; /* bytes from one availability word to the next */
	struct nsi_gate *gates;
	int64_t capacity;
	int64_t mask;
	uint32_t shift; /* log2(capacity) */
	uint32_t slot_size;
	uint32_t producer; /* enum ns_producer_mode */
	bool per_slot;	   /* readers look at availability words: MULTI or SEQ_IN_SLOT */
	bool in_slot;	   /* NS_RING_F_SEQ_IN_SLOT */
	uint32_t max_gates;
	bool notify;	    /* the wait kind sleeps: movers must call nsi_signal_notify() */
	bool plain_publish; /* SINGLE, no headers, no sleepers to notify: a cursor store is all */
	uint32_t closed;    /* claims fail: set by ns_ring_drain() and ns_ring_halt() */
	uint32_t halted;    /* waiters wake and fail: set once by ns_ring_halt() */
	struct nsi_wait_cfg wait;
	struct nsi_region region;  /* data: slots and avail[] */
	struct nsi_region control; /* this struct and the gates */

	/* SINGLE producer's private state (relaxed atomics: other threads may peek). */
	struct {
		int64_t next;  /* last claimed sequence */
		int64_t limit; /* slowest gate when last read + capacity */
	} sp NS_SHARED_ALIGNED;

	struct nsi_seq cursor;	      /* SINGLE: last published; MULTI: last claimed */
	struct nsi_seq mp_cached_min; /* MULTI: slowest gate when last read, shared by producers */
	struct {
		uint32_t hwm; /* gates[0 .. hwm) may be in use */
	} gate_set NS_SHARED_ALIGNED;
	struct nsi_signal publish_sig;	/* consumers wait here for the cursor */
	struct nsi_signal progress_sig; /* producers wait here for the gates */
};

enum nsi_claim_mode {
	NSI_CLAIM_BLOCK,    /* wait as long as it takes (or until halt) */
	NSI_CLAIM_DEADLINE, /* wait until a deadline */
	NSI_CLAIM_TRY,	    /* never wait */
};

/* Slow paths (sequencer.c). */
int64_t nsi_gating_min(const struct ns_ring *r, int64_t dflt);
int64_t nsi_sp_claim_slow(struct ns_ring *r, int64_t n, enum nsi_claim_mode mode,
			  int64_t deadline_ns);
int64_t nsi_mp_claim_fetch_add_slow(struct ns_ring *r, int64_t next, int64_t n);
int64_t nsi_mp_claim_cas(struct ns_ring *r, int64_t n, enum nsi_claim_mode mode,
			 int64_t deadline_ns);
int nsi_ring_abandon(struct ns_ring *r, int64_t first, int64_t n);
int64_t nsi_ring_try_claim_upto(struct ns_ring *r, int64_t n, int64_t *got);
int64_t nsi_ring_wait_for_slow(struct ns_ring *r, int64_t seq, const uint32_t *cancel,
			       bool strategy_timeout);
int64_t nsi_mp_highest_published(const struct ns_ring *r, int64_t lo, int64_t hi);
enum nsi_gate_start {
	NSI_GATE_AT_CURSOR,  /* after the current cursor */
	NSI_GATE_AT_CHECKED, /* after *start, if no producer can have reused the slots after it */
	NSI_GATE_AT_TRUSTED, /* after *start, which other gates already protect */
};
/* Take a free gate starting after a sequence (stored in *start). Returns 0, -EBUSY, -EINVAL. */
int nsi_gate_register(struct ns_ring *r, uint32_t *index, int64_t *start, enum nsi_gate_start how,
		      void *owner);
void nsi_gate_unregister(struct ns_ring *r, uint32_t index);
int nsi_ring_is_published(const struct ns_ring *r, int64_t seq);
int64_t nsi_ring_remaining(const struct ns_ring *r);
void nsi_ring_halt(struct ns_ring *r);
/* Close to claims, wait until every consumer handled every claimed event, then halt. */
int nsi_ring_drain(struct ns_ring *r, int64_t deadline_ns, uint64_t *remaining);

NS_INLINE uint8_t *
nsi_ring_slot(const struct ns_ring *r, int64_t seq)
{
	return r->slots + (size_t)(seq & r->mask) * r->stride;
}

/* The availability word of @seq's slot (MULTI or NS_RING_F_SEQ_IN_SLOT). */
NS_INLINE uint32_t *
nsi_avail_word(const struct ns_ring *r, int64_t seq)
{
	return (uint32_t *)(void *)(r->avail + (size_t)(seq & r->mask) * r->avail_stride);
}

NS_INLINE uint32_t
nsi_lap(const struct ns_ring *r, int64_t seq)
{
	return (uint32_t)(seq >> r->shift) & NSI_LAP_MASK;
}

NS_INLINE bool
nsi_ring_halted(const struct ns_ring *r)
{
	/* A flag only: no data is published through it, so relaxed suffices. */
	return NS_UNLIKELY(nsi_load_relaxed_u32(&r->halted) != 0);
}

/* Claims are refused (draining or halted). */
NS_INLINE bool
nsi_ring_closed(const struct ns_ring *r)
{
	return NS_UNLIKELY(nsi_load_relaxed_u32(&r->closed) != 0);
}

/*
 * The highest sequence claimed so far: SINGLE's producer-private next (relaxed: exact only on
 * the producer thread), MULTI's cursor.
 */
NS_INLINE int64_t
nsi_ring_claimed(const struct ns_ring *r)
{
	return r->producer == NS_PRODUCER_SINGLE ? nsi_load_relaxed_i64(&r->sp.next)
						 : nsi_seq_load_acquire(&r->cursor);
}

/*
 * Claim n slots in SINGLE mode. Returns the first sequence or a negative errno. The halt flag
 * and a possibly-full ring share one unlikely branch, and the slow path is a tail call, so the
 * fast path needs no stack frame.
 */
NS_INLINE int64_t
nsi_sp_claim(struct ns_ring *r, int64_t n, enum nsi_claim_mode mode, int64_t deadline_ns)
{
	int64_t cur = nsi_load_relaxed_i64(&r->sp.next);
	int64_t next = cur + n;

	if (NS_UNLIKELY(next > nsi_load_relaxed_i64(&r->sp.limit) || nsi_ring_closed(r)))
		return nsi_sp_claim_slow(r, n, mode, deadline_ns);
	nsi_store_relaxed_i64(&r->sp.next, next);
	return cur + 1;
}

/*
 * Blocking claim of n slots in MULTI mode: one fetch-and-add, no retry loop, while the ring
 * has room. Near full it waits for room first and then claims (a compare-and-swap): a range
 * claimed before there is room for it is one its producer cannot fill yet, and readers,
 * who take sequences in order, would wait at it for that producer, which waits for them.
 */
NS_INLINE int64_t
nsi_mp_claim(struct ns_ring *r, int64_t n)
{
	if (nsi_ring_closed(r))
		return -ESHUTDOWN;
	if (NS_UNLIKELY(nsi_seq_load_relaxed(&r->cursor) + n - r->capacity >
			nsi_seq_load_acquire(&r->mp_cached_min)))
		return nsi_mp_claim_cas(r, n, NSI_CLAIM_BLOCK, 0);
	int64_t next = nsi_seq_add_and_get(&r->cursor, n);

	/* Acquire pairs with the release store of the cache (nsi_mp_claim_fetch_add_slow()). */
	if (NS_UNLIKELY(next - r->capacity > nsi_seq_load_acquire(&r->mp_cached_min)))
		return nsi_mp_claim_fetch_add_slow(r, next, n);
	return next - n + 1;
}

NS_INLINE int64_t
nsi_ring_claim(struct ns_ring *r, int64_t n, enum nsi_claim_mode mode, int64_t deadline_ns)
{
	if (r->producer == NS_PRODUCER_SINGLE)
		return nsi_sp_claim(r, n, mode, deadline_ns);
	if (mode == NSI_CLAIM_BLOCK)
		return nsi_mp_claim(r, n);
	return nsi_mp_claim_cas(r, n, mode, deadline_ns);
}

NS_INLINE void
nsi_ring_publish(struct ns_ring *r, int64_t first, int64_t n)
{
	if (NS_LIKELY(r->plain_publish)) {
		/* Pairs with the consumer's acquire of the cursor: the slots' contents are seen. */
		nsi_seq_store_release(&r->cursor, first + n - 1);
		return;
	}
	if (r->per_slot) {
		for (int64_t s = first; s < first + n; s++) {
			/* Pairs with the acquire in nsi_mp_avail_word(). */
			nsi_store_release_u32(nsi_avail_word(r, s), nsi_lap(r, s));
		}
	}
	if (r->producer == NS_PRODUCER_SINGLE) {
		/* Pairs with the consumer's acquire of the cursor: the slots' contents are seen. */
		nsi_seq_store_release(&r->cursor, first + n - 1);
	}
	if (r->notify)
		nsi_signal_notify(&r->publish_sig);
}

/* MULTI: the slot's word for @seq's lap; publish or skip, or 0 if not yet written. */
NS_INLINE uint32_t
nsi_mp_avail_word(const struct ns_ring *r, int64_t seq)
{
	/* Pairs with the release store in nsi_ring_publish() / nsi_ring_abandon(). */
	uint32_t w = nsi_load_acquire_u32(nsi_avail_word(r, seq));
	return (w & NSI_LAP_MASK) == nsi_lap(r, seq) ? (w | 1u) : 0;
}

NS_INLINE bool
nsi_mp_is_available(const struct ns_ring *r, int64_t seq)
{
	return nsi_mp_avail_word(r, seq) != 0;
}

NS_INLINE bool
nsi_mp_is_skipped(const struct ns_ring *r, int64_t seq)
{
	return (nsi_mp_avail_word(r, seq) & NSI_AVAIL_SKIP) != 0;
}

/*
 * Consumer side, without waiting: the highest sequence readable in one go from @seq, or
 * seq - 1 if @seq is not readable yet.
 */
NS_INLINE int64_t
nsi_ring_available(const struct ns_ring *r, int64_t seq)
{
	if (!r->per_slot)
		return nsi_seq_load_acquire(&r->cursor);
	if (!nsi_mp_is_available(r, seq))
		return seq - 1;
	if (r->in_slot)
		return nsi_mp_highest_published(r, seq, seq + r->capacity - 1);
	return nsi_mp_highest_published(r, seq, nsi_seq_load_acquire(&r->cursor));
}

/*
 * As nsi_ring_available(), for a reader that takes at most @max (>= 1) events: never looks
 * past seq + max - 1, so taking one event costs one availability word, not the backlog's
 * (and, on a multi-producer ring with the sequence out of the slot, not the shared cursor).
 */
NS_INLINE int64_t
nsi_ring_available_upto(const struct ns_ring *r, int64_t seq, int64_t max)
{
	if (!r->per_slot)
		return nsi_seq_load_acquire(&r->cursor);
	if (!nsi_mp_is_available(r, seq))
		return seq - 1;
	if (max == 1)
		return seq;
	int64_t hi = r->in_slot ? seq + r->capacity - 1 : nsi_seq_load_acquire(&r->cursor);
	if (hi > seq + max - 1)
		hi = seq + max - 1;
	return nsi_mp_highest_published(r, seq, hi);
}

/*
 * Consumer side: wait until @seq is readable and return the highest sequence readable in one
 * go (>= seq), or -ESHUTDOWN, -ECANCELED, -ETIMEDOUT.
 */
NS_INLINE int64_t
nsi_ring_wait_for(struct ns_ring *r, int64_t seq, const uint32_t *cancel, bool strategy_timeout)
{
	int64_t avail = nsi_ring_available(r, seq);

	if (NS_LIKELY(avail >= seq))
		return avail;
	return nsi_ring_wait_for_slow(r, seq, cancel, strategy_timeout);
}

/* Consumer side: release every slot up to @seq to the producers. */
NS_INLINE void
nsi_gate_release(struct ns_ring *r, uint32_t gate, int64_t seq)
{
	/* Pairs with the acquire in nsi_gating_min(): our reads of the slots happen first. */
	nsi_store_release_i64(&r->gates[gate].value, seq);
	if (r->notify)
		nsi_signal_notify(&r->progress_sig);
}

#endif /* NSI_RING_RING_H */

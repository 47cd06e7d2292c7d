/* SPDX-License-Identifier: MIT */
#include "config.h"

#include <errno.h>

#include "ring/ring.h"

/* The slowest gate other than @except (@dflt if there is none). */
static int64_t
gating_min_except(const struct ns_ring *r, int64_t dflt, uint32_t except)
{
	/* Pairs with the release in nsi_gate_register(): a gate counted here is initialised. */
	uint32_t n = nsi_load_acquire_u32(&r->gate_set.hwm);
	int64_t min = dflt;

	for (uint32_t i = 0; i < n; i++) {
		/* Pairs with nsi_gate_release(): the consumer is done with slots up to v. */
		int64_t v = nsi_load_acquire_i64(&r->gates[i].value);
		if (i != except && v < min)
			min = v;
	}
	return min;
}

int64_t
nsi_gating_min(const struct ns_ring *r, int64_t dflt)
{
	return gating_min_except(r, dflt, UINT32_MAX);
}

struct gating_probe {
	const struct ns_ring *ring;
	int64_t dflt;
};

static int64_t
probe_gating(const void *arg)
{
	const struct gating_probe *p = arg;

	return nsi_gating_min(p->ring, p->dflt);
}

/* Wait on the progress signal until the slowest gate reaches @wrap. */
static int64_t
wait_gating(struct ns_ring *r, int64_t dflt, int64_t wrap, int64_t deadline_ns)
{
	struct gating_probe p = { .ring = r, .dflt = dflt };
	struct nsi_wait_req req = {
		.probe = probe_gating,
		.arg = &p,
		.target = wrap,
		.halted = &r->halted,
		.deadline_ns = deadline_ns,
	};

	return nsi_wait(&r->wait, &r->progress_sig, &req);
}

int64_t
nsi_sp_claim_slow(struct ns_ring *r, int64_t n, enum nsi_claim_mode mode, int64_t deadline_ns)
{
	if (nsi_ring_closed(r))
		return -ESHUTDOWN;
	int64_t cur = nsi_load_relaxed_i64(&r->sp.next);
	int64_t wrap = cur + n - r->capacity;
	/*
	 * Orders our earlier cursor stores before reading the gate set, against the fence in
	 * nsi_gate_register(): either we see a new gate, or it sees our cursor.
	 */
	nsi_fence_seq_cst();
	int64_t min = nsi_gating_min(r, cur);
	nsi_store_relaxed_i64(&r->sp.limit, min + r->capacity);
	if (wrap > min) {
		if (mode == NSI_CLAIM_TRY)
			return -EAGAIN;
		min = wait_gating(r, cur, wrap, mode == NSI_CLAIM_DEADLINE ? deadline_ns : 0);
		if (min < 0)
			return min;
		nsi_store_relaxed_i64(&r->sp.limit, min + r->capacity);
		if (nsi_ring_closed(r)) /* a drain started while we waited: claim nothing */
			return -ESHUTDOWN;
	}
	nsi_store_relaxed_i64(&r->sp.next, cur + n);
	return cur + 1;
}

int64_t
nsi_mp_claim_fetch_add_slow(struct ns_ring *r, int64_t next, int64_t n)
{
	int64_t wrap = next - r->capacity;

	nsi_fence_seq_cst(); /* as in nsi_sp_claim_slow() */
	int64_t min = nsi_gating_min(r, next);
	if (wrap > min) {
		/*
		 * The range is ours already (fetch-add cannot be undone), so wait as long as it
		 * takes. Only a halt ends the wait; the ring is then unusable anyway.
		 */
		min = wait_gating(r, next, wrap, 0);
		if (min < 0)
			return min;
	}
	/*
	 * A stale (lower) value here is harmless: it only sends a producer to this path.
	 * Release, paired with the acquire loads in the claim paths: a producer that trusts
	 * the cache must also inherit our acquire of the consumers' gates, or its writes to
	 * a slot would race with the consumer's last reads of it.
	 */
	nsi_seq_store_release(&r->mp_cached_min, min);
	return next - n + 1;
}

int64_t
nsi_mp_claim_cas(struct ns_ring *r, int64_t n, enum nsi_claim_mode mode, int64_t deadline_ns)
{
	for (;;) {
		if (nsi_ring_closed(r))
			return -ESHUTDOWN;
		int64_t cur = nsi_seq_load_acquire(&r->cursor);
		int64_t next = cur + n;
		int64_t wrap = next - r->capacity;

		if (wrap > nsi_seq_load_acquire(&r->mp_cached_min)) { /* pairs with release below */
			nsi_fence_seq_cst();			      /* as in nsi_sp_wait_room() */
			int64_t min = nsi_gating_min(r, cur);
			nsi_seq_store_release(&r->mp_cached_min, min);
			if (wrap > min) {
				if (mode == NSI_CLAIM_TRY)
					return -EAGAIN;
				min = wait_gating(r, cur, wrap, deadline_ns);
				if (min < 0)
					return min;
				continue; /* others may have claimed meanwhile: check again */
			}
		}
		/* Succeeds only if nobody claimed since we checked the room: never over-claims. */
		if (nsi_seq_cas(&r->cursor, &cur, next))
			return cur + 1;
	}
}

/*
 * Up to @n slots, as many as there is room for now (at least one), or -EAGAIN / -ESHUTDOWN.
 * Sets *got. The room is read as the claims above read it: from the cached limit, else from
 * the gates after the fence.
 */
int64_t
nsi_ring_try_claim_upto(struct ns_ring *r, int64_t n, int64_t *got)
{
	const bool single = r->producer == NS_PRODUCER_SINGLE;
	for (;;) {
		if (nsi_ring_closed(r))
			return -ESHUTDOWN;
		int64_t cur = single ? nsi_load_relaxed_i64(&r->sp.next)
				     : nsi_seq_load_acquire(&r->cursor);
		int64_t room = single ? nsi_load_relaxed_i64(&r->sp.limit) - cur
				      : nsi_seq_load_acquire(&r->mp_cached_min) + r->capacity - cur;
		if (room < 1) {
			nsi_fence_seq_cst(); /* as in nsi_sp_claim_slow() */
			int64_t min = nsi_gating_min(r, cur);
			if (single)
				nsi_store_relaxed_i64(&r->sp.limit, min + r->capacity);
			else
				nsi_seq_store_release(&r->mp_cached_min, min);
			room = min + r->capacity - cur;
			if (room < 1)
				return -EAGAIN;
		}
		int64_t k = room < n ? room : n;
		if (single) {
			nsi_store_relaxed_i64(&r->sp.next, cur + k);
		} else if (!nsi_seq_cas(&r->cursor, &cur, cur + k)) {
			continue; /* another producer claimed since we looked: look again */
		}
		*got = k;
		return cur + 1;
	}
}

int
nsi_ring_abandon(struct ns_ring *r, int64_t first, int64_t n)
{
	int64_t last = first + n - 1;

	if (r->producer == NS_PRODUCER_SINGLE) {
		/* Only the most recent, unpublished claim can be handed back. */
		if (last != nsi_load_relaxed_i64(&r->sp.next) ||
		    first <= nsi_seq_load_relaxed(&r->cursor))
			return -EINVAL;
		nsi_store_relaxed_i64(&r->sp.next, first - 1);
		return 0;
	}
	/*
	 * A claimed, unpublished sequence lies within one capacity of the cursor (its slot's
	 * previous lap was consumed before it could be claimed); anything older was published
	 * and its slot may hold a newer event now, whose mark must not be overwritten.
	 */
	int64_t cursor = nsi_seq_load_acquire(&r->cursor);
	if (last > cursor || first <= cursor - r->capacity)
		return -EINVAL;
	for (int64_t s = first; s <= last; s++) {
		if (nsi_mp_is_available(r, s))
			return -EINVAL;
	}
	for (int64_t s = first; s <= last; s++) {
		/* Readers step over the slot (see nsi_mp_is_skipped()); release as for publish. */
		nsi_store_release_u32(nsi_avail_word(r, s), nsi_lap(r, s) | NSI_AVAIL_SKIP);
	}
	if (r->notify)
		nsi_signal_notify(&r->publish_sig);
	return 0;
}

int64_t
nsi_mp_highest_published(const struct ns_ring *r, int64_t lo, int64_t hi)
{
	/*
	 * A look covers at most NSI_SCAN_MAX slots: a reader that takes one slot per look (a
	 * work-pool worker) must not pay for the whole backlog on every event.
	 */
	if (hi - lo >= NSI_SCAN_MAX)
		hi = lo + NSI_SCAN_MAX - 1;
	for (int64_t s = lo; s <= hi; s++) {
		if (!nsi_mp_is_available(r, s))
			return s - 1;
	}
	return hi;
}

static int64_t
probe_sp_cursor(const void *arg)
{
	const struct ns_ring *r = arg;

	return nsi_seq_load_acquire(&r->cursor);
}

struct slot_probe {
	const struct ns_ring *ring;
	int64_t seq;
};

static int64_t
probe_mp_slot(const void *arg)
{
	const struct slot_probe *p = arg;

	return nsi_mp_is_available(p->ring, p->seq) ? p->seq : p->seq - 1;
}

int64_t
nsi_ring_wait_for_slow(struct ns_ring *r, int64_t seq, const uint32_t *cancel,
		       bool strategy_timeout)
{
	struct slot_probe sp = { .ring = r, .seq = seq };
	struct nsi_wait_req req = {
		.target = seq,
		.halted = &r->halted,
		.cancel = cancel,
		.strategy_timeout = strategy_timeout,
	};

	if (!r->per_slot) {
		req.probe = probe_sp_cursor;
		req.arg = r;
		return nsi_wait(&r->wait, &r->publish_sig, &req);
	}
	req.probe = probe_mp_slot;
	req.arg = &sp;
	int64_t rc = nsi_wait(&r->wait, &r->publish_sig, &req);
	if (rc < 0)
		return rc;
	return nsi_ring_available(r, seq);
}

int
nsi_gate_register(struct ns_ring *r, uint32_t *index, int64_t *start, enum nsi_gate_start how,
		  void *owner)
{
	for (uint32_t i = 0; i < r->max_gates; i++) {
		uint32_t expected = 0;
		if (!nsi_cas_acq_rel_u32(&r->gates[i].in_use, &expected, 1))
			continue;

		struct nsi_gate *g = &r->gates[i];
		__atomic_store_n(&g->owner, owner, __ATOMIC_RELEASE);
		int64_t s = how == NSI_GATE_AT_CURSOR ? nsi_seq_load_acquire(&r->cursor) : *start;
		nsi_store_release_i64(&g->value, s);
		uint32_t hwm = nsi_load_acquire_u32(&r->gate_set.hwm);
		while (hwm < i + 1 && !nsi_cas_acq_rel_u32(&r->gate_set.hwm, &hwm, i + 1)) {
		}
		/*
		 * A producer that computed the slowest gate before seeing ours may claim up to
		 * that value + capacity. The fence pairs with the producers' fence before
		 * nsi_gating_min(): what we read after it bounds what such a producer relied on.
		 */
		nsi_fence_seq_cst();
		int64_t cursor = nsi_seq_load_acquire(&r->cursor);
		if (how == NSI_GATE_AT_CURSOR) {
			/* Start at or past every position such a producer relied on. */
			s = cursor;
			nsi_store_release_i64(&g->value, s);
		} else if (how == NSI_GATE_AT_CHECKED &&
			   (s > cursor || s < gating_min_except(r, cursor, i))) {
			/*
			 * Older than the slowest other gate (or, with none, than the cursor):
			 * a producer may already have reused the slots after it.
			 */
			nsi_gate_unregister(r, i);
			return -EINVAL;
		}
		*index = i;
		*start = s;
		return 0;
	}
	return -EBUSY;
}

void
nsi_gate_unregister(struct ns_ring *r, uint32_t index)
{
	__atomic_store_n(&r->gates[index].owner, NULL, __ATOMIC_RELEASE);
	nsi_store_release_i64(&r->gates[index].value, NSI_GATE_FREE);
	/* A producer may be asleep waiting on this gate. */
	if (r->notify)
		nsi_signal_notify(&r->progress_sig);
	nsi_store_release_u32(&r->gates[index].in_use, 0);
}

int
nsi_ring_is_published(const struct ns_ring *r, int64_t seq)
{
	if (r->producer == NS_PRODUCER_SINGLE) {
		int64_t c = nsi_seq_load_acquire(&r->cursor);
		return seq <= c && seq > c - r->capacity;
	}
	uint32_t w = nsi_mp_avail_word(r, seq);
	return w != 0 && (w & NSI_AVAIL_SKIP) == 0;
}

int64_t
nsi_ring_remaining(const struct ns_ring *r)
{
	int64_t claimed = nsi_ring_claimed(r);
	int64_t used = claimed - nsi_gating_min(r, claimed);

	return r->capacity - used;
}

/* How far the slowest consumer is behind what was claimed, as a wait probe: 0 when drained. */
static int64_t
probe_drained(const void *arg)
{
	const struct ns_ring *r = arg;
	int64_t c = nsi_ring_claimed(r);

	return nsi_gating_min(r, c) - c;
}

int
nsi_ring_drain(struct ns_ring *r, int64_t deadline_ns, uint64_t *remaining)
{
	nsi_store_release_u32(&r->closed, 1);
	/* Orders the close before reading what was claimed, against the claim paths' checks. */
	nsi_fence_seq_cst();
	struct nsi_wait_req req = {
		.probe = probe_drained,
		.arg = r,
		.target = 0,
		.halted = &r->halted,
		.deadline_ns = deadline_ns,
	};
	int64_t rc = nsi_wait(&r->wait, &r->progress_sig, &req);
	if (remaining != NULL) {
		int64_t left = -probe_drained(r);
		*remaining = left > 0 ? (uint64_t)left : 0;
	}
	if (rc == -ETIMEDOUT)
		return -ETIMEDOUT; /* consumers carry on: drain again, or halt */
	nsi_ring_halt(r);
	return rc < 0 ? (int)rc : 0; /* -ESHUTDOWN: someone halted the ring meanwhile */
}

void
nsi_ring_halt(struct ns_ring *r)
{
	nsi_store_release_u32(&r->closed, 1);
	nsi_store_release_u32(&r->halted, 1);
	nsi_signal_wake_all(&r->publish_sig);
	nsi_signal_wake_all(&r->progress_sig);
}

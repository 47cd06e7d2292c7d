/* SPDX-License-Identifier: MIT */
#include "config.h"

#include <errno.h>
#include <stdbool.h>
#include <string.h>

#include <nanostream/consumer.h>

#include "util/sized.h"
#include "consumer/consumer.h"

/* First released size (util/sized.h): never change it. */
#define POLLER_OPTS_0_1 NSI_SIZE_UPTO(struct ns_poller_opts, after)

/*
 * A poller is a consumer that nobody runs: its steps are taken by ns_poller_poll(). The
 * public ns_poller handle is the consumer itself.
 */

static int
never_called(void *ctx, void *slot, int64_t seq, bool end_of_batch)
{
	(void)ctx, (void)slot, (void)seq, (void)end_of_batch;
	return -EINVAL;
}

static int
poller_create(ns_poller **poller, ns_ring *ring, const struct ns_poller_opts *opts)
{
	struct ns_consumer_opts co = NS_CONSUMER_OPTS_INIT;
	struct ns_poller_opts o;
	int rc;

	if (poller == NULL || ring == NULL || opts == NULL)
		return nsi_errmsg_set(-EINVAL, "%s is NULL",
				      poller == NULL ? "poller"
				      : ring == NULL ? "ring"
						     : "opts");
	rc = nsi_sized_in_named(&o, sizeof(o), opts, POLLER_OPTS_0_1, "struct ns_poller_opts",
				"NS_POLLER_OPTS_INIT");
	if (rc < 0)
		return rc;
	if (o.flags != 0 || o.reserved != 0)
		return nsi_errmsg_set(-EINVAL, "poller options: flags and reserved must be 0");
	co.on_event = never_called;
	co.after = o.after;
	co.after_count = o.after_count;
	ns_consumer *c = NULL;
	rc = ns_consumer_create(&c, ring, &co);
	if (rc < 0)
		return rc;
	/* The poller is the consumer: no separate allocation, so nothing else can fail. */
	c->is_poller = true;
	c->pull.known = c->progress.sequence;
	c->pull.peeked = c->progress.sequence;
	*poller = (ns_poller *)c;
	return 0;
}

int
ns_poller_create(ns_poller **poller, ns_ring *ring, const struct ns_poller_opts *opts)
{
	nsi_errmsg_clear();
	return nsi_errmsg_default(poller_create(poller, ring, opts));
}

static void
count(uint64_t *counter, uint64_t n)
{
	/* Single writer: a plain add, published relaxed for ns_consumer_stats(). */
	nsi_store_relaxed_u64(counter, nsi_load_relaxed_u64(counter) + n);
}

/*
 * Pulling. A poller caches the highest sequence it knows to be readable (pull.known): those
 * slots stay published until the poller releases them, so the shared cursor, the
 * availability words or the upstream consumers' progress are read again only when the poller
 * wants more than it knows of. Taking one event at a time then reads nothing shared but the
 * slot itself (and, on a multi-producer ring, the slot's availability word) until it has
 * taken everything it knew of; a poll of many reads the shared state once per call.
 */

/*
 * Nothing readable at the first look: read the halt flag, then look again, so that
 * -ESHUTDOWN is returned only once everything published before the halt was taken. Returns
 * the bound (>= next), or less than next with *state set.
 */
static NS_NOINLINE int64_t
look_again(struct ns_consumer *c, int64_t next, int64_t max, int *state)
{
	struct ns_ring *r = c->ring;
	/* Pairs with the release in nsi_ring_halt(): what was published before it is seen. */
	bool halted = nsi_load_acquire_u32(&r->halted) != 0;
	int64_t avail;

	if (c->after_count == 0) {
		avail = nsi_ring_available_upto(r, next, max);
		if (avail >= next) {
			c->pull.known = avail;
			return avail;
		}
		*state = halted ? -ESHUTDOWN : NS_POLLER_IDLE;
		return next - 1;
	}
	avail = nsi_consumer_upstream_bound(c, next);
	if (avail == NSI_PROBE_BROKEN) {
		*state = halted ? -ESHUTDOWN : -EPIPE;
		return next - 1;
	}
	if (avail >= next) {
		c->pull.known = avail;
		return avail;
	}
	*state = nsi_ring_available(r, next) >= next ? NS_POLLER_GATING : NS_POLLER_IDLE;
	return next - 1;
}

/* A look for more than the cached bound already holds: never returns less than @known. */
static int64_t
look_further(struct ns_consumer *c, int64_t next, int64_t max, int64_t known)
{
	int64_t more;

	if (c->after_count == 0) {
		more = nsi_ring_available_upto(c->ring, known + 1, next + max - 1 - known);
	} else {
		more = nsi_consumer_upstream_bound(c, next);
		if (more == NSI_PROBE_BROKEN)
			return known; /* what it finished before it stopped is still there */
	}
	if (more > known)
		c->pull.known = more;
	return more > known ? more : known;
}

/*
 * The highest sequence the poller may take from @next, looking at most @max ahead, or less
 * than next with *state set. The shared state is read only when the cached bound holds fewer
 * than @max events: a take of one event reads it only once it has taken all it knew of.
 */
NS_INLINE int64_t
readable(struct ns_consumer *c, int64_t next, int64_t max, int *state)
{
	int64_t known = c->pull.known;

	if (NS_LIKELY(known >= next + max - 1))
		return known;
	if (known >= next)
		return look_further(c, next, max, known);
	if (c->after_count == 0) {
		int64_t avail = nsi_ring_available_upto(c->ring, next, max);
		if (NS_LIKELY(avail >= next)) {
			c->pull.known = avail;
			return avail;
		}
	}
	return look_again(c, next, max, state);
}

/* The next sequence to take. */
NS_INLINE int64_t
next_of(const struct ns_consumer *c)
{
	return nsi_load_relaxed_i64(&c->progress.sequence) + 1;
}

NS_INLINE int64_t
limit_of(const struct ns_ring *r, uint32_t max)
{
	return max != 0 && (int64_t)max < r->capacity ? (int64_t)max : r->capacity;
}

/*
 * MULTI: step over abandoned slots from @next up to @avail, releasing them. Returns the first
 * slot that is not abandoned (> avail when all were).
 */
static int64_t
skip_abandoned(struct ns_consumer *c, int64_t next, int64_t avail)
{
	int64_t s = next;

	while (s <= avail && nsi_mp_is_skipped(c->ring, s))
		s++;
	if (s != next)
		nsi_consumer_release(c, s - 1);
	return s;
}

/* What one poll handles: next .. end; last is the last event not abandoned (end_of_batch). */
struct poll_span {
	int64_t next, end, last;
};

/* The start of a poll: NS_POLLER_PROCESSING with *sp set, or the outcome of an empty look. */
static int
poll_span(struct ns_consumer *c, uint32_t max, struct poll_span *sp)
{
	struct ns_ring *r = c->ring;
	int64_t lim = limit_of(r, max);
	int64_t next = next_of(c);
	int state = NS_POLLER_IDLE;
	int64_t avail = readable(c, next, lim, &state);

	if (avail < next)
		return state;
	sp->next = next;
	sp->end = avail < next + lim - 1 ? avail : next + lim - 1;
	sp->last = sp->end;
	while (r->producer == NS_PRODUCER_MULTI && sp->last >= next &&
	       nsi_mp_is_skipped(r, sp->last))
		sp->last--;
	return NS_POLLER_PROCESSING;
}

/*
 * The last event of the contiguous run that starts at @s (not abandoned), at most @last: a run
 * stops at the ring's last slot and, MULTI, before an abandoned slot.
 */
static int64_t
run_end(const struct ns_ring *r, int64_t s, int64_t last)
{
	int64_t e = (s | r->mask) < last ? (s | r->mask) : last; /* stop at the ring's end */
	for (int64_t t = s + 1; r->producer == NS_PRODUCER_MULTI && t <= e; t++) {
		if (nsi_mp_is_skipped(r, t))
			return t - 1;
	}
	return e;
}

/*
 * A handler stopped the poll (rc > 0: after its event or run, < 0: before it): count and
 * release what was handled, up to @done, and return the poll's result.
 */
static int
poll_stopped(struct ns_consumer *c, int64_t next, int64_t done, uint64_t handled, int rc)
{
	count(&c->stats.events, handled);
	if (done >= next)
		nsi_consumer_release(c, done);
	return rc > 0 ? NS_POLLER_PROCESSING : rc;
}

/* The poll handled everything up to @end (abandoned slots included). */
static int
poll_done(struct ns_consumer *c, int64_t end, uint64_t handled)
{
	count(&c->stats.events, handled);
	count(&c->stats.batches, 1);
	nsi_consumer_release(c, end);
	return NS_POLLER_PROCESSING;
}

int
ns_poller_poll(ns_poller *poller, ns_event_fn handler, void *ctx, uint32_t max)
{
	struct ns_consumer *c = (struct ns_consumer *)poller;

	if (poller == NULL || handler == NULL)
		return -EINVAL;
	struct ns_ring *r = c->ring;
	const bool is_multi = r->producer == NS_PRODUCER_MULTI;
	struct poll_span sp;
	int state = poll_span(c, max, &sp);

	if (state != NS_POLLER_PROCESSING)
		return state;
	const int64_t next = sp.next, end = sp.end, last = sp.last;
	uint64_t handled = 0;
	for (int64_t s = next; s <= last; s++) {
		if (is_multi && nsi_mp_is_skipped(r, s))
			continue;
		int rc = handler(ctx, nsi_ring_slot(r, s), s, s == last);
		if (rc != 0)
			return poll_stopped(c, next, rc > 0 ? s : s - 1, handled + (rc > 0), rc);
		handled++;
	}
	return poll_done(c, end, handled);
}

int
ns_poller_poll_runs(ns_poller *poller, ns_events_fn handler, void *ctx, uint32_t max)
{
	struct ns_consumer *c = (struct ns_consumer *)poller;

	if (poller == NULL || handler == NULL)
		return -EINVAL;
	struct ns_ring *r = c->ring;
	const bool is_multi = r->producer == NS_PRODUCER_MULTI;
	struct poll_span sp;
	int state = poll_span(c, max, &sp);

	if (state != NS_POLLER_PROCESSING)
		return state;
	const int64_t next = sp.next, end = sp.end, last = sp.last;
	uint64_t handled = 0;
	int64_t s = next;
	while (s <= last) {
		if (is_multi && nsi_mp_is_skipped(r, s)) {
			s++;
			continue;
		}
		int64_t e = run_end(r, s, last);
		uint32_t n = (uint32_t)(e - s + 1);
		int rc = handler(ctx, nsi_ring_slot(r, s), s, n, (uint32_t)r->stride, e == last);
		if (rc != 0)
			return poll_stopped(c, next, rc > 0 ? e : s - 1, handled + (rc > 0 ? n : 0),
					    rc);
		handled += n;
		s = e + 1;
	}
	return poll_done(c, end, handled);
}

int
ns_poller_peek(ns_poller *poller, uint32_t max, void **first, int64_t *seq)
{
	struct ns_consumer *c = (struct ns_consumer *)poller;

	if (poller == NULL || first == NULL || seq == NULL)
		return -EINVAL;
	struct ns_ring *r = c->ring;
	int64_t lim = limit_of(r, max);
	int64_t next = next_of(c);
	int state = NS_POLLER_IDLE;
	int64_t avail = readable(c, next, lim, &state);

	if (avail < next)
		return state < 0 ? state : 0;
	if (r->producer == NS_PRODUCER_MULTI) {
		next = skip_abandoned(c, next, avail);
		if (next > avail)
			return 0;
	}
	int64_t end = run_end(r, next, avail < next + lim - 1 ? avail : next + lim - 1);
	c->pull.peeked = end;
	*first = nsi_ring_slot(r, next);
	*seq = next;
	return (int)(end - next + 1);
}

int
ns_poller_release(ns_poller *poller, uint32_t n)
{
	struct ns_consumer *c = (struct ns_consumer *)poller;

	if (poller == NULL)
		return -EINVAL;
	if (n == 0)
		return 0;
	int64_t last = next_of(c) + (int64_t)n - 1;
	if (last > c->pull.peeked)
		return -EINVAL; /* more than the last peek showed */
	(void)poll_done(c, last, n);
	return 0;
}

/* A take's copy: whole words inline for the small events queues carry, memcpy() beyond. */
NS_INLINE void
copy_out(void *dst, const void *src, uint32_t len)
{
	if (len <= 32 && (len & 7) == 0) {
		for (uint32_t i = 0; i < len; i += 8) {
			uint64_t w;
			memcpy(&w, (const uint8_t *)src + i, 8);
			memcpy((uint8_t *)dst + i, &w, 8);
		}
		return;
	}
	memcpy(dst, src, len);
}

/* Copy out the event at @next (known readable, not abandoned) and release its slot. */
NS_INLINE int
take_at(struct ns_consumer *c, void *dst, uint32_t len, int64_t next)
{
	copy_out(dst, nsi_ring_slot(c->ring, next), len);
	count(&c->stats.events, 1);
	nsi_consumer_release(c, next);
	return NS_POLLER_PROCESSING;
}

/* The take of an event not yet known to be readable, or abandoned: look, step over, copy. */
static NS_NOINLINE int
take_slow(struct ns_consumer *c, void *dst, uint32_t len, int64_t next)
{
	struct ns_ring *r = c->ring;
	int state = NS_POLLER_IDLE;
	int64_t avail = readable(c, next, 1, &state);

	if (avail < next)
		return state;
	while (r->producer == NS_PRODUCER_MULTI && nsi_mp_is_skipped(r, next)) {
		next = skip_abandoned(c, next, avail);
		if (next <= avail)
			break;
		avail = readable(c, next, 1, &state);
		if (avail < next)
			return state;
	}
	return take_at(c, dst, len, next);
}

int
ns_poller_take(ns_poller *poller, void *dst, uint32_t len)
{
	struct ns_consumer *c = (struct ns_consumer *)poller;

	if (NS_UNLIKELY(poller == NULL || dst == NULL || len == 0 || len > c->ring->slot_size))
		return -EINVAL;
	struct ns_ring *r = c->ring;
	int64_t next = next_of(c);
	/* Known to be published (the cached bound) and, MULTI, not abandoned: copy it out. */
	if (NS_UNLIKELY(c->pull.known < next ||
			(r->producer == NS_PRODUCER_MULTI && nsi_mp_is_skipped(r, next))))
		return take_slow(c, dst, len, next);
	return take_at(c, dst, len, next);
}

ns_consumer *
ns_poller_consumer(ns_poller *poller)
{
	return (ns_consumer *)poller;
}

void
ns_poller_destroy(ns_poller *poller)
{
	if (poller != NULL)
		nsi_consumer_free((struct ns_consumer *)poller);
}

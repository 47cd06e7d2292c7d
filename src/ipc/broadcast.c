/* SPDX-License-Identifier: MIT */
#include "config.h"

#include <errno.h>
#include <string.h>

#include "ipc/broadcast.h"
#include "util/atomic.h"
#include "util/cpu.h"

static int64_t
align8(int64_t v)
{
	return (v + (NSI_BCAST_ALIGN - 1)) & ~(int64_t)(NSI_BCAST_ALIGN - 1);
}

/* Record bytes: relaxed atomic 8-byte accesses (receivers may race with an overwrite). */
static void
store_word(uint8_t *p, uint64_t v)
{
	nsi_store_relaxed_u64((uint64_t *)(void *)p, v);
}

static uint64_t
load_word(const uint8_t *p)
{
	return nsi_load_relaxed_u64((const uint64_t *)(const void *)p);
}

static uint64_t
header_word(int32_t length, int32_t type)
{
	return (uint64_t)(uint32_t)length | (uint64_t)(uint32_t)type << 32;
}

int
nsi_bcast_init(struct nsi_bcast *b, void *base, size_t bytes)
{
	if (b == NULL || base == NULL || bytes <= NSI_BCAST_TRAILER || (uintptr_t)base % 128 != 0)
		return -EINVAL;
	size_t capacity = bytes - NSI_BCAST_TRAILER;
	if (capacity < NSI_BCAST_MIN_BYTES || !nsi_is_pow2_u64(capacity) || capacity > INT32_MAX)
		return -EINVAL;
	b->buf = base;
	b->trailer = (struct nsi_bcast_trailer *)(void *)((uint8_t *)base + capacity);
	b->capacity = (int64_t)capacity;
	b->mask = b->capacity - 1;
	b->max_msg = (int32_t)(capacity / 8) - NSI_BCAST_HEADER;
	b->tx_tail = nsi_load_relaxed_i64(&b->trailer->tail);
	if (!nsi_pos_ok(b->tx_tail) || b->tx_tail % NSI_BCAST_ALIGN != 0)
		b->tx_tail = 0; /* a new buffer's is 0; anything else here is not ours to trust */
	return 0;
}

int
nsi_bcast_transmit(struct nsi_bcast *b, int32_t type, const void *msg, int32_t length)
{
	if (type < 0)
		return -EINVAL;
	if (length < 0 || length > b->max_msg || (msg == NULL && length > 0))
		return -EMSGSIZE;
	struct nsi_bcast_trailer *t = b->trailer;
	int64_t record = length + NSI_BCAST_HEADER, aligned = align8(record);
	/* Our own copy of the tail: what others may have written to the shared one is ignored. */
	int64_t tail = b->tx_tail;
	int64_t index = tail & b->mask, to_end = b->capacity - index;
	int64_t start = aligned > to_end ? tail + to_end : tail;

	/*
	 * Announce the new tail before overwriting anything: a receiver whose copy read any byte
	 * written after this fence also sees the new intent when it checks (fence to fence).
	 */
	nsi_store_relaxed_i64(&t->tail_intent, start + aligned);
	nsi_fence_release();
	if (start != tail) {
		store_word(b->buf + index, header_word((int32_t)to_end, NSI_BCAST_PAD_TYPE));
		index = 0;
	}
	uint8_t *rec = b->buf + index;
	store_word(rec, header_word((int32_t)record, type));
	const uint8_t *src = msg;
	for (int32_t off = 0; off < length; off += 8) {
		uint64_t w = 0;
		memcpy(&w, src + off, (size_t)(length - off < 8 ? length - off : 8));
		store_word(rec + NSI_BCAST_HEADER + off, w);
	}
	nsi_store_release_i64(&t->latest, start);
	b->tx_tail = start + aligned;
	nsi_store_release_i64(&t->tail, b->tx_tail);
	return 0;
}

void
nsi_bcast_receiver_init(struct nsi_bcast_receiver *r, const struct nsi_bcast *b)
{
	r->b = b;
	r->lapped_count = 0;
	r->corrupt_count = 0;
	/* Start at the latest record if it is a sane one, else at the tail (new records only). */
	int64_t tail = nsi_load_acquire_i64(&b->trailer->tail);
	int64_t latest = nsi_load_acquire_i64(&b->trailer->latest);
	if (!nsi_pos_ok(tail) || tail % NSI_BCAST_ALIGN != 0)
		tail = 0;
	r->cursor = nsi_pos_ok(latest) && latest <= tail && tail - latest <= b->capacity &&
				    latest % NSI_BCAST_ALIGN == 0
			    ? latest
			    : tail;
}

/*
 * Did the transmitter start overwriting the record at @cursor (since the reads before)? An
 * intent that is no position (forged) says yes: the record is given up, never trusted.
 */
static bool
overwritten(const struct nsi_bcast *b, int64_t cursor)
{
	nsi_fence_acquire();
	int64_t intent = nsi_load_relaxed_i64(&b->trailer->tail_intent);
	return !nsi_pos_ok(intent) || intent - cursor > b->capacity;
}

/*
 * Where to resume ahead of @cursor: the latest record when it is a position past @cursor and
 * within one buffer of @tail, else @tail. Either way forward, never back onto a record that
 * was already handed out.
 */
static int64_t
resume_at(const struct nsi_bcast_receiver *r, int64_t cursor, int64_t tail)
{
	int64_t latest = nsi_load_acquire_i64(&r->b->trailer->latest);
	bool sane = nsi_pos_ok(latest) && latest > cursor && latest < tail &&
		    tail - latest <= r->b->capacity && latest % NSI_BCAST_ALIGN == 0;
	return sane ? latest : tail;
}

/* Lapped: the transmitter overwrote records not yet read. */
static void
skip_ahead(struct nsi_bcast_receiver *r, int64_t cursor, int64_t tail)
{
	r->cursor = resume_at(r, cursor, tail);
	r->lapped_count++;
}

/*
 * Give up on what lies between the cursor and @tail: the buffer holds what no transmitter
 * writes. The receiver resynchronises (resume_at()); the records in between are lost (their
 * senders' waits end at their deadlines).
 */
static int
resync(struct nsi_bcast_receiver *r, int64_t cursor, int64_t tail)
{
	r->cursor = resume_at(r, cursor, tail);
	r->corrupt_count++;
	return -EBADMSG;
}

/* A bound on records skipped (padding, laps) in one call: the memory may be hostile. */
#define RECEIVE_STEPS 8

int
nsi_bcast_receive(struct nsi_bcast_receiver *r, int32_t *type, void *out, int32_t out_len,
		  int32_t *length)
{
	const struct nsi_bcast *b = r->b;

	for (int step = 0; step < RECEIVE_STEPS; step++) {
		int64_t cursor = r->cursor;
		/* Read once, checked, then used: the trailer is shared memory. */
		int64_t tail = nsi_load_acquire_i64(&b->trailer->tail);
		if (tail == cursor)
			return 0;
		if (tail % NSI_BCAST_ALIGN != 0 || !nsi_pos_ok(tail))
			return 0; /* forged: the transmitter's next record rewrites it */
		if (tail < cursor) {
			/*
			 * The tail went back (forged, now or before). The transmitter is the
			 * authority: follow it, from its latest record when that one is sane.
			 */
			int64_t latest = nsi_load_acquire_i64(&b->trailer->latest);
			bool sane = nsi_pos_ok(latest) && latest < tail &&
				    tail - latest <= b->capacity && latest % NSI_BCAST_ALIGN == 0;
			r->cursor = sane ? latest : tail;
			r->corrupt_count++;
			return -EBADMSG;
		}
		if (tail - cursor > b->capacity || overwritten(b, cursor)) {
			skip_ahead(r, cursor, tail);
			continue;
		}
		int64_t index = cursor & b->mask;
		uint64_t h = load_word(b->buf + index);
		int32_t len = (int32_t)(uint32_t)h, typ = (int32_t)(uint32_t)(h >> 32);
		bool pad = typ == NSI_BCAST_PAD_TYPE;
		bool sane = pad ? len == b->capacity - index
				: len >= NSI_BCAST_HEADER && len <= b->capacity - index &&
					    len - NSI_BCAST_HEADER <= b->max_msg &&
					    align8(len) <= tail - cursor;
		if (!sane) {
			if (overwritten(b, cursor)) {
				skip_ahead(r, cursor, tail);
				continue;
			}
			return resync(r, cursor, tail);
		}
		if (pad) {
			r->cursor = cursor + len;
			continue;
		}
		int32_t n = len - NSI_BCAST_HEADER;
		if (n > out_len) {
			r->cursor = cursor + align8(len);
			return -EMSGSIZE;
		}
		uint8_t *dst = out;
		for (int32_t off = 0; off < n; off += 8) {
			uint64_t w = load_word(b->buf + index + NSI_BCAST_HEADER + off);
			memcpy(dst + off, &w, (size_t)(n - off < 8 ? n - off : 8));
		}
		if (overwritten(b, cursor)) {
			skip_ahead(r, cursor, tail);
			continue;
		}
		r->cursor = cursor + align8(len);
		*type = typ;
		*length = n;
		return 1;
	}
	/* Still skipping after RECEIVE_STEPS: not what a transmitter does. */
	int64_t tail = nsi_load_acquire_i64(&b->trailer->tail) & ~(int64_t)(NSI_BCAST_ALIGN - 1);
	return resync(r, r->cursor, nsi_pos_ok(tail) && tail > r->cursor ? tail : r->cursor);
}

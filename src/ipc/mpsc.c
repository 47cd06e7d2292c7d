/* SPDX-License-Identifier: MIT */
#include "config.h"

#include <errno.h>
#include <stdbool.h>
#include <string.h>

#include "ipc/mpsc.h"
#include "util/atomic.h"
#include "util/cpu.h"

static int64_t
align8(int64_t v)
{
	return (v + 7) & ~(int64_t)7;
}

static uint64_t *
header(uint8_t *rec)
{
	return (uint64_t *)(void *)rec;
}

static uint64_t
header_word(int32_t length, int32_t type)
{
	return (uint64_t)(uint32_t)length | (uint64_t)(uint32_t)type << 32;
}

int
nsi_mpsc_init(struct nsi_mpsc *r, void *base, size_t bytes)
{
	if (r == NULL || base == NULL || bytes <= NSI_MPSC_TRAILER || (uintptr_t)base % 128 != 0)
		return -EINVAL;
	size_t capacity = bytes - NSI_MPSC_TRAILER;
	if (capacity < NSI_MPSC_MIN_BYTES || !nsi_is_pow2_u64(capacity) || capacity > INT32_MAX)
		return -EINVAL;
	r->buf = base;
	r->trailer = (struct nsi_mpsc_trailer *)(void *)((uint8_t *)base + capacity);
	r->capacity = (int64_t)capacity;
	r->mask = r->capacity - 1;
	r->max_msg = (int32_t)(capacity / 8) - NSI_MPSC_HEADER;
	r->head = nsi_load_relaxed_i64(&r->trailer->head);
	if (!nsi_pos_ok(r->head) || r->head % 8 != 0)
		r->head = 0; /* a new ring's is 0; anything else the reader's tail check resolves */
	r->stall_head = -1;
	r->stall_since_ns = 0;
	r->stall_tail = 0;
	r->stall_timeout_ns = 1000000000;
	r->skipped = 0;
	r->resyncs = 0;
	return 0;
}

/*
 * Claim @need bytes (and padding to the end if the record would wrap). Returns the claimed
 * index, -1 when full, or -2 for a tail no writer leaves; pad_at and pad_len describe the
 * padding record (pad_len 0: none).
 */
static int64_t
claim(struct nsi_mpsc *r, int64_t need, int64_t *pad_at, int64_t *pad_len)
{
	struct nsi_mpsc_trailer *t = r->trailer;
	/* A0: pairs with the reader's release of head (R1): freed bytes are zero. */
	int64_t head = nsi_load_acquire_i64(&t->head_cache);
	int64_t tail = nsi_load_acquire_i64(&t->tail);
	if (!nsi_pos_ok(head))
		head = nsi_load_acquire_i64(&t->head); /* the cache is forged: ask the reader's */
	for (;;) {
		/* Shared memory: never write at a misaligned place, or from positions no ring has. */
		if (tail % 8 != 0 || !nsi_pos_ok(tail) || !nsi_pos_ok(head))
			return -2;
		int64_t index = tail & r->mask, to_end = r->capacity - index;
		int64_t total = need > to_end ? need + to_end : need;
		if (total > r->capacity - (tail - head)) {
			head = nsi_load_acquire_i64(&t->head); /* R1 */
			if (!nsi_pos_ok(head))
				return -2;
			if (total > r->capacity - (tail - head))
				return -1;
			nsi_store_release_i64(&t->head_cache, head);
		}
		/* A1: the claim; writers race on it, the loser re-reads the tail. */
		if (nsi_cas_acq_rel_i64(&t->tail, &tail, tail + total)) {
			*pad_at = need > to_end ? index : 0;
			*pad_len = need > to_end ? to_end : 0;
			return need > to_end ? 0 : index;
		}
	}
}

int64_t
nsi_mpsc_claim(struct nsi_mpsc *r, int32_t type, int32_t length)
{
	if (type < 0)
		return -EINVAL;
	if (length < 0 || length > r->max_msg)
		return -EMSGSIZE;
	int64_t need = align8((int64_t)length + NSI_MPSC_HEADER), pad_at, pad_len;
	int64_t index = claim(r, need, &pad_at, &pad_len);
	if (index < 0)
		return index == -1 ? -EAGAIN : -EBADMSG;
	if (pad_len > 0) {
		/* C0: a padding record is committed at once; pairs with the reader's R0. */
		nsi_store_release_u64(header(r->buf + pad_at),
				      header_word((int32_t)pad_len, NSI_MPSC_PAD_TYPE));
	}
	/*
	 * The header first, length negated: the reader learns how far a record reaches whose
	 * writer stops here. The fence keeps the payload stores behind it, so a record whose
	 * header is still zero has nothing else written either.
	 */
	nsi_store_relaxed_u64(header(r->buf + index),
			      header_word(-(length + NSI_MPSC_HEADER), type));
	nsi_fence_release();
	return index;
}

int
nsi_mpsc_commit(struct nsi_mpsc *r, int64_t index, int32_t type, const void *msg, int32_t length)
{
	uint8_t *rec = r->buf + index;
	if (length > 0)
		memcpy(rec + NSI_MPSC_HEADER, msg, (size_t)length);
	/*
	 * C0: the commit; pairs with the reader's acquire (R0). A compare-and-swap from the
	 * header we wrote: if the reader skipped the record (we were too slow), the word was
	 * zeroed, and the command is reported as not sent rather than landing in freed space.
	 */
	uint64_t begun = header_word(-(length + NSI_MPSC_HEADER), type);
	if (!__atomic_compare_exchange_n(header(rec), &begun,
					 header_word(length + NSI_MPSC_HEADER, type), false,
					 __ATOMIC_RELEASE, __ATOMIC_RELAXED))
		return -ETIMEDOUT;
	return 0;
}

int
nsi_mpsc_write(struct nsi_mpsc *r, int32_t type, const void *msg, int32_t length)
{
	if (msg == NULL && length > 0)
		return -EMSGSIZE;
	int64_t index = nsi_mpsc_claim(r, type, length);
	if (index < 0)
		return (int)index;
	return nsi_mpsc_commit(r, index, type, msg, length);
}

/* Zero [from, to) of the ring (positions; at most one capacity). */
static void
zero_range(struct nsi_mpsc *r, int64_t from, int64_t to)
{
	int64_t at = from & r->mask, bytes = to - from;
	int64_t first = bytes < r->capacity - at ? bytes : r->capacity - at;
	memset(r->buf + at, 0, (size_t)first);
	if (bytes > first)
		memset(r->buf, 0, (size_t)(bytes - first));
}

/*
 * The record at @head was not committed for the stall timeout: how many bytes to skip.
 * @length is its header's length (negated while begun, 0 when never begun). Returns 0 when
 * the begun length is impossible.
 */
static int64_t
stalled_extent(const struct nsi_mpsc *r, int64_t head, int32_t length, int64_t tail)
{
	int64_t index = head & r->mask, to_end = r->capacity - index;
	if (length < 0) {
		int64_t n = length == INT32_MIN ? 0 : -(int64_t)length, aligned = align8(n);
		if (n < NSI_MPSC_HEADER || aligned > to_end || aligned > tail - head)
			return 0;
		return aligned;
	}
	/*
	 * Never begun: nothing of it was written, so it reaches to the next word anyone wrote,
	 * at most to the tail seen when the stall began (or the end of the buffer, where a
	 * record never wraps).
	 */
	int64_t end = r->stall_tail - head < to_end ? r->stall_tail - head : to_end;
	int64_t n = 8;
	while (n < end &&
	       nsi_load_relaxed_u64((const uint64_t *)(const void *)(r->buf + index + n)) == 0)
		n += 8;
	return n < end ? n : end;
}

int
nsi_mpsc_read(struct nsi_mpsc *r, nsi_mpsc_fn fn, void *ctx, int limit, int64_t now_ns)
{
	struct nsi_mpsc_trailer *t = r->trailer;
	int64_t head = r->head, start = head;
	int handled = 0, rc = 0;
	/* The tail, read once and checked: shared memory. */
	int64_t tail = nsi_load_acquire_i64(&t->tail);
	if (tail % 8 != 0 || !nsi_pos_ok(tail) || tail - head < 0 || tail - head > r->capacity) {
		/*
		 * No writer leaves that: start afresh at an aligned tail (or at our head, when
		 * the tail is no position at all; writers that race with us lose their claims,
		 * and their requests time out), all records given up.
		 */
		int64_t fresh = nsi_pos_ok(tail) ? (tail + 7) & ~(int64_t)7 : head;
		if (fresh != tail)
			(void)nsi_cas_acq_rel_i64(&t->tail, &tail, fresh);
		memset(r->buf, 0, (size_t)r->capacity);
		r->head = fresh;
		r->stall_head = -1;
		r->resyncs++;
		nsi_store_release_i64(&t->head, fresh);
		nsi_store_release_i64(&t->head_cache, fresh);
		return -EBADMSG;
	}
	/* At most one capacity per batch: what was read is only zeroed at the end. */
	while (handled < limit && head < tail && head - start < r->capacity) {
		int64_t index = head & r->mask;
		/* R0: pairs with C0; length and type in one load, then only the copy is used. */
		uint64_t h = nsi_load_acquire_u64(header(r->buf + index));
		int32_t length = (int32_t)(uint32_t)h, type = (int32_t)(uint32_t)(h >> 32);
		if (length <= 0) {
			if (r->stall_head != head) {
				r->stall_head = head;
				r->stall_since_ns = now_ns;
				r->stall_tail = tail;
				break;
			}
			if (now_ns - r->stall_since_ns < r->stall_timeout_ns)
				break;
			int64_t skip = stalled_extent(r, head, length, tail);
			if (skip == 0) {
				rc = -EBADMSG;
				break;
			}
			r->skipped++;
			r->stall_head = -1;
			head += skip;
			continue;
		}
		int64_t aligned = align8(length);
		if (length < NSI_MPSC_HEADER || aligned > r->capacity - index ||
		    aligned > tail - head) {
			rc = -EBADMSG;
			break;
		}
		if (type != NSI_MPSC_PAD_TYPE) {
			fn(ctx, type, r->buf + index + NSI_MPSC_HEADER, length - NSI_MPSC_HEADER);
			handled++;
		}
		r->stall_head = -1;
		head += aligned;
	}
	if (rc != 0) {
		/* Impossible contents at head: give up everything up to the tail. */
		r->resyncs++;
		r->stall_head = -1;
		head = tail;
	}
	if (head != start) {
		/* Zero what was read or given up (writers wait for head before reusing it). */
		zero_range(r, start, head);
		r->head = head;
		/* R1: writers that acquire head see the zeroes. */
		nsi_store_release_i64(&t->head, head);
	}
	return rc != 0 ? rc : handled;
}

int64_t
nsi_mpsc_next_id(struct nsi_mpsc *r)
{
	return nsi_add_fetch_acq_rel_i64(&r->trailer->correlation, 1);
}

int64_t
nsi_mpsc_size(const struct nsi_mpsc *r)
{
	int64_t head = nsi_load_acquire_i64(&r->trailer->head);
	int64_t tail = nsi_load_acquire_i64(&r->trailer->tail);
	return tail - head;
}

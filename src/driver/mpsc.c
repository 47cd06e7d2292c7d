/* SPDX-License-Identifier: MIT */
#include "config.h"

#include <errno.h>
#include <string.h>

#include "driver/mpsc.h"
#include "util/atomic.h"
#include "util/cpu.h"

static int64_t
align8(int64_t v)
{
	return (v + 7) & ~(int64_t)7;
}

static int32_t *
len_word(uint8_t *rec)
{
	return (int32_t *)(void *)rec;
}

static int32_t *
type_word(uint8_t *rec)
{
	return (int32_t *)(void *)(rec + 4);
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
	return 0;
}

/*
 * Claim @need bytes (and padding to the end if the record would wrap). Returns the claimed
 * index, or -1 when full; pad_at and pad_len describe the padding record (pad_len 0: none).
 */
static int64_t
claim(struct nsi_mpsc *r, int64_t need, int64_t *pad_at, int64_t *pad_len)
{
	struct nsi_mpsc_trailer *t = r->trailer;
	/* A0: pairs with the reader's release of head (R1): freed bytes are zero. */
	int64_t head = nsi_load_acquire_i64(&t->head_cache);
	int64_t tail = nsi_load_acquire_i64(&t->tail);
	for (;;) {
		int64_t index = tail & r->mask, to_end = r->capacity - index;
		int64_t total = need > to_end ? need + to_end : need;
		if (total > r->capacity - (tail - head)) {
			head = nsi_load_acquire_i64(&t->head); /* R1 */
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

int
nsi_mpsc_write(struct nsi_mpsc *r, int32_t type, const void *msg, int32_t length)
{
	if (type < 0)
		return -EINVAL;
	if (length < 0 || length > r->max_msg || (msg == NULL && length > 0))
		return -EMSGSIZE;
	int64_t need = align8((int64_t)length + NSI_MPSC_HEADER), pad_at, pad_len;
	int64_t index = claim(r, need, &pad_at, &pad_len);
	if (index < 0)
		return -EAGAIN;
	if (pad_len > 0) {
		uint8_t *pad = r->buf + pad_at;
		nsi_store_relaxed_u32((uint32_t *)type_word(pad), (uint32_t)NSI_MPSC_PAD_TYPE);
		nsi_store_release_u32((uint32_t *)len_word(pad), (uint32_t)pad_len); /* C0 */
	}
	uint8_t *rec = r->buf + index;
	nsi_store_relaxed_u32((uint32_t *)len_word(rec), (uint32_t) - (length + NSI_MPSC_HEADER));
	nsi_store_relaxed_u32((uint32_t *)type_word(rec), (uint32_t)type);
	if (length > 0)
		memcpy(rec + NSI_MPSC_HEADER, msg, (size_t)length);
	/* C0: the commit; pairs with the reader's acquire (R0). */
	nsi_store_release_u32((uint32_t *)len_word(rec), (uint32_t)(length + NSI_MPSC_HEADER));
	return 0;
}

int
nsi_mpsc_read(struct nsi_mpsc *r, nsi_mpsc_fn fn, void *ctx, int limit)
{
	struct nsi_mpsc_trailer *t = r->trailer;
	int64_t head = nsi_load_relaxed_i64(&t->head), start = head;
	int handled = 0, rc = 0;
	/* At most one capacity per batch: what was read is only zeroed at the end. */
	while (handled < limit && head - start < r->capacity) {
		int64_t index = head & r->mask;
		uint8_t *rec = r->buf + index;
		/* R0: pairs with C0. */
		int32_t length = (int32_t)nsi_load_acquire_u32((const uint32_t *)len_word(rec));
		if (length <= 0)
			break;
		int64_t aligned = align8(length);
		if (length < NSI_MPSC_HEADER || aligned > r->capacity - index) {
			rc = -EBADMSG;
			break;
		}
		int32_t type = (int32_t)nsi_load_relaxed_u32((const uint32_t *)type_word(rec));
		if (type != NSI_MPSC_PAD_TYPE) {
			fn(ctx, type, rec + NSI_MPSC_HEADER, length - NSI_MPSC_HEADER);
			handled++;
		}
		head += aligned;
	}
	if (head != start) {
		/* Zero what was read (length words last is not needed: writers wait for head). */
		int64_t from = start & r->mask, bytes = head - start;
		int64_t first = bytes < r->capacity - from ? bytes : r->capacity - from;
		memset(r->buf + from, 0, (size_t)first);
		if (bytes > first)
			memset(r->buf, 0, (size_t)(bytes - first));
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

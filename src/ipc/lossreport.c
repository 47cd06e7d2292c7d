/* SPDX-License-Identifier: MIT */
#include "config.h"

#include <errno.h>
#include <string.h>

#include "ipc/lossreport.h"
#include "util/atomic.h"

static struct nsi_loss_record *
records(void *mem)
{
	return (struct nsi_loss_record *)((char *)mem + sizeof(struct nsi_loss_header));
}

void
nsi_loss_init(void *mem)
{
	struct nsi_loss_header *h = mem;
	h->version = NSI_LOSS_VERSION;
	h->capacity = NSI_LOSS_RECORDS;
	__atomic_store_n(&h->count, 0, __ATOMIC_RELEASE);
	__atomic_store_n(&h->magic, NSI_LOSS_MAGIC, __ATOMIC_RELEASE);
}

static void
copy_text(char *dst, const char *src)
{
	size_t n = strnlen(src, NSI_LOSS_TEXT - 1);
	memcpy(dst, src, n);
	dst[n] = '\0';
}

void
nsi_loss_add(void *mem, int32_t session_id, int32_t stream_id, const char *channel,
	     const char *source, int64_t gaps, int64_t bytes, int64_t now_ms, int32_t *count)
{
	struct nsi_loss_header *h = mem;
	struct nsi_loss_record *r = records(mem);
	/*
	 * The file is shared memory another process of the same user may write: the count is
	 * the writer's own (*count), never read back; a record's words are each read once, and
	 * added in unsigned arithmetic, so a forged value only makes the report wrong.
	 */
	int32_t n = *count;
	if (n < 0 || n > NSI_LOSS_RECORDS)
		return;
	for (int32_t i = 0; i < n; i++) {
		if (r[i].session_id != session_id || r[i].stream_id != stream_id ||
		    strncmp(r[i].channel, channel, NSI_LOSS_TEXT) != 0 ||
		    strncmp(r[i].source, source, NSI_LOSS_TEXT) != 0)
			continue;
		uint64_t obs = (uint64_t)nsi_load_relaxed_i64(&r[i].observations);
		uint64_t sum = (uint64_t)nsi_load_relaxed_i64(&r[i].bytes);
		nsi_store_release_i64(&r[i].observations, (int64_t)(obs + (uint64_t)gaps));
		nsi_store_release_i64(&r[i].bytes, (int64_t)(sum + (uint64_t)bytes));
		nsi_store_release_i64(&r[i].last_ms, now_ms);
		return;
	}
	if (n == NSI_LOSS_RECORDS)
		return; /* full: the first 511 streams that lost something are kept */
	struct nsi_loss_record *e = &r[n];
	memset(e, 0, sizeof(*e));
	e->observations = gaps;
	e->bytes = bytes;
	e->first_ms = e->last_ms = now_ms;
	e->session_id = session_id;
	e->stream_id = stream_id;
	copy_text(e->channel, channel);
	copy_text(e->source, source);
	*count = n + 1;
	__atomic_store_n(&h->count, n + 1, __ATOMIC_RELEASE);
}

int
nsi_loss_read(const void *mem, size_t len, struct nsi_loss_record *out, int max)
{
	if (mem == NULL || out == NULL || max < 0)
		return -EINVAL;
	if (len < sizeof(struct nsi_loss_header))
		return -EPROTO;
	const struct nsi_loss_header *h = mem;
	if (__atomic_load_n(&h->magic, __ATOMIC_ACQUIRE) != NSI_LOSS_MAGIC ||
	    __atomic_load_n(&h->version, __ATOMIC_RELAXED) != NSI_LOSS_VERSION)
		return -EPROTO;
	/* Each bound from what the file really holds, not from what it says. */
	int64_t room = (int64_t)((len - sizeof(*h)) / sizeof(struct nsi_loss_record));
	int64_t cap = __atomic_load_n(&h->capacity, __ATOMIC_RELAXED);
	int64_t n = __atomic_load_n(&h->count, __ATOMIC_ACQUIRE);
	if (cap > room)
		cap = room;
	if (n > cap)
		n = cap;
	if (n > max)
		n = max;
	const struct nsi_loss_record *r =
		(const struct nsi_loss_record *)((const char *)mem + sizeof(*h));
	int k = 0;
	for (int64_t i = 0; i < n; i++) {
		/* The counts and times move under us: each read on its own, atomically. */
		out[k].observations = nsi_load_acquire_i64(&r[i].observations);
		out[k].bytes = nsi_load_acquire_i64(&r[i].bytes);
		out[k].first_ms = nsi_load_relaxed_i64(&r[i].first_ms);
		out[k].last_ms = nsi_load_acquire_i64(&r[i].last_ms);
		out[k].session_id = r[i].session_id;
		out[k].stream_id = r[i].stream_id;
		memcpy(out[k].channel, r[i].channel, NSI_LOSS_TEXT);
		memcpy(out[k].source, r[i].source, NSI_LOSS_TEXT);
		out[k].channel[NSI_LOSS_TEXT - 1] = '\0';
		out[k].source[NSI_LOSS_TEXT - 1] = '\0';
		out[k].reserved = 0;
		k++;
	}
	return k;
}

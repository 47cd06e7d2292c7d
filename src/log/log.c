/* SPDX-License-Identifier: MIT */
#include "config.h"

#include <errno.h>
#include <string.h>
#if defined(__x86_64__)
#include <emmintrin.h>
#endif

#include "log/log.h"
#include "util/atomic.h"
#include "util/cpu.h"

static int64_t
pack_tail(int32_t term_id, int32_t offset)
{
	return (int64_t)(((uint64_t)(uint32_t)term_id << 32) | (uint32_t)offset);
}

static int32_t
tail_term_id(int64_t raw)
{
	return (int32_t)(uint32_t)((uint64_t)raw >> 32);
}

/* The offset part, which concurrent reservations may push past the term's end. */
static int64_t
tail_offset(int64_t raw)
{
	return (int64_t)((uint64_t)raw & 0xffffffffu);
}

/* a - b for term ids, which wrap around as 32-bit values. */
static int32_t
term_diff(int32_t a, int32_t b)
{
	return (int32_t)((uint32_t)a - (uint32_t)b);
}

static int32_t
term_add(int32_t a, int32_t n)
{
	return (int32_t)((uint32_t)a + (uint32_t)n);
}

static int32_t *
count_word(const struct nsi_log *log)
{
	return &log->meta->active_term_count;
}

size_t
nsi_log_bytes(int32_t term_length)
{
	if (term_length < NSI_LOG_TERM_MIN || term_length > NSI_LOG_TERM_MAX ||
	    !nsi_is_pow2_u64((uint64_t)term_length))
		return 0;
	return (size_t)term_length * NSI_LOG_PARTITIONS + NSI_LOG_META_BYTES;
}

int32_t
nsi_log_mtu_limit(int32_t term_length)
{
	return term_length / 8 < NSI_LOG_MTU_MAX ? term_length / 8 : NSI_LOG_MTU_MAX;
}

int32_t
nsi_log_mtu_fit(int32_t term_length, int32_t mtu)
{
	int32_t limit = nsi_log_mtu_limit(term_length);
	return mtu > limit ? limit : mtu;
}

static bool
mtu_ok(int32_t mtu, int32_t term_length)
{
	return mtu >= NSI_LOG_MTU_MIN && mtu % NSI_FRAME_ALIGN == 0 &&
	       mtu <= nsi_log_mtu_limit(term_length);
}

int
nsi_log_params_check(const struct nsi_log_params *p)
{
	if (nsi_log_bytes(p->term_length) == 0 || !mtu_ok(p->mtu, p->term_length) ||
	    p->window < 0 || p->window > p->term_length || p->max_message < 0 ||
	    p->max_message > nsi_log_max_message(p->term_length))
		return -EINVAL;
	return 0;
}

static void
cache_header(struct nsi_log *log)
{
	const struct nsi_data_header *d = &log->meta->default_header;
	log->hdr_session = (uint64_t)(uint32_t)d->session_id << 32;
	log->hdr_stream = (uint32_t)d->stream_id;
}

int32_t
nsi_log_max_message(int32_t term_length)
{
	return term_length / 8 < NSI_LOG_MESSAGE_MAX ? term_length / 8 : NSI_LOG_MESSAGE_MAX;
}

static void
fill_view(struct nsi_log *log, uint8_t *base, int32_t term_length, int32_t mtu,
	  int32_t initial_term_id, int32_t max_message)
{
	for (int i = 0; i < NSI_LOG_PARTITIONS; i++)
		log->terms[i] = base + (size_t)i * (size_t)term_length;
	log->meta = (struct nsi_log_meta *)(void *)(base + (size_t)NSI_LOG_PARTITIONS *
								   (size_t)term_length);
	log->term_length = term_length;
	log->shift = nsi_log2_u64((uint64_t)term_length);
	log->initial_term_id = initial_term_id;
	log->max_payload = mtu - NSI_DATA_HEADER_LEN;
	log->max_message = max_message;
	log->driver_managed = log->meta->driver_managed != 0;
	cache_header(log);
}

int
nsi_log_init(struct nsi_log *log, void *base, size_t bytes, const struct nsi_log_params *p)
{
	if (log == NULL || base == NULL || p == NULL || nsi_log_params_check(p) != 0 ||
	    bytes < nsi_log_bytes(p->term_length) || (uintptr_t)base % 128 != 0)
		return -EINVAL;
	fill_view(log, base, p->term_length, p->mtu, p->initial_term_id,
		  p->max_message != 0 ? p->max_message : nsi_log_max_message(p->term_length));

	struct nsi_log_meta *m = log->meta;
	m->end_of_stream_position = INT64_MAX;
	m->is_connected = 0;
	m->initial_term_id = p->initial_term_id;
	m->term_length = p->term_length;
	m->mtu = p->mtu;
	m->page_size = p->page_size;
	m->max_message = log->max_message;
	m->window = p->window != 0 ? p->window : p->term_length / 2;
	m->driver_managed = p->driver_managed;
	log->driver_managed = p->driver_managed;
	for (int i = 0; i < NSI_LOG_MAX_SUBSCRIBERS; i++)
		m->subscriber_counters[i] = -1;
	m->default_header = (struct nsi_data_header){
		.frame_length = 0,
		.version = NSI_FRAME_VERSION,
		.flags = NSI_FLAG_UNFRAGMENTED,
		.type = NSI_FRAME_DATA,
		.session_id = p->session_id,
		.stream_id = p->stream_id,
	};
	cache_header(log);
	/*
	 * Partition i starts as if it held term (initial + i - 3): the rotation into it expects
	 * the id a full cycle earlier, which tells a stale tail from one already rotated.
	 */
	nsi_store_relaxed_i64(&m->tail[0], pack_tail(p->initial_term_id, 0));
	for (int i = 1; i < NSI_LOG_PARTITIONS; i++)
		nsi_store_relaxed_i64(
			&m->tail[i],
			pack_tail(term_add(p->initial_term_id, i - NSI_LOG_PARTITIONS), 0));
	/* Publishes the formatted metadata to whoever acquires the count. */
	nsi_store_release_u32((uint32_t *)count_word(log), 0);
	return 0;
}

void
nsi_log_start_at(struct nsi_log *log, int64_t position)
{
	struct nsi_log_meta *m = log->meta;
	int32_t count = (int32_t)(position >> log->shift);
	int32_t offset = (int32_t)(position & (log->term_length - 1));
	/* Partitions as a writer that got there would have left them (see nsi_log_init()). */
	for (int k = 0; k < NSI_LOG_PARTITIONS; k++) {
		int32_t c = count - k;
		int part =
			(int)(((c % NSI_LOG_PARTITIONS) + NSI_LOG_PARTITIONS) % NSI_LOG_PARTITIONS);
		int32_t term = term_add(log->initial_term_id, c);
		nsi_store_relaxed_i64(&m->tail[part],
				      pack_tail(term, k == 0 ? offset : log->term_length));
	}
	nsi_store_release_u32((uint32_t *)count_word(log), (uint32_t)count);
}

int
nsi_log_attach(struct nsi_log *log, void *base, size_t bytes)
{
	if (log == NULL || base == NULL || bytes < NSI_LOG_META_BYTES || (uintptr_t)base % 128 != 0)
		return -EINVAL;
	const struct nsi_log_meta *m =
		(const struct nsi_log_meta *)(void *)((uint8_t *)base + bytes - NSI_LOG_META_BYTES);
	(void)nsi_load_acquire_u32((const uint32_t *)&m->active_term_count);
	int32_t term_length = m->term_length, mtu = m->mtu;
	/* The other party may be hostile: the geometry must match the region exactly. */
	if (nsi_log_bytes(term_length) != bytes || !mtu_ok(mtu, term_length))
		return -EINVAL;
	int32_t max_message = m->max_message;
	if (max_message < 1 || max_message > nsi_log_max_message(term_length))
		return -EINVAL;
	fill_view(log, base, term_length, mtu, m->initial_term_id, max_message);
	return 0;
}

int32_t
nsi_log_active_term_count(const struct nsi_log *log)
{
	return (int32_t)nsi_load_acquire_u32((const uint32_t *)count_word(log));
}

static int64_t
log_position(const struct nsi_log *log, int32_t term_id, int32_t offset)
{
	int64_t terms = (int64_t)(uint32_t)term_diff(term_id, log->initial_term_id);

	return (terms << log->shift) + offset;
}

int64_t
nsi_log_tail_position(const struct nsi_log *log)
{
	int32_t count = nsi_log_active_term_count(log);
	int64_t raw = nsi_load_acquire_i64(&log->meta->tail[nsi_log_partition(count)]);
	int64_t offset = tail_offset(raw);

	if (offset > log->term_length)
		offset = log->term_length;
	return log_position(log, tail_term_id(raw), (int32_t)offset);
}

NS_INLINE uint64_t
first_word(int32_t frame_length, uint8_t flags, uint16_t type)
{
	return (uint32_t)frame_length | (uint64_t)NSI_FRAME_VERSION << 32 | (uint64_t)flags << 40 |
	       (uint64_t)type << 48;
}

/*
 * Write a frame's header: its first word (length, version, flags, type) with the length
 * negated, then the rest. Readers stop at a length <= 0; the driver's unblocker learns from
 * the negated length how far a frame reserved by a publisher that died reaches. The commit,
 * commit_frame(), stores the first word again with the length positive.
 */
NS_INLINE struct nsi_data_header *
begin_frame(const struct nsi_log *log, int32_t term_id, int32_t offset, uint8_t *term,
	    int32_t frame_length, uint8_t flags, uint16_t type)
{
	struct nsi_data_header *h = (struct nsi_data_header *)(void *)(term + offset);
	uint64_t *w = (uint64_t *)(void *)h;

	nsi_store_relaxed_u64(&w[0], first_word(-frame_length, flags, type));
	w[1] = (uint32_t)offset | log->hdr_session;
	w[2] = log->hdr_stream | (uint64_t)(uint32_t)term_id << 32;
	w[3] = 0;
	return h;
}

/* Copy a payload: small ones inline (two overlapping moves), larger ones by memcpy. */
NS_INLINE void
copy_payload(uint8_t *dst, const uint8_t *src, size_t n)
{
	if (n >= 16 && n <= 32) {
		__builtin_memcpy(dst, src, 16);
		__builtin_memcpy(dst + n - 16, src + n - 16, 16);
	} else if (n > 32 && n <= 64) {
		__builtin_memcpy(dst, src, 32);
		__builtin_memcpy(dst + n - 32, src + n - 32, 32);
	} else if (n >= 8 && n < 16) {
		__builtin_memcpy(dst, src, 8);
		__builtin_memcpy(dst + n - 8, src + n - 8, 8);
	} else if (n < 8) {
		for (size_t i = 0; i < n; i++)
			dst[i] = src[i];
	} else {
		memcpy(dst, src, n);
	}
}

/* The commit: readers that acquire the length see the header and payload. */
NS_INLINE void
commit_frame(struct nsi_data_header *h, int32_t frame_length, uint8_t flags, uint16_t type)
{
	nsi_store_release_u64((uint64_t *)(void *)h, first_word(frame_length, flags, type));
}

static void
write_pad(struct nsi_log *log, uint8_t *term, int32_t term_id, int32_t offset, int32_t length)
{
	struct nsi_data_header *h = begin_frame(log, term_id, offset, term, length,
						NSI_FLAG_UNFRAGMENTED, NSI_FRAME_PAD);
	commit_frame(h, length, NSI_FLAG_UNFRAGMENTED, NSI_FRAME_PAD);
}

/*
 * Make term (term_id + 1) active: set its partition's tail (unless another writer did), then
 * bump the active term count from @count. NSI_LOG_ROTATED, or NSI_LOG_MAX_POSITION at the end
 * of the stream's positions.
 */
static int64_t
rotate(struct nsi_log *log, int32_t count, int32_t term_id)
{
	if (count == INT32_MAX)
		return NSI_LOG_MAX_POSITION;
	int32_t next_id = term_add(term_id, 1);
	int32_t expected_id = term_add(next_id, -NSI_LOG_PARTITIONS);
	int64_t *next_tail = &log->meta->tail[nsi_log_partition(count + 1)];
	int64_t raw = nsi_load_acquire_i64(next_tail);

	while (tail_term_id(raw) == expected_id) {
		if (nsi_cas_acq_rel_i64(next_tail, &raw, pack_tail(next_id, 0)))
			break;
	}
	uint32_t expected = (uint32_t)count;
	(void)nsi_cas_acq_rel_u32((uint32_t *)count_word(log), &expected, (uint32_t)count + 1);
	return NSI_LOG_ROTATED;
}

/* Copy @n bytes from the gathered pieces, starting @skip bytes in. */
static void
gather_copy(uint8_t *dst, const struct nsi_gather *v, int count, int32_t skip, int32_t n)
{
	int i = 0;
	while (i < count && (size_t)skip >= v[i].len)
		skip -= (int32_t)v[i++].len;
	while (n > 0 && i < count) {
		size_t take = v[i].len - (size_t)skip;
		if (take > (size_t)n)
			take = (size_t)n;
		memcpy(dst, (const uint8_t *)v[i].base + skip, take);
		dst += take;
		n -= (int32_t)take;
		skip = 0;
		i++;
	}
}

/* Write @length bytes gathered from @v as frames at @offset (space reserved). */
static void
write_message(struct nsi_log *log, uint8_t *term, int32_t term_id, int32_t offset,
	      const struct nsi_gather *v, int count, int32_t length)
{
	if (length <= log->max_payload) {
		int32_t frame_length = length + NSI_DATA_HEADER_LEN;
		struct nsi_data_header *h = begin_frame(log, term_id, offset, term, frame_length,
							NSI_FLAG_UNFRAGMENTED, NSI_FRAME_DATA);
		if (count == 1)
			copy_payload((uint8_t *)h + NSI_DATA_HEADER_LEN, v[0].base, (size_t)length);
		else if (length > 0)
			gather_copy((uint8_t *)h + NSI_DATA_HEADER_LEN, v, count, 0, length);
		commit_frame(h, frame_length, NSI_FLAG_UNFRAGMENTED, NSI_FRAME_DATA);
		return;
	}
	int32_t left = length;
	uint8_t flags = NSI_FLAG_BEGIN;
	while (left > 0) {
		int32_t chunk = left < log->max_payload ? left : log->max_payload;
		int32_t frame_length = chunk + NSI_DATA_HEADER_LEN;
		if (chunk == left)
			flags |= NSI_FLAG_END;
		struct nsi_data_header *h = begin_frame(log, term_id, offset, term, frame_length,
							flags, NSI_FRAME_DATA);
		gather_copy((uint8_t *)h + NSI_DATA_HEADER_LEN, v, count, length - left, chunk);
		commit_frame(h, frame_length, flags, NSI_FRAME_DATA);
		offset += nsi_frame_align(frame_length);
		left -= chunk;
		flags = 0;
	}
}

/* Bytes a message takes in the term, fragments and alignment included. */
static int32_t
required_bytes(const struct nsi_log *log, int32_t length)
{
	if (length <= log->max_payload)
		return nsi_frame_align(length + NSI_DATA_HEADER_LEN);
	int32_t full = length / log->max_payload, rest = length % log->max_payload;
	int32_t bytes = full * nsi_frame_align(log->max_payload + NSI_DATA_HEADER_LEN);
	return rest > 0 ? bytes + nsi_frame_align(rest + NSI_DATA_HEADER_LEN) : bytes;
}

/*
 * Reserve @required bytes in the active term. Returns the offset (>= 0) with *term_id and
 * *part set, or NSI_LOG_ROTATED / NSI_LOG_MAX_POSITION when the term was full.
 */
static int64_t
reserve(struct nsi_log *log, bool exclusive, int32_t required, int32_t *term_id_out, int *part_out)
{
	int32_t count = nsi_log_active_term_count(log);
	int part = nsi_log_partition(count);
	int64_t *tailp = &log->meta->tail[part];
	int64_t raw = nsi_load_acquire_i64(tailp);
	int32_t term_id = tail_term_id(raw);
	/* The partition holds another term than the count says: a rotation is under way. */
	if (term_diff(term_id, log->initial_term_id) != count)
		return NSI_LOG_ROTATED;
	/* Full (the last message may have ended exactly at the end): rotate, which is idempotent. */
	if (tail_offset(raw) >= log->term_length)
		return rotate(log, count, term_id);
	/* Shared memory: a tail no writer of ours could have left means a damaged or forged log. */
	if (NS_UNLIKELY(tail_offset(raw) % NSI_FRAME_ALIGN != 0))
		return NSI_LOG_CORRUPT;
	if (exclusive) {
		if (tail_offset(raw) + required <= log->term_length)
			nsi_store_release_i64(tailp, raw + required);
		else
			nsi_store_release_i64(tailp, pack_tail(term_id, log->term_length));
	} else {
		raw = nsi_add_fetch_acq_rel_i64(tailp, required) - required;
		term_id = tail_term_id(raw);
	}
	int64_t offset = tail_offset(raw);
	/* Every reservation is a multiple of the alignment, so this is someone else's doing. */
	if (NS_UNLIKELY(offset % NSI_FRAME_ALIGN != 0 && offset < log->term_length))
		return NSI_LOG_CORRUPT;
	if (offset + required > log->term_length) {
		/*
		 * The writer that crossed the end pads the rest. Every writer that did not fit
		 * rotates (idempotent): a term can also fill exactly, leaving no one to cross it.
		 * The term to rotate is the one this reservation landed in, which is the one read
		 * above unless this writer stalled across rotations.
		 */
		if (offset < log->term_length)
			write_pad(log, log->terms[part], term_id, (int32_t)offset,
				  log->term_length - (int32_t)offset);
		return rotate(log, term_diff(term_id, log->initial_term_id), term_id);
	}
	*term_id_out = term_id;
	*part_out = part;
	return offset;
}

int64_t
nsi_log_appendv(struct nsi_log *log, bool exclusive, const struct nsi_gather *v, int n,
		int32_t length)
{
	if (length < 0 || length > log->max_message || (v == NULL && length > 0))
		return -EMSGSIZE;
	int32_t required = required_bytes(log, length), term_id;
	int part;
	int64_t offset = reserve(log, exclusive, required, &term_id, &part);
	if (offset < 0)
		return offset;
	write_message(log, log->terms[part], term_id, (int32_t)offset, v, n, length);
	return log_position(log, term_id, (int32_t)offset + required);
}

int64_t
nsi_log_append(struct nsi_log *log, bool exclusive, const void *msg, int32_t length)
{
	struct nsi_gather one = { msg, length > 0 ? (size_t)length : 0 };
	if (msg == NULL && length > 0)
		return -EMSGSIZE;
	return nsi_log_appendv(log, exclusive, &one, 1, length);
}

int64_t
nsi_log_claim(struct nsi_log *log, bool exclusive, int32_t length, struct nsi_log_claim *c)
{
	if (length < 0 || length > log->max_payload)
		return -EMSGSIZE;
	int32_t frame_length = length + NSI_DATA_HEADER_LEN, term_id;
	int32_t required = nsi_frame_align(frame_length);
	int part;
	int64_t offset = reserve(log, exclusive, required, &term_id, &part);
	if (offset < 0)
		return offset;
	c->hdr = begin_frame(log, term_id, (int32_t)offset, log->terms[part], frame_length,
			     NSI_FLAG_UNFRAGMENTED, NSI_FRAME_DATA);
	c->payload = (uint8_t *)c->hdr + NSI_DATA_HEADER_LEN;
	c->length = length;
	return log_position(log, term_id, (int32_t)offset + required);
}

void
nsi_log_claim_commit(struct nsi_log_claim *c)
{
	commit_frame(c->hdr, c->length + NSI_DATA_HEADER_LEN, NSI_FLAG_UNFRAGMENTED,
		     NSI_FRAME_DATA);
}

void
nsi_log_claim_abort(struct nsi_log_claim *c)
{
	commit_frame(c->hdr, c->length + NSI_DATA_HEADER_LEN, NSI_FLAG_UNFRAGMENTED, NSI_FRAME_PAD);
}

int32_t
nsi_term_frame(const uint8_t *term, int32_t term_length, int32_t offset,
	       struct nsi_data_header *out)
{
	if (offset < 0 || offset >= term_length || offset % NSI_FRAME_ALIGN != 0)
		return -EINVAL;
	const uint64_t *w = (const uint64_t *)(const void *)(term + offset);
	/*
	 * Each header word is read once, into the caller's copy, and only the copy is used: a
	 * writer racing with us (the memory is shared and not trusted) cannot change a length
	 * between its check and its use. The first word holds length, version, flags and type,
	 * so they come from one load. Acquire pairs with commit_frame(): the rest of the header
	 * and the payload are complete.
	 */
	uint64_t w0 = nsi_load_acquire_u64(&w[0]);
	int32_t length = (int32_t)(uint32_t)w0;
	if (length <= 0)
		return 0;
	if (length < NSI_DATA_HEADER_LEN || length > term_length - offset ||
	    nsi_frame_align(length) > term_length - offset)
		return -EBADMSG;
	uint64_t w1 = nsi_load_relaxed_u64(&w[1]), w2 = nsi_load_relaxed_u64(&w[2]);
	out->frame_length = length;
	out->version = (uint8_t)(w0 >> 32);
	out->flags = (uint8_t)(w0 >> 40);
	out->type = (uint16_t)(w0 >> 48);
	out->term_offset = (int32_t)(uint32_t)w1;
	out->session_id = (int32_t)(uint32_t)(w1 >> 32);
	out->stream_id = (int32_t)(uint32_t)w2;
	out->term_id = (int32_t)(uint32_t)(w2 >> 32);
	out->reserved_value = (int64_t)nsi_load_relaxed_u64(&w[3]);
	return nsi_frame_align(length);
}

int32_t
nsi_log_unblock(struct nsi_log *log, int64_t position, int64_t tail_position)
{
	if (position < 0 || position % NSI_FRAME_ALIGN != 0 || position >= tail_position)
		return 0;
	int32_t term_count = (int32_t)(position >> log->shift);
	int32_t offset = (int32_t)(position & (log->term_length - 1));
	uint8_t *term = log->terms[nsi_log_partition(term_count)];
	uint64_t *w = (uint64_t *)(void *)(term + offset);
	uint64_t seen = nsi_load_acquire_u64(w);
	int32_t length = (int32_t)(uint32_t)seen, pad;
	if (length > 0)
		return 0; /* committed: a reader is merely slow */
	if (length < 0) {
		/* Reserved and begun: the negated length says how far it reaches. */
		if (length == INT32_MIN || nsi_frame_align(-length) > log->term_length - offset)
			return -EBADMSG;
		pad = nsi_frame_align(-length);
	} else {
		/*
		 * Reserved and untouched: nothing of it was written (a frame's first word is its
		 * first store), so it reaches to the next frame anyone began, or to the tail.
		 */
		int64_t term_base = position - offset;
		int64_t end = tail_position - term_base;
		if (end > log->term_length)
			end = log->term_length;
		int32_t x = offset + NSI_FRAME_ALIGN;
		while (x < end &&
		       nsi_load_acquire_u32((const uint32_t *)(const void *)(term + x)) == 0)
			x += NSI_FRAME_ALIGN;
		pad = (x < end ? x : (int32_t)end) - offset;
		if (pad <= 0)
			return 0;
	}
	int32_t term_id = term_add(log->initial_term_id, term_count);
	w[1] = (uint32_t)offset | log->hdr_session;
	w[2] = log->hdr_stream | (uint64_t)(uint32_t)term_id << 32;
	w[3] = 0;
	/* Only if the word is still what we saw: a late commit wins and nothing is padded. */
	if (!__atomic_compare_exchange_n(w, &seen,
					 first_word(pad, NSI_FLAG_UNFRAGMENTED, NSI_FRAME_PAD),
					 false, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
		return 0;
	return pad;
}

int64_t
nsi_log_publisher_limit(struct nsi_log *log, int64_t slowest)
{
	struct nsi_log_meta *m = log->meta;
	int64_t shared = nsi_load_acquire_i64(&m->publisher_limit);
	if (log->driver_managed)
		return shared;
	/* Counters are shared memory: a subscriber cannot be ahead of the log, nor before it. */
	int64_t tail = nsi_log_tail_position(log);
	if (slowest > tail)
		slowest = tail;
	if (slowest < 0)
		slowest = 0;
	int32_t window = m->window;
	if (window <= 0 || window > log->term_length)
		window = log->term_length / 2;
	(void)nsi_log_clean_to(log, slowest);
	int64_t limit = slowest + window;
	if (limit <= shared)
		return shared;
	nsi_store_release_i64(&m->publisher_limit, limit);
	return limit;
}

/*
 * Zero memory that readers are done with, with non-temporal stores: they take the lines out
 * of every cache (the subscriber's shared copies included) instead of pulling each one into
 * the cleaner's cache with a read-for-ownership, and the fence orders them before the clean
 * position is published and before the publisher's next frames in those lines. The publisher
 * writes the lines again a log's length later, so keeping zeros in its cache buys nothing.
 * Measured in docs/performance.md ("IPC"): ipc.p1s1.256 +35-45 %, ipc.p1s1.32 +13 %.
 */
static void
zero_behind(uint8_t *p, size_t n)
{
#if defined(__x86_64__)
	uint8_t *end = p + n;
	while (p < end && ((uintptr_t)p & 15) != 0)
		*p++ = 0;
	const __m128i zero = _mm_setzero_si128();
	for (; p + 16 <= end; p += 16)
		_mm_stream_si128((__m128i *)(void *)p, zero);
	while (p < end)
		*p++ = 0;
	_mm_sfence();
#else
	memset(p, 0, n);
#endif
}

int64_t
nsi_log_clean_to(struct nsi_log *log, int64_t position)
{
	struct nsi_log_meta *m = log->meta;
	int64_t done = 0, term_mask = (int64_t)log->term_length - 1;
	/*
	 * The clean position is shared memory: read once and bounded before any arithmetic. A
	 * position p shares its memory with p + 3 terms, and publishers may be writing up to a
	 * window and a message (1.125 terms) past @position, so nothing further back than 1.5
	 * terms is ever zeroed; legitimately the clean position is never more than 1.125 terms
	 * behind, and never ahead (the slowest subscriber only moves forward): any other value
	 * was forged, and cleaning starts 1.5 terms back.
	 */
	int64_t clean = nsi_load_acquire_i64(&m->clean_position);
	int64_t reach = (int64_t)log->term_length + log->term_length / 2;
	if (position <= 0 || clean == position)
		return 0;
	if (clean < position - reach || clean > position)
		clean = position - reach;
	if (clean < 0)
		clean = 0;
	clean &= ~(int64_t)(NSI_FRAME_ALIGN - 1);
	while (clean < position) {
		int part = nsi_log_partition((int32_t)(clean >> log->shift));
		int64_t offset = clean & term_mask;
		int64_t n = (int64_t)log->term_length - offset;
		if (n > position - clean)
			n = position - clean;
		zero_behind(log->terms[part] + offset, (size_t)n);
		clean += n;
		done += n;
	}
	nsi_store_release_i64(&m->clean_position, clean);
	return done;
}

/* SPDX-License-Identifier: MIT */
/*
 * Log buffers (src/log): geometry and validation, append and read, padding and rotation over
 * many terms, fragmentation, corrupt frames, and concurrent appenders (exact totals, order per
 * writer, a CRC per message; also under TSan).
 */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log/log.h"
#include "log/logfile.h"
#include "log/reader.h"
#include "testutil.h"
#include "util/atomic.h"

#define TERM (64 * 1024)
#define MTU  1024

static void *
zeroed(size_t bytes)
{
	void *p = aligned_alloc(4096, bytes);
	assert_non_null(p);
	memset(p, 0, bytes);
	return p;
}

static struct nsi_log_params
params(void)
{
	return (struct nsi_log_params){ .term_length = TERM,
					.mtu = MTU,
					.initial_term_id = 7,
					.session_id = 11,
					.stream_id = 13,
					.page_size = 4096 };
}

static void
geometry_and_validation(void **state)
{
	(void)state;
	assert_int_equal(nsi_log_bytes(TERM), 3 * TERM + NSI_LOG_META_BYTES);
	assert_int_equal(nsi_log_bytes(TERM / 2), 0);
	assert_int_equal(nsi_log_bytes(TERM + 32), 0);
	assert_int_equal(nsi_log_bytes(INT32_MAX), 0);
	struct nsi_log_params p = params();
	assert_int_equal(nsi_log_params_check(&p), 0);
	p.mtu = 1000; /* not a multiple of 32 */
	assert_int_equal(nsi_log_params_check(&p), -EINVAL);
	p.mtu = 32;
	assert_int_equal(nsi_log_params_check(&p), -EINVAL);
	p.mtu = TERM / 4; /* more than an eighth of the term */
	assert_int_equal(nsi_log_params_check(&p), -EINVAL);

	size_t bytes = nsi_log_bytes(TERM);
	uint8_t *mem = zeroed(bytes);
	struct nsi_log log, view;
	p = params();
	assert_int_equal(nsi_log_init(&log, mem, bytes - 1, &p), -EINVAL);
	assert_int_equal(nsi_log_init(&log, mem + 8, bytes - 8, &p), -EINVAL);
	assert_int_equal(nsi_log_init(&log, mem, bytes, &p), 0);
	assert_int_equal(log.max_payload, MTU - 32);
	assert_int_equal(log.max_message, TERM / 8);
	assert_int_equal(nsi_log_tail_position(&log), 0);

	assert_int_equal(nsi_log_attach(&view, mem, bytes), 0);
	assert_int_equal(view.term_length, TERM);
	assert_int_equal(view.initial_term_id, 7);
	assert_ptr_equal(view.meta, log.meta);
	assert_int_equal(nsi_log_attach(&view, mem, bytes - 4096), -EINVAL); /* no metadata there */
	/* A hostile or corrupt metadata page is refused. */
	log.meta->term_length = TERM * 2;
	assert_int_equal(nsi_log_attach(&view, mem, bytes), -EINVAL);
	log.meta->term_length = TERM;
	log.meta->mtu = 48;
	assert_int_equal(nsi_log_attach(&view, mem, bytes), -EINVAL);
	free(mem);
}

struct collected {
	uint8_t buf[TERM];
	int32_t len[512];
	uint8_t flags[512];
	int32_t term_id[512];
	int32_t offsets[512];
	int n;
	size_t used;
};

/* A message from the reader that subscriptions run (log/reader.c). */
static void
collect(void *ctx, const void *payload, size_t length, const struct ns_header *h)
{
	struct collected *c = ctx;
	assert_true(c->n < 512);
	c->len[c->n] = (int32_t)length;
	c->flags[c->n] = (uint8_t)h->flags;
	c->term_id[c->n] = h->term_id;
	c->offsets[c->n] = h->term_offset;
	assert_int_equal(h->session_id, 11);
	assert_int_equal(h->stream_id, 13);
	memcpy(c->buf + c->used, payload, length);
	c->used += length;
	c->n++;
}

/*
 * Read @log from @position as a subscription image does, at most @limit fragments: returns the
 * fragments read, -EBADMSG when the reader found the log corrupt, -EINVAL for a position it
 * refuses. *next: the reader's position after.
 */
static int
read_at(const struct nsi_log *log, int64_t position, int limit, struct collected *c, int32_t *next)
{
	struct nsi_log_reader rd;
	bool stop = false;
	int rc = nsi_log_reader_init(&rd, log, position, NULL);
	if (rc != 0)
		return rc;
	int n = nsi_log_read(&rd, collect, NULL, c, limit, &stop);
	*next = (int32_t)rd.position;
	if (rd.corrupt)
		n = -EBADMSG;
	nsi_log_reader_free(&rd);
	return n;
}

/* A log formatted in zeroed memory, with a frame collector. */
struct fixture {
	size_t bytes;
	uint8_t *mem;
	struct nsi_log log;
	struct collected *c;
};

static void
fx_open(struct fixture *f)
{
	struct nsi_log_params p = params();
	f->bytes = nsi_log_bytes(TERM);
	f->mem = zeroed(f->bytes);
	f->c = calloc(1, sizeof(*f->c));
	assert_non_null(f->c);
	assert_int_equal(nsi_log_init(&f->log, f->mem, f->bytes, &p), 0);
}

static void
fx_close(struct fixture *f)
{
	free(f->c);
	free(f->mem);
}

static void
fill_pattern(uint8_t *p, int32_t n, uint32_t seed)
{
	for (int32_t i = 0; i < n; i++)
		p[i] = (uint8_t)(seed * 31u + (uint32_t)i * 7u);
}

static void
append_read_unfragmented(void **state)
{
	(void)state;
	static const int32_t sizes[] = { 0, 1, 31, 32, 100, MTU - 32 };
	for (int excl = 0; excl < 2; excl++) {
		struct fixture f;
		fx_open(&f);
		struct nsi_log log = f.log;
		struct collected *c = f.c;
		uint8_t msg[MTU];
		int64_t pos = 0;
		for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
			fill_pattern(msg, sizes[i], (uint32_t)i);
			int64_t r = nsi_log_append(&log, excl, msg, sizes[i]);
			pos += nsi_frame_align(sizes[i] + 32);
			assert_int_equal(r, pos);
		}
		assert_int_equal(nsi_log_tail_position(&log), pos);
		int32_t next;
		assert_int_equal(read_at(&log, 0, 100, c, &next), 6);
		assert_int_equal(next, pos);
		size_t at = 0;
		for (int i = 0; i < 6; i++) {
			assert_int_equal(c->len[i], sizes[i]);
			assert_int_equal(c->flags[i], NSI_FLAG_UNFRAGMENTED);
			assert_int_equal(c->term_id[i], 7);
			fill_pattern(msg, sizes[i], (uint32_t)i);
			if (sizes[i] > 0)
				assert_memory_equal(c->buf + at, msg, (size_t)sizes[i]);
			at += (size_t)sizes[i];
		}
		/* A limit stops early; reading on resumes where it stopped. */
		c->n = 0, c->used = 0;
		assert_int_equal(read_at(&log, 0, 2, c, &next), 2);
		assert_int_equal(next, 32 + 64);
		assert_int_equal(nsi_log_append(&log, excl, msg, -1), -EMSGSIZE);
		assert_int_equal(nsi_log_append(&log, excl, msg, TERM / 8 + 1), -EMSGSIZE);
		assert_int_equal(nsi_log_append(&log, excl, NULL, 5), -EMSGSIZE);
		fx_close(&f);
	}
}

static void
fragments_are_reserved_together(void **state)
{
	(void)state;
	for (int excl = 0; excl < 2; excl++) {
		struct fixture f;
		fx_open(&f);
		struct nsi_log log = f.log;
		struct collected *c = f.c;
		static uint8_t msg[5000], again[5000];
		fill_pattern(msg, 5000, 99);
		/* 5 x 992 + 40: six frames, 5 x 1024 + 96 bytes. */
		assert_int_equal(nsi_log_append(&log, excl, msg, 5000), 5 * 1024 + 96);
		/* Six frames: BEGIN, four middles, END of 40 bytes, each 1024 bytes on. */
		struct nsi_data_header h;
		for (int i = 0; i < 6; i++) {
			assert_int_equal(nsi_term_frame(log.terms[0], TERM, i * 1024, &h),
					 i < 5 ? 1024 : 96);
			assert_int_equal(h.flags, i == 0   ? NSI_FLAG_BEGIN
						  : i == 5 ? NSI_FLAG_END
							   : 0);
			assert_int_equal(h.term_offset, i * 1024);
		}
		assert_int_equal(h.frame_length, 32 + 40);
		/* The reader counts six fragments and hands over one whole message. */
		int32_t next;
		assert_int_equal(read_at(&log, 0, 100, c, &next), 6);
		assert_int_equal(next, 5 * 1024 + 96);
		assert_int_equal(c->n, 1);
		assert_int_equal(c->len[0], 5000);
		assert_int_equal(c->flags[0], NSI_FLAG_UNFRAGMENTED);
		assert_int_equal(c->offsets[0], 5 * 1024); /* the header of the last fragment */
		memcpy(again, c->buf, 5000);
		assert_memory_equal(again, msg, 5000);
		fx_close(&f);
	}
}

/* Reads a whole stream across terms, cleaning each term once read. */
struct stream_reader {
	struct nsi_log *log;
	struct nsi_log_reader rd;
	uint32_t next_seq;
	uint64_t bad;
};

static void
check_seq(void *ctx, const void *payload, size_t length, const struct ns_header *h)
{
	struct stream_reader *r = ctx;
	uint32_t seq;
	assert_true(length >= 4);
	memcpy(&seq, payload, 4);
	if (seq != r->next_seq)
		print_message("# seq %u expected %u at term %d offset %d len %zu\n", seq,
			      r->next_seq, h->term_id, h->term_offset, length);
	r->bad += seq != r->next_seq;
	r->next_seq = seq + 1;
}

static int
read_stream(struct stream_reader *r, ns_fragment_fn fn)
{
	bool stop = false;
	int n = nsi_log_read(&r->rd, fn, NULL, r, 64, &stop);
	assert_false(r->rd.corrupt);
	/* What the reader is done with is cleaned for reuse, as publishers do. */
	(void)nsi_log_clean_to(r->log, r->rd.position);
	return n;
}

static void
rotation_over_many_terms(void **state)
{
	(void)state;
	for (int excl = 0; excl < 2; excl++) {
		size_t bytes = nsi_log_bytes(TERM);
		uint8_t *mem = zeroed(bytes);
		struct nsi_log log;
		struct nsi_log_params p = params();
		struct stream_reader r = { .log = &log };
		uint8_t msg[900]; /* unfragmented: 932 bytes, 960 with alignment */
		uint32_t seq = 0;
		int rotations = 0;
		assert_int_equal(nsi_log_init(&log, mem, bytes, &p), 0);
		assert_int_equal(nsi_log_reader_init(&r.rd, &log, 0, NULL), 0);
		while (rotations < 10) {
			memcpy(msg, &seq, 4);
			int64_t res = nsi_log_append(&log, excl, msg, 900);
			if (res == NSI_LOG_ROTATED) {
				rotations++;
				assert_int_equal(nsi_log_active_term_count(&log), rotations);
				/* The new term starts empty, with the next term id. */
				int64_t raw = log.meta->tail[nsi_log_partition(rotations)];
				assert_int_equal((int32_t)((uint64_t)raw >> 32), 7 + rotations);
				assert_int_equal(raw & 0xffffffff, 0);
				continue;
			}
			assert_true(res > 0);
			seq++;
			while (r.rd.position < res)
				read_stream(&r, check_seq);
			assert_int_equal(r.rd.position, res);
		}
		assert_int_equal(r.next_seq, seq);
		assert_int_equal(r.bad, 0);
		assert_int_equal(seq,
				 10 * (TERM / 960)); /* 68 per term, then 256 bytes of padding */
		nsi_log_reader_free(&r.rd);
		free(mem);
	}
}

static void
padding_covers_the_end_of_a_term(void **state)
{
	(void)state;
	struct fixture f;
	fx_open(&f);
	struct nsi_log log = f.log;
	struct collected *c = f.c;
	uint8_t msg[900];
	memset(msg, 5, sizeof(msg));
	int n = 0;
	int64_t res;
	while ((res = nsi_log_append(&log, false, msg, 900)) > 0)
		n++;
	assert_int_equal(res, NSI_LOG_ROTATED);
	assert_int_equal(n, TERM / 960); /* 68 frames of 960 bytes; 256 bytes left */
	const struct nsi_data_header *pad =
		(const struct nsi_data_header *)(const void *)(log.terms[0] + n * 960);
	assert_int_equal(pad->type, NSI_FRAME_PAD);
	assert_int_equal(pad->frame_length, TERM - n * 960);
	int32_t next;
	assert_int_equal(read_at(&log, 0, 1000, c, &next), n);
	assert_int_equal(next, TERM);
	/* Position continues at the next term's start. */
	assert_int_equal(nsi_log_append(&log, false, msg, 900), TERM + 960);
	fx_close(&f);
}

static void
corrupt_frames_are_refused(void **state)
{
	(void)state;
	struct fixture f;
	fx_open(&f);
	struct nsi_log log = f.log;
	struct collected *c = f.c;
	uint8_t msg[64] = { 0 };
	int32_t next;
	assert_true(nsi_log_append(&log, false, msg, 64) > 0);
	struct nsi_data_header *h = (struct nsi_data_header *)(void *)log.terms[0];
	h->frame_length = 16; /* shorter than a header */
	assert_int_equal(read_at(&log, 0, 10, c, &next), -EBADMSG);
	assert_int_equal(next, 0);
	h->frame_length = TERM + 32; /* past the term */
	assert_int_equal(read_at(&log, 0, 10, c, &next), -EBADMSG);
	h->frame_length = INT32_MAX;
	assert_int_equal(read_at(&log, 0, 10, c, &next), -EBADMSG);
	h->frame_length = 96;
	assert_int_equal(read_at(&log, 0, 10, c, &next), 1); /* whole again: read */
	c->n = 0, c->used = 0;
	h->term_id -= 3; /* a frame of three terms ago, where the reader expects this term's */
	assert_int_equal(read_at(&log, 0, 10, c, &next), -EBADMSG);
	h->term_id += 3;
	h->term_offset = 32; /* not where it lies */
	assert_int_equal(read_at(&log, 0, 10, c, &next), -EBADMSG);
	assert_int_equal(read_at(&log, 16, 10, c, &next), -EINVAL);
	assert_int_equal(read_at(&log, -32, 10, c, &next), -EINVAL);
	assert_int_equal(c->n, 0);
	fx_close(&f);
}

/* --- concurrent appenders --------------------------------------------------------------- */

#define WRITERS	   3
#define PER_WRITER 20000
#define WINDOW	   (TERM / 2)

struct shared {
	struct nsi_log log;
	int64_t reader_position; /* released by the reader, acquired by writers */
	struct tu_barrier start;
};

struct writer {
	struct shared *s;
	uint32_t id;
	uint64_t rotated;
	uint32_t bad; /* atomic: an append failed otherwise (asserted on the main thread) */
};

struct msg_head {
	uint32_t writer;
	uint32_t seq;
	uint32_t length;
	uint32_t crc; /* over the payload after this head */
};

static void *
write_messages(void *arg)
{
	struct writer *w = arg;
	static _Thread_local uint8_t buf[3000];
	uint32_t x = w->id * 2654435761u + 1;
	tu_barrier_wait(&w->s->start);
	for (uint32_t seq = 0; seq < PER_WRITER; seq++) {
		x = x * 1664525u + 1013904223u;
		uint32_t len = 16 + x % 2800; /* some fragmented (max payload 992) */
		struct msg_head head = { .writer = w->id, .seq = seq, .length = len };
		fill_pattern(buf + sizeof(head), (int32_t)(len - sizeof(head)), x);
		head.crc = tu_crc32c(0, buf + sizeof(head), len - sizeof(head));
		memcpy(buf, &head, sizeof(head));
		for (;;) {
			/* Flow control: never more than WINDOW bytes ahead of the reader. */
			while (nsi_log_tail_position(&w->s->log) + 4096 - WINDOW >
			       nsi_load_acquire_i64(&w->s->reader_position))
				sched_yield();
			int64_t r = nsi_log_append(&w->s->log, false, buf, (int32_t)len);
			if (r > 0)
				break;
			if (r != NSI_LOG_ROTATED) {
				__atomic_store_n(&w->bad, 1, __ATOMIC_RELEASE);
				return NULL;
			}
			w->rotated++;
		}
	}
	return NULL;
}

struct assembler {
	struct stream_reader r; /* first: the reader's context is the assembler */
	uint32_t next[WRITERS];
	uint64_t messages, bad_order, bad_crc, bad_frag;
};

/* A whole message, reassembled by the reader from its fragments. */
static void
assemble(void *ctx, const void *payload, size_t length, const struct ns_header *h)
{
	struct assembler *a = ctx;
	const uint8_t *msg = payload;
	struct msg_head head;
	(void)h;
	a->messages++;
	if (length < sizeof(head)) {
		a->bad_frag++;
		return;
	}
	memcpy(&head, msg, sizeof(head));
	if (head.writer >= WRITERS || head.length != length) {
		a->bad_frag++;
	} else {
		a->bad_order += head.seq != a->next[head.writer];
		a->next[head.writer] = head.seq + 1;
		a->bad_crc +=
			head.crc != tu_crc32c(0, msg + sizeof(head), head.length - sizeof(head));
	}
}

static void
concurrent_appenders_lose_nothing(void **state)
{
	(void)state;
	size_t bytes = nsi_log_bytes(TERM);
	uint8_t *mem = zeroed(bytes);
	struct shared *s = calloc(1, sizeof(*s));
	struct assembler *a = calloc(1, sizeof(*a));
	struct writer w[WRITERS];
	pthread_t t[WRITERS];
	struct nsi_log_params p = params();
	assert_int_equal(nsi_log_init(&s->log, mem, bytes, &p), 0);
	a->r.log = &s->log;
	assert_int_equal(nsi_log_reader_init(&a->r.rd, &s->log, 0, NULL), 0);
	tu_barrier_init(&s->start, WRITERS);
	for (uint32_t i = 0; i < WRITERS; i++) {
		w[i] = (struct writer){ .s = s, .id = i };
		assert_int_equal(pthread_create(&t[i], NULL, write_messages, &w[i]), 0);
	}
	bool writer_failed = false;
	while (a->messages < (uint64_t)WRITERS * PER_WRITER && !writer_failed) {
		if (read_stream(&a->r, assemble) == 0)
			sched_yield();
		nsi_store_release_i64(&s->reader_position, a->r.rd.position);
		for (uint32_t i = 0; i < WRITERS; i++)
			writer_failed |= __atomic_load_n(&w[i].bad, __ATOMIC_ACQUIRE) != 0;
	}
	uint64_t rotated = 0;
	for (uint32_t i = 0; i < WRITERS; i++) {
		assert_int_equal(pthread_join(t[i], NULL), 0);
		assert_int_equal(w[i].bad, 0);
		rotated += w[i].rotated;
	}
	print_message("# %llu messages, %d terms, %llu rotated appends retried\n",
		      (unsigned long long)a->messages, nsi_log_active_term_count(&s->log),
		      (unsigned long long)rotated);
	assert_int_equal(a->messages, (uint64_t)WRITERS * PER_WRITER);
	assert_int_equal(a->bad_order, 0);
	assert_int_equal(a->bad_crc, 0);
	assert_int_equal(a->bad_frag, 0);
	for (uint32_t i = 0; i < WRITERS; i++)
		assert_int_equal(a->next[i], PER_WRITER);
	assert_int_equal(a->r.rd.position, nsi_log_tail_position(&s->log));
	assert_true(nsi_log_active_term_count(&s->log) > 100); /* the terms rotated many times */
	nsi_log_reader_free(&a->r.rd);
	free(a);
	free(s);
	free(mem);
}

static void
gather_claim_and_clean(void **state)
{
	(void)state;
	struct nsi_log log;
	struct nsi_log_params p = params();
	void *mem = zeroed(nsi_log_bytes(TERM));
	assert_int_equal(nsi_log_init(&log, mem, nsi_log_bytes(TERM), &p), 0);
	assert_int_equal(log.meta->window, TERM / 2);
	assert_int_equal(log.meta->subscriber_counters[0], -1);
	assert_int_equal(log.meta->subscriber_counters[NSI_LOG_MAX_SUBSCRIBERS - 1], -1);

	/* A message gathered from three pieces, one of them empty, and a fragmented one. */
	uint8_t big[3000], out[3000];
	fill_pattern(big, 3000, 5);
	struct nsi_gather v[3] = { { big, 10 }, { big + 10, 0 }, { big + 10, 90 } };
	assert_int_equal(nsi_log_appendv(&log, false, v, 3, 100), 160);
	struct nsi_gather w[2] = { { big, 1500 }, { big + 1500, 1500 } };
	int64_t pos = nsi_log_appendv(&log, true, w, 2, 3000);
	assert_true(pos > 160);
	struct collected *c = calloc(1, sizeof(*c));
	int32_t next;
	assert_int_equal(read_at(&log, 0, 100, c, &next), 5);
	assert_int_equal(next, (int32_t)pos);
	assert_memory_equal(c->buf, big, 100);
	memcpy(out, c->buf + 100, 3000);
	assert_memory_equal(out, big, 3000);

	/* try-claim: commit shows the frame, abort turns it into padding, too long is refused. */
	struct nsi_log_claim cl;
	assert_int_equal(nsi_log_claim(&log, false, log.max_payload + 1, &cl), -EMSGSIZE);
	int64_t p1 = nsi_log_claim(&log, false, 40, &cl);
	assert_int_equal(p1, pos + 96);
	struct nsi_data_header copy, *h = &copy;
	assert_int_equal(nsi_term_frame(log.terms[0], TERM, (int32_t)pos, h), 0); /* not yet */
	memcpy(cl.payload, big, 40);
	nsi_log_claim_commit(&cl);
	assert_int_equal(nsi_term_frame(log.terms[0], TERM, (int32_t)pos, h), 96);
	assert_int_equal(h->type, NSI_FRAME_DATA);
	assert_int_equal(h->frame_length, 72);
	int64_t p2 = nsi_log_claim(&log, true, 8, &cl);
	nsi_log_claim_abort(&cl);
	assert_int_equal(nsi_term_frame(log.terms[0], TERM, (int32_t)p1, h), 64);
	assert_int_equal(h->type, NSI_FRAME_PAD);
	memset(c, 0, sizeof(*c));
	assert_int_equal(read_at(&log, pos, 100, c, &next), 1);
	assert_int_equal(next, (int32_t)p2);
	assert_int_equal(nsi_term_frame(log.terms[0], TERM, 3, h), -EINVAL);
	assert_int_equal(nsi_term_frame(log.terms[0], TERM, TERM, h), -EINVAL);

	/* Cleaning zeroes what is behind the readers, once, and never more than 1.5 terms. */
	memset(log.terms[0] + 32, 0x5a, 128); /* what readers are done with: any bytes */
	assert_int_equal(nsi_log_clean_to(&log, 160), 160);
	assert_int_equal(nsi_term_frame(log.terms[0], TERM, 0, h), 0);
	assert_int_equal(nsi_term_frame(log.terms[0], TERM, 160, h), MTU);
	for (int i = 0; i < 160; i++) /* every byte behind, none past it */
		assert_int_equal(log.terms[0][i], 0);
	assert_int_not_equal(*(const uint32_t *)(const void *)(log.terms[0] + 160), 0);
	assert_int_equal(nsi_log_clean_to(&log, 160), 0);
	assert_int_equal(nsi_log_clean_to(&log, 100LL * TERM), TERM + TERM / 2);
	assert_int_equal(log.meta->clean_position, 100LL * TERM);
	/* A forged clean position is bounded before any arithmetic (it once overflowed). */
	static const int64_t forged[] = { INT64_MIN, -1, -TERM, 7, INT64_MAX, 200LL * TERM };
	/* (each starts cleaning 1.5 terms back: 101 terms is where the test stands) */
	for (size_t i = 0; i < sizeof(forged) / sizeof(forged[0]); i++) {
		log.meta->clean_position = forged[i];
		int64_t done = nsi_log_clean_to(&log, 101LL * TERM);
		assert_int_equal(done, TERM + TERM / 2);
		assert_int_equal(log.meta->clean_position, 101LL * TERM);
	}
	log.meta->clean_position = INT64_MIN;
	assert_int_equal(nsi_log_clean_to(&log, 64), 64);
	assert_int_equal(nsi_log_clean_to(&log, -5), 0);
	p.window = TERM + 1;
	assert_int_equal(nsi_log_params_check(&p), -EINVAL);
	free(c);
	free(mem);
}

/*
 * Who cleans and moves the limit (docs/architecture.md): publishers for an IPC log; for a
 * driver-managed log (network) publishers touch nothing, since a retransmit may still need
 * what every local reader is done with.
 */
static void
publisher_limit_cleans_only_logs_publishers_manage(void **state)
{
	(void)state;
	for (int managed = 0; managed < 2; managed++) {
		struct nsi_log log, view;
		struct nsi_log_params p = params();
		p.driver_managed = managed;
		size_t bytes = nsi_log_bytes(TERM);
		void *mem = zeroed(bytes);
		assert_int_equal(nsi_log_init(&log, mem, bytes, &p), 0);
		assert_int_equal(nsi_log_attach(&view, mem, bytes), 0);
		assert_int_equal(view.driver_managed, managed);
		uint8_t msg[100] = { 1 };
		int64_t pos = 0;
		for (int i = 0; i < 10; i++)
			pos = nsi_log_append(&view, false, msg, sizeof(msg));
		assert_int_equal(pos, 10 * 160);
		log.meta->publisher_limit = managed ? 777 * 32 : 0;
		int64_t limit = nsi_log_publisher_limit(&view, pos);
		struct nsi_data_header h;
		if (managed) {
			assert_int_equal(limit, 777 * 32);		       /* the driver's */
			assert_int_equal(log.meta->publisher_limit, 777 * 32); /* not raised */
			assert_int_equal(log.meta->clean_position, 0);	       /* nothing cleaned */
			assert_int_equal(nsi_term_frame(log.terms[0], TERM, 0, &h), 160);
		} else {
			assert_int_equal(limit, pos + TERM / 2);
			assert_int_equal(log.meta->publisher_limit, pos + TERM / 2);
			assert_int_equal(log.meta->clean_position, pos);
			assert_int_equal(nsi_term_frame(log.terms[0], TERM, 0, &h), 0); /* zeroed */
			/* Forged positions are clamped to the log; the limit never goes down. */
			assert_int_equal(nsi_log_publisher_limit(&view, INT64_MAX), pos + TERM / 2);
			assert_int_equal(nsi_log_publisher_limit(&view, -5), pos + TERM / 2);
		}
		free(mem);
	}
}

/* A publisher that died between reserving and committing: the unblocker pads over its frame. */
static void
unblock_pads_over_dead_reservations(void **state)
{
	(void)state;
	struct nsi_log log;
	struct nsi_log_params p = params();
	void *mem = zeroed(nsi_log_bytes(TERM));
	assert_int_equal(nsi_log_init(&log, mem, nsi_log_bytes(TERM), &p), 0);
	struct collected *c = calloc(1, sizeof(*c));
	uint8_t msg[200];
	fill_pattern(msg, 200, 9);
	int32_t next;

	/* Begun and never committed (try-claim, then the publisher died). */
	struct nsi_log_claim cl;
	int64_t p1 = nsi_log_claim(&log, false, 100, &cl);
	int64_t p2 = nsi_log_append(&log, false, msg, 50);
	assert_int_equal(read_at(&log, 0, 10, c, &next), 0);
	assert_int_equal(next, 0); /* stuck at the claim */
	assert_int_equal(nsi_log_unblock(&log, 0, nsi_log_tail_position(&log)), (int32_t)p1);
	assert_int_equal(read_at(&log, 0, 10, c, &next), 1);
	assert_int_equal(next, (int32_t)p2);
	assert_int_equal(c->len[0], 50);
	/* Committed frames and positions at the tail are left alone. */
	assert_int_equal(nsi_log_unblock(&log, p1, nsi_log_tail_position(&log)), 0);
	assert_int_equal(nsi_log_unblock(&log, p2, nsi_log_tail_position(&log)), 0);
	assert_int_equal(nsi_log_unblock(&log, 3, nsi_log_tail_position(&log)), 0);

	/* Reserved and untouched (died right after the fetch-add), with a message after it. */
	int64_t p3 = nsi_log_claim(&log, false, 200, &cl);
	memset(cl.hdr, 0, 32);
	int64_t p4 = nsi_log_append(&log, false, msg, 20);
	assert_int_equal(nsi_log_unblock(&log, p2, nsi_log_tail_position(&log)),
			 (int32_t)(p3 - p2));
	memset(c, 0, sizeof(*c));
	assert_int_equal(read_at(&log, p2, 10, c, &next), 1);
	assert_int_equal(next, (int32_t)p4);
	assert_int_equal(c->len[0], 20);

	/* Untouched and last: padded up to the tail. */
	int64_t p5 = nsi_log_claim(&log, false, 300, &cl);
	memset(cl.hdr, 0, 32);
	assert_int_equal(nsi_log_unblock(&log, p4, nsi_log_tail_position(&log)),
			 (int32_t)(p5 - p4));
	memset(c, 0, sizeof(*c));
	assert_int_equal(read_at(&log, p4, 10, c, &next), 0);
	assert_int_equal(next, (int32_t)p5);

	/* An impossible negated length is reported, not followed. */
	int64_t p6 = nsi_log_claim(&log, false, 10, &cl);
	*(int32_t *)(void *)cl.hdr = -(TERM + 64);
	assert_int_equal(nsi_log_unblock(&log, p5, nsi_log_tail_position(&log)), -EBADMSG);
	(void)p6;
	free(c);
	free(mem);
}

/* --- log files ------------------------------------------------------------------------------ */

static void
directory_is_private(void **state)
{
	(void)state;
	char base[] = "/tmp/ns-logtest-XXXXXX", path[256];
	struct stat st;
	assert_non_null(mkdtemp(base));
	snprintf(path, sizeof(path), "%s/d", base);
	assert_int_equal(nsi_dir_secure(path), 0);
	assert_int_equal(lstat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0700);
	assert_int_equal(nsi_dir_secure(path), 0); /* exists already: fine */
	assert_int_equal(chmod(path, 0755), 0);
	assert_int_equal(nsi_dir_secure(path), -EPERM); /* others may enter */
	assert_int_equal(rmdir(path), 0);
	snprintf(path, sizeof(path), "%s/link", base);
	assert_int_equal(symlink("/tmp", path), 0);
	assert_int_equal(nsi_dir_secure(path), -ELOOP);
	assert_int_equal(unlink(path), 0);
	snprintf(path, sizeof(path), "%s/file", base);
	FILE *fp = fopen(path, "w");
	assert_non_null(fp);
	fclose(fp);
	assert_int_equal(nsi_dir_secure(path), -ENOTDIR);
	assert_int_equal(unlink(path), 0);
	assert_int_equal(nsi_dir_secure(""), -EINVAL);
	assert_int_equal(nsi_dir_secure(NULL), -EINVAL);
	assert_int_equal(rmdir(base), 0);
}

static void
files_are_created_once_and_shared(void **state)
{
	(void)state;
	char dir[] = "/tmp/ns-logtest-XXXXXX", path[256], other[256];
	struct nsi_logfile a = { 0 }, b = { 0 };
	struct nsi_log_params p = params();
	struct stat st;
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/pub-1.log", dir);
	assert_int_equal(nsi_logfile_create(&a, path, &p, true, NSI_SHM_HUGE_WANTED), 0);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	assert_int_equal((size_t)st.st_size, nsi_log_bytes(TERM));
	assert_int_equal(nsi_logfile_create(&b, path, &p, false, NSI_SHM_NORMAL), -EEXIST);

	/* Another mapping of the same file sees what the first one appends. */
	assert_int_equal(nsi_logfile_open(&b, path), 0);
	assert_int_equal(b.log.term_length, TERM);
	uint8_t msg[100];
	fill_pattern(msg, 100, 3);
	assert_int_equal(nsi_log_append(&a.log, false, msg, 100), 160);
	struct collected *c = calloc(1, sizeof(*c));
	int32_t next;
	assert_int_equal(read_at(&b.log, 0, 10, c, &next), 1);
	assert_memory_equal(c->buf, msg, 100);
	free(c);
	/* Metadata changed behind our back is refused at open. */
	a.log.meta->term_length = 12345;
	nsi_logfile_close(&b);
	assert_int_equal(nsi_logfile_open(&b, path), -EINVAL);
	a.log.meta->term_length = TERM;
	nsi_logfile_close(&a);

	/* A symbolic link is neither created through nor opened. */
	snprintf(other, sizeof(other), "%s/link.log", dir);
	assert_int_equal(symlink(path, other), 0);
	assert_int_equal(nsi_logfile_create(&b, other, &p, false, NSI_SHM_NORMAL), -EEXIST);
	assert_int_equal(nsi_logfile_open(&b, other), -ELOOP);
	assert_int_equal(unlink(other), 0);
	/* A file of a size no log has; a missing file; bad parameters leave no file. */
	snprintf(other, sizeof(other), "%s/short.log", dir);
	FILE *fp = fopen(other, "w");
	assert_non_null(fp);
	fputs("not a log", fp);
	fclose(fp);
	assert_int_equal(nsi_logfile_open(&b, other), -EINVAL);
	assert_int_equal(unlink(other), 0);
	assert_int_equal(nsi_logfile_open(&b, other), -ENOENT);
	p.term_length = 1000;
	assert_int_equal(nsi_logfile_create(&b, other, &p, false, NSI_SHM_NORMAL), -EINVAL);
	assert_int_equal(access(other, F_OK), -1);
	assert_int_equal(unlink(path), 0);
	assert_int_equal(rmdir(dir), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(geometry_and_validation),
		cmocka_unit_test(append_read_unfragmented),
		cmocka_unit_test(fragments_are_reserved_together),
		cmocka_unit_test(rotation_over_many_terms),
		cmocka_unit_test(padding_covers_the_end_of_a_term),
		cmocka_unit_test(corrupt_frames_are_refused),
		cmocka_unit_test(concurrent_appenders_lose_nothing),
		cmocka_unit_test(gather_claim_and_clean),
		cmocka_unit_test(publisher_limit_cleans_only_logs_publishers_manage),
		cmocka_unit_test(unblock_pads_over_dead_reservations),
		cmocka_unit_test(directory_is_private),
		cmocka_unit_test(files_are_created_once_and_shared),
	};
	return cmocka_run_group_tests_name("log", tests, NULL, NULL);
}

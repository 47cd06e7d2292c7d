/* SPDX-License-Identifier: MIT */
/*
 * Command ring (src/ipc/mpsc): order and content across wraps, a full ring, bad arguments,
 * corrupt records, and three writers racing one reader (exact totals, per-writer order, a CRC
 * per record; also under TSan).
 */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "ipc/mpsc.h"
#include "testutil.h"
#include "util/atomic.h"

#define CAP 4096

struct fixture {
	uint8_t *mem;
	struct nsi_mpsc r;
};

static void
fx_open(struct fixture *f)
{
	f->mem = aligned_alloc(4096, 2 * CAP);
	assert_non_null(f->mem);
	memset(f->mem, 0, CAP + NSI_MPSC_TRAILER);
	assert_int_equal(nsi_mpsc_init(&f->r, f->mem, CAP + NSI_MPSC_TRAILER), 0);
}

/* A record: writer id, sequence, length, payload; the CRC covers all but itself. */
struct rec {
	uint32_t writer;
	uint32_t seq;
	uint32_t crc;
	uint8_t body[];
};

static int32_t
make_rec(uint8_t *buf, uint32_t writer, uint32_t seq, int32_t body)
{
	struct rec *r = (struct rec *)(void *)buf;
	r->writer = writer;
	r->seq = seq;
	for (int32_t i = 0; i < body; i++)
		r->body[i] = (uint8_t)tu_mix64(((uint64_t)writer << 40) ^ ((uint64_t)seq << 8) ^
					       (uint64_t)i);
	r->crc = tu_crc32c(seq, r->body, (size_t)body);
	return (int32_t)sizeof(*r) + body;
}

struct sink {
	uint32_t next[4];
	uint64_t count;
	uint64_t bad;
};

static void
check_rec(void *ctx, int32_t type, const uint8_t *msg, int32_t length)
{
	struct sink *s = ctx;
	const struct rec *r = (const struct rec *)(const void *)msg;
	if (length < (int32_t)sizeof(*r) || r->writer >= 4 || type != (int32_t)r->writer + 1 ||
	    r->seq != s->next[r->writer] ||
	    r->crc != tu_crc32c(r->seq, r->body, (size_t)length - sizeof(*r))) {
		s->bad++;
		return;
	}
	s->next[r->writer]++;
	s->count++;
}

static void
init_rejects_bad_geometry(void **state)
{
	(void)state;
	struct nsi_mpsc r;
	uint8_t *mem = aligned_alloc(4096, 8192);
	assert_non_null(mem);
	assert_int_equal(nsi_mpsc_init(NULL, mem, CAP + NSI_MPSC_TRAILER), -EINVAL);
	assert_int_equal(nsi_mpsc_init(&r, NULL, CAP + NSI_MPSC_TRAILER), -EINVAL);
	assert_int_equal(nsi_mpsc_init(&r, mem, 3000 + NSI_MPSC_TRAILER), -EINVAL);
	assert_int_equal(nsi_mpsc_init(&r, mem, 512 + NSI_MPSC_TRAILER), -EINVAL);
	assert_int_equal(nsi_mpsc_init(&r, mem + 8, 2048 + NSI_MPSC_TRAILER), -EINVAL);
	assert_int_equal(nsi_mpsc_init(&r, mem, NSI_MPSC_TRAILER), -EINVAL);
	free(mem);
}

static void
in_order_across_wraps_and_full(void **state)
{
	(void)state;
	struct fixture f;
	fx_open(&f);
	uint8_t buf[600];
	struct sink s = { 0 };
	uint32_t seq = 0;
	/* Odd sizes so records wrap at every position; read in uneven batches. */
	for (int round = 0; round < 2000; round++) {
		int n = 1 + round % 5;
		for (int i = 0; i < n; i++) {
			int32_t len = make_rec(buf, 0, seq, (int32_t)((seq * 37u) % 400u));
			assert_int_equal(nsi_mpsc_write(&f.r, 1, buf, len), 0);
			seq++;
		}
		assert_int_equal(nsi_mpsc_read(&f.r, check_rec, &s, 1 + round % 3, 0),
				 1 + round % 3 < n ? 1 + round % 3 : n);
		assert_true(nsi_mpsc_read(&f.r, check_rec, &s, 100, 0) >= 0);
	}
	assert_int_equal(s.bad, 0);
	assert_int_equal(s.count, seq);
	assert_int_equal(nsi_mpsc_size(&f.r), 0);

	/* Fill it: -EAGAIN, nothing changed; reading frees room again. */
	int written = 0;
	int rc;
	while ((rc = nsi_mpsc_write(&f.r, 1, buf, make_rec(buf, 0, seq, 100))) == 0) {
		seq++;
		written++;
	}
	assert_int_equal(rc, -EAGAIN);
	while ((rc = nsi_mpsc_write(&f.r, 1, buf, make_rec(buf, 0, seq, 0))) == 0) {
		seq++;
		written++;
	}
	int64_t size = nsi_mpsc_size(&f.r);
	assert_true(size > CAP - 16);
	assert_int_equal(nsi_mpsc_write(&f.r, 1, buf, 8), -EAGAIN);
	assert_int_equal(nsi_mpsc_size(&f.r), size);
	assert_int_equal(nsi_mpsc_read(&f.r, check_rec, &s, 1000, 0), written);
	assert_int_equal(nsi_mpsc_write(&f.r, 1, buf, make_rec(buf, 0, seq, 100)), 0);
	assert_int_equal(nsi_mpsc_read(&f.r, check_rec, &s, 1000, 0), 1);
	assert_int_equal(s.bad, 0);

	/* Bad arguments change nothing. */
	assert_int_equal(nsi_mpsc_write(&f.r, -1, buf, 8), -EINVAL);
	assert_int_equal(nsi_mpsc_write(&f.r, 1, buf, f.r.max_msg + 1), -EMSGSIZE);
	assert_int_equal(nsi_mpsc_write(&f.r, 1, buf, -1), -EMSGSIZE);
	assert_int_equal(nsi_mpsc_write(&f.r, 1, NULL, 4), -EMSGSIZE);
	assert_int_equal(nsi_mpsc_size(&f.r), 0);
	assert_int_equal(nsi_mpsc_write(&f.r, 7, NULL, 0), 0);
	assert_int_equal(nsi_mpsc_size(&f.r), 8);
	int64_t a = nsi_mpsc_next_id(&f.r), b = nsi_mpsc_next_id(&f.r);
	assert_true(b == a + 1);
	free(f.mem);
}

static void
ignore(void *ctx, int32_t type, const uint8_t *msg, int32_t length)
{
	(void)type;
	(void)msg;
	(void)length;
	(*(int *)ctx)++;
}

static void
corrupt_records_are_reported(void **state)
{
	(void)state;
	struct fixture f;
	fx_open(&f);
	int n = 0;
	assert_int_equal(nsi_mpsc_write(&f.r, 1, "abcd", 4), 0);
	assert_int_equal(nsi_mpsc_write(&f.r, 1, "efgh", 4), 0);
	assert_int_equal(nsi_mpsc_write(&f.r, 1, "ijkl", 4), 0);
	/* The second record's length says 4 bytes (less than a header). */
	*(int32_t *)(void *)(f.mem + 16) = 4;
	assert_int_equal(nsi_mpsc_read(&f.r, ignore, &n, 10, 0), -EBADMSG);
	assert_int_equal(n, 1);
	/* Given up up to the tail (the third record too), counted; the ring goes on. */
	assert_int_equal(f.r.resyncs, 1);
	assert_int_equal(nsi_mpsc_size(&f.r), 0);
	assert_int_equal(nsi_mpsc_write(&f.r, 1, "mnop", 4), 0);
	assert_int_equal(nsi_mpsc_read(&f.r, ignore, &n, 10, 0), 1);
	assert_int_equal(n, 2);
	/* A length running past the end, and one past the tail. */
	int64_t at = f.r.head & (CAP - 1);
	assert_int_equal(nsi_mpsc_write(&f.r, 1, "qrst", 4), 0);
	*(int32_t *)(void *)(f.mem + at) = CAP;
	assert_int_equal(nsi_mpsc_read(&f.r, ignore, &n, 10, 0), -EBADMSG);
	at = f.r.head & (CAP - 1);
	assert_int_equal(nsi_mpsc_write(&f.r, 1, "uvwx", 4), 0);
	*(int32_t *)(void *)(f.mem + at) = 64;
	assert_int_equal(nsi_mpsc_read(&f.r, ignore, &n, 10, 0), -EBADMSG);
	assert_int_equal(n, 2);
	assert_int_equal(f.r.resyncs, 3);
	free(f.mem);
}

/* The record's writer stops after claiming (header negated): skipped after the timeout. */
static void
stalled_writer_is_skipped_after_the_timeout(void **state)
{
	(void)state;
	struct fixture f;
	fx_open(&f);
	f.r.stall_timeout_ns = 1000;
	int n = 0;
	int64_t stalled = nsi_mpsc_claim(&f.r, 1, 20);
	assert_true(stalled >= 0);
	assert_int_equal(nsi_mpsc_write(&f.r, 2, "next", 4), 0);
	assert_int_equal(nsi_mpsc_read(&f.r, ignore, &n, 10, 5000), 0); /* the stall begins */
	assert_int_equal(nsi_mpsc_read(&f.r, ignore, &n, 10, 5999), 0); /* 999 ns: waits */
	assert_int_equal(f.r.skipped, 0);
	assert_int_equal(nsi_mpsc_read(&f.r, ignore, &n, 10, 6000), 1); /* skipped, then next */
	assert_int_equal(f.r.skipped, 1);
	assert_int_equal(n, 1);
	/* The stopped writer resumes: its commit fails, nothing lands in freed space. */
	assert_int_equal(nsi_mpsc_commit(&f.r, stalled, 1, "01234567890123456789", 20), -ETIMEDOUT);
	assert_int_equal(nsi_mpsc_write(&f.r, 3, "more", 4), 0);
	assert_int_equal(nsi_mpsc_read(&f.r, ignore, &n, 10, 7000), 1);
	assert_int_equal(nsi_mpsc_size(&f.r), 0);
	/* A commit in time is not affected by the clock. */
	int64_t slow = nsi_mpsc_claim(&f.r, 1, 4);
	assert_int_equal(nsi_mpsc_read(&f.r, ignore, &n, 10, 8000), 0);
	assert_int_equal(nsi_mpsc_commit(&f.r, slow, 1, "late", 4), 0);
	assert_int_equal(nsi_mpsc_read(&f.r, ignore, &n, 10, 8500), 1);
	free(f.mem);
}

/*
 * A writer that died right after its claim wrote nothing (its header is 0): the record reaches
 * to the next word anyone wrote. Also across the end, where its padding was never written
 * either (two stalls: the padding, then the record).
 */
static void
never_begun_records_are_skipped(void **state)
{
	(void)state;
	struct fixture f;
	fx_open(&f);
	f.r.stall_timeout_ns = 1000;
	int n = 0;
	/* A claim of 48 bytes with nothing written, then a record. */
	__atomic_add_fetch(&f.r.trailer->tail, 48, __ATOMIC_ACQ_REL);
	assert_int_equal(nsi_mpsc_write(&f.r, 2, "after", 5), 0);
	assert_int_equal(nsi_mpsc_read(&f.r, ignore, &n, 10, 0), 0);
	assert_int_equal(nsi_mpsc_read(&f.r, ignore, &n, 10, 1000), 1);
	assert_int_equal(f.r.skipped, 1);
	/* Fill to 64 bytes before the end, then a dead claim that wraps (64 + 40 bytes). */
	uint8_t big[CAP / 8 - 8];
	memset(big, 1, sizeof(big));
	while (CAP - (f.r.trailer->tail & (CAP - 1)) > 64 + 256) {
		int32_t len = (int32_t)(CAP - (f.r.trailer->tail & (CAP - 1)) - 64 - 8);
		if (len > (int32_t)sizeof(big))
			len = (int32_t)sizeof(big);
		assert_int_equal(nsi_mpsc_write(&f.r, 2, big, len), 0);
		assert_true(nsi_mpsc_read(&f.r, ignore, &n, 10, 2000) > 0);
	}
	int64_t to_end = CAP - (f.r.trailer->tail & (CAP - 1));
	assert_int_equal(to_end, 64);
	__atomic_add_fetch(&f.r.trailer->tail, 64 + 40, __ATOMIC_ACQ_REL);
	assert_int_equal(nsi_mpsc_write(&f.r, 2, "wrapped", 7), 0);
	uint64_t skipped = f.r.skipped;
	int before = n, reads = 0;
	for (int64_t now = 10000; n == before && reads < 8; now += 1000, reads++)
		assert_true(nsi_mpsc_read(&f.r, ignore, &n, 10, now) >= 0);
	assert_int_equal(n, before + 1); /* the record after the dead claim, once */
	assert_int_equal(f.r.skipped - skipped, 2);
	assert_int_equal(reads, 3); /* stall; skip the padding, stall; skip, read */
	assert_int_equal(nsi_mpsc_size(&f.r), 0);
	free(f.mem);
}

/* Forged tails: impossible distance, misaligned. Given up, counted, the ring goes on. */
static void
forged_tail_is_given_up(void **state)
{
	(void)state;
	struct fixture f;
	fx_open(&f);
	int n = 0;
	assert_int_equal(nsi_mpsc_write(&f.r, 1, "abcd", 4), 0);
	__atomic_add_fetch(&f.r.trailer->tail, 4 * CAP, __ATOMIC_ACQ_REL);
	assert_int_equal(nsi_mpsc_read(&f.r, ignore, &n, 10, 0), -EBADMSG);
	assert_int_equal(nsi_mpsc_write(&f.r, 1, "efgh", 4), 0);
	assert_int_equal(nsi_mpsc_read(&f.r, ignore, &n, 10, 0), 1);
	__atomic_add_fetch(&f.r.trailer->tail, 3, __ATOMIC_ACQ_REL);
	assert_int_equal(nsi_mpsc_write(&f.r, 1, "ijkl", 4), -EBADMSG); /* never misaligned */
	assert_int_equal(nsi_mpsc_read(&f.r, ignore, &n, 10, 0), -EBADMSG);
	assert_int_equal(nsi_mpsc_write(&f.r, 1, "mnop", 4), 0);
	assert_int_equal(nsi_mpsc_read(&f.r, ignore, &n, 10, 0), 1);
	assert_int_equal(n, 2);
	/* Tails that are no positions (fuzz_cnc found the overflow class in the broadcast). */
	static const int64_t forged[] = { INT64_MIN, -8, INT64_MAX - 7, 1LL << 62 };
	for (size_t i = 0; i < sizeof(forged) / sizeof(forged[0]); i++) {
		nsi_store_release_i64(&f.r.trailer->tail, forged[i]);
		assert_int_equal(nsi_mpsc_write(&f.r, 1, "abcd", 4), -EBADMSG);
		assert_int_equal(nsi_mpsc_read(&f.r, ignore, &n, 10, 0), -EBADMSG);
		assert_int_equal(nsi_mpsc_write(&f.r, 1, "efgh", 4), 0); /* resynchronised */
		assert_int_equal(nsi_mpsc_read(&f.r, ignore, &n, 10, 0), 1);
	}
	f.r.trailer->head_cache = INT64_MIN; /* a forged cache: writers ask the real head */
	assert_int_equal(nsi_mpsc_write(&f.r, 1, "ijkl", 4), 0);
	assert_int_equal(nsi_mpsc_read(&f.r, ignore, &n, 10, 0), 1);
	/* A forged shared head does not move the reader: it keeps its own. */
	assert_int_equal(nsi_mpsc_write(&f.r, 1, "qrst", 4), 0);
	f.r.trailer->head += 1000;
	assert_int_equal(nsi_mpsc_read(&f.r, ignore, &n, 10, 0), 1);
	assert_int_equal(f.r.resyncs, 6);
	free(f.mem);
}

#define WRITERS 3

/* Writers record failures; only the main thread asserts (cmocka's longjmp is per thread). */
struct race {
	struct nsi_mpsc *r;
	uint32_t id;
	uint32_t n;
	uint64_t full;
	uint64_t errors;
};

static void *
writer(void *arg)
{
	struct race *w = arg;
	uint8_t buf[300];
	for (uint32_t seq = 0; seq < w->n; seq++) {
		int32_t len = make_rec(buf, w->id, seq, (int32_t)(tu_mix64(seq + w->id) % 250));
		int rc;
		while ((rc = nsi_mpsc_write(w->r, (int32_t)w->id + 1, buf, len)) == -EAGAIN) {
			w->full++;
			sched_yield(); /* 4 threads on 2 cores: let the reader run */
		}
		w->errors += rc != 0;
	}
	return NULL;
}

static void
writers_race_one_reader(void **state)
{
	(void)state;
	struct fixture f;
	fx_open(&f);
	uint32_t n = (uint32_t)tu_scaled(100000);
	pthread_t t[WRITERS];
	struct race w[WRITERS];
	for (uint32_t i = 0; i < WRITERS; i++) {
		w[i] = (struct race){ .r = &f.r, .id = i, .n = n };
		assert_int_equal(pthread_create(&t[i], NULL, writer, &w[i]), 0);
	}
	struct sink s = { 0 };
	while (s.count + s.bad < (uint64_t)n * WRITERS) {
		int rc = nsi_mpsc_read(&f.r, check_rec, &s, 64, 0);
		if (rc < 0)
			print_message("# read: %d at head %lld\n", rc,
				      (long long)f.r.trailer->head);
		assert_true(rc >= 0);
		if (rc == 0)
			sched_yield();
	}
	for (int i = 0; i < WRITERS; i++) {
		assert_int_equal(pthread_join(t[i], NULL), 0);
		assert_int_equal(w[i].errors, 0);
	}
	assert_int_equal(s.bad, 0);
	assert_int_equal(s.count, (uint64_t)n * WRITERS);
	for (int i = 0; i < WRITERS; i++)
		assert_int_equal(s.next[i], n);
	assert_int_equal(nsi_mpsc_size(&f.r), 0);
	print_message("# %u records from each of %d writers, 0 bad (ring full %llu times)\n", n,
		      WRITERS, (unsigned long long)(w[0].full + w[1].full + w[2].full));
	free(f.mem);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(init_rejects_bad_geometry),
		cmocka_unit_test(in_order_across_wraps_and_full),
		cmocka_unit_test(corrupt_records_are_reported),
		cmocka_unit_test(stalled_writer_is_skipped_after_the_timeout),
		cmocka_unit_test(never_begun_records_are_skipped),
		cmocka_unit_test(forged_tail_is_given_up),
		cmocka_unit_test(writers_race_one_reader),
	};
	return cmocka_run_group_tests_name("mpsc", tests, NULL, NULL);
}

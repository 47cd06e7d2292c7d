/* SPDX-License-Identifier: MIT */
/*
 * Command ring (src/driver/mpsc): order and content across wraps, a full ring, bad arguments,
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

#include "driver/mpsc.h"
#include "testutil.h"

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
		assert_int_equal(nsi_mpsc_read(&f.r, check_rec, &s, 1 + round % 3),
				 1 + round % 3 < n ? 1 + round % 3 : n);
		assert_true(nsi_mpsc_read(&f.r, check_rec, &s, 100) >= 0);
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
	assert_int_equal(nsi_mpsc_read(&f.r, check_rec, &s, 1000), written);
	assert_int_equal(nsi_mpsc_write(&f.r, 1, buf, make_rec(buf, 0, seq, 100)), 0);
	assert_int_equal(nsi_mpsc_read(&f.r, check_rec, &s, 1000), 1);
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
	/* The second record's length says 4 bytes (less than a header). */
	*(int32_t *)(void *)(f.mem + 16) = 4;
	assert_int_equal(nsi_mpsc_read(&f.r, ignore, &n, 10), -EBADMSG);
	assert_int_equal(n, 1);
	/* A length running past the end. */
	*(int32_t *)(void *)(f.mem + 16) = CAP;
	assert_int_equal(nsi_mpsc_read(&f.r, ignore, &n, 10), -EBADMSG);
	assert_int_equal(n, 1);
	free(f.mem);
}

#define WRITERS 3

struct race {
	struct nsi_mpsc *r;
	uint32_t id;
	uint32_t n;
	uint64_t full;
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
		assert_int_equal(rc, 0);
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
		int rc = nsi_mpsc_read(&f.r, check_rec, &s, 64);
		if (rc < 0)
			print_message("# read: %d at head %lld\n", rc,
				      (long long)f.r.trailer->head);
		assert_true(rc >= 0);
		if (rc == 0)
			sched_yield();
	}
	for (int i = 0; i < WRITERS; i++)
		assert_int_equal(pthread_join(t[i], NULL), 0);
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
		cmocka_unit_test(writers_race_one_reader),
	};
	return cmocka_run_group_tests_name("mpsc", tests, NULL, NULL);
}

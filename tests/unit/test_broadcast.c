/* SPDX-License-Identifier: MIT */
/*
 * Broadcast buffer (src/ipc/broadcast): order and content across many wraps, a lapped
 * receiver, small output buffers, bad arguments, corrupt records, and a transmitter racing
 * two receivers (no torn record is ever delivered; also under TSan).
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

#include "ipc/broadcast.h"
#include "testutil.h"
#include "util/atomic.h"

#define CAP 4096

struct fixture {
	uint8_t *mem;
	struct nsi_bcast b;
};

static void
fx_open(struct fixture *f)
{
	f->mem = aligned_alloc(4096, 2 * CAP); /* a multiple of the alignment, >= CAP + trailer */
	assert_non_null(f->mem);
	memset(f->mem, 0, CAP + NSI_BCAST_TRAILER);
	assert_int_equal(nsi_bcast_init(&f->b, f->mem, CAP + NSI_BCAST_TRAILER), 0);
}

static void
fill(uint8_t *p, int32_t n, uint32_t seed)
{
	for (int32_t i = 0; i < n; i++)
		p[i] = (uint8_t)(seed * 131u + (uint32_t)i);
}

static void
init_rejects_bad_geometry(void **state)
{
	(void)state;
	struct fixture f;
	struct nsi_bcast b;
	fx_open(&f);
	assert_int_equal(f.b.capacity, CAP);
	assert_int_equal(f.b.max_msg, CAP / 8 - 8);
	assert_int_equal(nsi_bcast_init(&b, f.mem, CAP + NSI_BCAST_TRAILER - 8), -EINVAL);
	assert_int_equal(nsi_bcast_init(&b, f.mem, 512 + NSI_BCAST_TRAILER), -EINVAL);
	assert_int_equal(nsi_bcast_init(&b, f.mem + 8, CAP), -EINVAL);
	assert_int_equal(nsi_bcast_init(&b, NULL, CAP + NSI_BCAST_TRAILER), -EINVAL);
	assert_int_equal(nsi_bcast_transmit(&f.b, -1, "x", 1), -EINVAL);
	assert_int_equal(nsi_bcast_transmit(&f.b, 1, "x", -1), -EMSGSIZE);
	assert_int_equal(nsi_bcast_transmit(&f.b, 1, NULL, 4), -EMSGSIZE);
	assert_int_equal(nsi_bcast_transmit(&f.b, 1, f.mem, CAP / 8 - 7), -EMSGSIZE);
	free(f.mem);
}

static void
in_order_across_wraps(void **state)
{
	(void)state;
	struct fixture f;
	struct nsi_bcast_receiver r;
	uint8_t msg[512], out[512];
	int32_t type, len;
	fx_open(&f);
	nsi_bcast_receiver_init(&r, &f.b);
	assert_int_equal(nsi_bcast_receive(&r, &type, out, sizeof(out), &len), 0);
	for (uint32_t i = 0; i < 5000; i++) {
		int32_t n = (int32_t)(i * 37 % (uint32_t)f.b.max_msg);
		fill(msg, n, i);
		assert_int_equal(nsi_bcast_transmit(&f.b, (int32_t)(i % 7), msg, n), 0);
		assert_int_equal(nsi_bcast_receive(&r, &type, out, sizeof(out), &len), 1);
		assert_int_equal(type, (int32_t)(i % 7));
		assert_int_equal(len, n);
		if (n > 0)
			assert_memory_equal(out, msg, (size_t)n);
		assert_int_equal(nsi_bcast_receive(&r, &type, out, sizeof(out), &len), 0);
	}
	assert_int_equal(r.lapped_count, 0);
	free(f.mem);
}

static void
lapped_receiver_skips_to_latest(void **state)
{
	(void)state;
	struct fixture f;
	struct nsi_bcast_receiver r, late;
	uint8_t msg[100], out[512];
	int32_t type, len;
	uint32_t seq;
	fx_open(&f);
	nsi_bcast_receiver_init(&r, &f.b);
	/* 200 records of 112 bytes: more than 5 buffers' worth, none read. */
	for (seq = 0; seq < 200; seq++) {
		memcpy(msg, &seq, 4);
		assert_int_equal(nsi_bcast_transmit(&f.b, 1, msg, 100), 0);
	}
	assert_int_equal(nsi_bcast_receive(&r, &type, out, sizeof(out), &len), 1);
	assert_int_equal(r.lapped_count, 1);
	memcpy(&seq, out, 4);
	assert_int_equal(seq, 199); /* the latest record */
	assert_int_equal(nsi_bcast_receive(&r, &type, out, sizeof(out), &len), 0);
	/* It follows from there on. */
	seq = 200;
	memcpy(msg, &seq, 4);
	assert_int_equal(nsi_bcast_transmit(&f.b, 1, msg, 100), 0);
	assert_int_equal(nsi_bcast_receive(&r, &type, out, sizeof(out), &len), 1);
	memcpy(&seq, out, 4);
	assert_int_equal(seq, 200);
	/* A receiver that joins late starts at the latest record, not lapped. */
	nsi_bcast_receiver_init(&late, &f.b);
	assert_int_equal(nsi_bcast_receive(&late, &type, out, sizeof(out), &len), 1);
	memcpy(&seq, out, 4);
	assert_int_equal(seq, 200);
	assert_int_equal(late.lapped_count, 0);
	free(f.mem);
}

static void
small_buffer_and_corrupt_records(void **state)
{
	(void)state;
	struct fixture f;
	struct nsi_bcast_receiver r;
	uint8_t msg[64] = { 1, 2, 3 }, out[16];
	int32_t type, len;
	fx_open(&f);
	nsi_bcast_receiver_init(&r, &f.b);
	assert_int_equal(nsi_bcast_transmit(&f.b, 2, msg, 64), 0);
	assert_int_equal(nsi_bcast_transmit(&f.b, 3, msg, 8), 0);
	assert_int_equal(nsi_bcast_receive(&r, &type, out, sizeof(out), &len), -EMSGSIZE);
	assert_int_equal(nsi_bcast_receive(&r, &type, out, sizeof(out), &len), 1);
	assert_int_equal(type, 3);
	assert_int_equal(len, 8);
	/* A record whose length runs past the buffer's end is refused, not read. */
	int64_t at = r.cursor;
	assert_int_equal(nsi_bcast_transmit(&f.b, 4, msg, 8), 0);
	uint32_t bad = CAP * 2;
	memcpy(f.mem + (at & (CAP - 1)), &bad, 4);
	assert_int_equal(nsi_bcast_receive(&r, &type, out, sizeof(out), &len), -EBADMSG);
	free(f.mem);
}

/* Receive until "none" (at most @max calls); returns the calls, or -1 if it never settled. */
static int
drain_calls(struct nsi_bcast_receiver *r, int max, uint32_t *seqs, int *nseqs)
{
	uint8_t out[512];
	int32_t type, len;
	for (int i = 0; i < max; i++) {
		int rc = nsi_bcast_receive(r, &type, out, sizeof(out), &len);
		if (rc == 0)
			return i + 1;
		if (rc == 1 && seqs != NULL && len >= 4)
			memcpy(&seqs[(*nseqs)++], out, 4);
	}
	return -1;
}

/*
 * Issue 14.5: the tail raised. By 1 MiB the receiver used to skip back to the latest record at
 * the gap and hand out the same record for ever. Now: raised by 1 MiB, the receiver is lapped
 * (the records are given up, none is repeated); raised by 2 KiB, it delivers the records that
 * are there once, says -EBADMSG once at the gap and resynchronises. Either way it follows the
 * transmitter again when its next record lands (the transmitter keeps its own tail).
 */
static void
forged_tail_resynchronises(void **state)
{
	(void)state;
	static const int64_t raise[] = { 1 << 20, 2048 };
	for (int c = 0; c < 2; c++) {
		struct fixture f;
		struct nsi_bcast_receiver r;
		uint8_t msg[16] = { 0 };
		uint32_t seqs[64];
		int nseqs = 0;
		fx_open(&f);
		nsi_bcast_receiver_init(&r, &f.b);
		for (uint32_t seq = 0; seq < 3; seq++) {
			memcpy(msg, &seq, 4);
			assert_int_equal(nsi_bcast_transmit(&f.b, 1, msg, sizeof(msg)), 0);
		}
		nsi_store_release_i64(&f.b.trailer->tail, f.b.trailer->tail + raise[c]);
		int calls = drain_calls(&r, 64, seqs, &nseqs);
		assert_in_range(calls, 1, 8);
		if (c == 0) {
			assert_int_equal(nseqs, 0);
			assert_int_equal(r.lapped_count, 1);
		} else {
			assert_int_equal(nseqs, 3);
			for (int i = 0; i < nseqs; i++)
				assert_int_equal(seqs[i], (uint32_t)i);
			assert_int_equal(r.corrupt_count, 1);
		}
		uint32_t seq = 3;
		memcpy(msg, &seq, 4);
		assert_int_equal(nsi_bcast_transmit(&f.b, 1, msg, sizeof(msg)), 0);
		nseqs = 0;
		calls = drain_calls(&r, 64, seqs, &nseqs);
		assert_in_range(calls, 1, 8);
		assert_int_equal(nseqs, 1);
		assert_int_equal(seqs[0], 3);
		free(f.mem);
	}
}

/* A forged tail_intent (every record looks overwritten) costs records, never a hang. */
static void
forged_intent_is_bounded(void **state)
{
	(void)state;
	struct fixture f;
	struct nsi_bcast_receiver r;
	uint8_t msg[16] = { 0 };
	fx_open(&f);
	nsi_bcast_receiver_init(&r, &f.b);
	assert_int_equal(nsi_bcast_transmit(&f.b, 1, msg, sizeof(msg)), 0);
	nsi_store_release_i64(&f.b.trailer->tail_intent, INT64_MAX);
	assert_in_range(drain_calls(&r, 64, NULL, NULL), 1, 8);
	assert_int_equal(nsi_bcast_transmit(&f.b, 1, msg, sizeof(msg)), 0);
	assert_int_equal(nsi_bcast_transmit(&f.b, 1, msg, sizeof(msg)), 0);
	uint32_t seqs[8];
	int nseqs = 0;
	assert_in_range(drain_calls(&r, 64, seqs, &nseqs), 1, 8);
	assert_int_equal(nseqs, 2); /* healed by the transmitter's own intent */
	free(f.mem);
}

/*
 * Random buffers and trailers (seeded): a receiver settles ("none") within a few calls, each
 * call bounded; nothing it delivers is longer than the largest record.
 */
static void
random_images_settle(void **state)
{
	(void)state;
	struct fixture f;
	fx_open(&f);
	uint64_t x = 0x2545f4914f6cdd1dULL;
	int worst = 0;
	for (int round = 0; round < 20000; round++) {
		for (int i = 0; i < CAP + NSI_BCAST_TRAILER; i += 8) {
			x ^= x << 13;
			x ^= x >> 7;
			x ^= x << 17;
			/* Mostly small values, so headers look nearly right. */
			uint64_t w = (round & 1) ? x : (x & 0x000000ff000001f8ULL);
			memcpy(f.mem + i, &w, 8);
		}
		struct nsi_bcast_receiver r;
		nsi_bcast_receiver_init(&r, &f.b);
		if (round & 2)
			r.cursor = (int64_t)(x & 0xff8);
		int calls = drain_calls(&r, 64, NULL, NULL);
		assert_true(calls > 0);
		if (calls > worst)
			worst = calls;
	}
	print_message("# 20000 random images: settled within %d calls\n", worst);
	free(f.mem);
}

/*
 * Trailer words at the extremes (found by fuzz_cnc: a tail of INT64_MIN made tail - cursor
 * overflow). Positions are checked to be positions before any arithmetic; each receive is
 * bounded and the transmitter heals the buffer.
 */
static void
extreme_trailer_words_are_not_positions(void **state)
{
	(void)state;
	static const int64_t words[] = { INT64_MIN, INT64_MIN + 8, -8, INT64_MAX - 7, 1LL << 62 };
	for (size_t i = 0; i < sizeof(words) / sizeof(words[0]); i++) {
		for (int which = 0; which < 3; which++) {
			struct fixture f;
			struct nsi_bcast_receiver r;
			uint8_t msg[16] = { 0 };
			uint32_t seqs[8];
			int nseqs = 0;
			fx_open(&f);
			nsi_bcast_receiver_init(&r, &f.b);
			assert_int_equal(nsi_bcast_transmit(&f.b, 1, msg, sizeof(msg)), 0);
			int64_t *w = which == 0	  ? &f.b.trailer->tail
				     : which == 1 ? &f.b.trailer->latest
						  : &f.b.trailer->tail_intent;
			nsi_store_release_i64(w, words[i]);
			assert_in_range(drain_calls(&r, 64, seqs, &nseqs), 1, 8);
			struct nsi_bcast_receiver late;
			nsi_bcast_receiver_init(&late, &f.b);
			assert_in_range(drain_calls(&late, 64, NULL, NULL), 1, 8);
			uint32_t seq = 9;
			memcpy(msg, &seq, 4);
			assert_int_equal(nsi_bcast_transmit(&f.b, 1, msg, sizeof(msg)), 0);
			assert_in_range(drain_calls(&r, 64, seqs, &nseqs), 1, 8);
			/* The next record arrives; nothing arrives twice (record 0 at most once). */
			assert_in_range(nseqs, 1, 2);
			assert_int_equal(seqs[nseqs - 1], 9);
			if (nseqs == 2)
				assert_int_equal(seqs[0], 0);
			free(f.mem);
		}
	}
}

/* --- a transmitter racing two receivers ---------------------------------------------------- */

#define RECORDS 200000
#define END	9

/* Workers record failures; only the main thread asserts (cmocka's longjmp is per thread). */
struct race {
	struct fixture f;
	struct tu_barrier start;
	uint32_t done[2];
	uint64_t transmit_errors;
};

struct rx {
	struct race *race;
	int id;
	uint64_t delivered, torn, out_of_order, errors;
	uint64_t lapped;
};

static void *
transmit_all(void *arg)
{
	struct race *race = arg;
	uint8_t msg[200];
	tu_barrier_wait(&race->start);
	for (uint32_t seq = 0; seq < RECORDS; seq++) {
		int32_t n = 8 + (int32_t)(seq % 190);
		memcpy(msg, &seq, 4);
		fill(msg + 8, n - 8, seq);
		uint32_t crc = tu_crc32c(0, msg + 8, (size_t)(n - 8));
		memcpy(msg + 4, &crc, 4);
		race->transmit_errors += nsi_bcast_transmit(&race->f.b, 1, msg, n) != 0;
		/* Let the receivers run now and then: some keep up, some get lapped mid-copy. */
		if (seq % 32 == 31)
			sched_yield();
	}
	/* Until both receivers have seen the end (they may be lapped past a single one). */
	while (nsi_load_acquire_u32(&race->done[0]) == 0 ||
	       nsi_load_acquire_u32(&race->done[1]) == 0) {
		race->transmit_errors += nsi_bcast_transmit(&race->f.b, END, NULL, 0) != 0;
		sched_yield();
	}
	return NULL;
}

static void *
receive_all(void *arg)
{
	struct rx *x = arg;
	struct nsi_bcast_receiver r;
	uint8_t out[256];
	int32_t type, len;
	int64_t last = -1;
	nsi_bcast_receiver_init(&r, &x->race->f.b);
	tu_barrier_wait(&x->race->start);
	for (;;) {
		int rc = nsi_bcast_receive(&r, &type, out, sizeof(out), &len);
		if (rc == 0) {
			sched_yield();
			continue;
		}
		if (rc != 1) {
			x->errors++;
			continue;
		}
		if (type == END)
			break;
		uint32_t seq, crc;
		memcpy(&seq, out, 4);
		memcpy(&crc, out + 4, 4);
		x->torn += len != 8 + (int32_t)(seq % 190) ||
			   crc != tu_crc32c(0, out + 8, (size_t)(len - 8));
		x->out_of_order += (int64_t)seq <= last;
		last = seq;
		x->delivered++;
	}
	x->lapped = r.lapped_count;
	nsi_store_release_u32(&x->race->done[x->id], 1);
	return NULL;
}

static void
transmitter_races_receivers(void **state)
{
	(void)state;
	struct race *race = calloc(1, sizeof(*race));
	struct rx x[2] = { { .race = race, .id = 0 }, { .race = race, .id = 1 } };
	pthread_t t[3];
	fx_open(&race->f);
	tu_barrier_init(&race->start, 3);
	assert_int_equal(pthread_create(&t[0], NULL, transmit_all, race), 0);
	assert_int_equal(pthread_create(&t[1], NULL, receive_all, &x[0]), 0);
	assert_int_equal(pthread_create(&t[2], NULL, receive_all, &x[1]), 0);
	for (int i = 0; i < 3; i++)
		assert_int_equal(pthread_join(t[i], NULL), 0);
	assert_int_equal(race->transmit_errors, 0);
	for (int i = 0; i < 2; i++) {
		print_message("# receiver %d: %llu delivered, lapped %llu times\n", i,
			      (unsigned long long)x[i].delivered, (unsigned long long)x[i].lapped);
		assert_int_equal(x[i].torn, 0);
		assert_int_equal(x[i].out_of_order, 0);
		assert_int_equal(x[i].errors, 0);
		assert_true(x[i].delivered > 0);
	}
	free(race->f.mem);
	free(race);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(init_rejects_bad_geometry),
		cmocka_unit_test(in_order_across_wraps),
		cmocka_unit_test(lapped_receiver_skips_to_latest),
		cmocka_unit_test(small_buffer_and_corrupt_records),
		cmocka_unit_test(forged_tail_resynchronises),
		cmocka_unit_test(forged_intent_is_bounded),
		cmocka_unit_test(random_images_settle),
		cmocka_unit_test(extreme_trailer_words_are_not_positions),
		cmocka_unit_test(transmitter_races_receivers),
	};
	return cmocka_run_group_tests_name("broadcast", tests, NULL, NULL);
}

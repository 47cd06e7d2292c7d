/* SPDX-License-Identifier: MIT */
/*
 * The receiver image (src/driver/image_rx.c): frames that arrive in any order are written into
 * a log that the ordinary reader then reads whole and in order; every gap is listed (not only
 * the first); duplicates, frames beyond the window and impossible frames change nothing;
 * partitions are cleaned as terms come round; heartbeats and the end of stream.
 */
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "driver/image_rx.h"
#include "log/reader.h"
#include "util/atomic.h"

#define TERM	(64 * 1024)
#define SESSION 77
#define STREAM	5
#define INITIAL (INT32_MAX - 1) /* term ids wrap during the tests */

struct fixture {
	void *mem;
	struct nsi_log log;
	struct nsi_image_rx im;
};

static struct fixture *
make(int32_t active_term_id, int32_t offset, int32_t window)
{
	struct fixture *fx = calloc(1, sizeof(*fx));
	assert_non_null(fx);
	size_t bytes = nsi_log_bytes(TERM);
	fx->mem = aligned_alloc(4096, bytes);
	assert_non_null(fx->mem);
	memset(fx->mem, 0, bytes);
	struct nsi_log_params p = { .term_length = TERM,
				    .mtu = 4096,
				    .initial_term_id = INITIAL,
				    .session_id = SESSION,
				    .stream_id = STREAM,
				    .page_size = 4096,
				    .driver_managed = true };
	assert_int_equal(nsi_log_init(&fx->log, fx->mem, bytes, &p), 0);
	assert_int_equal(nsi_image_rx_init(&fx->im, &fx->log, SESSION, STREAM, active_term_id,
					   offset, window),
			 0);
	return fx;
}

static void
destroy(struct fixture *fx)
{
	free(fx->mem);
	free(fx);
}

/* The frame a sender would send for the message at @position (payload: @len bytes of @seed). */
static struct nsi_frame
frame_at(int64_t position, uint8_t *payload, uint32_t len, uint32_t seed)
{
	for (uint32_t i = 0; i < len; i++)
		payload[i] = (uint8_t)(seed * 31 + i);
	struct nsi_frame f = { .type = NSI_FRAME_DATA,
			       .flags = NSI_FLAG_UNFRAGMENTED,
			       .session_id = SESSION,
			       .stream_id = STREAM };
	f.frame_length = (int32_t)(32 + len);
	f.u.data.term_id = (int32_t)((uint32_t)INITIAL + (uint32_t)(position / TERM));
	f.u.data.term_offset = (int32_t)(position % TERM);
	f.u.data.payload = payload;
	f.u.data.payload_length = len;
	f.u.data.reserved_value = (int64_t)seed;
	return f;
}

struct seen {
	uint32_t n;
	uint32_t bad;
};

static void
on_msg(void *ctx, const void *buf, size_t len, const struct ns_header *h)
{
	struct seen *s = ctx;
	const uint8_t *b = buf;
	uint32_t seed = (uint32_t)h->reserved_value;
	if (seed != s->n || len != 100)
		s->bad++;
	for (size_t i = 0; i < len; i++)
		if (b[i] != (uint8_t)(seed * 31 + i))
			s->bad++;
	s->n++;
}

/* Read everything readable from @from; returns the reader's position. */
static int64_t
read_all(struct fixture *fx, int64_t from, struct seen *s)
{
	struct nsi_log_reader rd;
	assert_int_equal(nsi_log_reader_init(&rd, &fx->log, from, NULL), 0);
	bool stop = false;
	while (nsi_log_read(&rd, on_msg, NULL, s, 1000, &stop) > 0)
		;
	assert_false(rd.corrupt);
	int64_t pos = rd.position;
	nsi_log_reader_free(&rd);
	return pos;
}

static void
in_order_frames_read_back_whole(void **state)
{
	(void)state;
	struct fixture *fx = make(INITIAL, 0, TERM / 2);
	uint8_t payload[100];
	for (uint32_t i = 0; i < 300; i++) {
		struct nsi_frame f = frame_at((int64_t)i * 160, payload, 100, i);
		/* The subscriber keeps up: it is at the rebuild position. */
		assert_int_equal(nsi_image_rx_insert(&fx->im, &f, fx->im.rebuild), NSI_RX_WRITTEN);
	}
	assert_true(fx->im.rebuild == 300 * 160);
	assert_true(fx->im.hwm == 300 * 160);
	struct nsi_gap g[4];
	assert_int_equal(nsi_image_rx_gaps(&fx->im, g, 4), 0);
	struct seen s = { 0 };
	assert_true(read_all(fx, 0, &s) == 300 * 160);
	assert_int_equal(s.n, 300);
	assert_int_equal(s.bad, 0);
	destroy(fx);
}

/*
 * Every fifth frame lost, then the rest out of order: every gap is listed, each of the lost
 * frame's size; readers stop at the first; the retransmits fill them and all is read in order.
 */
static void
every_gap_is_found_and_filled(void **state)
{
	(void)state;
	struct fixture *fx = make(INITIAL, 0, TERM / 2);
	uint8_t payload[100];
	const int n = 100;
	for (int i = n - 1; i >= 0; i--) { /* backwards: the worst order */
		if (i % 5 == 2)
			continue;
		struct nsi_frame f = frame_at((int64_t)i * 160, payload, 100, (uint32_t)i);
		assert_int_equal(nsi_image_rx_insert(&fx->im, &f, 0), NSI_RX_WRITTEN);
	}
	assert_true(fx->im.rebuild == 2 * 160);
	assert_true(fx->im.hwm == n * 160);
	struct nsi_gap g[64];
	int gaps = nsi_image_rx_gaps(&fx->im, g, 64);
	assert_int_equal(gaps, n / 5);
	for (int k = 0; k < gaps; k++) {
		assert_int_equal(g[k].term_id, INITIAL);
		assert_int_equal(g[k].term_offset, (k * 5 + 2) * 160);
		assert_int_equal(g[k].length, 160);
	}
	/* At most @max gaps are listed, the first ones. */
	assert_int_equal(nsi_image_rx_gaps(&fx->im, g, 3), 3);
	assert_int_equal(g[2].term_offset, 12 * 160);
	struct seen s = { 0 };
	assert_true(read_all(fx, 0, &s) == 2 * 160); /* stops at the first gap */
	assert_int_equal(s.n, 2);
	for (int i = 2; i < n; i += 5) {
		struct nsi_frame f = frame_at((int64_t)i * 160, payload, 100, (uint32_t)i);
		assert_int_equal(nsi_image_rx_insert(&fx->im, &f, 0), NSI_RX_WRITTEN);
	}
	assert_true(fx->im.rebuild == n * 160);
	assert_int_equal(nsi_image_rx_gaps(&fx->im, g, 64), 0);
	s = (struct seen){ 0 };
	read_all(fx, 0, &s);
	assert_int_equal(s.n, n);
	assert_int_equal(s.bad, 0);
	destroy(fx);
}

/* A 100 KB hole across a term boundary: one gap per term, exact sizes. */
static void
a_large_hole_is_one_gap_per_term(void **state)
{
	(void)state;
	struct fixture *fx = make(INITIAL, 0, TERM / 2);
	uint8_t payload[100];
	struct nsi_frame f = frame_at(0, payload, 100, 0);
	assert_int_equal(nsi_image_rx_insert(&fx->im, &f, 0), NSI_RX_WRITTEN);
	/* The next frame arrives 30000 bytes later (a hole of 29840 bytes). */
	f = frame_at(30000 / 32 * 32, payload, 100, 1);
	assert_int_equal(nsi_image_rx_insert(&fx->im, &f, 0), NSI_RX_WRITTEN);
	struct nsi_gap g[4];
	assert_int_equal(nsi_image_rx_gaps(&fx->im, g, 4), 1);
	assert_int_equal(g[0].term_offset, 160);
	assert_int_equal(g[0].length, 30000 / 32 * 32 - 160);
	destroy(fx);

	/* Across a term: rebuild near the end of the first term, hwm into the next. */
	fx = make(INITIAL, TERM - 1024, TERM / 2);
	int64_t join = TERM - 1024;
	f = frame_at(join + TERM / 4, payload, 100, 0);
	assert_int_equal(nsi_image_rx_insert(&fx->im, &f, join), NSI_RX_WRITTEN);
	assert_int_equal(nsi_image_rx_gaps(&fx->im, g, 4), 2);
	assert_int_equal(g[0].term_id, INITIAL);
	assert_int_equal(g[0].term_offset, TERM - 1024);
	assert_int_equal(g[0].length, 1024);
	assert_int_equal(g[1].term_id, INT32_MAX); /* INITIAL + 1 */
	assert_int_equal(g[1].term_offset, 0);
	assert_int_equal(g[1].length, TERM / 4 - 1024);
	destroy(fx);
}

static void
duplicates_window_and_impossible_frames_change_nothing(void **state)
{
	(void)state;
	struct fixture *fx = make(INITIAL, 0, 8192);
	uint8_t payload[100];
	struct nsi_frame f = frame_at(0, payload, 100, 0);
	assert_int_equal(nsi_image_rx_insert(&fx->im, &f, 0), NSI_RX_WRITTEN);
	assert_int_equal(nsi_image_rx_insert(&fx->im, &f, 0), NSI_RX_DUPLICATE);
	/* Beyond rebuild but already here: also a duplicate. */
	f = frame_at(320, payload, 100, 2);
	assert_int_equal(nsi_image_rx_insert(&fx->im, &f, 0), NSI_RX_WRITTEN);
	assert_int_equal(nsi_image_rx_insert(&fx->im, &f, 0), NSI_RX_DUPLICATE);
	/*
	 * Accepted up to a term past the slowest subscriber (0), beyond the 8192 bytes it
	 * advertises: a sender following a faster receiver runs past them.
	 */
	f = frame_at(8192, payload, 100, 3);
	assert_int_equal(nsi_image_rx_insert(&fx->im, &f, 0), NSI_RX_WRITTEN);
	f = frame_at(TERM - 160, payload, 100, 3);
	assert_int_equal(nsi_image_rx_insert(&fx->im, &f, 0), NSI_RX_WRITTEN);
	f = frame_at(TERM, payload, 100, 4);
	assert_int_equal(nsi_image_rx_insert(&fx->im, &f, 0), NSI_RX_OUT_OF_WINDOW);
	f = frame_at(5 * TERM, payload, 100, 5); /* far ahead: never cleans or writes */
	assert_int_equal(nsi_image_rx_insert(&fx->im, &f, 0), NSI_RX_OUT_OF_WINDOW);
	/* Before the initial term. */
	f = frame_at(0, payload, 100, 6);
	f.u.data.term_id = INITIAL - 5;
	assert_int_equal(nsi_image_rx_insert(&fx->im, &f, 0), NSI_RX_OUT_OF_WINDOW);
	/* Another stream or session; a frame that crosses the term's end; a control frame. */
	f = frame_at(640, payload, 100, 7);
	f.stream_id = STREAM + 1;
	assert_int_equal(nsi_image_rx_insert(&fx->im, &f, 0), NSI_RX_REFUSED);
	f = frame_at(640, payload, 100, 7);
	f.session_id = SESSION + 1;
	assert_int_equal(nsi_image_rx_insert(&fx->im, &f, 0), NSI_RX_REFUSED);
	fx->im.window = TERM / 2;
	f = frame_at(TERM - 64, payload, 100, 8);
	fx->im.rebuild = TERM - 1024; /* (as if everything before had arrived) */
	assert_int_equal(nsi_image_rx_insert(&fx->im, &f, TERM - 1024), NSI_RX_REFUSED);
	f.type = NSI_FRAME_NAK;
	assert_int_equal(nsi_image_rx_insert(&fx->im, &f, 0), NSI_RX_REFUSED);
	assert_true(fx->im.stats.duplicates == 2 && fx->im.stats.out_of_window == 3 &&
		    fx->im.stats.refused == 4);
	destroy(fx);
}

/*
 * Ten terms through a three-partition log, the subscriber reading as it goes: each partition
 * is cleaned before its new term (no leftover of three terms ago reaches the reader), and the
 * term ids wrap past INT32_MAX on the way.
 */
static void
terms_come_round_clean(void **state)
{
	(void)state;
	struct fixture *fx = make(INITIAL, 0, TERM / 2);
	uint8_t payload[100];
	struct nsi_log_reader rd;
	assert_int_equal(nsi_log_reader_init(&rd, &fx->log, 0, NULL), 0);
	struct seen s = { 0 };
	uint32_t sent = 0;
	int64_t pos = 0;
	while (pos < 10LL * TERM) {
		if (pos % TERM + 160 > TERM) { /* pad the rest of the term, as a sender does */
			struct nsi_frame pad = frame_at(pos, payload, 0, 0);
			pad.type = NSI_FRAME_PAD;
			pad.flags = 0;
			pad.frame_length = (int32_t)(TERM - pos % TERM);
			assert_int_equal(nsi_image_rx_insert(&fx->im, &pad, rd.position),
					 NSI_RX_WRITTEN);
			pos += TERM - pos % TERM;
			continue;
		}
		struct nsi_frame f = frame_at(pos, payload, 100, sent++);
		assert_int_equal(nsi_image_rx_insert(&fx->im, &f, rd.position), NSI_RX_WRITTEN);
		pos += 160;
		bool stop = false;
		if (sent % 50 == 0)
			while (nsi_log_read(&rd, on_msg, NULL, &s, 1000, &stop) > 0)
				;
	}
	bool stop = false;
	while (nsi_log_read(&rd, on_msg, NULL, &s, 1000, &stop) > 0)
		;
	if (rd.corrupt)
		print_message("# corrupt at %lld, n %u sent %u\n", (long long)rd.position, s.n,
			      sent);
	assert_false(rd.corrupt);
	assert_int_equal(s.n, sent);
	assert_int_equal(s.bad, 0);
	assert_true(rd.position == 10LL * TERM);
	assert_true(fx->im.stats.pads == 10);
	nsi_log_reader_free(&rd);
	destroy(fx);
}

static void
heartbeats_and_the_end_of_stream(void **state)
{
	(void)state;
	struct fixture *fx = make(INITIAL, 0, TERM / 2);
	uint8_t payload[100];
	struct nsi_frame f = frame_at(0, payload, 100, 0);
	assert_int_equal(nsi_image_rx_insert(&fx->im, &f, 0), NSI_RX_WRITTEN);
	/* The sender is at 480: the frames at 160 and 320 are missing. */
	struct nsi_frame hb = frame_at(480, payload, 0, 0);
	hb.frame_length = 0;
	hb.u.data.heartbeat = true;
	hb.flags |= NSI_FLAG_END_OF_STREAM;
	assert_int_equal(nsi_image_rx_insert(&fx->im, &hb, 0), NSI_RX_HEARTBEAT);
	assert_true(fx->im.hwm == 480);
	struct nsi_gap g[4];
	assert_int_equal(nsi_image_rx_gaps(&fx->im, g, 4), 1);
	assert_int_equal(g[0].term_offset, 160);
	assert_int_equal(g[0].length, 320);
	/* The end is not shown before everything up to it arrived. */
	assert_true(nsi_load_acquire_i64(&fx->log.meta->end_of_stream_position) == INT64_MAX);
	f = frame_at(160, payload, 100, 1);
	nsi_image_rx_insert(&fx->im, &f, 0);
	f = frame_at(320, payload, 100, 2);
	nsi_image_rx_insert(&fx->im, &f, 0);
	assert_true(fx->im.rebuild == 480);
	assert_true(nsi_load_acquire_i64(&fx->log.meta->end_of_stream_position) == 480);
	destroy(fx);
}

/*
 * The image's file is in the shared directory: another process can write a length into it.
 * An impossible length (past the term) where a frame is missing stops the walks there; the
 * rebuild position never jumps by it and the gap scan ends.
 */
static void
a_forged_length_is_bounded(void **state)
{
	(void)state;
	struct fixture *fx = make(INITIAL, 0, TERM / 2);
	uint8_t payload[100];
	struct nsi_frame f = frame_at(0, payload, 100, 0);
	assert_int_equal(nsi_image_rx_insert(&fx->im, &f, 0), NSI_RX_WRITTEN);
	/* A hostile writer puts 0x7fffffe0 where the frame at 160 should come. */
	uint32_t forged = 0x7fffffe0u;
	memcpy(fx->log.terms[0] + 160, &forged, sizeof(forged));
	f = frame_at(320, payload, 100, 2);
	assert_int_equal(nsi_image_rx_insert(&fx->im, &f, 0), NSI_RX_WRITTEN);
	assert_true(fx->im.rebuild == 160);
	struct nsi_gap g[4];
	assert_int_equal(nsi_image_rx_gaps(&fx->im, g, 4), 0); /* nothing NAKed past it */
	assert_true(fx->im.rebuild <= fx->im.hwm && fx->im.hwm == 480);
	destroy(fx);
}

/*
 * Found by fuzz_receiver (tests/fuzz/regressions/receiver/overlapping-frames-rebuild-past-hwm):
 * a frame that fills a gap must not run over a frame that arrived after the gap (it would
 * overwrite that frame's header with payload, and the rebuild walk then followed a length
 * from the payload past hwm). And a length in the log that runs past what arrived (here
 * written by hand, as another process could) never moves the walks past hwm.
 */
static void
overlapping_frames_never_move_rebuild_past_hwm(void **state)
{
	(void)state;
	struct fixture *fx = make(INITIAL, 0, TERM / 2);
	uint8_t payload[100], other[168];
	/* 100-byte messages: frames of 160 bytes. The one at 160 arrives first. */
	struct nsi_frame f = frame_at(160, payload, 100, 1);
	assert_int_equal(nsi_image_rx_insert(&fx->im, &f, 0), NSI_RX_WRITTEN);
	assert_true(fx->im.rebuild == 0 && fx->im.hwm == 320);
	/* A 200-byte frame at 0 (ending at 256) would run over the frame at 160: refused. */
	f = frame_at(0, other, 168, 9);
	assert_int_equal(nsi_image_rx_insert(&fx->im, &f, 0), NSI_RX_REFUSED);
	assert_true(fx->im.rebuild == 0 && fx->im.hwm == 320);
	uint32_t len160;
	memcpy(&len160, fx->log.terms[0] + 160, 4);
	assert_int_equal(len160, 132); /* the frame at 160 is intact */
	/* The right frame fills the gap, and both are read back whole. */
	f = frame_at(0, payload, 100, 0);
	assert_int_equal(nsi_image_rx_insert(&fx->im, &f, 0), NSI_RX_WRITTEN);
	assert_true(fx->im.rebuild == 320 && fx->im.hwm == 320);
	struct seen sn = { 0 };
	assert_int_equal(read_all(fx, 0, &sn), 320);
	assert_int_equal(sn.n, 2);
	assert_int_equal(sn.bad, 0);
	/* A length that runs past hwm, written into the log where the next frame goes. */
	uint32_t long_len = 4096;
	memcpy(fx->log.terms[0] + 480, &long_len, sizeof(long_len));
	f = frame_at(320, payload, 100, 2); /* arrives; the walk goes on to 480 */
	assert_int_equal(nsi_image_rx_insert(&fx->im, &f, 0), NSI_RX_WRITTEN);
	f = frame_at(640, payload, 100, 4); /* hwm 800; 480 + 4096 would pass it */
	assert_int_equal(nsi_image_rx_insert(&fx->im, &f, 0), NSI_RX_WRITTEN);
	assert_true(fx->im.rebuild == 480 && fx->im.hwm == 800);
	struct nsi_gap g[4];
	assert_int_equal(nsi_image_rx_gaps(&fx->im, g, 4), 0); /* nothing NAKed past it */
	assert_true(fx->im.rebuild <= fx->im.hwm);
	destroy(fx);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(in_order_frames_read_back_whole),
		cmocka_unit_test(every_gap_is_found_and_filled),
		cmocka_unit_test(a_large_hole_is_one_gap_per_term),
		cmocka_unit_test(duplicates_window_and_impossible_frames_change_nothing),
		cmocka_unit_test(terms_come_round_clean),
		cmocka_unit_test(heartbeats_and_the_end_of_stream),
		cmocka_unit_test(a_forged_length_is_bounded),
		cmocka_unit_test(overlapping_frames_never_move_rebuild_past_hwm),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

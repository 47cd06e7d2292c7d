/* SPDX-License-Identifier: MIT */
/*
 * The receiver (src/driver/receiver.c) alone, fed datagrams by hand: a table of malformed
 * datagrams (each dropped, the invalid count up by exactly one, no state change), a flood of
 * session ids (images capped), data for no image, the status-message cadence, NAK delay and
 * retry, and the two ways an image ends (end of stream, silence). The protocol with a real
 * sender through a lossy link is tests/unit/test_sender.c.
 */
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "driver/receiver.h"

#define TERM	(64 * 1024)
#define MS	1000000LL
#define INITIAL 7

struct env {
	struct nsi_receiver r;
	struct nsi_udp_addr src;
	void *mem[NSI_RECEIVER_IMAGES + 1];
	struct nsi_log logs[NSI_RECEIVER_IMAGES + 1];
	int made, ended_eos, ended_silent;
	int sent, sms, naks;
	struct nsi_frame last; /* the last frame sent */
	int64_t slowest;       /* -1: the rebuild position */
};

static int
env_send(void *ctx, const struct nsi_udp_addr *to, const uint8_t *buf, size_t len)
{
	(void)to;
	struct env *e = ctx;
	size_t off = 0;
	assert_int_equal(nsi_wire_next(buf, len, &off, &e->last), 1);
	e->sent++;
	e->sms += e->last.type == NSI_FRAME_STATUS;
	e->naks += e->last.type == NSI_FRAME_NAK;
	return (int)len;
}

static struct nsi_log *
env_create(void *ctx, const struct nsi_frame *setup, const struct nsi_udp_addr *src, void **owner)
{
	(void)src;
	struct env *e = ctx;
	if (setup->stream_id == 666)
		return NULL; /* nobody subscribes */
	assert_true(e->made < NSI_RECEIVER_IMAGES + 1);
	int i = e->made++;
	size_t bytes = nsi_log_bytes(setup->u.setup.term_length);
	e->mem[i] = aligned_alloc(4096, bytes);
	assert_non_null(e->mem[i]);
	memset(e->mem[i], 0, bytes);
	struct nsi_log_params p = { .term_length = setup->u.setup.term_length,
				    .mtu = setup->u.setup.mtu,
				    .initial_term_id = setup->u.setup.initial_term_id,
				    .session_id = setup->session_id,
				    .stream_id = setup->stream_id,
				    .page_size = 4096 };
	assert_int_equal(nsi_log_init(&e->logs[i], e->mem[i], bytes, &p), 0);
	*owner = &e->logs[i];
	return &e->logs[i];
}

static int64_t
env_slowest(void *ctx, void *owner, int64_t rebuild)
{
	(void)owner;
	struct env *e = ctx;
	return e->slowest == -1 ? rebuild : e->slowest;
}

static void
env_ended(void *ctx, void *owner, int reason)
{
	(void)owner;
	struct env *e = ctx;
	e->ended_eos += reason == NSI_IMAGE_EOS;
	e->ended_silent += reason == NSI_IMAGE_SILENT;
}

static struct env *
env(void)
{
	struct env *e = calloc(1, sizeof(*e));
	assert_non_null(e);
	char err[64];
	assert_int_equal(nsi_udp_resolve("127.0.0.1", 40123, &e->src, err, sizeof(err)), 0);
	struct nsi_receiver_ops ops = { env_send, env_create, env_slowest, env_ended, NULL };
	struct nsi_receiver_params p = { .window = 16384,
					 .status_ns = 200 * MS,
					 .nak_delay_ns = 1 * MS,
					 .nak_retry_ns = 5 * MS,
					 .liveness_ns = 1000 * MS,
					 .receiver_id = 5 };
	nsi_receiver_init(&e->r, &ops, e, &p);
	e->slowest = -1;
	return e;
}

static void
env_free(struct env *e)
{
	for (int i = 0; i < e->made; i++)
		free(e->mem[i]);
	free(e);
}

static void
setup(struct env *e, int32_t session, int32_t stream, int64_t now)
{
	uint8_t b[64];
	struct nsi_frame f = { .session_id = session, .stream_id = stream };
	f.u.setup.initial_term_id = INITIAL;
	f.u.setup.active_term_id = INITIAL;
	f.u.setup.term_length = TERM;
	f.u.setup.mtu = 1408;
	nsi_receiver_on_datagram(&e->r, b, nsi_wire_put_setup(b, sizeof(b), &f), &e->src, now);
}

static void
data(struct env *e, int32_t session, int32_t offset, uint32_t len, uint8_t flags, int64_t now)
{
	uint8_t b[2048], payload[2048] = { 0 };
	struct nsi_frame f = { .flags = flags, .session_id = session, .stream_id = 1 };
	f.u.data.term_id = INITIAL;
	f.u.data.term_offset = offset;
	size_t n = len == 0 ? nsi_wire_put_heartbeat(b, sizeof(b), &f)
			    : nsi_wire_put_data(b, sizeof(b), &f, payload, len);
	nsi_receiver_on_datagram(&e->r, b, n, &e->src, now);
}

static void
malformed_datagrams_change_nothing(void **state)
{
	(void)state;
	struct env *e = env();
	setup(e, 1, 1, 0);
	assert_int_equal(e->r.nimages, 1);
	data(e, 1, 0, 100, NSI_FLAG_UNFRAGMENTED, 0);
	struct nsi_rimage before = e->r.images[0];
	uint8_t good[256], b[256];
	struct nsi_frame f = { .flags = NSI_FLAG_UNFRAGMENTED, .session_id = 1, .stream_id = 1 };
	f.u.data.term_id = INITIAL;
	f.u.data.term_offset = 160;
	size_t n = nsi_wire_put_data(good, sizeof(good), &f, b, 64);
	struct {
		const char *what;
		size_t at, len; /* patch: byte at, with value; then datagram length */
		uint8_t value;
		size_t dgram;
	} bad[] = {
		{ "short", 0, 0, 0, 7 },
		{ "bad version", 4, 1, 9, 0 },
		{ "bad type", 6, 1, 0x44, 0 },
		{ "length past the datagram", 0, 1, 0xff, 0 },
		{ "unaligned offset", 8, 1, 161, 0 },
		{ "empty", 0, 0, 0, 0 },
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		memcpy(b, good, n);
		if (bad[i].len != 0)
			b[bad[i].at] = bad[i].value;
		size_t len = bad[i].dgram != 0 || i == 5 ? bad[i].dgram : n;
		uint64_t invalid = e->r.stats.invalid;
		nsi_receiver_on_datagram(&e->r, b, len, &e->src, 1);
		if (e->r.stats.invalid != invalid + 1)
			fail_msg("%s: invalid count %llu", bad[i].what,
				 (unsigned long long)e->r.stats.invalid);
		assert_memory_equal(&e->r.images[0].rx, &before.rx, sizeof(before.rx));
	}
	/* A good frame followed by a bad one in the same datagram: neither is used. */
	memcpy(b, good, n);
	memcpy(b + 96, good, n);
	b[96 + 4] = 3; /* the second frame's version */
	nsi_receiver_on_datagram(&e->r, b, 96 + n, &e->src, 1);
	assert_true(e->r.stats.invalid == 7);
	assert_memory_equal(&e->r.images[0].rx, &before.rx, sizeof(before.rx));
	/* The good datagram itself is taken. */
	nsi_receiver_on_datagram(&e->r, good, n, &e->src, 1);
	assert_true(e->r.images[0].rx.hwm == 160 + 96);
	env_free(e);
}

static void
images_are_capped_and_unknown_data_counted(void **state)
{
	(void)state;
	struct env *e = env();
	for (int32_t s = 0; s < 10000; s++)
		setup(e, s, 1, 0);
	assert_int_equal(e->r.nimages, NSI_RECEIVER_IMAGES);
	assert_true(e->r.stats.images_refused == 10000 - NSI_RECEIVER_IMAGES);
	assert_int_equal(e->made, NSI_RECEIVER_IMAGES);
	setup(e, 0, 666, 0); /* a stream nobody subscribes to: no image, no log */
	assert_int_equal(e->made, NSI_RECEIVER_IMAGES);
	data(e, 123456, 0, 100, NSI_FLAG_UNFRAGMENTED, 0);
	assert_true(e->r.stats.unknown_image == 1);
	env_free(e);
}

static void
status_messages_naks_and_the_ends(void **state)
{
	(void)state;
	struct env *e = env();
	setup(e, 1, 1, 0);
	/* At once after the setup, then only when due. */
	nsi_receiver_do_work(&e->r, 1);
	assert_int_equal(e->sms, 1);
	assert_int_equal(e->last.u.sm.window, 16384);
	assert_true(e->last.u.sm.receiver_id == 5);
	nsi_receiver_do_work(&e->r, 2);
	assert_int_equal(e->sms, 1);
	/* The subscriber moves a quarter window: a status message. */
	for (int32_t off = 0; off < 4096 + 160; off += 160)
		data(e, 1, off, 128, NSI_FLAG_UNFRAGMENTED, 3);
	e->slowest = 4096;
	nsi_receiver_do_work(&e->r, 4);
	assert_int_equal(e->sms, 2);
	assert_int_equal(e->last.u.sm.term_offset, 4096);
	/* And every status interval anyway. */
	nsi_receiver_do_work(&e->r, 4 + 200 * MS);
	assert_int_equal(e->sms, 3);
	/*
	 * Subscriber positions come from shared counters: one far past what arrived (or
	 * negative) is bounded to the image before it goes into a status message.
	 */
	e->slowest = INT64_MAX / 2;
	nsi_receiver_do_work(&e->r, 5 + 400 * MS);
	assert_int_equal(e->sms, 4);
	assert_int_equal(e->last.u.sm.term_id, INITIAL);
	assert_true(e->last.u.sm.term_offset == e->r.images[0].rx.rebuild);
	e->slowest = -12345;
	nsi_receiver_do_work(&e->r, 6 + 600 * MS);
	assert_int_equal(e->last.u.sm.term_offset, 0);
	e->slowest = 4096;

	/* A gap: NAKed after the delay, again after the retry interval, each gap once. */
	data(e, 1, 8192, 128, NSI_FLAG_UNFRAGMENTED, 300 * MS);
	data(e, 1, 12288, 128, NSI_FLAG_UNFRAGMENTED, 300 * MS);
	nsi_receiver_do_work(&e->r, 300 * MS);
	assert_int_equal(e->naks, 0);
	nsi_receiver_do_work(&e->r, 301 * MS);
	assert_int_equal(e->naks, 2);
	nsi_receiver_do_work(&e->r, 303 * MS);
	assert_int_equal(e->naks, 2);
	nsi_receiver_do_work(&e->r, 306 * MS);
	assert_int_equal(e->naks, 4);

	/*
	 * A window larger than half the image's term: the image accepts only half a term, so
	 * its status messages must say half a term (found on loopback: advertising the
	 * endpoint's window made the sender overrun the image and retransmit half the stream).
	 */
	e->r.p.window = 1 << 20;
	setup(e, 3, 1, 310 * MS);
	nsi_receiver_do_work(&e->r, 310 * MS);
	assert_true(e->last.type == NSI_FRAME_STATUS && e->last.session_id == 3);
	assert_int_equal(e->last.u.sm.window, TERM / 2);
	e->r.p.window = 16384;

	/* Silence: the image ends after the liveness timeout. */
	nsi_receiver_do_work(&e->r, 1310 * MS + 1);
	assert_int_equal(e->ended_silent, 2);
	assert_int_equal(e->r.nimages, 0);

	/* End of stream: once everything up to it arrived. */
	e->slowest = -1;
	setup(e, 2, 1, 2000 * MS);
	data(e, 2, 0, 100, NSI_FLAG_UNFRAGMENTED, 2000 * MS);
	data(e, 2, 320, 0, NSI_FLAG_UNFRAGMENTED | NSI_FLAG_END_OF_STREAM,
	     2000 * MS); /* heartbeat at 320 */
	nsi_receiver_do_work(&e->r, 2000 * MS);
	assert_int_equal(e->ended_eos, 0); /* 160..320 missing */
	data(e, 2, 160, 100, NSI_FLAG_UNFRAGMENTED, 2001 * MS);
	nsi_receiver_do_work(&e->r, 2001 * MS);
	assert_int_equal(e->ended_eos, 1);
	assert_true(e->last.type == NSI_FRAME_STATUS && (e->last.flags & NSI_SM_F_EOS) != 0);
	env_free(e);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(malformed_datagrams_change_nothing),
		cmocka_unit_test(images_are_capped_and_unknown_data_counted),
		cmocka_unit_test(status_messages_naks_and_the_ends),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

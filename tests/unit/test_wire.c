/* SPDX-License-Identifier: MIT */
/*
 * The UDP wire format (src/net/wire.c): every frame type written and read back field for
 * field, the byte layout at fixed offsets, several frames in one datagram, and a table of
 * malformed datagrams, each refused with its reason and never read past its end (the ASan
 * build checks that). Wireshark's own reading of these bytes is tests/net/wire-tshark.
 */
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "net/wire.h"

static uint32_t
le32_at(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* Parse the only frame of @buf; assert it is alone. */
static void
parse_one(const uint8_t *buf, size_t len, struct nsi_frame *f)
{
	size_t off = 0;
	assert_int_equal(nsi_wire_next(buf, len, &off, f), 1);
	assert_int_equal(off, len);
	struct nsi_frame g;
	assert_int_equal(nsi_wire_next(buf, len, &off, &g), 0);
}

static void
data_frame_layout_and_round_trip(void **state)
{
	(void)state;
	uint8_t buf[256];
	struct nsi_frame f = { .flags = NSI_FLAG_UNFRAGMENTED,
			       .session_id = -7,
			       .stream_id = 1001 };
	f.u.data.term_offset = 4096;
	f.u.data.term_id = 0x7fffffff;
	f.u.data.reserved_value = INT64_C(0x0102030405060708);
	const char msg[] = "hello, aeron";
	size_t n = nsi_wire_put_data(buf, sizeof(buf), &f, msg, sizeof(msg));
	assert_int_equal(n, 32 + sizeof(msg));
	/* Byte for byte: length, version 0, flags, type 1, then the words, little-endian. */
	assert_int_equal(le32_at(buf), 32 + sizeof(msg));
	assert_int_equal(buf[4], 0);
	assert_int_equal(buf[5], 0xc0);
	assert_int_equal(buf[6], 0x01);
	assert_int_equal(buf[7], 0x00);
	assert_int_equal(le32_at(buf + 8), 4096);
	assert_int_equal(le32_at(buf + 12), (uint32_t)-7);
	assert_int_equal(le32_at(buf + 16), 1001);
	assert_int_equal(le32_at(buf + 20), 0x7fffffff);
	assert_int_equal(buf[24], 0x08);
	assert_int_equal(buf[31], 0x01);
	assert_memory_equal(buf + 32, msg, sizeof(msg));

	struct nsi_frame g;
	size_t off = 0;
	assert_int_equal(nsi_wire_next(buf, n, &off, &g), 1);
	assert_int_equal(off, n); /* the datagram ends before the next multiple of 32 */
	assert_int_equal(g.type, NSI_FRAME_DATA);
	assert_int_equal(g.flags, NSI_FLAG_UNFRAGMENTED);
	assert_int_equal(g.session_id, -7);
	assert_int_equal(g.stream_id, 1001);
	assert_int_equal(g.u.data.term_offset, 4096);
	assert_int_equal(g.u.data.term_id, 0x7fffffff);
	assert_true(g.u.data.reserved_value == INT64_C(0x0102030405060708));
	assert_int_equal(g.u.data.payload_length, sizeof(msg));
	assert_ptr_equal(g.u.data.payload, buf + 32);
	assert_false(g.u.data.heartbeat);
}

static void
heartbeat_and_pad(void **state)
{
	(void)state;
	uint8_t buf[64];
	struct nsi_frame f = { .flags = NSI_FLAG_UNFRAGMENTED | NSI_FLAG_END_OF_STREAM,
			       .session_id = 3,
			       .stream_id = 4 };
	f.u.data.term_offset = 96;
	f.u.data.term_id = 5;
	assert_int_equal(nsi_wire_put_heartbeat(buf, sizeof(buf), &f), 32);
	assert_int_equal(le32_at(buf), 0);
	struct nsi_frame g;
	parse_one(buf, 32, &g);
	assert_true(g.u.data.heartbeat);
	assert_int_equal(g.flags & NSI_FLAG_END_OF_STREAM, NSI_FLAG_END_OF_STREAM);
	assert_int_equal(g.u.data.term_offset, 96);

	f.flags = 0;
	f.frame_length = 65536 - 96; /* the rest of a 64 KiB term */
	assert_int_equal(nsi_wire_put_pad(buf, sizeof(buf), &f), 32);
	assert_int_equal(buf[6], 0x00);
	parse_one(buf, 32, &g);
	assert_int_equal(g.type, NSI_FRAME_PAD);
	assert_int_equal(g.frame_length, 65536 - 96);
	assert_int_equal(g.u.data.payload_length, 0);
}

static void
control_frames_round_trip(void **state)
{
	(void)state;
	uint8_t buf[2048];
	struct nsi_frame f = { .session_id = 11, .stream_id = 22 }, g;

	f.u.setup.term_offset = 1024;
	f.u.setup.initial_term_id = -5;
	f.u.setup.active_term_id = -3;
	f.u.setup.term_length = 1 << 20;
	f.u.setup.mtu = 1408;
	f.u.setup.ttl = 4;
	size_t n = nsi_wire_put_setup(buf, sizeof(buf), &f);
	assert_int_equal(n, 40);
	assert_int_equal(buf[6], 0x05);
	assert_int_equal(le32_at(buf + 8), 1024); /* setup: the term offset comes first */
	assert_int_equal(le32_at(buf + 12), 11);
	parse_one(buf, n, &g);
	assert_int_equal(g.type, NSI_FRAME_SETUP);
	assert_int_equal(g.session_id, 11);
	assert_int_equal(g.stream_id, 22);
	assert_int_equal(g.u.setup.term_offset, 1024);
	assert_int_equal(g.u.setup.initial_term_id, -5);
	assert_int_equal(g.u.setup.active_term_id, -3);
	assert_int_equal(g.u.setup.term_length, 1 << 20);
	assert_int_equal(g.u.setup.mtu, 1408);
	assert_int_equal(g.u.setup.ttl, 4);

	memset(&f.u, 0, sizeof(f.u));
	f.u.nak.term_id = 9;
	f.u.nak.term_offset = 8192;
	f.u.nak.length = 100;
	n = nsi_wire_put_nak(buf, sizeof(buf), &f);
	assert_int_equal(n, 28);
	assert_int_equal(buf[6], 0x02);
	parse_one(buf, n, &g);
	assert_int_equal(g.u.nak.term_id, 9);
	assert_int_equal(g.u.nak.term_offset, 8192);
	assert_int_equal(g.u.nak.length, 100);

	memset(&f.u, 0, sizeof(f.u));
	f.flags = NSI_SM_F_SEND_SETUP;
	f.u.sm.term_id = 12;
	f.u.sm.term_offset = 640;
	f.u.sm.window = 128 * 1024;
	f.u.sm.receiver_id = INT64_C(-2);
	n = nsi_wire_put_sm(buf, sizeof(buf), &f);
	assert_int_equal(n, 36);
	parse_one(buf, n, &g);
	assert_int_equal(g.flags, NSI_SM_F_SEND_SETUP);
	assert_int_equal(g.u.sm.term_id, 12);
	assert_int_equal(g.u.sm.term_offset, 640);
	assert_int_equal(g.u.sm.window, 128 * 1024);
	assert_true(g.u.sm.receiver_id == -2);
	assert_false(g.u.sm.has_group_tag);
	f.u.sm.has_group_tag = true;
	f.u.sm.group_tag = INT64_C(0x1122334455667788);
	n = nsi_wire_put_sm(buf, sizeof(buf), &f);
	assert_int_equal(n, 44);
	parse_one(buf, n, &g);
	assert_true(g.u.sm.has_group_tag);
	assert_true(g.u.sm.group_tag == INT64_C(0x1122334455667788));

	memset(&f.u, 0, sizeof(f.u));
	f.flags = NSI_RTTM_F_REPLY;
	f.u.rttm.echo_timestamp = INT64_C(123456789012);
	f.u.rttm.reception_delta = 42;
	f.u.rttm.receiver_id = 77;
	n = nsi_wire_put_rttm(buf, sizeof(buf), &f);
	assert_int_equal(n, 40);
	parse_one(buf, n, &g);
	assert_int_equal(g.flags, NSI_RTTM_F_REPLY);
	assert_true(g.u.rttm.echo_timestamp == INT64_C(123456789012));
	assert_true(g.u.rttm.reception_delta == 42);
	assert_true(g.u.rttm.receiver_id == 77);

	memset(&f.u, 0, sizeof(f.u));
	f.flags = 0;
	f.u.err.receiver_id = 5;
	f.u.err.code = 3;
	f.u.err.text = "no such stream";
	f.u.err.text_length = 14;
	n = nsi_wire_put_err(buf, sizeof(buf), &f);
	assert_int_equal(n, 54);
	parse_one(buf, n, &g);
	assert_int_equal(g.u.err.code, 3);
	assert_int_equal(g.u.err.text_length, 14);
	assert_memory_equal(g.u.err.text, "no such stream", 14);

	/* Too small a buffer: nothing written. */
	assert_int_equal(nsi_wire_put_setup(buf, 39, &f), 0);
	assert_int_equal(nsi_wire_put_data(buf, 40, &f, buf, 9), 0);
}

static void
several_frames_in_one_datagram(void **state)
{
	(void)state;
	uint8_t buf[512];
	memset(buf, 0, sizeof(buf));
	struct nsi_frame f = { .flags = NSI_FLAG_UNFRAGMENTED, .session_id = 1, .stream_id = 2 };
	size_t at = 0;
	const uint32_t lens[] = { 1, 32, 0, 100 };
	for (int i = 0; i < 4; i++) {
		f.u.data.term_offset = (int32_t)at;
		size_t n = nsi_wire_put_data(buf + at, sizeof(buf) - at, &f, buf, lens[i]);
		assert_true(n > 0);
		at += (n + 31) & ~(size_t)31;
	}
	size_t off = 0;
	struct nsi_frame g;
	for (int i = 0; i < 4; i++) {
		assert_int_equal(nsi_wire_next(buf, at, &off, &g), 1);
		assert_int_equal(g.u.data.payload_length, lens[i]);
		assert_int_equal(off % 32, 0);
	}
	assert_int_equal(off, at);
	assert_int_equal(nsi_wire_next(buf, at, &off, &g), 0);
}

/* One malformed datagram: refused with @want, @*offset unchanged. */
static void
refused(const uint8_t *buf, size_t len, int want)
{
	/* A copy of exactly @len bytes, so ASan catches any read past the end. */
	uint8_t *copy = malloc(len == 0 ? 1 : len);
	assert_non_null(copy);
	memcpy(copy, buf, len);
	size_t off = 0;
	struct nsi_frame g;
	int rc = nsi_wire_next(copy, len, &off, &g);
	if (rc != -want)
		fail_msg("wanted %s, got %d (%s)", nsi_wire_error_name(want), rc,
			 nsi_wire_error_name(rc));
	assert_int_equal(off, 0);
	free(copy);
}

static void
put_le32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
	p[2] = (uint8_t)(v >> 16);
	p[3] = (uint8_t)(v >> 24);
}

static void
malformed_datagrams_are_refused_with_a_reason(void **state)
{
	(void)state;
	uint8_t d[128], buf[128];
	struct nsi_frame f = { .flags = NSI_FLAG_UNFRAGMENTED, .session_id = 1, .stream_id = 2 };
	f.u.data.term_offset = 64;
	size_t n = nsi_wire_put_data(d, sizeof(d), &f, "abcdefgh", 8);
	assert_int_equal(n, 40);

	refused(d, 5, NSI_WIRE_SHORT);
	refused(d, 31, NSI_WIRE_SHORT);
	memcpy(buf, d, n);
	buf[4] = 1;
	refused(buf, n, NSI_WIRE_BAD_VERSION);
	const uint16_t bad_types[] = { 7, 0x0b, 0x7fff, 0xffff };
	for (size_t i = 0; i < sizeof(bad_types) / sizeof(bad_types[0]); i++) {
		memcpy(buf, d, n);
		buf[6] = (uint8_t)bad_types[i];
		buf[7] = (uint8_t)(bad_types[i] >> 8);
		refused(buf, n, NSI_WIRE_BAD_TYPE);
	}
	const uint32_t bad_lengths[] = { 41, 1000, 31, 1, 0x80000000u, 0xffffffffu };
	for (size_t i = 0; i < sizeof(bad_lengths) / sizeof(bad_lengths[0]); i++) {
		memcpy(buf, d, n);
		put_le32(buf, bad_lengths[i]);
		refused(buf, n, NSI_WIRE_BAD_LENGTH);
	}
	const uint32_t bad_offsets[] = { 0xffffffe0u, 65, 33, 0x80000000u };
	for (size_t i = 0; i < sizeof(bad_offsets) / sizeof(bad_offsets[0]); i++) {
		memcpy(buf, d, n);
		put_le32(buf + 8, bad_offsets[i]);
		refused(buf, n, NSI_WIRE_BAD_OFFSET);
	}
	/* Pad: its extent must be a multiple of 32. */
	f.frame_length = 100;
	nsi_wire_put_pad(buf, sizeof(buf), &f);
	refused(buf, 32, NSI_WIRE_BAD_LENGTH);

	/* NAK: a length of 0 or less, an unaligned or negative offset, cut short. */
	struct nsi_frame k = { .session_id = 1, .stream_id = 2 };
	k.u.nak.term_offset = 64;
	k.u.nak.length = 0;
	n = nsi_wire_put_nak(buf, sizeof(buf), &k);
	refused(buf, n, NSI_WIRE_BAD_FIELD);
	k.u.nak.length = -5;
	nsi_wire_put_nak(buf, sizeof(buf), &k);
	refused(buf, n, NSI_WIRE_BAD_FIELD);
	k.u.nak.length = 10;
	k.u.nak.term_offset = 65;
	nsi_wire_put_nak(buf, sizeof(buf), &k);
	refused(buf, n, NSI_WIRE_BAD_OFFSET);
	k.u.nak.term_offset = 64;
	nsi_wire_put_nak(buf, sizeof(buf), &k);
	refused(buf, n - 1, NSI_WIRE_SHORT);
	put_le32(buf, 20);
	refused(buf, n, NSI_WIRE_BAD_LENGTH);

	/* Status message: a negative window; a tag announced but not there. */
	struct nsi_frame s = { .session_id = 1, .stream_id = 2 };
	s.u.sm.window = -1;
	n = nsi_wire_put_sm(buf, sizeof(buf), &s);
	refused(buf, n, NSI_WIRE_BAD_FIELD);
	s.u.sm.window = 4096;
	nsi_wire_put_sm(buf, sizeof(buf), &s);
	put_le32(buf, 44);
	refused(buf, n, NSI_WIRE_BAD_LENGTH);

	/* Setup: absurd term lengths and MTUs, an offset past the term. */
	struct nsi_frame u = { .session_id = 1, .stream_id = 2 };
	u.u.setup.term_length = 1 << 16;
	u.u.setup.mtu = 1408;
	const int32_t bad_terms[] = { 1000, 1 << 15, INT32_MIN, -65536, 0, 3 << 20 };
	for (size_t i = 0; i < sizeof(bad_terms) / sizeof(bad_terms[0]); i++) {
		u.u.setup.term_length = bad_terms[i];
		n = nsi_wire_put_setup(buf, sizeof(buf), &u);
		refused(buf, n, NSI_WIRE_BAD_FIELD);
	}
	u.u.setup.term_length = 1 << 16;
	const int32_t bad_mtus[] = { 0, 33, 65536, -32, 32 };
	for (size_t i = 0; i < sizeof(bad_mtus) / sizeof(bad_mtus[0]); i++) {
		u.u.setup.mtu = bad_mtus[i];
		n = nsi_wire_put_setup(buf, sizeof(buf), &u);
		refused(buf, n, NSI_WIRE_BAD_FIELD);
	}
	u.u.setup.mtu = 1408;
	u.u.setup.term_offset = 1 << 16;
	n = nsi_wire_put_setup(buf, sizeof(buf), &u);
	refused(buf, n, NSI_WIRE_BAD_OFFSET);

	/* Error frame: a text length past the frame, negative, over the maximum. */
	struct nsi_frame e = { .session_id = 1, .stream_id = 2 };
	e.u.err.text = "abc";
	e.u.err.text_length = 3;
	n = nsi_wire_put_err(buf, sizeof(buf), &e);
	const uint32_t bad_text[] = { 4, 0xffffffffu, 2000 };
	for (size_t i = 0; i < sizeof(bad_text) / sizeof(bad_text[0]); i++) {
		put_le32(buf + 36, bad_text[i]);
		refused(buf, n, NSI_WIRE_BAD_LENGTH);
	}

	/* Longer than any MTU. */
	uint8_t *big = calloc(1, NSI_WIRE_MAX_DGRAM + 1);
	assert_non_null(big);
	memcpy(big, d, 40);
	refused(big, NSI_WIRE_MAX_DGRAM + 1, NSI_WIRE_TOO_LONG);
	free(big);

	/* A good frame followed by a bad one: the first is read, then the reason. */
	n = nsi_wire_put_data(buf, sizeof(buf), &f, "x", 1);
	memcpy(buf + 64, d, 40);
	buf[64 + 4] = 9;
	size_t off = 0;
	struct nsi_frame g;
	assert_int_equal(nsi_wire_next(buf, 104, &off, &g), 1);
	assert_int_equal(off, 64);
	assert_int_equal(nsi_wire_next(buf, 104, &off, &g), -NSI_WIRE_BAD_VERSION);
}

static void
positions_as_aeron_computes_them(void **state)
{
	(void)state;
	assert_true(nsi_wire_position(5, 96, 5, 16) == 96);
	assert_true(nsi_wire_position(7, 32, 5, 16) == 2 * 65536 + 32);
	/* Term ids wrap: from INT32_MAX to INT32_MIN is one term on. */
	assert_true(nsi_wire_position(INT32_MIN, 0, INT32_MAX, 16) == 65536);
	assert_true(nsi_wire_position(INT32_MIN + 2, 64, INT32_MAX - 1, 20) == 4 * (1 << 20) + 64);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(data_frame_layout_and_round_trip),
		cmocka_unit_test(heartbeat_and_pad),
		cmocka_unit_test(control_frames_round_trip),
		cmocka_unit_test(several_frames_in_one_datagram),
		cmocka_unit_test(malformed_datagrams_are_refused_with_a_reason),
		cmocka_unit_test(positions_as_aeron_computes_them),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

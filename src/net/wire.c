/* SPDX-License-Identifier: MIT */
#include "config.h"

#include <endian.h>
#include <string.h>

#include "net/wire.h"

/* Little-endian words at any alignment: the datagram is bytes. */
static int32_t
get32(const uint8_t *p)
{
	uint32_t v;
	memcpy(&v, p, sizeof(v));
	return (int32_t)le32toh(v);
}

static int64_t
get64(const uint8_t *p)
{
	uint64_t v;
	memcpy(&v, p, sizeof(v));
	return (int64_t)le64toh(v);
}

static uint16_t
get16(const uint8_t *p)
{
	uint16_t v;
	memcpy(&v, p, sizeof(v));
	return le16toh(v);
}

static void
put32(uint8_t *p, int32_t v)
{
	uint32_t w = htole32((uint32_t)v);
	memcpy(p, &w, sizeof(w));
}

static void
put64(uint8_t *p, int64_t v)
{
	uint64_t w = htole64((uint64_t)v);
	memcpy(p, &w, sizeof(w));
}

static void
put16(uint8_t *p, uint16_t v)
{
	uint16_t w = htole16(v);
	memcpy(p, &w, sizeof(w));
}

static bool
is_pow2(int32_t v)
{
	return v > 0 && (v & (v - 1)) == 0;
}

/* Data and pad: [header 8][term_offset][session][stream][term_id][reserved_value 8]. */
static int
parse_data(const uint8_t *p, size_t rest, struct nsi_frame *f, size_t *used)
{
	if (rest < NSI_DATA_HEADER_LEN)
		return -NSI_WIRE_SHORT;
	f->u.data.term_offset = get32(p + 8);
	f->session_id = get32(p + 12);
	f->stream_id = get32(p + 16);
	f->u.data.term_id = get32(p + 20);
	f->u.data.reserved_value = get64(p + 24);
	f->u.data.payload = NULL;
	f->u.data.payload_length = 0;
	f->u.data.heartbeat = false;
	if (f->u.data.term_offset < 0 || f->u.data.term_offset % NSI_FRAME_ALIGN != 0)
		return -NSI_WIRE_BAD_OFFSET;
	if (f->type == NSI_FRAME_PAD) {
		/* The header alone travels; its length is the padding's extent in the term. */
		if (f->frame_length < NSI_DATA_HEADER_LEN || f->frame_length % NSI_FRAME_ALIGN != 0)
			return -NSI_WIRE_BAD_LENGTH;
		*used = NSI_DATA_HEADER_LEN;
		return 1;
	}
	if (f->frame_length == 0) {
		f->u.data.heartbeat = true;
		*used = NSI_DATA_HEADER_LEN;
		return 1;
	}
	if (f->frame_length < NSI_DATA_HEADER_LEN || (size_t)f->frame_length > rest)
		return -NSI_WIRE_BAD_LENGTH;
	f->u.data.payload = p + NSI_DATA_HEADER_LEN;
	f->u.data.payload_length = (uint32_t)f->frame_length - NSI_DATA_HEADER_LEN;
	/* The next frame starts at the next multiple of 32, or the datagram ends first. */
	size_t aligned =
		((size_t)f->frame_length + NSI_FRAME_ALIGN - 1) & ~(size_t)(NSI_FRAME_ALIGN - 1);
	*used = aligned < rest ? aligned : rest;
	return 1;
}

static int
parse_control(const uint8_t *p, size_t rest, struct nsi_frame *f)
{
	size_t need;
	switch (f->type) {
	case NSI_FRAME_NAK:
		need = NSI_WIRE_NAK;
		break;
	case NSI_FRAME_STATUS:
		need = NSI_WIRE_SM;
		break;
	case NSI_FRAME_SETUP:
		need = NSI_WIRE_SETUP;
		break;
	case NSI_FRAME_RTT:
		need = NSI_WIRE_RTTM;
		break;
	case NSI_FRAME_ERROR:
		need = NSI_WIRE_ERR;
		break;
	default:
		return -NSI_WIRE_BAD_TYPE;
	}
	if (rest < need)
		return -NSI_WIRE_SHORT;
	if (f->frame_length < (int32_t)need || (size_t)f->frame_length > rest)
		return -NSI_WIRE_BAD_LENGTH;
	f->session_id = get32(p + 8);
	f->stream_id = get32(p + 12);
	switch (f->type) {
	case NSI_FRAME_NAK:
		f->u.nak.term_id = get32(p + 16);
		f->u.nak.term_offset = get32(p + 20);
		f->u.nak.length = get32(p + 24);
		if (f->u.nak.term_offset < 0 || f->u.nak.term_offset % NSI_FRAME_ALIGN != 0)
			return -NSI_WIRE_BAD_OFFSET;
		if (f->u.nak.length <= 0)
			return -NSI_WIRE_BAD_FIELD;
		return 1;
	case NSI_FRAME_STATUS:
		f->u.sm.term_id = get32(p + 16);
		f->u.sm.term_offset = get32(p + 20);
		f->u.sm.window = get32(p + 24);
		f->u.sm.receiver_id = get64(p + 28);
		f->u.sm.has_group_tag = f->frame_length >= NSI_WIRE_SM_TAGGED;
		f->u.sm.group_tag = f->u.sm.has_group_tag ? get64(p + 36) : 0;
		if (f->u.sm.term_offset < 0)
			return -NSI_WIRE_BAD_OFFSET;
		if (f->u.sm.window < 0)
			return -NSI_WIRE_BAD_FIELD;
		return 1;
	case NSI_FRAME_SETUP:
		/* Setup's own words start with the term offset, before session and stream. */
		f->u.setup.term_offset = get32(p + 8);
		f->session_id = get32(p + 12);
		f->stream_id = get32(p + 16);
		f->u.setup.initial_term_id = get32(p + 20);
		f->u.setup.active_term_id = get32(p + 24);
		f->u.setup.term_length = get32(p + 28);
		f->u.setup.mtu = get32(p + 32);
		f->u.setup.ttl = get32(p + 36);
		if (!is_pow2(f->u.setup.term_length) || f->u.setup.term_length < 64 * 1024 ||
		    f->u.setup.term_length > 1024 * 1024 * 1024)
			return -NSI_WIRE_BAD_FIELD;
		if (f->u.setup.mtu < NSI_DATA_HEADER_LEN * 2 ||
		    f->u.setup.mtu > NSI_WIRE_MAX_DGRAM || f->u.setup.mtu % NSI_FRAME_ALIGN != 0)
			return -NSI_WIRE_BAD_FIELD;
		if (f->u.setup.term_offset < 0 || f->u.setup.term_offset % NSI_FRAME_ALIGN != 0 ||
		    f->u.setup.term_offset >= f->u.setup.term_length)
			return -NSI_WIRE_BAD_OFFSET;
		return 1;
	case NSI_FRAME_RTT:
		f->u.rttm.echo_timestamp = get64(p + 16);
		f->u.rttm.reception_delta = get64(p + 24);
		f->u.rttm.receiver_id = get64(p + 32);
		return 1;
	default: /* NSI_FRAME_ERROR */
		f->u.err.receiver_id = get64(p + 16);
		f->u.err.group_tag = get64(p + 24);
		f->u.err.code = get32(p + 32);
		int32_t text = get32(p + 36);
		if (text < 0 || text > NSI_WIRE_ERR_TEXT || NSI_WIRE_ERR + text > f->frame_length)
			return -NSI_WIRE_BAD_LENGTH;
		f->u.err.text = (const char *)p + NSI_WIRE_ERR;
		f->u.err.text_length = (uint32_t)text;
		return 1;
	}
}

int
nsi_wire_next(const uint8_t *buf, size_t len, size_t *offset, struct nsi_frame *f)
{
	if (len > NSI_WIRE_MAX_DGRAM)
		return -NSI_WIRE_TOO_LONG;
	size_t at = *offset;
	if (at >= len)
		return 0;
	size_t rest = len - at;
	const uint8_t *p = buf + at;
	if (rest < NSI_WIRE_HEADER)
		return -NSI_WIRE_SHORT;
	memset(f, 0, sizeof(*f));
	f->frame_length = get32(p);
	f->version = p[4];
	f->flags = p[5];
	f->type = get16(p + 6);
	if (f->version != NSI_WIRE_VERSION)
		return -NSI_WIRE_BAD_VERSION;
	size_t used = 0;
	int rc;
	if (f->type == NSI_FRAME_DATA || f->type == NSI_FRAME_PAD) {
		rc = parse_data(p, rest, f, &used);
	} else {
		rc = parse_control(p, rest, f);
		used = (size_t)f->frame_length;
	}
	if (rc < 0)
		return rc;
	*offset = at + used;
	return 1;
}

const char *
nsi_wire_error_name(int error)
{
	switch (error < 0 ? -error : error) {
	case NSI_WIRE_SHORT:
		return "short";
	case NSI_WIRE_BAD_VERSION:
		return "bad version";
	case NSI_WIRE_BAD_TYPE:
		return "bad type";
	case NSI_WIRE_BAD_LENGTH:
		return "bad length";
	case NSI_WIRE_BAD_OFFSET:
		return "bad offset";
	case NSI_WIRE_BAD_FIELD:
		return "bad field";
	case NSI_WIRE_TOO_LONG:
		return "too long";
	default:
		return "unknown";
	}
}

static void
put_header(uint8_t *p, int32_t length, uint8_t flags, uint16_t type)
{
	put32(p, length);
	p[4] = NSI_WIRE_VERSION;
	p[5] = flags;
	put16(p + 6, type);
}

static void
put_data_header(uint8_t *p, int32_t length, const struct nsi_frame *f, uint16_t type)
{
	put_header(p, length, f->flags, type);
	put32(p + 8, f->u.data.term_offset);
	put32(p + 12, f->session_id);
	put32(p + 16, f->stream_id);
	put32(p + 20, f->u.data.term_id);
	put64(p + 24, f->u.data.reserved_value);
}

size_t
nsi_wire_put_data(uint8_t *buf, size_t cap, const struct nsi_frame *f, const void *payload,
		  uint32_t payload_length)
{
	size_t n = NSI_DATA_HEADER_LEN + (size_t)payload_length;
	if (cap < n || n > NSI_WIRE_MAX_DGRAM)
		return 0;
	put_data_header(buf, (int32_t)n, f, NSI_FRAME_DATA);
	if (payload_length != 0)
		memcpy(buf + NSI_DATA_HEADER_LEN, payload, payload_length);
	return n;
}

size_t
nsi_wire_put_heartbeat(uint8_t *buf, size_t cap, const struct nsi_frame *f)
{
	if (cap < NSI_DATA_HEADER_LEN)
		return 0;
	put_data_header(buf, 0, f, NSI_FRAME_DATA);
	return NSI_DATA_HEADER_LEN;
}

size_t
nsi_wire_put_pad(uint8_t *buf, size_t cap, const struct nsi_frame *f)
{
	if (cap < NSI_DATA_HEADER_LEN)
		return 0;
	put_data_header(buf, f->frame_length, f, NSI_FRAME_PAD);
	return NSI_DATA_HEADER_LEN;
}

size_t
nsi_wire_put_setup(uint8_t *buf, size_t cap, const struct nsi_frame *f)
{
	if (cap < NSI_WIRE_SETUP)
		return 0;
	put_header(buf, NSI_WIRE_SETUP, f->flags, NSI_FRAME_SETUP);
	put32(buf + 8, f->u.setup.term_offset);
	put32(buf + 12, f->session_id);
	put32(buf + 16, f->stream_id);
	put32(buf + 20, f->u.setup.initial_term_id);
	put32(buf + 24, f->u.setup.active_term_id);
	put32(buf + 28, f->u.setup.term_length);
	put32(buf + 32, f->u.setup.mtu);
	put32(buf + 36, f->u.setup.ttl);
	return NSI_WIRE_SETUP;
}

size_t
nsi_wire_put_nak(uint8_t *buf, size_t cap, const struct nsi_frame *f)
{
	if (cap < NSI_WIRE_NAK)
		return 0;
	put_header(buf, NSI_WIRE_NAK, f->flags, NSI_FRAME_NAK);
	put32(buf + 8, f->session_id);
	put32(buf + 12, f->stream_id);
	put32(buf + 16, f->u.nak.term_id);
	put32(buf + 20, f->u.nak.term_offset);
	put32(buf + 24, f->u.nak.length);
	return NSI_WIRE_NAK;
}

size_t
nsi_wire_put_sm(uint8_t *buf, size_t cap, const struct nsi_frame *f)
{
	size_t n = f->u.sm.has_group_tag ? NSI_WIRE_SM_TAGGED : NSI_WIRE_SM;
	if (cap < n)
		return 0;
	put_header(buf, (int32_t)n, f->flags, NSI_FRAME_STATUS);
	put32(buf + 8, f->session_id);
	put32(buf + 12, f->stream_id);
	put32(buf + 16, f->u.sm.term_id);
	put32(buf + 20, f->u.sm.term_offset);
	put32(buf + 24, f->u.sm.window);
	put64(buf + 28, f->u.sm.receiver_id);
	if (f->u.sm.has_group_tag)
		put64(buf + 36, f->u.sm.group_tag);
	return n;
}

size_t
nsi_wire_put_rttm(uint8_t *buf, size_t cap, const struct nsi_frame *f)
{
	if (cap < NSI_WIRE_RTTM)
		return 0;
	put_header(buf, NSI_WIRE_RTTM, f->flags, NSI_FRAME_RTT);
	put32(buf + 8, f->session_id);
	put32(buf + 12, f->stream_id);
	put64(buf + 16, f->u.rttm.echo_timestamp);
	put64(buf + 24, f->u.rttm.reception_delta);
	put64(buf + 32, f->u.rttm.receiver_id);
	return NSI_WIRE_RTTM;
}

size_t
nsi_wire_put_err(uint8_t *buf, size_t cap, const struct nsi_frame *f)
{
	uint32_t text = f->u.err.text_length;
	if (text > NSI_WIRE_ERR_TEXT)
		text = NSI_WIRE_ERR_TEXT;
	size_t n = NSI_WIRE_ERR + text;
	if (cap < n)
		return 0;
	put_header(buf, (int32_t)n, f->flags, NSI_FRAME_ERROR);
	put32(buf + 8, f->session_id);
	put32(buf + 12, f->stream_id);
	put64(buf + 16, f->u.err.receiver_id);
	put64(buf + 24, f->u.err.group_tag);
	put32(buf + 32, f->u.err.code);
	put32(buf + 36, (int32_t)text);
	if (text != 0)
		memcpy(buf + NSI_WIRE_ERR, f->u.err.text, text);
	return n;
}

/* SPDX-License-Identifier: MIT */
#ifndef NSI_NET_WIRE_H
#define NSI_NET_WIRE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "log/frame.h"

/*
 * The UDP wire format: Aeron's protocol version 0 (docs/wire.md describes every frame). All
 * words are little-endian on the wire whatever the host; frames in a datagram start at
 * multiples of 32 bytes (data and pad) or follow each other (control frames, one per
 * datagram in practice).
 *
 * Parsing is context-free and bounded: nsi_wire_next() reads the frame at an offset of a
 * datagram, checks every length against the datagram and the frame type's fixed layout, and
 * either fills a struct nsi_frame or says why the datagram is malformed (enum nsi_wire_error).
 * Checks that need state (the term length of an image, the window) are the receiver's and
 * the sender's. Every word is read once from the datagram into the struct.
 */

/*
 * The frame types (enum nsi_frame_type), the data flags (NSI_FLAG_*), the 32-byte data
 * header and the 32-byte alignment are the log's (log/frame.h): a log frame is a wire frame.
 */
#define NSI_WIRE_VERSION NSI_FRAME_VERSION

/* Fixed lengths (bytes). */
#define NSI_WIRE_HEADER	   8 /* length, version, flags, type: every frame starts so */
#define NSI_WIRE_NAK	   28
#define NSI_WIRE_SM	   36 /* status message without the group tag */
#define NSI_WIRE_SM_TAGGED 44 /* with the optional 8-byte group tag */
#define NSI_WIRE_SETUP	   40
#define NSI_WIRE_RTTM	   40
#define NSI_WIRE_ERR	   40	 /* error frame before its text */
#define NSI_WIRE_ERR_TEXT  1023	 /* longest error text */
#define NSI_WIRE_MAX_DGRAM 65504 /* the largest MTU; no datagram we accept is longer */

/* Flags of the control frames (data flags: NSI_FLAG_* in log/frame.h). */
#define NSI_SM_F_SEND_SETUP  0x80u /* the receiver asks for a SETUP */
#define NSI_SM_F_EOS	     0x40u /* the receiver has read to the end of the stream */
#define NSI_SETUP_F_RESPONSE 0x80u /* (response channels; unused by us) */
#define NSI_SETUP_F_GROUP    0x40u /* the publication is multicast-like (a group) */
#define NSI_RTTM_F_REPLY     0x80u /* a request: answer with an echo */
#define NSI_ERR_F_GROUP_TAG  0x08u /* the error frame's group tag is set */
/* Our error code in an error frame a sender sends: a NAKed range it no longer holds. */
#define NSI_ERR_CODE_NOT_HELD 1

/* One parsed frame: every field the type has, copied out of the datagram. */
struct nsi_frame {
	uint16_t type; /* enum nsi_frame_type */
	uint8_t flags;
	uint8_t version;
	int32_t frame_length; /* as sent: data/pad, the bytes the frame occupies in the term */
	int32_t session_id;
	int32_t stream_id;
	union {
		struct { /* DATA, PAD (payload only for DATA) */
			int32_t term_offset;
			int32_t term_id;
			int64_t reserved_value;
			const uint8_t *payload; /* points into the datagram */
			uint32_t payload_length;
			bool heartbeat; /* DATA with no payload (frame_length 0) */
		} data;
		struct {
			int32_t term_offset;
			int32_t initial_term_id;
			int32_t active_term_id;
			int32_t term_length;
			int32_t mtu;
			int32_t ttl;
		} setup;
		struct {
			int32_t term_id;
			int32_t term_offset;
			int32_t length;
		} nak;
		struct {
			int32_t term_id; /* consumption term id */
			int32_t term_offset;
			int32_t window;
			int64_t receiver_id;
			int64_t group_tag;
			bool has_group_tag;
		} sm;
		struct {
			int64_t echo_timestamp;
			int64_t reception_delta;
			int64_t receiver_id;
		} rttm;
		struct {
			int64_t receiver_id;
			int64_t group_tag;
			int32_t code;
			const char *text; /* points into the datagram, not NUL-terminated */
			uint32_t text_length;
		} err;
	} u;
};

/* Why a datagram was refused; each is counted as an invalid datagram by the driver. */
enum nsi_wire_error {
	NSI_WIRE_SHORT = 1,   /* fewer bytes than a header, or than the type's fixed part */
	NSI_WIRE_BAD_VERSION, /* version is not 0 */
	NSI_WIRE_BAD_TYPE,    /* a type we do not speak */
	NSI_WIRE_BAD_LENGTH,  /* frame length impossible for its type or past the datagram */
	NSI_WIRE_BAD_OFFSET,  /* negative or unaligned term offset */
	NSI_WIRE_BAD_FIELD,   /* a field out of its range (NAK length, SETUP term length, ...) */
	NSI_WIRE_TOO_LONG,    /* datagram longer than the largest MTU */
};

/*
 * The frame at @*offset of the datagram @buf (@len bytes): fills @f and moves @*offset to the
 * next frame. Returns 1 for a frame, 0 at the end of the datagram, or minus an enum
 * nsi_wire_error (the rest of the datagram is then to be dropped).
 */
int nsi_wire_next(const uint8_t *buf, size_t len, size_t *offset, struct nsi_frame *f);

/* A short name for an enum nsi_wire_error, for counters and logs. */
const char *nsi_wire_error_name(int error);

/*
 * Writers: each writes one frame of its type at @buf (@cap bytes) from @f and returns its
 * length on the wire, or 0 when @cap is too small. Only the fields of the frame's type are
 * read; flags are taken as given.
 */
size_t nsi_wire_put_data(uint8_t *buf, size_t cap, const struct nsi_frame *f, const void *payload,
			 uint32_t payload_length);
size_t nsi_wire_put_heartbeat(uint8_t *buf, size_t cap, const struct nsi_frame *f);
size_t nsi_wire_put_pad(uint8_t *buf, size_t cap, const struct nsi_frame *f);
size_t nsi_wire_put_setup(uint8_t *buf, size_t cap, const struct nsi_frame *f);
size_t nsi_wire_put_nak(uint8_t *buf, size_t cap, const struct nsi_frame *f);
size_t nsi_wire_put_sm(uint8_t *buf, size_t cap, const struct nsi_frame *f);
size_t nsi_wire_put_rttm(uint8_t *buf, size_t cap, const struct nsi_frame *f);
size_t nsi_wire_put_err(uint8_t *buf, size_t cap, const struct nsi_frame *f);

/* Positions as Aeron computes them: a term's start plus the offset in it. */
static inline int64_t
nsi_wire_position(int32_t term_id, int32_t term_offset, int32_t initial_term_id, int bits)
{
	/* Term ids wrap as 32-bit integers: the difference is what counts. */
	int64_t terms = (int64_t)(int32_t)((uint32_t)term_id - (uint32_t)initial_term_id);
	return terms * ((int64_t)1 << bits) + term_offset;
}

#endif /* NSI_NET_WIRE_H */

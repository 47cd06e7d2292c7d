/* SPDX-License-Identifier: MIT */
#ifndef NSI_LOG_FRAME_H
#define NSI_LOG_FRAME_H

#include <stdint.h>

/*
 * Frames in a term (docs/ipc.md, "Inside"). Every frame starts
 * on a 32-byte boundary with an 8-byte frame header: length (int32, header included, padding
 * excluded), version (uint8), flags (uint8), type (uint16). A data frame's header is 32 bytes.
 * All fields are little-endian; the targets we build for are little-endian, which the static
 * assertion below pins.
 */

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "nanostream's frame layout is little-endian; a big-endian port must byte-swap frames"
#endif

#define NSI_FRAME_ALIGN	    32
#define NSI_DATA_HEADER_LEN 32
#define NSI_FRAME_VERSION   0 /* Aeron's protocol version: network logs are sent as they are */

#define NSI_FLAG_BEGIN	       0x80u
#define NSI_FLAG_END	       0x40u
#define NSI_FLAG_UNFRAGMENTED  (NSI_FLAG_BEGIN | NSI_FLAG_END)
#define NSI_FLAG_END_OF_STREAM 0x20u

enum nsi_frame_type {
	NSI_FRAME_PAD = 0,
	NSI_FRAME_DATA = 1,
	NSI_FRAME_NAK = 2,
	NSI_FRAME_STATUS = 3,
	NSI_FRAME_ERROR = 4,
	NSI_FRAME_SETUP = 5,
	NSI_FRAME_RTT = 6,
};

struct nsi_data_header {
	int32_t frame_length; /* committed last, with release; <= 0: not written yet */
	uint8_t version;
	uint8_t flags;
	uint16_t type;
	int32_t term_offset;
	int32_t session_id;
	int32_t stream_id;
	int32_t term_id;
	int64_t reserved_value;
};

_Static_assert(sizeof(struct nsi_data_header) == NSI_DATA_HEADER_LEN, "data header is 32 bytes");

static inline int32_t
nsi_frame_align(int32_t length)
{
	return (length + (NSI_FRAME_ALIGN - 1)) & ~(NSI_FRAME_ALIGN - 1);
}

#endif /* NSI_LOG_FRAME_H */

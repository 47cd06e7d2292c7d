/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target (issue 17): the UDP datagram parser. Any input is read frame by frame
 * without reading past its end (ASan); every frame it accepts has its parts inside the
 * datagram, and written again by the writers it parses back to the same fields.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "net/wire.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
same(const struct nsi_frame *a, const struct nsi_frame *b)
{
	if (a->type != b->type || a->flags != b->flags || a->session_id != b->session_id ||
	    a->stream_id != b->stream_id)
		abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	size_t off = 0;
	struct nsi_frame f, g;
	uint8_t out[NSI_WIRE_MAX_DGRAM];
	for (int frames = 0; frames < 4096; frames++) {
		size_t at = off;
		int rc = nsi_wire_next(data, size, &off, &f);
		if (rc <= 0) {
			if (rc < 0 && off != at)
				abort(); /* a refusal does not move on */
			return 0;
		}
		if (off <= at || off > size)
			abort(); /* always forward, never past the end */
		size_t n = 0;
		switch (f.type) {
		case NSI_FRAME_DATA:
			if (f.u.data.payload != NULL &&
			    (f.u.data.payload < data ||
			     f.u.data.payload + f.u.data.payload_length > data + size))
				abort();
			n = f.u.data.heartbeat
				    ? nsi_wire_put_heartbeat(out, sizeof(out), &f)
				    : nsi_wire_put_data(out, sizeof(out), &f, f.u.data.payload,
							f.u.data.payload_length);
			break;
		case NSI_FRAME_PAD:
			n = nsi_wire_put_pad(out, sizeof(out), &f);
			break;
		case NSI_FRAME_SETUP:
			n = nsi_wire_put_setup(out, sizeof(out), &f);
			break;
		case NSI_FRAME_NAK:
			n = nsi_wire_put_nak(out, sizeof(out), &f);
			break;
		case NSI_FRAME_STATUS:
			n = nsi_wire_put_sm(out, sizeof(out), &f);
			break;
		case NSI_FRAME_RTT:
			n = nsi_wire_put_rttm(out, sizeof(out), &f);
			break;
		case NSI_FRAME_ERROR:
			if ((const uint8_t *)f.u.err.text + f.u.err.text_length > data + size)
				abort();
			n = nsi_wire_put_err(out, sizeof(out), &f);
			break;
		default:
			abort(); /* the parser accepted a type it does not speak */
		}
		size_t o2 = 0;
		if (n == 0 || nsi_wire_next(out, n, &o2, &g) != 1)
			abort(); /* what we accept, we can write and read again */
		same(&f, &g);
	}
	return 0;
}

/* SPDX-License-Identifier: MIT */
#ifndef NSI_DRIVER_IMAGE_RX_H
#define NSI_DRIVER_IMAGE_RX_H

#include <stdint.h>

#include "log/log.h"
#include "net/wire.h"

/*
 * A receiver image (UDP): what the driver keeps for one (source, session, stream) it receives.
 * Frames that arrive are written into the image's log at their term offset, so subscribers
 * read an image exactly as they read an IPC log (zero copy, the same reader). The frame's first
 * word goes last, with release: a frame is visible once whole, and a gap (a frame not arrived)
 * is a zero word that stops readers until it is filled, so wrong bytes are never delivered.
 *
 * Positions (docs/wire.md): rebuild, everything before which has arrived; hwm, the highest
 * position any frame or heartbeat announced. Between them are gaps: nsi_image_rx_gaps() lists
 * every gap (not only the first), each within one term, for the NAKs.
 *
 * Frames are accepted from rebuild up to a term past the slowest subscriber's position (the
 * window, at most half a term, is what status messages advertise; a sender that follows a
 * faster receiver may run past it), so a term's partition is never written while a
 * subscriber may still read what it held three terms ago; the receiver keeps the
 * partition after the one it writes zeroed, so readers stop there instead of reading a
 * leftover.
 *
 * One thread (the receiver's) calls these; subscribers only read the log.
 */
struct nsi_image_rx {
	struct nsi_log *log;
	int32_t session_id, stream_id;
	int32_t window;	    /* bytes advertised beyond the slowest subscriber */
	int64_t rebuild;    /* contiguous up to here */
	int64_t hwm;	    /* highest position announced */
	int64_t eos;	    /* end of stream the sender announced, or -1 */
	int64_t clean_term; /* terms (counted from the initial term) up to this one are clean */
	struct {
		uint64_t frames, bytes, pads, heartbeats, duplicates, out_of_window, refused;
	} stats;
};

enum nsi_rx_result {
	NSI_RX_WRITTEN = 0,   /* a data or pad frame written */
	NSI_RX_HEARTBEAT,     /* a heartbeat: hwm (and the end of stream) noted */
	NSI_RX_DUPLICATE,     /* already there: nothing written */
	NSI_RX_OUT_OF_WINDOW, /* beyond the window (or before the initial term): dropped */
	NSI_RX_REFUSED,	      /* impossible for this image (another stream, crosses a term) */
};

/*
 * Start an image on @log (freshly created and zero-filled, its initial term id the setup's) at
 * the setup's active term and offset: the join position. @window: bytes accepted beyond the
 * slowest subscriber, clamped to half a term. Returns 0 or -EINVAL.
 */
int nsi_image_rx_init(struct nsi_image_rx *im, struct nsi_log *log, int32_t session_id,
		      int32_t stream_id, int32_t active_term_id, int32_t term_offset,
		      int32_t window);

/* The position a (term id, offset) pair names in this image, or -1 before its initial term. */
int64_t nsi_image_rx_position(const struct nsi_image_rx *im, int32_t term_id, int32_t term_offset);

/*
 * Take one data, pad or heartbeat frame (parsed by nsi_wire_next()) given the slowest
 * subscriber's position @slowest. Returns an enum nsi_rx_result; only NSI_RX_WRITTEN changes
 * the log.
 */
int nsi_image_rx_insert(struct nsi_image_rx *im, const struct nsi_frame *f, int64_t slowest);

/* One missing range, within one term (what a NAK asks for). */
struct nsi_gap {
	int32_t term_id;
	int32_t term_offset;
	int32_t length;
};

/* Every gap between rebuild and hwm, up to @max of them, in order. Returns how many. */
int nsi_image_rx_gaps(const struct nsi_image_rx *im, struct nsi_gap *gaps, int max);

#endif /* NSI_DRIVER_IMAGE_RX_H */

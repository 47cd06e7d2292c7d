/* SPDX-License-Identifier: MIT */
#include "config.h"

#include <errno.h>
#include <string.h>

#include "driver/image_rx.h"
#include "log/frame.h"
#include "util/atomic.h"

static uint8_t *
slot(const struct nsi_image_rx *im, int64_t position)
{
	const struct nsi_log *log = im->log;
	return log->terms[nsi_log_partition((int32_t)(position >> log->shift))] +
	       (position & (log->term_length - 1));
}

/*
 * The frame at @position, through the log's checked reader: its aligned length (> 0, never
 * past the term's end), 0 when nothing is there, or < 0 when its length is impossible. The
 * image's file is in the shared directory, so another process could write a length into it:
 * each length is read once and bounded before the walks below move by it.
 */
static int32_t
frame_at(const struct nsi_image_rx *im, int64_t position)
{
	const struct nsi_log *log = im->log;
	struct nsi_data_header h;
	return nsi_term_frame(log->terms[nsi_log_partition((int32_t)(position >> log->shift))],
			      log->term_length, (int32_t)(position & (log->term_length - 1)), &h);
}

int64_t
nsi_image_rx_position(const struct nsi_image_rx *im, int32_t term_id, int32_t term_offset)
{
	const struct nsi_log *log = im->log;
	/* Term ids wrap as 32-bit integers: the difference counts (docs/wire.md). */
	int32_t terms = (int32_t)((uint32_t)term_id - (uint32_t)log->initial_term_id);
	if (terms < 0)
		return -1;
	return ((int64_t)terms << log->shift) + term_offset;
}

int
nsi_image_rx_init(struct nsi_image_rx *im, struct nsi_log *log, int32_t session_id,
		  int32_t stream_id, int32_t active_term_id, int32_t term_offset, int32_t window)
{
	memset(im, 0, sizeof(*im));
	im->log = log;
	if (term_offset < 0 || term_offset % NSI_FRAME_ALIGN != 0 ||
	    term_offset >= log->term_length || window <= 0)
		return -EINVAL;
	int64_t join = nsi_image_rx_position(im, active_term_id, term_offset);
	if (join < 0)
		return -EINVAL;
	im->session_id = session_id;
	im->stream_id = stream_id;
	im->window = window < log->term_length / 2 ? window : log->term_length / 2;
	im->rebuild = im->hwm = join;
	im->eos = -1;
	/* Subscribers linked to the image start where it starts, not at position 0. */
	nsi_log_start_at(log, join);
	/* A fresh log is zero: the join term and the two after it need no cleaning. */
	im->clean_term = (join >> log->shift) + NSI_LOG_PARTITIONS - 1;
	return 0;
}

/* Once everything up to the announced end has arrived, subscribers may see the end. */
static void
note_end(struct nsi_image_rx *im)
{
	if (im->eos >= 0 && im->rebuild >= im->eos)
		nsi_store_release_i64(&im->log->meta->end_of_stream_position, im->eos);
}

static void
advance(struct nsi_image_rx *im)
{
	while (im->rebuild < im->hwm) {
		int32_t len = frame_at(im, im->rebuild);
		/*
		 * A gap, or a length no writer of ours left (impossible, or running past what
		 * arrived: every frame we write ends at or below hwm): stop there.
		 */
		if (len <= 0 || len > im->hwm - im->rebuild)
			break;
		im->rebuild += len;
	}
	note_end(im);
}

int
nsi_image_rx_insert(struct nsi_image_rx *im, const struct nsi_frame *f, int64_t slowest)
{
	const struct nsi_log *log = im->log;
	if ((f->type != NSI_FRAME_DATA && f->type != NSI_FRAME_PAD) ||
	    f->session_id != im->session_id || f->stream_id != im->stream_id) {
		im->stats.refused++;
		return NSI_RX_REFUSED;
	}
	int64_t p = nsi_image_rx_position(im, f->u.data.term_id, f->u.data.term_offset);
	/*
	 * Never more than a term past the slowest subscriber's position (at most rebuild): more
	 * than the window we advertise, since a sender following a faster receiver (multicast,
	 * fc=max) runs past a slower one's window; what the log can hold without writing where
	 * a subscriber may still read is a term (see the cleaning below).
	 */
	int64_t limit = (slowest < im->rebuild ? slowest : im->rebuild) + log->term_length;
	if (p < 0) {
		im->stats.out_of_window++;
		return NSI_RX_OUT_OF_WINDOW;
	}
	if (f->type == NSI_FRAME_DATA && f->u.data.heartbeat) {
		im->stats.heartbeats++;
		int64_t announced = p < limit ? p : limit;
		if (announced > im->hwm)
			im->hwm = announced;
		if ((f->flags & NSI_FLAG_END_OF_STREAM) != 0)
			im->eos = p;
		advance(im);
		return NSI_RX_HEARTBEAT;
	}
	int32_t aligned = nsi_frame_align(f->frame_length);
	if ((int64_t)f->u.data.term_offset + aligned > log->term_length) {
		im->stats.refused++;
		return NSI_RX_REFUSED;
	}
	int64_t end = p + aligned;
	if (end <= im->rebuild) {
		im->stats.duplicates++;
		return NSI_RX_DUPLICATE;
	}
	if (p < im->rebuild) { /* straddles what arrived: frames never do */
		im->stats.refused++;
		return NSI_RX_REFUSED;
	}
	if (end > limit) {
		im->stats.out_of_window++;
		return NSI_RX_OUT_OF_WINDOW;
	}
	/*
	 * Keep the partition after the one being written clean, as IPC publishers do: a reader
	 * that finishes this term finds zeros there, not what the partition held three terms
	 * ago. Safe: writing term k means the slowest reader is past the start of term k - 1
	 * (nothing is accepted a term or more past it), so nobody reads term k - 2 any more.
	 */
	int64_t term = (p >> log->shift) + 1;
	while (im->clean_term < term) {
		im->clean_term++;
		memset(log->terms[im->clean_term % NSI_LOG_PARTITIONS], 0,
		       (size_t)log->term_length);
	}
	uint8_t *dst = slot(im, p);
	if (frame_at(im, p) != 0) { /* a retransmit of what is already here */
		im->stats.duplicates++;
		return NSI_RX_DUPLICATE;
	}
	/*
	 * Filling a gap: a frame must not run over one that arrived after the gap (only a hostile
	 * or broken sender overlaps frames; writing it would overwrite that frame's header with
	 * payload, and the walk above would then follow a length from the payload).
	 */
	for (int64_t q = p + NSI_FRAME_ALIGN; q < end && q < im->hwm; q += NSI_FRAME_ALIGN) {
		if (frame_at(im, q) != 0) {
			im->stats.refused++;
			return NSI_RX_REFUSED;
		}
	}
	struct nsi_data_header h = {
		.frame_length = 0,
		.version = f->version,
		.flags = f->flags,
		.type = f->type,
		.term_offset = f->u.data.term_offset,
		.session_id = f->session_id,
		.stream_id = f->stream_id,
		.term_id = f->u.data.term_id,
		.reserved_value = f->u.data.reserved_value,
	};
	/* Everything but the length word, then the length with release: the commit. */
	memcpy(dst + 4, (const uint8_t *)&h + 4, sizeof(h) - 4);
	if (f->type == NSI_FRAME_DATA) {
		if (f->u.data.payload_length != 0)
			memcpy(dst + NSI_DATA_HEADER_LEN, f->u.data.payload,
			       f->u.data.payload_length);
		im->stats.frames++;
		im->stats.bytes += f->u.data.payload_length;
	} else {
		im->stats.pads++;
	}
	nsi_store_release_u32((uint32_t *)(void *)dst, (uint32_t)f->frame_length);
	if (end > im->hwm)
		im->hwm = end;
	/*
	 * In order (the usual case): the frame just written is the next one, its length ours,
	 * not read back from the file; only a frame that fills a gap makes the walk over what
	 * arrived beyond it.
	 */
	if (p == im->rebuild && end == im->hwm) {
		im->rebuild = end;
		note_end(im);
	} else {
		advance(im);
	}
	return NSI_RX_WRITTEN;
}

int
nsi_image_rx_gaps(const struct nsi_image_rx *im, struct nsi_gap *gaps, int max)
{
	const struct nsi_log *log = im->log;
	int n = 0;
	int64_t pos = im->rebuild;
	while (pos < im->hwm && n < max) {
		int32_t len = frame_at(im, pos);
		if (len > 0) {
			pos += len;
			continue;
		}
		if (len < 0)
			break; /* an impossible length: nothing past it can be asked for */
		/* A gap: up to the next frame that arrived, the term's end or hwm. */
		int64_t start = pos;
		int64_t term_end = ((pos >> log->shift) + 1) << log->shift;
		int64_t stop = im->hwm < term_end ? im->hwm : term_end;
		while (pos < stop && frame_at(im, pos) == 0)
			pos += NSI_FRAME_ALIGN;
		int64_t term = start >> log->shift;
		gaps[n].term_id = (int32_t)((uint32_t)log->initial_term_id + (uint32_t)term);
		gaps[n].term_offset = (int32_t)(start & (log->term_length - 1));
		gaps[n].length = (int32_t)(pos - start);
		n++;
	}
	return n;
}

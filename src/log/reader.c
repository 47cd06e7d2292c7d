/* SPDX-License-Identifier: MIT */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "log/reader.h"
#include "util/atomic.h"
#include "util/compiler.h"

int
nsi_log_reader_init(struct nsi_log_reader *rd, const struct nsi_log *log, int64_t position,
		    const ns_image *image)
{
	if (position < 0 || position % NSI_FRAME_ALIGN != 0 || log->max_message <= 0)
		return -EINVAL;
	uint8_t *buf = malloc((size_t)log->max_message);
	if (buf == NULL)
		return -ENOMEM;
	*rd = (struct nsi_log_reader){ .log = log,
				       .position = position,
				       .end = INT64_MAX,
				       .image = image,
				       .asm_cap = log->max_message,
				       .asm_buf = buf };
	return 0;
}

void
nsi_log_reader_free(struct nsi_log_reader *rd)
{
	free(rd->asm_buf);
	rd->asm_buf = NULL;
}

static void
fill_header(struct ns_header *h, const struct nsi_log_reader *rd, const struct nsi_data_header *d,
	    int64_t position)
{
	h->position = position;
	h->session_id = d->session_id;
	h->stream_id = d->stream_id;
	h->term_id = d->term_id;
	h->term_offset = d->term_offset;
	h->flags = NSI_FLAG_UNFRAGMENTED;
	h->reserved = 0;
	h->reserved_value = d->reserved_value;
	h->image = rd->image;
}

/*
 * A reader that stopped at its limit last time has frames waiting: it asks for the line
 * NSI_READ_AHEAD bytes on while it reads each frame, so the lines of a backlog travel
 * several at a time instead of one dependent miss per frame. A reader that caught up does
 * not (it would pull lines the publisher has yet to write into its own cache, and the
 * publisher would have to take them back). Measured in docs/performance.md ("IPC").
 */
#define NSI_READ_AHEAD 512

int
nsi_log_read(struct nsi_log_reader *rd, ns_fragment_fn fn, ns_controlled_handler_fn cfn, void *ctx,
	     int limit, bool *stop)
{
	const struct nsi_log *log = rd->log;
	int64_t position = rd->position, committed = position;
	int32_t term_count = (int32_t)(position >> log->shift);
	int32_t offset = (int32_t)(position & (log->term_length - 1));
	const uint8_t *term = log->terms[nsi_log_partition(term_count)];
	int64_t term_base = position - offset;
	int n = 0, frags = 0; /* fragments of the message being read */
	if (cfn != NULL)
		rd->assembling = false; /* controlled reads start at a message boundary */
	/* Frames of this term carry its id: a frame left from three terms ago is corrupt here. */
	int32_t term_id = (int32_t)((uint32_t)log->initial_term_id + (uint32_t)term_count);
	while (n < limit && offset < log->term_length && term_base + offset < rd->end) {
		struct nsi_data_header h; /* a copy: the term is shared memory, read once */
		if (rd->lagging && offset + NSI_READ_AHEAD < log->term_length)
			__builtin_prefetch(term + offset + NSI_READ_AHEAD);
		int32_t len = nsi_term_frame(term, log->term_length, offset, &h);
		if (len == 0)
			break;
		if (NS_UNLIKELY(len < 0 || (h.type != NSI_FRAME_DATA && h.type != NSI_FRAME_PAD) ||
				h.term_offset != offset || h.term_id != term_id)) {
			rd->corrupt = true;
			break;
		}
		int64_t after = term_base + offset + len;
		const uint8_t *payload = term + offset + NSI_DATA_HEADER_LEN;
		offset += len;
		if (h.type == NSI_FRAME_PAD) {
			if (!rd->assembling)
				committed = after;
			continue;
		}
		/* Poll counts fragments as read; controlled poll counts a message's when consumed. */
		if (cfn == NULL)
			n++;
		frags = rd->assembling ? frags + 1 : 1;
		int32_t plen = h.frame_length - NSI_DATA_HEADER_LEN;
		uint32_t flags = h.flags & NSI_FLAG_UNFRAGMENTED;
		if (flags != NSI_FLAG_UNFRAGMENTED) {
			if (flags == NSI_FLAG_BEGIN) {
				rd->assembling = true;
				rd->asm_len = 0;
			} else if (!rd->assembling) {
				continue; /* a tail whose beginning we never saw */
			}
			if (plen > rd->asm_cap - rd->asm_len) {
				rd->corrupt = true; /* longer than any message of this log */
				break;
			}
			memcpy(rd->asm_buf + rd->asm_len, payload, (size_t)plen);
			rd->asm_len += plen;
			if (!(flags & NSI_FLAG_END))
				continue;
			rd->assembling = false;
			payload = rd->asm_buf;
			plen = rd->asm_len;
		}
		struct ns_header hdr;
		fill_header(&hdr, rd, &h, after);
		if (fn != NULL) {
			fn(ctx, payload, (size_t)plen, &hdr);
			rd->messages++;
			continue;
		}
		int action = cfn(ctx, payload, (size_t)plen, &hdr);
		if (action == NS_CONTROLLED_ABORT) {
			*stop = true; /* not consumed: read again next time */
			break;
		}
		n += frags;
		committed = after;
		rd->messages++;
		if (action == NS_CONTROLLED_BREAK) {
			*stop = true;
			break;
		}
		if (action == NS_CONTROLLED_COMMIT && rd->position_out != NULL)
			nsi_store_release_i64(rd->position_out, committed);
	}
	int64_t next = cfn != NULL ? committed : term_base + offset;
	if (next != rd->position) {
		rd->position = next;
		/*
		 * Pairs with the publishers' acquire when they refresh their limit: they may reuse
		 * memory behind it. The messages delivered ride along, for the driver's totals.
		 */
		if (rd->messages_out != NULL)
			nsi_store_relaxed_i64(rd->messages_out, rd->messages);
		if (rd->position_out != NULL)
			nsi_store_release_i64(rd->position_out, next);
	}
	rd->lagging = n >= limit;
	return n;
}

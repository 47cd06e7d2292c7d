/* SPDX-License-Identifier: MIT */
#ifndef NSI_LOG_READER_H
#define NSI_LOG_READER_H

#include <stdbool.h>
#include <stdint.h>

#include <nanostream/ipc.h>

#include "log/log.h"

/*
 * A reader of one log from one position: the code every subscription image runs (and the only
 * one: the log tests read through it too). It walks committed frames of the term the position
 * is in, skips padding, reassembles fragmented messages into its own buffer (the log's longest
 * message, allocated by nsi_log_reader_init(), never on the read path) and hands whole
 * messages to a fragment handler (ns_subscription_poll()) or a controlled one (ns_subscription_controlled_poll(): the
 * position moves only at message boundaries, so an aborted or unfinished fragmented message is
 * read again whole).
 *
 * Every frame header is copied once from the shared term (nsi_term_frame()) and only the copy
 * is used; a frame that is impossible (length, type, term offset, or a term id that is not
 * the term's: a leftover of three terms ago) marks the reader corrupt and reading stops there.
 */
struct nsi_log_reader {
	const struct nsi_log *log;
	int64_t position;      /* the next frame to read */
	int64_t end;	       /* read nothing at or past it: INT64_MAX, or the end of stream */
	int64_t messages;      /* delivered (or consumed, by controlled reads) */
	int64_t *position_out; /* where the position is published (release), or NULL */
	int64_t *messages_out; /* where messages is published (with the position), or NULL */
	const ns_image *image; /* put into every ns_header handed out */
	bool corrupt;
	bool lagging; /* the last read stopped at its limit: frames were waiting */
	bool assembling;
	int32_t asm_len;
	int32_t asm_cap;
	uint8_t *asm_buf;
};

/*
 * Start reading @log at @position (aligned, not negative). Returns 0, -EINVAL or -ENOMEM (the
 * reassembly buffer: the log's max_message bytes).
 */
int nsi_log_reader_init(struct nsi_log_reader *rd, const struct nsi_log *log, int64_t position,
			const ns_image *image);
void nsi_log_reader_free(struct nsi_log_reader *rd);

/*
 * Read up to @limit fragments (exactly one of @fn, @cfn). Returns the fragments consumed;
 * *stop is set when a controlled handler said abort or break. Publishes a new position to
 * position_out (and messages to messages_out first), when set.
 */
int nsi_log_read(struct nsi_log_reader *rd, ns_fragment_fn fn, ns_controlled_handler_fn cfn,
		 void *ctx, int limit, bool *stop);

#endif /* NSI_LOG_READER_H */

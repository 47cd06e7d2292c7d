/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target (docs/testing.md I5): a log image from shared memory, hostile. The input's
 * first 4 KiB become the metadata page, the rest the first term (zero-padded, 64 KiB terms);
 * the log is attached (which checks the metadata), then read the way a subscription reads an
 * image, by plain and by controlled polls, from a start position the input picks. Every
 * fragment handed to a handler is read in full (ASan checks its bounds); an impossible frame
 * must mark the image corrupt, never reach a handler, never crash. Then the publisher's side:
 * appends, claims and cleaning over the same hostile metadata.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "client/client.h"

#define TERM (64 * 1024)

static uint64_t sink;

static void
on_fragment(void *ctx, const void *buf, size_t len, const struct ns_header *h)
{
	const uint8_t *b = buf;
	uint64_t x = 0;
	for (size_t i = 0; i < len; i++)
		x += b[i];
	*(uint64_t *)ctx += x + (uint64_t)h->position;
}

static enum ns_controlled_action
on_controlled(void *ctx, const void *buf, size_t len, const struct ns_header *h)
{
	on_fragment(ctx, buf, len, h);
	return (enum ns_controlled_action)(len % 4); /* abort, break, commit, continue, by turns */
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uint8_t *mem;
	size_t bytes = nsi_log_bytes(TERM);
	if (mem == NULL)
		mem = aligned_alloc(4096, bytes + 4096 - bytes % 4096);
	memset(mem, 0, bytes);
	/* Metadata page first in the input, at the end of the log in memory. */
	size_t meta = size < NSI_LOG_META_BYTES ? size : NSI_LOG_META_BYTES;
	memcpy(mem + bytes - NSI_LOG_META_BYTES, data, meta);
	if (size > meta) {
		size_t term = size - meta < (size_t)TERM ? size - meta : (size_t)TERM;
		memcpy(mem, data + meta, term);
	}
	struct nsi_log log;
	struct nsi_log_reader rd;
	if (nsi_log_attach(&log, mem, bytes) != 0)
		return 0;
	(void)nsi_log_tail_position(&log);
	if (nsi_log_reader_init(&rd, &log, 0, NULL) != 0)
		return 0;
	/* Start at a frame boundary in the first term the input's first bytes pick. */
	uint32_t start = 0;
	if (size >= 4)
		memcpy(&start, data, 4);
	rd.position = (int64_t)((start % TERM) & ~(uint32_t)31) * (start & 1u);
	bool controlled = size > 4 && (data[4] & 1);
	for (int round = 0; round < 64 && !rd.corrupt; round++) {
		int64_t before = rd.position;
		bool stop = false;
		int n = nsi_log_read(&rd, controlled ? NULL : on_fragment,
				     controlled ? on_controlled : NULL, &sink, 16, &stop);
		if (n <= 0 && rd.position == before)
			break;
	}
	(void)nsi_log_unblock(&log, rd.position, rd.position + 4096);
	/*
	 * The publisher's side of the same hostile metadata (issue 14.4, 14.15): appends and
	 * claims at whatever tails and term counts it holds, and cleaning from whatever clean
	 * position it holds up to a position the input picks. Every store must stay inside the
	 * log (ASan) and be aligned (UBSan); the metadata may say anything.
	 */
	uint8_t msg[300];
	memset(msg, 0x3c, sizeof(msg));
	for (int i = 0; i < 4; i++) {
		bool exclusive = size > 5 + (size_t)i && (data[5 + i] & 1);
		int32_t len = size > 9 + (size_t)i ? data[9 + i] : 40;
		int64_t r = nsi_log_append(&log, exclusive, msg, len);
		if (r == NSI_LOG_ROTATED)
			continue;
		struct nsi_log_claim c;
		if (nsi_log_claim(&log, exclusive, len % 64, &c) > 0) {
			memcpy(c.payload, msg, (size_t)(len % 64));
			if (len & 1)
				nsi_log_claim_commit(&c);
			else
				nsi_log_claim_abort(&c);
		}
	}
	int64_t to = 0;
	if (size >= 24)
		memcpy(&to, data + 16, 8);
	(void)nsi_log_clean_to(&log, to);
	(void)nsi_log_tail_position(&log);
	nsi_log_reader_free(&rd);
	return 0;
}

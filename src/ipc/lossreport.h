/* SPDX-License-Identifier: MIT */
#ifndef NSI_IPC_LOSSREPORT_H
#define NSI_IPC_LOSSREPORT_H

#include <stddef.h>
#include <stdint.h>

/*
 * The loss report (loss.dat in the driver's directory): one record per network stream a
 * receiver of this driver saw loss on (session, stream, channel, source): how many gaps, how
 * many bytes were missing when each gap was first seen, and when the first and the last
 * were seen. Only the driver writes it; ns-stat --loss reads it. A record is filled, then
 * the count is raised with release; later updates store each field on its own (a reader may
 * see one field of an update before another: it is a report, not a ledger).
 */

#define NSI_LOSS_FILE	 "loss.dat"
#define NSI_LOSS_MAGIC	 0x53534f4c534e4e4bULL /* "KNNSLOSS" */
#define NSI_LOSS_VERSION 1
#define NSI_LOSS_RECORDS 511
#define NSI_LOSS_TEXT	 40

struct nsi_loss_header {
	uint64_t magic;
	int32_t version;
	int32_t capacity; /* records that follow */
	int32_t count;	  /* records filled (stored with release) */
	char pad[44];
};

struct nsi_loss_record {
	int64_t observations; /* gaps seen */
	int64_t bytes;	      /* bytes missing when each was first seen */
	int64_t first_ms;     /* CLOCK_REALTIME, milliseconds */
	int64_t last_ms;
	int32_t session_id;
	int32_t stream_id;
	char channel[NSI_LOSS_TEXT]; /* "udp:HOST:PORT", NUL-terminated */
	char source[NSI_LOSS_TEXT];  /* the sender's address */
	int64_t reserved;
};

_Static_assert(sizeof(struct nsi_loss_header) == 64, "header: one line");
_Static_assert(sizeof(struct nsi_loss_record) == 128, "records: two lines each");

#define NSI_LOSS_BYTES                                                                             \
	(sizeof(struct nsi_loss_header) + NSI_LOSS_RECORDS * sizeof(struct nsi_loss_record))

/* Driver: lay out a zeroed mapping of NSI_LOSS_BYTES (the header last: magic, then count 0). */
void nsi_loss_init(void *mem);

/*
 * Driver: add @gaps gaps of @bytes in all to the stream's record (made if new; dropped when
 * the report is full). *@count is the writer's own count of records (0 after init), kept out
 * of the shared file so that nothing another process writes there can move it.
 */
void nsi_loss_add(void *mem, int32_t session_id, int32_t stream_id, const char *channel,
		  const char *source, int64_t gaps, int64_t bytes, int64_t now_ms, int32_t *count);

/*
 * Reader (any process): copy out up to @max records of the report at @mem (@len bytes, which
 * another process may have written anything into): every word read once and bounded, strings
 * cut at their field. Returns how many, or -EPROTO (not a loss report) / -EINVAL.
 */
int nsi_loss_read(const void *mem, size_t len, struct nsi_loss_record *out, int max);

#endif /* NSI_IPC_LOSSREPORT_H */

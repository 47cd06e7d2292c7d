/* SPDX-License-Identifier: MIT */
#ifndef NSI_IPC_MPSC_H
#define NSI_IPC_MPSC_H

#include <stddef.h>
#include <stdint.h>

/*
 * Command ring: many writers (clients, in any process) and one reader (the driver) over shared
 * memory, variable-length records.
 *
 * Layout: `capacity` bytes of records (a power of two), then a trailer of counters on their
 * own lines: tail (writers claim by compare-and-swap), head_cache (writers' stale copy of
 * head, to spare the reader's line), head (the reader's), correlation (a counter handing out
 * ids to clients), and the reader's heartbeat.
 *
 * A record is an 8-byte header (length including the header, type) and its payload, 8-byte
 * aligned. A writer claims space, stores the header with the length negated (so a record
 * being written reads as "not yet" and the reader can tell how far it reaches), writes the
 * payload, then commits: a compare-and-swap of the header to the positive length (release),
 * which fails if the reader gave up on the record meanwhile. A record that would not fit
 * before the end is preceded by a padding record to the end. The reader acquires the header,
 * handles the record, zeroes it, and moves head with release once per batch.
 *
 * A writer that dies (or stops) between claiming and committing would stall the reader for
 * ever. The reader notes when it first finds the record at its head not committed; once that
 * lasts stall_timeout_ns it skips the record and counts it: up to its negated length when
 * begun, else up to the next word anyone wrote (or the tail seen when the stall began: every
 * writer that claimed before then had the whole timeout to start). A writer stopped that long
 * and then resumed learns it from its failed commit (-ETIMEDOUT).
 *
 * Writers trust nothing they did not write; the reader keeps its own head and checks every
 * length and the tail: impossible contents are given up (the ring is zeroed from head to
 * tail, counted) rather than waited on.
 */

#define NSI_MPSC_HEADER	   8
#define NSI_MPSC_PAD_TYPE  (-1)
#define NSI_MPSC_TRAILER   640
#define NSI_MPSC_MIN_BYTES 1024

struct nsi_mpsc_trailer {
	int64_t tail;
	char pad0[120];
	int64_t head_cache;
	char pad1[120];
	int64_t head;
	char pad2[120];
	int64_t correlation;
	char pad3[120];
	int64_t heartbeat_ns;
	char pad4[120];
};

_Static_assert(sizeof(struct nsi_mpsc_trailer) == NSI_MPSC_TRAILER, "trailer layout");

struct nsi_mpsc {
	uint8_t *buf;
	struct nsi_mpsc_trailer *trailer;
	int64_t capacity;
	int64_t mask;
	int32_t max_msg; /* payload bytes: capacity / 8 - header */
	/* The reader's own state (the shared head is a copy for writers). */
	int64_t head;
	int64_t stall_head;	  /* where a record not committed was found, or -1 */
	int64_t stall_since_ns;	  /* when */
	int64_t stall_tail;	  /* the tail then */
	int64_t stall_timeout_ns; /* how long before such a record is skipped (default 1 s) */
	uint64_t skipped;	  /* records skipped after the timeout */
	uint64_t resyncs;	  /* impossible contents given up */
};

/*
 * View @bytes (records + trailer; zero-filled for a new ring) as a command ring. Returns 0 or
 * -EINVAL (capacity not a power of two >= 1024, memory not 128-byte aligned).
 */
int nsi_mpsc_init(struct nsi_mpsc *r, void *base, size_t bytes);

/*
 * Append one record (any thread, any process). Returns 0, -EAGAIN (full: the reader is
 * behind), -EMSGSIZE (longer than max_msg), -EINVAL (type < 0), -EBADMSG (the shared tail
 * holds what no writer leaves), or -ETIMEDOUT (this writer took longer than the reader's
 * stall timeout between claiming and committing, and the reader skipped the record).
 */
int nsi_mpsc_write(struct nsi_mpsc *r, int32_t type, const void *msg, int32_t length);

/*
 * The two halves of nsi_mpsc_write(), for tests that stop a writer in between: claim space
 * and store the header with the length negated (returns the record's index, or the errors of
 * nsi_mpsc_write()), then copy the payload and commit.
 */
int64_t nsi_mpsc_claim(struct nsi_mpsc *r, int32_t type, int32_t length);
int nsi_mpsc_commit(struct nsi_mpsc *r, int64_t index, int32_t type, const void *msg,
		    int32_t length);

typedef void (*nsi_mpsc_fn)(void *ctx, int32_t type, const uint8_t *msg, int32_t length);

/*
 * Reader (one thread): hand up to @limit records to @fn in order, then free their space.
 * @now_ns is the reader's clock, for the stall timeout. Returns the number handled, or
 * -EBADMSG when the ring held impossible contents (corrupt or forged memory: the records
 * before were handled; the ring was resynchronised at its tail). Skipped records are counted
 * in r->skipped, resynchronisations in r->resyncs.
 */
int nsi_mpsc_read(struct nsi_mpsc *r, nsi_mpsc_fn fn, void *ctx, int limit, int64_t now_ns);

/* A new id, unique among all users of this ring (fetch-add). */
int64_t nsi_mpsc_next_id(struct nsi_mpsc *r);

/* Bytes written and not yet read (a snapshot). */
int64_t nsi_mpsc_size(const struct nsi_mpsc *r);

#endif /* NSI_IPC_MPSC_H */

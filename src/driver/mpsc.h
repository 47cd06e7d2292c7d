/* SPDX-License-Identifier: MIT */
#ifndef NSI_DRIVER_MPSC_H
#define NSI_DRIVER_MPSC_H

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
 * aligned. A writer claims space, stores the length negated (so a record being written reads
 * as "not yet" and the driver can later tell a stalled writer), writes type and payload, then
 * stores the positive length with release: the commit. A record that would not fit before the
 * end is preceded by a padding record to the end. The reader acquires the length, handles
 * the record, zeroes it, and moves head with release once per batch.
 *
 * Writers trust nothing they did not write; the reader checks every length.
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
};

/*
 * View @bytes (records + trailer; zero-filled for a new ring) as a command ring. Returns 0 or
 * -EINVAL (capacity not a power of two >= 1024, memory not 128-byte aligned).
 */
int nsi_mpsc_init(struct nsi_mpsc *r, void *base, size_t bytes);

/*
 * Append one record (any thread, any process). Returns 0, -EAGAIN (full: the reader is
 * behind), -EMSGSIZE (longer than max_msg), or -EINVAL (type < 0).
 */
int nsi_mpsc_write(struct nsi_mpsc *r, int32_t type, const void *msg, int32_t length);

typedef void (*nsi_mpsc_fn)(void *ctx, int32_t type, const uint8_t *msg, int32_t length);

/*
 * Reader (one thread): hand up to @limit records to @fn in order, then free their space.
 * Returns the number handled, or -EBADMSG when the ring holds an impossible record (corrupt
 * memory; the records before it were handled and freed).
 */
int nsi_mpsc_read(struct nsi_mpsc *r, nsi_mpsc_fn fn, void *ctx, int limit);

/* A new id, unique among all users of this ring (fetch-add). */
int64_t nsi_mpsc_next_id(struct nsi_mpsc *r);

/* Bytes written and not yet read (a snapshot). */
int64_t nsi_mpsc_size(const struct nsi_mpsc *r);

#endif /* NSI_DRIVER_MPSC_H */

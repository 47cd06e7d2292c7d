/* SPDX-License-Identifier: MIT */
#ifndef NSI_IPC_BROADCAST_H
#define NSI_IPC_BROADCAST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * Broadcast buffer: one transmitter (the driver) and any number of receivers (clients, in
 * other processes) over shared memory. The transmitter never waits for receivers; a receiver
 * that falls more than a buffer behind is lapped, learns it (lapped_count), and skips to the
 * latest record.
 *
 * Layout: `capacity` bytes of records (a power of two), then a trailer of three counters on
 * their own lines: tail_intent (where the tail will be once the record being written is
 * complete), tail, and latest (the start of the last complete record). A record is an 8-byte
 * header (length including the header, type) and its payload, 8-byte aligned; a record that
 * would not fit before the end is preceded by a padding record to the end.
 *
 * The transmitter announces tail_intent (release) before it overwrites anything and moves
 * tail (release) after. A receiver copies a record out, then checks that tail_intent did not
 * pass the record's start + capacity meanwhile; if it did, the copy may be torn and is
 * dropped. Record bytes are read and written with relaxed atomic 8-byte accesses, so the race
 * that the check resolves is not undefined behaviour (and TSan sees none).
 */

#define NSI_BCAST_HEADER    8
#define NSI_BCAST_ALIGN	    8
#define NSI_BCAST_PAD_TYPE  (-1)
#define NSI_BCAST_TRAILER   384 /* three counters, 128 bytes apart */
#define NSI_BCAST_MIN_BYTES 1024

struct nsi_bcast_trailer {
	int64_t tail_intent;
	char pad0[120];
	int64_t tail;
	char pad1[120];
	int64_t latest;
	char pad2[120];
};

_Static_assert(sizeof(struct nsi_bcast_trailer) == NSI_BCAST_TRAILER, "trailer layout");

struct nsi_bcast {
	uint8_t *buf;
	struct nsi_bcast_trailer *trailer;
	int64_t capacity;
	int64_t mask;
	int32_t max_msg; /* payload bytes: capacity / 8 */
	int64_t tx_tail; /* the transmitter's own tail (the shared one is only a copy for others) */
};

/*
 * View @bytes of memory (records + trailer; zero-filled for a new buffer) as a broadcast
 * buffer. Returns 0, or -EINVAL (capacity not a power of two >= 1024, misaligned memory).
 */
int nsi_bcast_init(struct nsi_bcast *b, void *base, size_t bytes);

/*
 * Transmitter (one thread). Returns 0, or -EMSGSIZE / -EINVAL (type must be >= 0). It keeps
 * its own tail: a tail forged in the shared trailer is overwritten by the next record.
 */
int nsi_bcast_transmit(struct nsi_bcast *b, int32_t type, const void *msg, int32_t length);

struct nsi_bcast_receiver {
	const struct nsi_bcast *b;
	int64_t cursor;		/* start of the next record to read */
	uint64_t lapped_count;	/* times the transmitter overwrote records not yet read */
	uint64_t corrupt_count; /* times the buffer held what no transmitter writes */
};

/* A receiver starting at the latest record (new records only). */
void nsi_bcast_receiver_init(struct nsi_bcast_receiver *r, const struct nsi_bcast *b);

/*
 * Copy the next record into @out (up to @out_len bytes) and set *type and *length.
 * Returns 1 for a record, 0 when there is none, -EMSGSIZE when @out is too small (the record
 * is skipped), -EBADMSG when the buffer holds what no transmitter writes (an impossible
 * record or tail: corrupt or forged memory). Then the receiver resynchronises at the tail,
 * giving up the records in between, and counts it. A lapped receiver resumes at the latest
 * record and counts the lap. The cursor only moves forward, except to follow a tail that went
 * back; each call does a bounded amount of work, whatever the memory holds.
 */
int nsi_bcast_receive(struct nsi_bcast_receiver *r, int32_t *type, void *out, int32_t out_len,
		      int32_t *length);

#endif /* NSI_IPC_BROADCAST_H */

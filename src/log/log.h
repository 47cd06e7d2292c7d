/* SPDX-License-Identifier: MIT */
#ifndef NSI_LOG_LOG_H
#define NSI_LOG_LOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "log/frame.h"
#include "util/compiler.h"

/*
 * Log buffers: three terms of term_length bytes and a metadata page, in one region that a file
 * in the driver directory will back (shared between processes). One term is being written,
 * the one before it may still be read, the one after it is clean.
 *
 * Each partition has a 64-bit raw tail: term id in the high 32 bits, offset in the low 32.
 * Appending reserves space by fetch-add on the active partition's tail (concurrent appender)
 * or by a release store (exclusive appender: one writer). The writer whose reservation crosses
 * the term's end pads the rest of the term. Every writer that does not fit rotates: it sets the
 * next partition's tail to (term id + 1, offset 0) unless another did, then bumps the active
 * term count from the old value (both compare-and-swap, so rotating twice is harmless), and
 * returns NSI_LOG_ROTATED: the caller retries.
 *
 * A frame's first word (length, version, flags, type) is written first with the length
 * negated, then the rest of the header and the payload, then the first word again with the
 * length positive and release: the commit. Readers load the length with acquire and stop at
 * zero or a negative length. Fragments of one message are reserved together and each
 * committed in order.
 *
 * Position = (term id - initial term id) << log2(term_length) + offset: bytes since the start
 * of the stream.
 *
 * The memory is shared with other processes and is not trusted: nsi_log_attach() validates the
 * metadata, and the reader checks every frame length against the term before using it.
 */

#define NSI_LOG_PARTITIONS	3
#define NSI_LOG_TERM_MIN	(64 * 1024)
#define NSI_LOG_TERM_MAX	(1024 * 1024 * 1024)
#define NSI_LOG_META_BYTES	4096
#define NSI_LOG_MTU_MIN		64
#define NSI_LOG_MTU_MAX		65504 /* largest 32-byte multiple a UDP datagram carries */
#define NSI_LOG_MESSAGE_MAX	(16 * 1024 * 1024)
#define NSI_LOG_MAX_SUBSCRIBERS 64

/* Appender results besides a position (> 0) and negative errno values. */
#define NSI_LOG_ROTATED	     (-1000) /* the term filled up and rotated: retry */
#define NSI_LOG_MAX_POSITION (-1001) /* the stream reached its largest position */
#define NSI_LOG_CORRUPT	     (-1002) /* the tail holds what no writer leaves: damaged memory */

/* The metadata page (shared; layout fixed; little-endian). */
struct nsi_log_meta {
	int64_t tail[NSI_LOG_PARTITIONS]; /* raw tails: term id << 32 | offset */
	char pad0[128 - NSI_LOG_PARTITIONS * 8];
	int32_t active_term_count; /* terms completed since the start; partition = count % 3 */
	char pad1[128 - 4];
	/* Publishers' shared limit, read on their slow path only. */
	int64_t publisher_limit; /* publishers may not start a message at or past it */
	int64_t clean_position;	 /* positions below it were zeroed for reuse */
	int32_t limit_lock;	 /* 0, or the pid of the publisher refreshing the limit */
	int32_t window;		 /* bytes publishers may run ahead of the slowest subscriber */
	char pad2[128 - 24];
	/* Written by the driver: the position counters of the subscribers (-1: empty). */
	int32_t subscriber_counters[NSI_LOG_MAX_SUBSCRIBERS];
	int64_t end_of_stream_position;
	int32_t is_connected;
	int32_t initial_term_id;
	int32_t term_length;
	int32_t mtu;
	int32_t page_size;
	int32_t max_message; /* longest message offers take (fragments included) */
	struct nsi_data_header default_header;
	/*
	 * 0: publishers raise the limit and clean behind the slowest subscriber (IPC). 1: the
	 * driver does both, publishers only read the limit (network logs: a retransmit may
	 * still need what local readers are done with). Set at creation, read once at attach.
	 */
	int32_t driver_managed;
};

_Static_assert(sizeof(struct nsi_log_meta) <= NSI_LOG_META_BYTES, "metadata fits its page");

/* A process's view of a log buffer. */
struct nsi_log {
	uint8_t *terms[NSI_LOG_PARTITIONS];
	struct nsi_log_meta *meta;
	int32_t term_length;
	uint32_t shift; /* log2(term_length) */
	int32_t initial_term_id;
	int32_t max_payload; /* per frame: mtu - header */
	int32_t max_message;
	bool driver_managed; /* nsi_log_meta.driver_managed, read once */
	/* The default header's constant words, read once (the metadata is shared memory). */
	uint64_t hdr_session; /* session id << 32 */
	uint32_t hdr_stream;
};

struct nsi_log_params {
	int32_t term_length;
	int32_t mtu;
	int32_t initial_term_id;
	int32_t session_id;
	int32_t stream_id;
	int32_t page_size;   /* of the memory backing the log, for the record */
	int32_t window;	     /* 0: half a term; at most a term */
	int32_t max_message; /* 0: term length / 8 (at most 16 MiB); else 1 up to that */
	bool driver_managed; /* the driver moves the limit and cleans (nsi_log_meta) */
};

/*
 * The rules every log obeys, in one place (the URI parser, the driver, the client options and
 * nanostreamd all apply these): an MTU is a multiple of 32, at least 64 and at most
 * nsi_log_mtu_limit() (term-length / 8, and 65504); nsi_log_mtu_fit() is what a default MTU
 * becomes for a smaller term (an MTU asked for explicitly is refused instead).
 */
int32_t nsi_log_mtu_limit(int32_t term_length);
int32_t nsi_log_mtu_fit(int32_t term_length, int32_t mtu);

/* The longest message a log with this term length can take. */
int32_t nsi_log_max_message(int32_t term_length);

/* Bytes a log with this term length occupies, or 0 if the length is not valid. */
size_t nsi_log_bytes(int32_t term_length);
/* 0, or -EINVAL when the term length or MTU is out of range. */
int nsi_log_params_check(const struct nsi_log_params *p);
/*
 * Format zero-filled memory of nsi_log_bytes() bytes as a new log and fill @log.
 * Returns 0 or -EINVAL.
 */
int nsi_log_init(struct nsi_log *log, void *base, size_t bytes, const struct nsi_log_params *p);
/* Open a log another party formatted: validates its metadata. Returns 0 or -EINVAL. */
int nsi_log_attach(struct nsi_log *log, void *base, size_t bytes);

/*
 * Append one message of @length bytes (0 .. max_message), fragmented when it exceeds
 * max_payload. @exclusive: the caller is the only writer of this log. Returns the position
 * after the message, NSI_LOG_ROTATED (retry), NSI_LOG_MAX_POSITION, NSI_LOG_CORRUPT (the
 * tail is not aligned: nothing was written), or -EMSGSIZE.
 */
int64_t nsi_log_append(struct nsi_log *log, bool exclusive, const void *msg, int32_t length);

/* One gathered piece of a message (same shape as struct iovec). */
struct nsi_gather {
	const void *base;
	size_t len;
};

/* Append a message gathered from @n pieces of @length bytes in total (as nsi_log_append). */
int64_t nsi_log_appendv(struct nsi_log *log, bool exclusive, const struct nsi_gather *v, int n,
			int32_t length);

/* A frame reserved by nsi_log_claim(): the caller writes the payload, then commits or aborts. */
struct nsi_log_claim {
	struct nsi_data_header *hdr;
	uint8_t *payload;
	int32_t length;
};

/*
 * Reserve one unfragmented frame for @length bytes (0 .. max_payload). Returns the position
 * after it, NSI_LOG_ROTATED, NSI_LOG_MAX_POSITION or -EMSGSIZE; on success the frame must be
 * committed or aborted (the log stalls for readers until then).
 */
int64_t nsi_log_claim(struct nsi_log *log, bool exclusive, int32_t length, struct nsi_log_claim *c);
void nsi_log_claim_commit(struct nsi_log_claim *c);
/* Turn the reserved frame into padding: readers skip it. */
void nsi_log_claim_abort(struct nsi_log_claim *c);

/*
 * Look at the frame at @offset of @term: returns its aligned length (> 0) and a copy of its
 * header in *out when it is committed, 0 when nothing is committed there yet, -EBADMSG when
 * its length is impossible (corrupt memory), -EINVAL for a bad offset. Padding is returned
 * like data (check the type). Every header word is read from the term once; callers use only
 * the copy (the term is shared memory: a hostile writer may change it at any time).
 */
int32_t nsi_term_frame(const uint8_t *term, int32_t term_length, int32_t offset,
		       struct nsi_data_header *out);

/*
 * Pad over a frame reserved at @position and never committed (its publisher died between
 * reserving and committing), so readers carry on: up to its negated length when it was begun,
 * else up to the next frame begun or @tail_position. Returns the bytes padded, 0 when there
 * is nothing to pad (the frame is committed, or a late commit won), or -EBADMSG. Only after
 * a timeout: a live publisher's commit landing on the pad would be lost.
 */
int32_t nsi_log_unblock(struct nsi_log *log, int64_t position, int64_t tail_position);

/*
 * A publisher's new limit, given the slowest subscriber's position @slowest (clamped to the
 * log: 0 up to its tail). For a log publishers manage (IPC) it cleans behind @slowest and
 * raises the shared limit to @slowest plus the window (never lowers it). For a driver-managed
 * log (a network publication) it touches nothing: a retransmit may still need that data, and
 * the limit is the driver's; it returns the limit as the driver set it. Called by one
 * publisher at a time (the limit lock).
 */
int64_t nsi_log_publisher_limit(struct nsi_log *log, int64_t slowest);

/*
 * Zero the log's memory for positions from its clean position up to @position (which must be
 * at or behind every reader), so writers can reuse it three terms on. The clean position is
 * bounded first (at most 1.5 terms behind @position; nothing when it is ahead). Returns the
 * bytes zeroed.
 */
int64_t nsi_log_clean_to(struct nsi_log *log, int64_t position);

/* Active partition and term id, and positions. */
int32_t nsi_log_active_term_count(const struct nsi_log *log);

/*
 * A fresh log whose stream starts at @position (a receiver's image that joined a stream
 * late): its tail says @position, so subscribers linked to it start there. Before anyone
 * reads it.
 */
void nsi_log_start_at(struct nsi_log *log, int64_t position);
/* The position the next append would start at (a snapshot under concurrency). */
int64_t nsi_log_tail_position(const struct nsi_log *log);

NS_INLINE int
nsi_log_partition(int32_t term_count)
{
	return (int)((uint32_t)term_count % NSI_LOG_PARTITIONS);
}

#endif /* NSI_LOG_LOG_H */

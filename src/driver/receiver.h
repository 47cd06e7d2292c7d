/* SPDX-License-Identifier: MIT */
#ifndef NSI_DRIVER_RECEIVER_H
#define NSI_DRIVER_RECEIVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "driver/image_rx.h"
#include "net/udp.h"
#include "net/wire.h"

/*
 * The receiving half of the UDP transport for one endpoint: datagrams in, images kept, status
 * messages and NAKs out. No sockets and no files here: the owner (the driver) gives functions
 * to send a datagram, to make an image's log when a setup arrives for a stream someone
 * subscribes to, and to learn the slowest subscriber's position; so the whole protocol runs in
 * tests against the sender through a lossy link.
 *
 * Per image: a status message when the subscribers have moved a quarter of the window since
 * the last one, and at least every status interval (and at once after a setup); every gap
 * NAKed once it has stayed for the NAK delay, and again every NAK retry interval while it
 * stays; the image ends when its source has been silent for the liveness timeout, once
 * everything up to the end of stream arrived, or at a gap its sender can no longer fill: the
 * sender says so (an error frame from the image's source), or the gap holds the image up for
 * the liveness timeout; what lies beyond such a gap is never delivered. Malformed datagrams are dropped and counted,
 * each by exactly one; images per endpoint are capped.
 */

#define NSI_RECEIVER_IMAGES 64
#define NSI_RECEIVER_GAPS   32

enum nsi_image_end {
	NSI_IMAGE_LIVE = 0,
	NSI_IMAGE_EOS,	  /* the stream ended: everything up to its end arrived */
	NSI_IMAGE_SILENT, /* no frame from the source for the liveness timeout */
	NSI_IMAGE_LOST,	  /* a gap its sender can no longer fill (it said so, or it stayed) */
};

struct nsi_rimage {
	struct nsi_image_rx rx;
	struct nsi_udp_addr source;
	void *owner; /* the owner's handle of this image (its log file) */
	int64_t last_frame_ns;
	int64_t last_sm_ns;
	int64_t sm_position;  /* consumption position of the last status message */
	int64_t gap_since_ns; /* when the current gaps were first seen, -1 none */
	int64_t nak_due_ns;
	int64_t loss_seen_to; /* gaps reported to the loss report end before this */
	int64_t stuck_at;     /* the rebuild position a gap holds up, and since when */
	int64_t stuck_since_ns;
	bool sm_now;
	int ended; /* enum nsi_image_end */
};

struct nsi_receiver_ops {
	/* Send one datagram to @to: its length, 0 (full: dropped), or -errno. */
	int (*send)(void *ctx, const struct nsi_udp_addr *to, const uint8_t *buf, size_t len);
	/*
	 * A setup for a stream: make the image's log (zeroed, with the setup's parameters) and
	 * return it, with a handle in *owner; NULL when nobody subscribes to the stream.
	 */
	struct nsi_log *(*create)(void *ctx, const struct nsi_frame *setup,
				  const struct nsi_udp_addr *source, void **owner);
	/* The slowest subscriber's position in the image (its rebuild position if none). */
	int64_t (*slowest)(void *ctx, void *owner, int64_t rebuild);
	/* The image ended (enum nsi_image_end); the owner frees its log afterwards. */
	void (*ended)(void *ctx, void *owner, int reason);
	/* Optional: @gaps new gaps of @bytes in all, seen when they were first NAKed. */
	void (*loss)(void *ctx, void *owner, const struct nsi_udp_addr *source, int64_t gaps,
		     int64_t bytes);
};

struct nsi_receiver_params {
	int32_t window;	      /* receiver window, bytes (clamped to half a term per image) */
	int64_t status_ns;    /* status message at least this often */
	int64_t nak_delay_ns; /* a gap waits this long before its first NAK */
	/*
	 * Multicast: plus a random time below this (0: none). Each receiver of a group draws its
	 * own, and one whose gap a retransmit fills meanwhile (another's NAK asked for it) sends
	 * none: a datagram lost by all costs a handful of NAKs, not one per receiver.
	 */
	int64_t nak_spread_ns;
	int64_t nak_retry_ns; /* and is NAKed again this often while it stays */
	int64_t liveness_ns;  /* a source silent this long: its image ends */
	int64_t receiver_id;  /* ours, in every status message */
	int64_t group_tag;    /* with has_group_tag: in every status message (gtag=) */
	bool has_group_tag;
	bool unreliable; /* reliable=false: gaps are padded over after the NAK delay, never
				 NAKed (and reported as loss) */
};

struct nsi_receiver {
	struct nsi_receiver_ops ops;
	void *ctx;
	struct nsi_receiver_params p;
	struct nsi_rimage images[NSI_RECEIVER_IMAGES];
	int nimages;
	struct {
		uint64_t datagrams, invalid, frames, setups, status_messages, naks, gaps_naked,
			images_refused, unknown_image, images_ended, images_lost, errors,
			gaps_padded, setups_asked, bytes, overruns, underruns;
	} stats; /* overruns, underruns: of images already ended (live ones keep their own) */
	int64_t last_setup_ask_ns; /* the last status message asking for a setup */
	uint64_t rng;		   /* the NAK spread's (seeded from the receiver id) */
	int last_invalid;	   /* enum nsi_wire_error of the last invalid datagram */
	uint8_t scratch[64];
};

void nsi_receiver_init(struct nsi_receiver *r, const struct nsi_receiver_ops *ops, void *ctx,
		       const struct nsi_receiver_params *p);

/* One datagram from @from. */
void nsi_receiver_on_datagram(struct nsi_receiver *r, const uint8_t *buf, size_t len,
			      const struct nsi_udp_addr *from, int64_t now_ns);

/* Status messages, NAKs, liveness. Returns the datagrams sent, or -errno. */
int nsi_receiver_do_work(struct nsi_receiver *r, int64_t now_ns);

/*
 * When the receiver next has something to do by itself (a status message, a NAK, an image's
 * liveness), on the clock of @now_ns. *@watching becomes true when an image holds data its
 * subscribers have not all acknowledged yet: their progress (shared memory, no wake-up) is
 * then worth looking at soon, for the status message a quarter window brings.
 */
int64_t nsi_receiver_next_due(const struct nsi_receiver *r, int64_t now_ns, bool *watching);

#endif /* NSI_DRIVER_RECEIVER_H */

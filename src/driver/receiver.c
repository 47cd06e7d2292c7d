/* SPDX-License-Identifier: MIT */
#include "config.h"

#include <errno.h>
#include <netinet/in.h>
#include <string.h>

#include "driver/receiver.h"

void
nsi_receiver_init(struct nsi_receiver *r, const struct nsi_receiver_ops *ops, void *ctx,
		  const struct nsi_receiver_params *p)
{
	memset(r, 0, sizeof(*r));
	r->ops = *ops;
	r->ctx = ctx;
	r->p = *p;
	r->rng = (uint64_t)p->receiver_id * 0x9e3779b97f4a7c15u | 1;
}

/* A random delay below the spread (xorshift; 0 without a spread). */
static int64_t
spread(struct nsi_receiver *r)
{
	if (r->p.nak_spread_ns <= 0)
		return 0;
	r->rng ^= r->rng << 13;
	r->rng ^= r->rng >> 7;
	r->rng ^= r->rng << 17;
	return (int64_t)(r->rng % (uint64_t)r->p.nak_spread_ns);
}

static struct nsi_rimage *
find(struct nsi_receiver *r, const struct nsi_frame *f, const struct nsi_udp_addr *from)
{
	for (int i = 0; i < r->nimages; i++) {
		struct nsi_rimage *im = &r->images[i];
		if (im->rx.session_id == f->session_id && im->rx.stream_id == f->stream_id &&
		    nsi_udp_addr_equal(&im->source, from))
			return im;
	}
	return NULL;
}

/*
 * The slowest subscriber's position, from counters subscribers write (shared memory): read
 * once, then bounded to what the image holds, 0 up to its rebuild position.
 */
static int64_t
slowest_of(struct nsi_receiver *r, const struct nsi_rimage *im)
{
	int64_t v = r->ops.slowest(r->ctx, im->owner, im->rx.rebuild);
	return v < 0 ? 0 : v > im->rx.rebuild ? im->rx.rebuild : v;
}

/* @window: the image's own (the endpoint's, clamped to half its term): what it accepts. */
static int
send_sm(struct nsi_receiver *r, const struct nsi_udp_addr *to, int32_t session, int32_t stream,
	int32_t term_id, int32_t term_offset, int32_t window, uint8_t flags)
{
	struct nsi_frame sm = { .flags = flags, .session_id = session, .stream_id = stream };
	sm.u.sm.term_id = term_id;
	sm.u.sm.term_offset = term_offset;
	sm.u.sm.window = window;
	sm.u.sm.receiver_id = r->p.receiver_id;
	sm.u.sm.has_group_tag = r->p.has_group_tag;
	sm.u.sm.group_tag = r->p.group_tag;
	size_t n = nsi_wire_put_sm(r->scratch, sizeof(r->scratch), &sm);
	int rc = r->ops.send(r->ctx, to, r->scratch, n);
	if (rc > 0)
		r->stats.status_messages++;
	return rc;
}

/*
 * Data of a stream this receiver has no image of (it restarted, or joined late): ask the
 * sender for a setup at once (a status message with the setup flag and no window, which
 * moves no limit) instead of leaving it to find out in its receiver timeout. At most one per
 * status interval for the whole endpoint: data from strangers cannot make it send more.
 */
static void
ask_for_setup(struct nsi_receiver *r, const struct nsi_frame *f, const struct nsi_udp_addr *from,
	      int64_t now_ns)
{
	if (r->stats.setups_asked > 0 && now_ns - r->last_setup_ask_ns < r->p.status_ns)
		return;
	r->last_setup_ask_ns = now_ns;
	if (send_sm(r, from, f->session_id, f->stream_id, f->u.data.term_id, f->u.data.term_offset,
		    0, NSI_SM_F_SEND_SETUP) > 0)
		r->stats.setups_asked++;
}

static void
on_setup(struct nsi_receiver *r, const struct nsi_frame *f, const struct nsi_udp_addr *from,
	 int64_t now_ns)
{
	r->stats.setups++;
	struct nsi_rimage *im = find(r, f, from);
	if (im != NULL) { /* the sender asks again: it has not heard us */
		im->sm_now = true;
		im->last_frame_ns = now_ns;
		return;
	}
	if (r->nimages == NSI_RECEIVER_IMAGES) {
		r->stats.images_refused++;
		return;
	}
	void *owner = NULL;
	struct nsi_log *log = r->ops.create(r->ctx, f, from, &owner);
	if (log == NULL)
		return; /* nobody subscribes to this stream */
	im = &r->images[r->nimages];
	memset(im, 0, sizeof(*im));
	if (nsi_image_rx_init(&im->rx, log, f->session_id, f->stream_id, f->u.setup.active_term_id,
			      f->u.setup.term_offset, r->p.window) != 0) {
		r->ops.ended(r->ctx, owner, NSI_IMAGE_SILENT);
		r->stats.images_refused++;
		return;
	}
	im->source = *from;
	im->owner = owner;
	im->last_frame_ns = now_ns;
	im->sm_position = im->rx.rebuild;
	im->gap_since_ns = -1;
	im->stuck_at = im->rx.rebuild;
	im->stuck_since_ns = now_ns;
	im->loss_seen_to = im->rx.rebuild;
	im->sm_now = true;
	r->nimages++;
}

void
nsi_receiver_on_datagram(struct nsi_receiver *r, const uint8_t *buf, size_t len,
			 const struct nsi_udp_addr *from, int64_t now_ns)
{
	r->stats.datagrams++;
	r->stats.bytes += len;
	/* The whole datagram is checked before any of it is used: a bad one changes nothing. */
	size_t off = 0;
	struct nsi_frame f;
	int rc;
	while ((rc = nsi_wire_next(buf, len, &off, &f)) == 1)
		;
	if (rc < 0 || len == 0) {
		r->stats.invalid++;
		r->last_invalid = rc < 0 ? -rc : NSI_WIRE_SHORT;
		return;
	}
	off = 0;
	/*
	 * A datagram is usually a run of frames of one stream: its image and its slowest
	 * subscriber are looked up once for the run (the slowest only moves forward, so a value
	 * read a few frames ago keeps the window at most a little narrower than it is).
	 */
	struct nsi_rimage *run = NULL;
	int64_t run_slowest = 0;
	while (nsi_wire_next(buf, len, &off, &f) == 1) {
		switch (f.type) {
		case NSI_FRAME_SETUP:
			on_setup(r, &f, from, now_ns);
			run = NULL;
			break;
		case NSI_FRAME_DATA:
		case NSI_FRAME_PAD: {
			struct nsi_rimage *im = run;
			if (im == NULL || im->rx.session_id != f.session_id ||
			    im->rx.stream_id != f.stream_id) {
				im = find(r, &f, from);
				if (im == NULL) {
					r->stats.unknown_image++;
					ask_for_setup(r, &f, from, now_ns);
					break;
				}
				run = im;
				run_slowest = slowest_of(r, im);
			}
			r->stats.frames++;
			im->last_frame_ns = now_ns;
			(void)nsi_image_rx_insert(&im->rx, &f, run_slowest);
			break;
		}
		case NSI_FRAME_ERROR: {
			/* Only from the image's own source: a stranger cannot end it. */
			struct nsi_rimage *im = find(r, &f, from);
			r->stats.errors++;
			/*
			 * "No longer held" carries the position from which the sender holds data
			 * (in the group tag's field): on a group every receiver hears it, and only
			 * one still missing data before that position has lost any.
			 */
			bool ours = f.u.err.code != NSI_ERR_CODE_NOT_HELD ||
				    (im != NULL && im->rx.rebuild < f.u.err.group_tag);
			if (im != NULL && im->ended == NSI_IMAGE_LIVE && ours)
				im->ended = NSI_IMAGE_LOST;
			break;
		}
		default:
			break; /* control frames for a sender: not this endpoint's */
		}
	}
}

static int
serve(struct nsi_receiver *r, struct nsi_rimage *im, int64_t now_ns)
{
	int sent = 0;
	if (im->ended != NSI_IMAGE_LIVE)
		return 0;
	const struct nsi_log *log = im->rx.log;
	int64_t pos = slowest_of(r, im);
	bool at_end = im->rx.eos >= 0 && im->rx.rebuild >= im->rx.eos;
	/* At the end, a last one with the end-of-stream flag, so the sender knows. */
	if (at_end || im->sm_now || pos - im->sm_position >= im->rx.window / 4 ||
	    now_ns - im->last_sm_ns >= r->p.status_ns) {
		int32_t term_id =
			(int32_t)((uint32_t)log->initial_term_id + (uint32_t)(pos >> log->shift));
		int rc = send_sm(r, &im->source, im->rx.session_id, im->rx.stream_id, term_id,
				 (int32_t)(pos & (log->term_length - 1)), im->rx.window,
				 at_end ? NSI_SM_F_EOS : 0);
		if (rc < 0)
			return rc;
		if (rc > 0) {
			sent++;
			im->sm_position = pos;
			im->last_sm_ns = now_ns;
			im->sm_now = false;
		}
	}
	struct nsi_gap g[NSI_RECEIVER_GAPS];
	int n = nsi_image_rx_gaps(&im->rx, g, NSI_RECEIVER_GAPS);
	if (n == 0) {
		im->gap_since_ns = -1;
	} else if (im->gap_since_ns < 0) {
		im->gap_since_ns = now_ns;
		im->nak_due_ns = now_ns + r->p.nak_delay_ns + spread(r);
	}
	/*
	 * A gap that holds the image up (rebuild does not move) for the liveness timeout, while
	 * the source is alive, will not be filled: an explicit end, never a silent stall.
	 */
	if (n == 0 || im->rx.rebuild != im->stuck_at) {
		im->stuck_at = im->rx.rebuild;
		im->stuck_since_ns = now_ns;
	} else if (now_ns - im->stuck_since_ns > r->p.liveness_ns) {
		im->ended = NSI_IMAGE_LOST;
		return sent;
	}
	if (n > 0 && now_ns >= im->nak_due_ns) {
		/* Gaps not NAKed before, for the loss report: each counted once. */
		int64_t new_gaps = 0, new_bytes = 0;
		for (int i = 0; i < n; i++) {
			int64_t at = nsi_image_rx_position(&im->rx, g[i].term_id, g[i].term_offset);
			if (at >= im->loss_seen_to) {
				new_gaps++;
				new_bytes += g[i].length;
				im->loss_seen_to = at + g[i].length;
			}
		}
		if (new_gaps > 0 && r->ops.loss != NULL)
			r->ops.loss(r->ctx, im->owner, &im->source, new_gaps, new_bytes);
		if (r->p.unreliable) {
			/* Padding over each gap: subscribers skip it, nothing waits for it. */
			for (int i = 0; i < n; i++) {
				struct nsi_frame pad = { .type = NSI_FRAME_PAD,
							 .flags = NSI_FLAG_UNFRAGMENTED,
							 .frame_length = g[i].length,
							 .session_id = im->rx.session_id,
							 .stream_id = im->rx.stream_id };
				pad.u.data.term_id = g[i].term_id;
				pad.u.data.term_offset = g[i].term_offset;
				(void)nsi_image_rx_insert(&im->rx, &pad, slowest_of(r, im));
				r->stats.gaps_padded++;
			}
			im->gap_since_ns = -1;
			n = 0;
		}
		/* Every gap found, not only the first. */
		for (int i = 0; i < n; i++) {
			struct nsi_frame nak = { .session_id = im->rx.session_id,
						 .stream_id = im->rx.stream_id };
			nak.u.nak.term_id = g[i].term_id;
			nak.u.nak.term_offset = g[i].term_offset;
			nak.u.nak.length = g[i].length;
			size_t len = nsi_wire_put_nak(r->scratch, sizeof(r->scratch), &nak);
			int rc = r->ops.send(r->ctx, &im->source, r->scratch, len);
			if (rc < 0)
				return rc;
			sent += rc > 0;
			r->stats.naks++;
		}
		r->stats.gaps_naked += (uint64_t)n;
		im->nak_due_ns = now_ns + r->p.nak_retry_ns + spread(r);
	}
	if (at_end)
		im->ended = NSI_IMAGE_EOS;
	else if (now_ns - im->last_frame_ns > r->p.liveness_ns)
		im->ended = NSI_IMAGE_SILENT;
	return sent;
}

int
nsi_receiver_do_work(struct nsi_receiver *r, int64_t now_ns)
{
	int sent = 0;
	for (int i = 0; i < r->nimages;) {
		struct nsi_rimage *im = &r->images[i];
		int rc = serve(r, im, now_ns);
		if (rc < 0)
			return rc;
		sent += rc;
		if (im->ended != NSI_IMAGE_LIVE) {
			r->ops.ended(r->ctx, im->owner, im->ended);
			r->stats.images_ended++;
			r->stats.images_lost += im->ended == NSI_IMAGE_LOST;
			r->stats.overruns += im->rx.stats.out_of_window;
			r->stats.underruns += im->rx.stats.duplicates;
			r->images[i] = r->images[--r->nimages];
			continue;
		}
		i++;
	}
	return sent;
}

int64_t
nsi_receiver_next_due(const struct nsi_receiver *r, int64_t now_ns, bool *watching)
{
	int64_t due = INT64_MAX;
	for (int i = 0; i < r->nimages; i++) {
		const struct nsi_rimage *im = &r->images[i];
		int64_t t = im->last_sm_ns + r->p.status_ns;
		if (im->sm_now)
			t = now_ns;
		if (im->gap_since_ns >= 0 && im->nak_due_ns < t)
			t = im->nak_due_ns;
		if (im->last_frame_ns + r->p.liveness_ns + 1 < t)
			t = im->last_frame_ns + r->p.liveness_ns + 1;
		if (t < due)
			due = t;
		if (im->rx.rebuild - im->sm_position >= im->rx.window / 4)
			*watching = true;
	}
	return due;
}

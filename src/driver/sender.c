/* SPDX-License-Identifier: MIT */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "driver/sender.h"
#include "log/frame.h"
#include "util/atomic.h"

static int64_t
term_of(const struct nsi_sender *s, int64_t position)
{
	return position >> s->log->shift;
}

static int32_t
offset_of(const struct nsi_sender *s, int64_t position)
{
	return (int32_t)(position & (s->log->term_length - 1));
}

static int32_t
term_id_of(const struct nsi_sender *s, int64_t position)
{
	return (int32_t)((uint32_t)s->log->initial_term_id + (uint32_t)term_of(s, position));
}

static const uint8_t *
term_at(const struct nsi_sender *s, int64_t position)
{
	return s->log->terms[nsi_log_partition((int32_t)term_of(s, position))];
}

/* The oldest position a retransmit may still read: the start of the previous term. */
static int64_t
held_from(const struct nsi_sender *s)
{
	int64_t t = term_of(s, s->position);
	return t > 0 ? (t - 1) << s->log->shift : 0;
}

/*
 * The driver manages a network log (publishers never clean it): a retransmit may read from
 * the start of the term before the sender's, so everything older is zeroed (clean_position:
 * positions below it are zeroed), and publishers may run half a term past the sender. When
 * the sender enters term k, term k - 2 is zeroed; publishers reach term k + 1, whose
 * partition that was, only once the sender is half way through term k. No partition is
 * zeroed while someone may still read or write it.
 */
static void
publisher_window(struct nsi_sender *s)
{
	struct nsi_log *log = s->log;
	int64_t k = term_of(s, s->position);
	int64_t want = k >= 1 ? (k - 1) << log->shift : 0;
	/*
	 * Our own count, never read back from the shared metadata (a publisher could write any
	 * value there): the metadata only gets a copy, for the record.
	 */
	while (s->clean < want) {
		memset(log->terms[nsi_log_partition((int32_t)(s->clean >> log->shift))], 0,
		       (size_t)log->term_length);
		s->clean += log->term_length;
	}
	nsi_store_release_i64(&log->meta->clean_position, s->clean);
	nsi_store_release_i64(&log->meta->publisher_limit, s->position + log->term_length / 2);
}

int
nsi_sender_init(struct nsi_sender *s, struct nsi_log *log, nsi_send_fn send, void *ctx,
		const struct nsi_sender_params *p, int64_t now_ns)
{
	memset(s, 0, sizeof(*s));
	if (log == NULL || send == NULL || p == NULL || p->heartbeat_ns <= 0)
		return -EINVAL;
	s->log = log;
	s->session_id = (int32_t)(log->hdr_session >> 32);
	s->stream_id = (int32_t)log->hdr_stream;
	s->mtu = log->max_payload + NSI_DATA_HEADER_LEN;
	s->p = *p;
	s->send = send;
	s->ctx = ctx;
	s->position = nsi_log_tail_position(log);
	s->limit = s->position; /* nothing until a receiver says how much it takes */
	struct nsi_fc_params fp = p->fc;
	if (fp.kind == 0) {
		fp.kind = NSI_FC_MAX;
		fp.timeout_ns = p->receiver_timeout_ns;
	}
	if (nsi_fc_init(&s->fc, &fp, s->position) != 0)
		return -EINVAL;
	s->last_send_ns = now_ns;
	s->setup_due_ns = now_ns;
	s->want_setup = true;
	s->end_position = -1;
	/* Never zero the partitions of the sender's term and the two around it. */
	int64_t k = term_of(s, s->position);
	s->clean = k >= 2 ? (k - 2) << log->shift : 0;
	publisher_window(s);
	return 0;
}

static int
emit(struct nsi_sender *s, const uint8_t *buf, size_t len)
{
	int rc = s->send(s->ctx, buf, len);
	if (rc > 0 && (size_t)rc != len)
		s->stats.short_sends++;
	return rc;
}

/*
 * The next datagram from @from: committed frames of one term up to the MTU; a padding frame
 * ends it (its header alone travels). Frames must end at or before @limit (flow control), or
 * with @overlap only start before it (a retransmit sends whole frames that a NAKed range
 * touches). Sets *advance to the log bytes it covers. Returns its length (0: nothing to send).
 */
static size_t
pack(const struct nsi_sender *s, int64_t from, int64_t limit, bool overlap, int64_t *advance)
{
	const uint8_t *term = term_at(s, from);
	int32_t start = offset_of(s, from), tl = s->log->term_length;
	size_t len = 0;
	int64_t covered = 0;
	while (start + covered < tl) {
		struct nsi_data_header h;
		int32_t at = start + (int32_t)covered;
		int32_t n = nsi_term_frame(term, tl, at, &h);
		if (n <= 0)
			break; /* not committed yet (or corrupt: the publication is stuck there) */
		/*
		 * A real frame says where it is; bytes inside a payload (a NAK at an offset that
		 * is not a frame's start) do not, and are never sent as if they were a frame.
		 */
		if (h.term_offset != at || h.term_id != term_id_of(s, from) ||
		    h.session_id != s->session_id || h.stream_id != s->stream_id)
			break;
		bool beyond = overlap ? from + covered >= limit : from + covered + n > limit;
		if (h.type == NSI_FRAME_PAD) {
			if (len + NSI_DATA_HEADER_LEN > (size_t)s->mtu || beyond)
				break;
			len += NSI_DATA_HEADER_LEN;
			covered += n;
			break;
		}
		if (len + (size_t)n > (size_t)s->mtu || beyond)
			break;
		len += (size_t)n;
		covered += n;
	}
	*advance = covered;
	return len;
}

static int
send_control(struct nsi_sender *s, size_t len)
{
	return len == 0 ? -EINVAL : emit(s, s->scratch, len);
}

static int
send_setup(struct nsi_sender *s, int64_t now_ns)
{
	struct nsi_frame f = { .session_id = s->session_id, .stream_id = s->stream_id };
	f.u.setup.term_offset = offset_of(s, s->position);
	f.u.setup.initial_term_id = s->log->initial_term_id;
	f.u.setup.active_term_id = term_id_of(s, s->position);
	f.u.setup.term_length = s->log->term_length;
	f.u.setup.mtu = s->mtu;
	int rc = send_control(s, nsi_wire_put_setup(s->scratch, sizeof(s->scratch), &f));
	if (rc > 0) {
		s->stats.setups++;
		s->setup_due_ns = now_ns + s->p.heartbeat_ns;
	}
	return rc;
}

static int
send_heartbeat(struct nsi_sender *s, int64_t now_ns)
{
	struct nsi_frame f = { .flags = NSI_FLAG_UNFRAGMENTED,
			       .session_id = s->session_id,
			       .stream_id = s->stream_id };
	bool eos = s->end_position >= 0 && s->position >= s->end_position;
	if (eos)
		f.flags |= NSI_FLAG_END_OF_STREAM;
	f.u.data.term_offset = offset_of(s, s->position);
	f.u.data.term_id = term_id_of(s, s->position);
	int rc = send_control(s, nsi_wire_put_heartbeat(s->scratch, sizeof(s->scratch), &f));
	if (rc > 0) {
		s->stats.heartbeats++;
		s->eos_heartbeats += eos;
		s->last_send_ns = now_ns;
	}
	return rc;
}

/* Serve one NAKed range from the log, in datagrams. Returns datagrams sent or -errno. */
static int
resend(struct nsi_sender *s, struct nsi_resend *r, bool *done)
{
	int sent = 0;
	int64_t at = r->position, end = r->position + r->length;
	*done = false;
	while (at < end) {
		int64_t advance;
		size_t len = pack(s, at, end, true, &advance);
		if (len == 0)
			break;
		int rc = emit(s, term_at(s, at) + offset_of(s, at), len);
		if (rc < 0)
			return rc;
		if (rc == 0) {
			/*
			 * The socket is full (new data filled it): what is left of the range
			 * stays due, ahead of new data, instead of counting as served and
			 * ignoring the receiver's next NAKs for a linger.
			 */
			r->position = at;
			r->length = (int32_t)(end - at);
			return sent;
		}
		sent++;
		s->stats.retransmits++;
		s->stats.retransmit_bytes += len;
		at += advance;
	}
	*done = true;
	return sent;
}

int
nsi_sender_do_work(struct nsi_sender *s, int64_t now_ns)
{
	int work = 0;
	if (s->fc.n > 0 && nsi_fc_expire(&s->fc, now_ns) > 0) {
		s->limit = s->fc.limit;
		if (s->connected && !nsi_fc_connected(&s->fc)) {
			s->connected = false; /* the receivers went quiet: ask again */
			s->want_setup = true;
			s->setup_due_ns = now_ns;
		}
	}
	if (s->want_setup && now_ns >= s->setup_due_ns) {
		int rc = send_setup(s, now_ns);
		if (rc < 0)
			return rc;
		work += rc > 0;
	}
	bool resends_waiting = false;
	for (int i = 0; i < NSI_SENDER_RESENDS; i++) {
		struct nsi_resend *r = &s->resend[i];
		if (!r->used)
			continue;
		if (r->due_ns != 0 && now_ns >= r->due_ns) {
			bool done;
			int rc = resend(s, r, &done);
			if (rc < 0)
				return rc;
			work += rc;
			if (!done) {
				resends_waiting = true;
				continue;
			}
			r->due_ns = 0;
			r->until_ns = now_ns + s->p.linger_ns;
		} else if (r->due_ns == 0 && now_ns >= r->until_ns) {
			r->used = false;
		}
	}
	/* Retransmits first: no new data while one waits for room in the socket. */
	int64_t limit = resends_waiting ? s->position : s->limit, sent_from = s->position;
	if (s->end_position >= 0 && s->end_position < limit)
		limit = s->end_position;
	while (s->position < limit) {
		int64_t advance;
		size_t len = pack(s, s->position, limit, false, &advance);
		if (len == 0)
			break;
		const uint8_t *at = term_at(s, s->position) + offset_of(s, s->position);
		/*
		 * The datagrams after it, when they follow it in the term (no padding skipped) and
		 * are as long (the last may be shorter), go in the same call.
		 */
		size_t count = len;
		int segs = 1;
		int64_t next = s->position + advance;
		while (s->send_segments != NULL && advance == (int64_t)len &&
		       segs < NSI_SENDER_BATCH && count + len <= NSI_SENDER_BATCH_MAX &&
		       next < limit && offset_of(s, next) != 0) {
			int64_t adv;
			size_t l = pack(s, next, limit, false, &adv);
			if (l == 0 || adv != (int64_t)l || l > len)
				break;
			count += l;
			segs++;
			next += adv;
			if (l < len)
				break;
		}
		int rc = segs == 1 ? emit(s, at, len) : s->send_segments(s->ctx, at, count, len);
		if (rc < 0)
			return rc;
		if (rc == 0)
			break; /* the socket is full: next cycle */
		if (segs == 1) {
			s->stats.datagrams++;
			s->stats.bytes += len;
			s->position += advance;
		} else {
			/* Whole datagrams: what the kernel took, all of them or a first part. */
			s->stats.datagrams += ((size_t)rc + len - 1) / len;
			s->stats.bytes += (uint64_t)rc;
			s->position += rc;
		}
		s->last_send_ns = now_ns;
		work++;
		if (segs > 1 && (size_t)rc < count)
			break;
	}
	if (s->position != sent_from)
		publisher_window(s); /* once per cycle, not per datagram */
	/* Idle: a heartbeat when due, and the first one that says the stream ended at once. */
	bool ended = s->end_position >= 0 && s->position >= s->end_position;
	if (work == 0 &&
	    (now_ns - s->last_send_ns >= s->p.heartbeat_ns || (ended && s->eos_heartbeats == 0))) {
		int rc = send_heartbeat(s, now_ns);
		if (rc < 0)
			return rc;
		work += rc > 0;
	}
	return work;
}

static int64_t
earlier(int64_t a, int64_t b)
{
	return a < b ? a : b;
}

int64_t
nsi_sender_next_due(const struct nsi_sender *s, bool *watching)
{
	int64_t due = s->last_send_ns + s->p.heartbeat_ns;
	if (s->want_setup)
		due = earlier(due, s->setup_due_ns);
	due = earlier(due, nsi_fc_next_due(&s->fc));
	for (int i = 0; i < NSI_SENDER_RESENDS; i++)
		if (s->resend[i].used)
			due = earlier(due, s->resend[i].due_ns != 0 ? s->resend[i].due_ns
								    : s->resend[i].until_ns);
	int64_t limit = s->limit;
	if (s->end_position >= 0 && s->end_position < limit)
		limit = s->end_position;
	/* Data it could not send: the socket was full, or a claimed frame is not committed. */
	if (s->position < limit && s->position < nsi_log_tail_position(s->log))
		*watching = true;
	return due;
}

/*
 * A NAK for data this sender no longer holds: the receiver must not wait for it for ever. An
 * error frame tells it (it then ends the image at the gap); at most one per heartbeat
 * interval, so NAKs cannot make it send more than it is asked once.
 */
static void
not_held(struct nsi_sender *s, int64_t from, const struct nsi_udp_addr *naker, int64_t now_ns)
{
	if (s->stats.errors_sent > 0 && now_ns - s->last_error_ns < s->p.heartbeat_ns)
		return;
	/*
	 * On a group every receiver hears it: the group tag field carries the position from
	 * which we hold data, and only a receiver still missing something before it ends its
	 * image. The receiver id names the one that asked when we know it (NAKs carry none: the
	 * one whose status messages come from the NAK's address; receivers of one machine may
	 * share it), for whoever reads the traffic.
	 */
	int64_t id = 0;
	for (int i = 0; i < s->fc.n && id == 0 && naker != NULL; i++)
		if (nsi_udp_addr_equal(&s->fc.r[i].from, naker))
			id = s->fc.r[i].id;
	char text[96];
	int n = snprintf(text, sizeof(text), "data at position %lld is no longer held",
			 (long long)from);
	struct nsi_frame e = { .session_id = s->session_id, .stream_id = s->stream_id };
	e.u.err.receiver_id = id;
	e.u.err.group_tag = held_from(s); /* without NSI_ERR_F_GROUP_TAG: our position */
	e.u.err.code = NSI_ERR_CODE_NOT_HELD;
	e.u.err.text = text;
	e.u.err.text_length = (uint32_t)n;
	uint8_t buf[NSI_WIRE_ERR + sizeof(text)];
	size_t len = nsi_wire_put_err(buf, sizeof(buf), &e);
	if (len > 0 && emit(s, buf, len) > 0) {
		s->stats.errors_sent++;
		s->last_error_ns = now_ns;
	}
}

/* FNV-1a over an address's bytes: which receiver asked, as far as its address tells. */
static uint64_t
addr_hash(const struct nsi_udp_addr *a)
{
	uint64_t h = 14695981039346656037u;
	const uint8_t *p = (const uint8_t *)&a->ss;
	for (socklen_t i = 0; i < a->len && i < sizeof(a->ss); i++)
		h = (h ^ p[i]) * 1099511628211u;
	return h;
}

static void
on_nak(struct nsi_sender *s, const struct nsi_frame *f, const struct nsi_udp_addr *naker,
       int64_t now_ns)
{
	s->stats.naks++;
	int32_t terms = (int32_t)((uint32_t)f->u.nak.term_id - (uint32_t)s->log->initial_term_id);
	/* Within one term, sent already, and still in the log; else ignored (counted). */
	int64_t from = terms < 0 ? -1 : ((int64_t)terms << s->log->shift) + f->u.nak.term_offset;
	int64_t len = f->u.nak.length;
	if (from < 0 || f->u.nak.term_offset >= s->log->term_length || from < held_from(s) ||
	    from >= s->position) {
		s->stats.naks_ignored++;
		if (from >= 0 && from < held_from(s) && f->u.nak.term_offset < s->log->term_length)
			not_held(s, from, naker, now_ns);
		return;
	}
	if (f->u.nak.term_offset + len > s->log->term_length)
		len = s->log->term_length - f->u.nak.term_offset;
	if (from + len > s->position)
		len = s->position - from;
	if (len > NSI_SENDER_RESEND_MAX)
		len = NSI_SENDER_RESEND_MAX;
	uint64_t asker = naker != NULL ? addr_hash(naker) : 0;
	int theirs = 0;
	struct nsi_resend *free_slot = NULL;
	for (int i = 0; i < NSI_SENDER_RESENDS; i++) {
		struct nsi_resend *r = &s->resend[i];
		if (!r->used) {
			if (free_slot == NULL)
				free_slot = r;
			continue;
		}
		/* Waiting or lingering over this range already: once per linger. */
		if (from < r->position + r->length && r->position < from + len) {
			s->stats.naks_ignored++;
			return;
		}
		theirs += r->asker == asker;
	}
	/* The cap: no more retransmits in flight, or this receiver has its share of them. */
	if (free_slot == NULL || (s->fc.n > 1 && theirs >= NSI_SENDER_RESENDS * 3 / 4)) {
		s->stats.naks_ignored++;
		return;
	}
	*free_slot = (struct nsi_resend){ .position = from,
					  .length = (int32_t)len,
					  .due_ns = now_ns + s->p.nak_delay_ns,
					  .asker = asker,
					  .used = true };
	if (free_slot->due_ns == 0)
		free_slot->due_ns = 1; /* 0 means "served" */
}

void
nsi_sender_on_frame(struct nsi_sender *s, const struct nsi_frame *f, int64_t now_ns)
{
	nsi_sender_on_control(s, f, NULL, now_ns);
}

void
nsi_sender_on_control(struct nsi_sender *s, const struct nsi_frame *f,
		      const struct nsi_udp_addr *from, int64_t now_ns)
{
	if (f->session_id != s->session_id || f->stream_id != s->stream_id)
		return;
	switch (f->type) {
	case NSI_FRAME_STATUS: {
		s->stats.status_messages++;
		/*
		 * One that only asks for a setup (no window: a receiver without an image, or a
		 * multi-destination receiver announcing itself) says nothing of consumption.
		 */
		if ((f->flags & NSI_SM_F_SEND_SETUP) != 0 && f->u.sm.window == 0) {
			s->want_setup = true;
			s->setup_due_ns = now_ns;
			return;
		}
		int32_t terms =
			(int32_t)((uint32_t)f->u.sm.term_id - (uint32_t)s->log->initial_term_id);
		if (terms < 0)
			return;
		int64_t consumed = ((int64_t)terms << s->log->shift) + f->u.sm.term_offset;
		if (consumed > s->acked)
			s->acked = consumed;
		s->limit = nsi_fc_on_status(&s->fc, f->u.sm.receiver_id, consumed, f->u.sm.window,
					    f->u.sm.has_group_tag ? &f->u.sm.group_tag : NULL, from,
					    now_ns);
		s->connected = nsi_fc_connected(&s->fc);
		if ((f->flags & NSI_SM_F_SEND_SETUP) != 0) {
			s->want_setup = true;
			s->setup_due_ns = now_ns;
		} else {
			s->want_setup = false;
		}
		return;
	}
	case NSI_FRAME_NAK:
		on_nak(s, f, from, now_ns);
		return;
	case NSI_FRAME_RTT: {
		if ((f->flags & NSI_RTTM_F_REPLY) == 0)
			return;
		struct nsi_frame r = *f;
		r.flags = 0;
		r.u.rttm.reception_delta = 0; /* answered at once */
		if (send_control(s, nsi_wire_put_rttm(s->scratch, sizeof(s->scratch), &r)) > 0)
			s->stats.rtt_replies++;
		return;
	}
	default:
		return;
	}
}

void
nsi_sender_close(struct nsi_sender *s, int64_t position)
{
	s->end_position = position;
}

/* SPDX-License-Identifier: MIT */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "ipc/uri.h"
#include "driver/conductor.h"
#include "driver/net.h"
#include "driver/netloop.h"
#include "driver/driver.h"
#include "driver/ipc_publication.h"
#include "ipc/defaults.h"
#include "ipc/lossreport.h"
#include "ipc/proto.h"
#include "log/logfile.h"
#include "mem/shmfile.h"
#include "util/atomic.h"

bool
nsi_drv_grow(void **v, int *cap, size_t elem)
{
	int ncap = *cap > 0 ? *cap * 2 : 8;
	void *p = realloc(*v, (size_t)ncap * elem);
	if (p == NULL)
		return false;
	*v = p;
	*cap = ncap;
	return true;
}

static int64_t *
sys_counter(struct nsi_driver *d, int which)
{
	return nsi_counter_addr(&d->cnc.counters, which);
}

void
nsi_drv_sys_add(struct nsi_driver *d, int which, int64_t n)
{
	int64_t *c = sys_counter(d, which);
	nsi_store_release_i64(c, nsi_load_relaxed_i64(c) + n);
}

void
nsi_drv_sys_set(struct nsi_driver *d, int which, int64_t v)
{
	nsi_store_release_i64(sys_counter(d, which), v);
}

int64_t
nsi_drv_now(const struct nsi_driver *d)
{
	return d->o.clock(d->o.clock_ctx);
}

static int64_t
mono_clock(void *ctx)
{
	(void)ctx;
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

uint32_t
nsi_drv_random(struct nsi_driver *d)
{
	d->prng ^= d->prng << 13;
	d->prng ^= d->prng >> 17;
	d->prng ^= d->prng << 5;
	return d->prng;
}

void
nsi_drv_report(struct nsi_driver *d, const char *fmt, ...)
{
	char text[256];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	(void)nsi_errlog_record(&d->cnc.errors, nsi_drv_now(d), text);
	nsi_drv_sys_add(d, NSI_SYS_ERRORS, 1);
}

/* ---- responses ---- */

static void
transmit(struct nsi_driver *d, int32_t type, const void *fixed, size_t fixed_len, const char *var,
	 int32_t var_len)
{
	uint8_t buf[512];
	if (fixed_len + (size_t)var_len > sizeof(buf))
		var_len = (int32_t)(sizeof(buf) - fixed_len);
	memcpy(buf, fixed, fixed_len);
	if (var_len > 0)
		memcpy(buf + fixed_len, var, (size_t)var_len);
	if (nsi_bcast_transmit(&d->cnc.to_clients, type, buf, (int32_t)fixed_len + var_len) == 0)
		d->bcast_pending = true;
}

static void
send_error(struct nsi_driver *d, int64_t correlation, int code, const char *text)
{
	struct nsi_rsp_error e = { .correlation_id = correlation,
				   .code = code,
				   .text_length = (int32_t)strlen(text) };
	transmit(d, NSI_RSP_ERROR, &e, sizeof(e), text, e.text_length);
}

static void
send_ok(struct nsi_driver *d, int64_t correlation)
{
	struct nsi_rsp_ok ok = { .correlation_id = correlation };
	transmit(d, NSI_RSP_OK, &ok, sizeof(ok), NULL, 0);
}

static void
send_image(struct nsi_driver *d, int32_t type, const struct drv_sub *s, const struct drv_pub *p,
	   int64_t image_id, int64_t position, int32_t counter)
{
	struct nsi_rsp_image m = { .subscription_id = s->reg_id,
				   .image_id = image_id,
				   .position = position,
				   .session_id = p->session_id,
				   .stream_id = p->stream_id,
				   .position_counter = counter,
				   .name_length = type == NSI_RSP_IMAGE_AVAILABLE
							  ? (int32_t)strlen(p->name)
							  : 0 };
	transmit(d, type, &m, sizeof(m), p->name, m.name_length);
}

/* ---- links ---- */

static struct drv_pub *
find_pub(struct nsi_driver *d, int64_t reg_id)
{
	for (int i = 0; i < d->pubs.n; i++)
		if (d->pubs.v[i]->reg_id == reg_id)
			return d->pubs.v[i];
	return NULL;
}

static int
link_count(const struct nsi_driver *d, int64_t pub_reg)
{
	int n = 0;
	for (int i = 0; i < d->links.n; i++)
		n += d->links.v[i].pub_reg == pub_reg;
	return n;
}

/*
 * Link @s to @p: a position counter at the log's tail, listed in the log's metadata. Callers
 * checked the limits first (a free subscriber slot and counter); a failure here is reported.
 */
static int
link_pair(struct nsi_driver *d, const struct drv_sub *s, struct drv_pub *p)
{
	struct nsi_log_meta *m = p->lf.log.meta;
	int slot = -1;
	/* Our own links say which slots are taken (the metadata is shared: not trusted). */
	for (int i = 0; i < NSI_LOG_MAX_SUBSCRIBERS && slot < 0; i++) {
		slot = i;
		for (int k = 0; k < d->links.n && slot >= 0; k++)
			if (d->links.v[k].pub_reg == p->reg_id && d->links.v[k].slot == i)
				slot = -1;
	}
	char label[NSI_COUNTER_LABEL_MAX + 1];
	snprintf(label, sizeof(label), "subscription %lld (client %lld) of %s session %d stream %d",
		 (long long)s->reg_id, (long long)s->client_id, p->name, (int)p->session_id,
		 (int)p->stream_id);
	int64_t id = d->next_reg_id + 1;
	int32_t counter = -ENOSPC;
	if (slot >= 0 && ARRAY_RESERVE(d->links))
		counter =
			nsi_counter_alloc(&d->cnc.counters, NSI_COUNTER_SUBSCRIBER_POSITION,
					  s->client_id, drv_pub_key(p), label, nsi_drv_now(d), id);
	if (counter < 0) {
		nsi_drv_report(d, "cannot link subscription %lld to %s: %s", (long long)s->reg_id,
			       p->name, slot < 0 ? "too many subscribers" : "no free counter");
		return slot < 0 ? -EMLINK : -ENOSPC;
	}
	d->next_reg_id = id;
	int64_t join = nsi_log_tail_position(&p->lf.log);
	nsi_store_release_i64(nsi_counter_addr(&d->cnc.counters, counter), join);
	/* Publishers that read the slot see the counter at the join position. */
	nsi_store_release_u32((uint32_t *)&m->subscriber_counters[slot], (uint32_t)counter);
	nsi_store_release_u32((uint32_t *)&m->is_connected, 1);
	struct drv_link *l = &d->links.v[d->links.n++];
	*l = (struct drv_link){ .id = id,
				.sub_reg = s->reg_id,
				.pub_reg = p->reg_id,
				.counter = counter,
				.slot = slot };
	send_image(d, NSI_RSP_IMAGE_AVAILABLE, s, p, l->id, join, counter);
	return 0;
}

/*
 * Unlink the link at @i. Its counter is handed out again after @reuse_delay_ns, or as soon as
 * its subscriber says it let it go (the counter's RELEASED word holds the link's id): a
 * subscriber keeps writing its position until it hears its image is gone.
 */
static void
unlink_at(struct nsi_driver *d, int i, struct drv_pub *p, int64_t reuse_delay_ns)
{
	struct drv_link l = d->links.v[i];
	int64_t *c = nsi_counter_addr(&d->cnc.counters, l.counter);
	if (c != NULL)
		d->closed_messages += nsi_load_relaxed_i64(c + NSI_COUNTER_MESSAGES_WORD);
	d->links.v[i] = d->links.v[--d->links.n];
	if (p != NULL) {
		struct nsi_log_meta *m = p->lf.log.meta;
		nsi_store_release_u32((uint32_t *)&m->subscriber_counters[l.slot], UINT32_MAX);
		if (link_count(d, p->reg_id) == 0)
			nsi_store_release_u32((uint32_t *)&m->is_connected, 0);
	}
	(void)nsi_counter_free(&d->cnc.counters, l.counter, nsi_drv_now(d), reuse_delay_ns);
}

/* How long a subscriber that may still be running could go on writing a freed counter. */
static int64_t
sub_counter_delay(const struct nsi_driver *d)
{
	return d->o.client_liveness_ns > d->o.heartbeat_ns * 2 ? d->o.client_liveness_ns
							       : d->o.heartbeat_ns * 2;
}

/* Whether subscription @s takes the log @p: its stream, and its session if it names one. */
static bool
sub_matches(const struct drv_sub *s, const struct drv_pub *p)
{
	/* A network publication is sent, never read here: its images are. */
	return p->kind != DRV_PUB_NET && strcmp(s->channel, p->channel) == 0 &&
	       s->stream_id == p->stream_id &&
	       (!s->has_session_id || s->session_id == p->session_id);
}

/* Subscriptions of @stream_id: at most this many links for a new log of the stream. */
static int
stream_subs(const struct nsi_driver *d, int32_t stream_id)
{
	int n = 0;
	for (int i = 0; i < d->subs.n; i++)
		n += d->subs.v[i].stream_id == stream_id;
	return n;
}

/* ---- publications ---- */

/* Whether every subscriber a lingering log waits for has mapped it or let it go. */
static bool
linger_settled(struct nsi_driver *d, struct drv_linger *l)
{
	for (int k = l->n - 1; k >= 0; k--)
		if (nsi_counter_settled(&d->cnc.counters, l->wait[k].counter, l->wait[k].token))
			l->wait[k] = l->wait[--l->n];
	return l->n == 0;
}

/*
 * Remove the files of closed logs nobody may still need to map: every subscriber told of
 * them mapped them or let them go, or their linger ended (all of them when @all).
 */
static void
remove_lingering(struct nsi_driver *d, int64_t now, bool all)
{
	char path[PATH_MAX];
	for (int i = d->lingering.n - 1; i >= 0; i--) {
		struct drv_linger *l = &d->lingering.v[i];
		if (!all && now < l->until && !linger_settled(d, l))
			continue;
		snprintf(path, sizeof(path), "%s/%s", d->dir, l->name);
		unlink(path);
		d->lingering.v[i] = d->lingering.v[--d->lingering.n];
	}
}

/* The slowest linked subscriber's position, or INT64_MAX with none. */
int64_t
nsi_drv_slowest(struct nsi_driver *d, const struct drv_pub *p)
{
	int64_t min = INT64_MAX;
	for (int i = 0; i < d->links.n; i++) {
		if (d->links.v[i].pub_reg != p->reg_id)
			continue;
		int64_t *c = nsi_counter_addr(&d->cnc.counters, d->links.v[i].counter);
		int64_t v = c != NULL ? nsi_load_acquire_i64(c) : INT64_MAX;
		if (v < min)
			min = v;
	}
	return min;
}

static void
close_pub(struct nsi_driver *d, struct drv_pub *p)
{
	int64_t eos;
	if (p->kind == DRV_PUB_IMAGE) {
		/* What arrived is what there is: a gap is never padded over (that would hide loss). */
		eos = nsi_net_image_end(p);
		nsi_store_release_i64(&p->lf.log.meta->end_of_stream_position, eos);
	} else {
		eos = nsi_ipc_pub_end_stream(d, p);
		if (p->kind == DRV_PUB_NET)
			nsi_net_pub_close(d, p, eos); /* it sends the rest */
	}
	d->closed_bytes += eos;
	/*
	 * The file stays while a subscriber told of the image may not have mapped it yet (it must
	 * still read what was committed): until each has mapped it or let its counter go, at most
	 * a client liveness period.
	 */
	struct drv_linger l = { .until = nsi_drv_now(d) + d->o.client_liveness_ns };
	snprintf(l.name, sizeof(l.name), "%s", p->name);
	for (int i = d->links.n - 1; i >= 0; i--) {
		if (d->links.v[i].pub_reg != p->reg_id)
			continue;
		for (int k = 0; k < d->subs.n; k++)
			if (d->subs.v[k].reg_id == d->links.v[i].sub_reg)
				send_image(d, NSI_RSP_IMAGE_UNAVAILABLE, &d->subs.v[k], p,
					   d->links.v[i].id, eos, d->links.v[i].counter);
		if (l.n < NSI_LOG_MAX_SUBSCRIBERS)
			l.wait[l.n++] = (struct drv_wait){ .counter = d->links.v[i].counter,
							   .token = d->links.v[i].id };
		unlink_at(d, i, p, sub_counter_delay(d));
	}
	char path[PATH_MAX];
	snprintf(path, sizeof(path), "%s/%s", d->dir, p->name);
	if (!linger_settled(d, &l) && ARRAY_RESERVE(d->lingering))
		d->lingering.v[d->lingering.n++] = l;
	else
		unlink(path);
	for (int i = 0; i < d->pubs.n; i++)
		if (d->pubs.v[i] == p)
			d->pubs.v[i] = d->pubs.v[--d->pubs.n];
	nsi_ipc_pub_free(d, p);
	nsi_drv_sys_set(d, NSI_SYS_PUBLICATIONS, d->pubs.n);
}

static void
add_publication(struct nsi_driver *d, const struct nsi_cmd_add *c, struct nsi_uri uri)
{
	char err[160];
	int32_t term = uri.term_length != 0 ? uri.term_length : d->o.term_length;
	int32_t mtu = uri.mtu != 0 ? uri.mtu : d->o.mtu;
	if (uri.mtu > nsi_log_mtu_limit(term)) {
		/* Asked for explicitly: refused, as other bad parameters are (only a default fits). */
		snprintf(err, sizeof(err), "mtu %d is more than term-length / 8 (%d)", (int)uri.mtu,
			 (int)nsi_log_mtu_limit(term));
		send_error(d, c->correlation_id, -EINVAL, err);
		return;
	}
	mtu = nsi_log_mtu_fit(term, mtu);
	if (uri.max_message > nsi_log_max_message(term)) {
		snprintf(err, sizeof(err), "max-message %d is more than term-length / 8 (%d)",
			 (int)uri.max_message, (int)nsi_log_max_message(term));
		send_error(d, c->correlation_id, -EINVAL, err);
		return;
	}
	struct drv_pub *p = NULL;
	char channel[DRV_CHANNEL_MAX];
	nsi_net_channel(&uri, channel, sizeof(channel));
	if (!c->exclusive) {
		for (int i = 0; i < d->pubs.n && p == NULL; i++) {
			struct drv_pub *q = d->pubs.v[i];
			if (!q->exclusive && q->kind != DRV_PUB_IMAGE &&
			    q->stream_id == c->stream_id && strcmp(q->channel, channel) == 0 &&
			    (!uri.has_session_id || q->session_id == uri.session_id))
				p = q;
		}
		if (p != NULL &&
		    ((uri.term_length != 0 && uri.term_length != p->lf.log.term_length) ||
		     (uri.mtu != 0 && uri.mtu != p->lf.log.meta->mtu) ||
		     (uri.max_message != 0 && uri.max_message != p->lf.log.max_message))) {
			snprintf(err, sizeof(err),
				 "stream %d already has a publication with term-length %d, mtu %d, "
				 "max-message %d",
				 (int)c->stream_id, (int)p->lf.log.term_length,
				 (int)p->lf.log.meta->mtu, (int)p->lf.log.max_message);
			send_error(d, c->correlation_id, -EINVAL, err);
			return;
		}
	}
	if (!ARRAY_RESERVE(d->handles) || (p == NULL && !ARRAY_RESERVE(d->pubs))) {
		send_error(d, c->correlation_id, -ENOMEM, "driver out of memory");
		return;
	}
	if (p == NULL) {
		/* Two counters of its own and one per subscription it will serve: all or nothing. */
		int need = 2 + stream_subs(d, c->stream_id);
		int32_t have = nsi_counters_available(&d->cnc.counters, nsi_drv_now(d));
		if (have < need) {
			snprintf(err, sizeof(err),
				 "no free counter: a new publication on stream %d needs %d, %d are "
				 "free of %d (nanostreamd --counters)",
				 (int)c->stream_id, need, (int)have, (int)d->cnc.counters.max);
			nsi_drv_report(d, "%s", err);
			send_error(d, c->correlation_id, -ENOSPC, err);
			return;
		}
		int rc = 0;
		if (uri.media == NSI_MEDIA_UDP) {
			/* The driver sends it and manages its log (a NAK may ask for old data). */
			struct drv_log_spec spec = {
				.stream_id = c->stream_id,
				.session_id =
					uri.has_session_id ? uri.session_id : d->next_session_id++,
				.initial_term_id = (int32_t)nsi_drv_random(d),
				.term_length = term,
				.mtu = mtu,
				.max_message = uri.max_message,
				.exclusive = c->exclusive != 0,
				.driver_managed = true,
				.prefix = "pub",
			};
			p = nsi_drv_log_create(d, &spec, err, sizeof(err), &rc);
			if (p != NULL) {
				rc = nsi_net_pub_open(d, p, &uri, err, sizeof(err));
				if (rc != 0) {
					char path[PATH_MAX];
					snprintf(path, sizeof(path), "%s/%s", d->dir, p->name);
					unlink(path);
					nsi_ipc_pub_free(d, p);
					p = NULL;
				}
			}
		} else {
			p = nsi_ipc_pub_create(d, c->stream_id, c->exclusive != 0, &uri, term, mtu,
					       err, sizeof(err), &rc);
		}
		if (p == NULL) {
			if (rc != -ENOMEM)
				nsi_drv_report(d, "%s", err);
			send_error(d, c->correlation_id, rc, err);
			return;
		}
		d->pubs.v[d->pubs.n++] = p;
		nsi_drv_sys_set(d, NSI_SYS_PUBLICATIONS, d->pubs.n);
	}
	p->refs++;
	d->handles.v[d->handles.n++] = (struct drv_handle){ .reg_id = c->correlation_id,
							    .client_id = c->client_id,
							    .pub_reg = p->reg_id };
	struct nsi_rsp_publication r = { .correlation_id = c->correlation_id,
					 .registration_id = p->reg_id,
					 .session_id = p->session_id,
					 .stream_id = p->stream_id,
					 .exclusive = p->exclusive,
					 .name_length = (int32_t)strlen(p->name) };
	transmit(d, NSI_RSP_PUBLICATION_READY, &r, sizeof(r), p->name, r.name_length);
	if (p->refs == 1)
		for (int i = 0; i < d->subs.n; i++)
			if (sub_matches(&d->subs.v[i], p))
				(void)link_pair(d, &d->subs.v[i], p);
}

void
nsi_drv_pub_added(struct nsi_driver *d, struct drv_pub *p)
{
	d->pubs.v[d->pubs.n++] = p; /* the caller reserved the room */
	nsi_drv_sys_set(d, NSI_SYS_PUBLICATIONS, d->pubs.n);
	for (int i = 0; i < d->subs.n; i++)
		if (sub_matches(&d->subs.v[i], p))
			(void)link_pair(d, &d->subs.v[i], p);
}

void
nsi_drv_pub_close(struct nsi_driver *d, struct drv_pub *p)
{
	close_pub(d, p);
}

static int
remove_handle(struct nsi_driver *d, int64_t client_id, int64_t reg_id)
{
	for (int i = 0; i < d->handles.n; i++) {
		struct drv_handle h = d->handles.v[i];
		if (h.reg_id != reg_id || h.client_id != client_id)
			continue;
		d->handles.v[i] = d->handles.v[--d->handles.n];
		struct drv_pub *p = find_pub(d, h.pub_reg);
		if (p != NULL && --p->refs == 0)
			close_pub(d, p);
		return 0;
	}
	return -ENOENT;
}

/* ---- subscriptions ---- */

static void
add_subscription(struct nsi_driver *d, const struct nsi_cmd_add *c, struct nsi_uri uri)
{
	char err[160];
	/*
	 * Limits first, so a subscription is either served or refused with the reason: a log
	 * lists at most NSI_LOG_MAX_SUBSCRIBERS subscribers, and every log it joins takes one
	 * counter.
	 */
	int same = stream_subs(d, c->stream_id), logs = 0;
	for (int i = 0; i < d->pubs.n; i++)
		logs += d->pubs.v[i]->stream_id == c->stream_id &&
			(!uri.has_session_id || d->pubs.v[i]->session_id == uri.session_id);
	int32_t have = nsi_counters_available(&d->cnc.counters, nsi_drv_now(d));
	if (same >= NSI_LOG_MAX_SUBSCRIBERS) {
		snprintf(err, sizeof(err),
			 "stream %d has %d subscriptions: the most one stream serves",
			 (int)c->stream_id, same);
		nsi_drv_report(d, "%s", err);
		send_error(d, c->correlation_id, -EMLINK, err);
		return;
	}
	if (have < logs) {
		snprintf(err, sizeof(err),
			 "no free counter: stream %d has %d publications, %d counters are free of "
			 "%d (nanostreamd --counters)",
			 (int)c->stream_id, logs, (int)have, (int)d->cnc.counters.max);
		nsi_drv_report(d, "%s", err);
		send_error(d, c->correlation_id, -ENOSPC, err);
		return;
	}
	if (!ARRAY_RESERVE(d->subs)) {
		send_error(d, c->correlation_id, -ENOMEM, "driver out of memory");
		return;
	}
	struct drv_endpoint *ep = NULL;
	if (uri.media == NSI_MEDIA_UDP) {
		int rc = 0;
		ep = nsi_net_endpoint_get(d, &uri, err, sizeof(err), &rc);
		if (ep == NULL) {
			nsi_drv_report(d, "%s", err);
			send_error(d, c->correlation_id, rc, err);
			return;
		}
	}
	struct drv_sub *s = &d->subs.v[d->subs.n++];
	*s = (struct drv_sub){ .reg_id = c->correlation_id,
			       .client_id = c->client_id,
			       .stream_id = c->stream_id,
			       .session_id = uri.session_id,
			       .has_session_id = uri.has_session_id,
			       .ep = ep };
	nsi_net_channel(&uri, s->channel, sizeof(s->channel));
	struct nsi_rsp_ok ok = { .correlation_id = c->correlation_id };
	transmit(d, NSI_RSP_SUBSCRIPTION_READY, &ok, sizeof(ok), NULL, 0);
	struct drv_sub copy = *s;
	for (int i = 0; i < d->pubs.n; i++) {
		struct drv_pub *p = d->pubs.v[i];
		if (sub_matches(&copy, p))
			(void)link_pair(d, &copy, p);
	}
}

/*
 * Remove a subscription. @writer_gone: its process is gone, so its counters are free at once
 * (otherwise they wait for the subscriber's acknowledgement, or the delay).
 */
static int
remove_subscription(struct nsi_driver *d, int64_t client_id, int64_t reg_id, bool writer_gone)
{
	for (int i = 0; i < d->subs.n; i++) {
		if (d->subs.v[i].reg_id != reg_id || d->subs.v[i].client_id != client_id)
			continue;
		for (int k = d->links.n - 1; k >= 0; k--)
			if (d->links.v[k].sub_reg == reg_id)
				unlink_at(d, k, find_pub(d, d->links.v[k].pub_reg),
					  writer_gone ? 0 : sub_counter_delay(d));
		struct drv_endpoint *ep = d->subs.v[i].ep;
		d->subs.v[i] = d->subs.v[--d->subs.n];
		if (ep != NULL)
			nsi_net_endpoint_put(d, ep);
		return 0;
	}
	return -ENOENT;
}

static void
close_client(struct nsi_driver *d, int64_t client_id, bool process_gone)
{
	for (int i = d->handles.n - 1; i >= 0; i--)
		if (i < d->handles.n && d->handles.v[i].client_id == client_id)
			(void)remove_handle(d, client_id, d->handles.v[i].reg_id);
	for (int i = d->subs.n - 1; i >= 0; i--)
		if (i < d->subs.n && d->subs.v[i].client_id == client_id)
			(void)remove_subscription(d, client_id, d->subs.v[i].reg_id, process_gone);
}

/*
 * A subscriber found the image @image_id corrupt (its log holds impossible frames) and
 * stopped reading it: unlink it, so publishers are not held back by its stale position, and
 * join it again at the tail at the next timer (one rejoin per heartbeat at most), so the
 * stream comes back. What lay between is lost to it: reported.
 */
static void
image_corrupt(struct nsi_driver *d, int64_t client_id, int64_t image_id)
{
	for (int i = 0; i < d->links.n; i++) {
		struct drv_link l = d->links.v[i];
		if (l.id != image_id)
			continue;
		struct drv_sub *s = NULL;
		for (int k = 0; k < d->subs.n && s == NULL; k++)
			if (d->subs.v[k].reg_id == l.sub_reg && d->subs.v[k].client_id == client_id)
				s = &d->subs.v[k];
		struct drv_pub *p = find_pub(d, l.pub_reg);
		if (s == NULL || p == NULL)
			return; /* not this client's */
		int64_t *c = nsi_counter_addr(&d->cnc.counters, l.counter);
		nsi_drv_report(
			d,
			"subscription %lld found %s corrupt at position %lld: it joins again at "
			"the tail",
			(long long)s->reg_id, p->name, (long long)(c != NULL ? *c : -1));
		unlink_at(d, i, p, sub_counter_delay(d));
		if (ARRAY_RESERVE(d->relinks))
			d->relinks.v[d->relinks.n++] =
				(struct drv_relink){ .sub_reg = s->reg_id, .pub_reg = p->reg_id };
		return;
	}
}

/* Join the subscriptions whose image was found corrupt to their logs again. */
static void
relink(struct nsi_driver *d)
{
	for (int i = 0; i < d->relinks.n; i++) {
		struct drv_relink r = d->relinks.v[i];
		struct drv_pub *p = find_pub(d, r.pub_reg);
		for (int k = 0; k < d->subs.n && p != NULL; k++)
			if (d->subs.v[k].reg_id == r.sub_reg) {
				struct drv_sub copy = d->subs.v[k];
				(void)link_pair(d, &copy, p);
			}
	}
	d->relinks.n = 0;
}

/* ---- commands ---- */

/* A client was heard from: note when (the liveness timeout of the next issue reads it). */
static void
seen_client(struct nsi_driver *d, int64_t client_id, bool closing, int64_t pid)
{
	for (int i = 0; i < d->clients.n; i++) {
		if (d->clients.v[i].id != client_id)
			continue;
		if (closing) {
			d->clients.v[i] = d->clients.v[--d->clients.n];
		} else {
			d->clients.v[i].last_seen_ns = nsi_drv_now(d);
			if (pid > 0)
				d->clients.v[i].pid = pid;
		}
		return;
	}
	if (!closing && ARRAY_RESERVE(d->clients))
		d->clients.v[d->clients.n++] = (struct drv_client){ .id = client_id,
								    .last_seen_ns = nsi_drv_now(d),
								    .pid = pid > 0 ? pid : 0 };
}

/*
 * Clients that are gone: their process no longer exists, or (for clients of other processes)
 * nothing was heard from them for the client liveness timeout. Everything they held is
 * released: their publications (a log closes when its last one goes, and its subscribers see
 * the image leave after its last message) and their subscriptions (publishers are no longer
 * held back by them).
 */
static void
time_out_clients(struct nsi_driver *d, int64_t now)
{
	for (int i = d->clients.n - 1; i >= 0; i--) {
		struct drv_client cl = d->clients.v[i];
		bool dead = cl.pid > 0 && nsi_pid_gone(cl.pid);
		bool silent = cl.pid != d->pid && now - cl.last_seen_ns > d->o.client_liveness_ns;
		if (!dead && !silent)
			continue;
		d->clients.v[i] = d->clients.v[--d->clients.n];
		close_client(d, cl.id, dead);
		nsi_drv_sys_add(d, NSI_SYS_CLIENT_TIMEOUTS, 1);
		nsi_drv_report(d, "client %lld (pid %lld) timed out: %s", (long long)cl.id,
			       (long long)cl.pid, dead ? "its process is gone" : "silent too long");
	}
}

int
nsi_driver_client_count(const struct nsi_driver *d)
{
	return d->clients.n;
}

/*
 * The URI after a command's fixed part of @fixed bytes, whose length field said @uri_length
 * (read once, by the caller): it must fill the rest of the command exactly. Copied into
 * @uri (NSI_URI_MAX + 1 bytes) with its terminator; false when malformed.
 */
static bool
command_uri(const uint8_t *msg, int32_t length, size_t fixed, int32_t uri_length, char *uri)
{
	if (uri_length < 0 || uri_length > NSI_URI_MAX || uri_length != length - (int32_t)fixed)
		return false;
	memcpy(uri, msg + fixed, (size_t)uri_length);
	uri[uri_length] = '\0';
	return true;
}

static void
on_command(void *ctx, int32_t type, const uint8_t *msg, int32_t length)
{
	struct nsi_driver *d = ctx;
	switch (type) {
	case NSI_CMD_ADD_PUBLICATION:
	case NSI_CMD_ADD_SUBSCRIPTION: {
		struct nsi_cmd_add c;
		char uri[NSI_URI_MAX + 1];
		if (length < (int32_t)sizeof(c))
			break;
		memcpy(&c, msg, sizeof(c));
		if (!command_uri(msg, length, sizeof(c), c.uri_length, uri)) {
			send_error(d, c.correlation_id, -EINVAL, "malformed command");
			return;
		}
		seen_client(d, c.client_id, false, 0);
		struct nsi_uri u;
		char err[160];
		if (nsi_uri_parse(uri, &u, err, sizeof(err)) != 0)
			send_error(d, c.correlation_id, -EINVAL, err);
		else if (type == NSI_CMD_ADD_PUBLICATION)
			add_publication(d, &c, u);
		else
			add_subscription(d, &c, u);
		return;
	}
	case NSI_CMD_ADD_DESTINATION:
	case NSI_CMD_REMOVE_DESTINATION: {
		struct nsi_cmd_destination c;
		char uri[NSI_URI_MAX + 1];
		if (length < (int32_t)sizeof(c))
			break;
		memcpy(&c, msg, sizeof(c));
		if (!command_uri(msg, length, sizeof(c), c.uri_length, uri)) {
			send_error(d, c.correlation_id, -EINVAL, "malformed command");
			return;
		}
		seen_client(d, c.client_id, false, 0);
		struct nsi_uri u;
		char err[200];
		int rc = nsi_uri_parse(uri, &u, err, sizeof(err));
		struct drv_pub *p = NULL;
		for (int i = 0; rc == 0 && p == NULL && i < d->handles.n; i++)
			if (d->handles.v[i].reg_id == c.registration_id &&
			    d->handles.v[i].client_id == c.client_id)
				p = find_pub(d, d->handles.v[i].pub_reg);
		if (rc == 0 && p == NULL) {
			rc = -ENOENT;
			snprintf(err, sizeof(err), "no such publication");
		}
		if (rc == 0)
			rc = nsi_net_pub_destination(d, p, &u, type == NSI_CMD_ADD_DESTINATION, err,
						     sizeof(err));
		if (rc == 0)
			send_ok(d, c.correlation_id);
		else
			send_error(d, c.correlation_id, rc, err);
		return;
	}
	case NSI_CMD_REMOVE_PUBLICATION:
	case NSI_CMD_REMOVE_SUBSCRIPTION:
	case NSI_CMD_KEEPALIVE:
	case NSI_CMD_CLIENT_CLOSE:
	case NSI_CMD_IMAGE_CORRUPT: {
		struct nsi_cmd_remove c;
		if (length != (int32_t)sizeof(c))
			break;
		memcpy(&c, msg, sizeof(c));
		/* A keepalive carries the client's pid in place of a registration id. */
		seen_client(d, c.client_id, type == NSI_CMD_CLIENT_CLOSE,
			    type == NSI_CMD_KEEPALIVE ? c.registration_id : 0);
		int rc = 0;
		if (type == NSI_CMD_REMOVE_PUBLICATION)
			rc = remove_handle(d, c.client_id, c.registration_id);
		else if (type == NSI_CMD_REMOVE_SUBSCRIPTION)
			rc = remove_subscription(d, c.client_id, c.registration_id, false);
		else if (type == NSI_CMD_CLIENT_CLOSE)
			close_client(d, c.client_id, false);
		else if (type == NSI_CMD_IMAGE_CORRUPT)
			image_corrupt(d, c.client_id, c.registration_id);
		if (type == NSI_CMD_KEEPALIVE || type == NSI_CMD_IMAGE_CORRUPT)
			return;
		if (rc == 0)
			send_ok(d, c.correlation_id);
		else
			send_error(d, c.correlation_id, rc, "no such registration");
		return;
	}
	default:
		break;
	}
	nsi_drv_report(d, "malformed command: type %d, %d bytes", (int)type, (int)length);
}

/*
 * The counters that are copies or totals, for ns-stat: each log's tail and limit, bytes and
 * messages, clients and subscriptions. Once per heartbeat (each tail read once).
 */
static void
refresh_counters(struct nsi_driver *d)
{
	int64_t bytes = d->closed_bytes;
	for (int i = 0; i < d->pubs.n; i++)
		bytes += nsi_ipc_pub_refresh(d, d->pubs.v[i]);
	nsi_drv_sys_set(d, NSI_SYS_BYTES, bytes);
	int64_t messages = d->closed_messages;
	for (int i = 0; i < d->links.n; i++) {
		int64_t *c = nsi_counter_addr(&d->cnc.counters, d->links.v[i].counter);
		if (c != NULL)
			messages += nsi_load_relaxed_i64(c + NSI_COUNTER_MESSAGES_WORD);
	}
	nsi_drv_sys_set(d, NSI_SYS_MESSAGES, messages);
	nsi_drv_sys_set(d, NSI_SYS_CLIENTS, d->clients.n);
	nsi_drv_sys_set(d, NSI_SYS_SUBSCRIPTIONS, d->subs.n);
	nsi_net_refresh(d);
	nsi_store_release_i64(&d->cnc.hdr->counters_ns, nsi_drv_now(d));
}

bool
nsi_driver_failed(const struct nsi_driver *d)
{
	return nsi_cnc_broken(&d->cnc);
}

/*
 * Logs truncated under us (the guard put zeros where they were): closed, their subscribers
 * told; what was committed before the cut may be lost to them.
 */
static void
close_broken_logs(struct nsi_driver *d)
{
	for (int i = d->pubs.n - 1; i >= 0; i--) {
		struct drv_pub *p = d->pubs.v[i];
		if (!nsi_logfile_broken(&p->lf))
			continue;
		nsi_drv_report(d, "%s was truncated by another process: the publication is closed",
			       p->name);
		for (int k = d->handles.n - 1; k >= 0; k--)
			if (d->handles.v[k].pub_reg == p->reg_id)
				d->handles.v[k] = d->handles.v[--d->handles.n];
		close_pub(d, p);
	}
}

int
nsi_driver_do_work(struct nsi_driver *d)
{
	/* cnc.dat truncated under us: no command, notice or counter can be trusted any more. */
	if (nsi_driver_failed(d))
		return -EBADMSG;
	int64_t now = nsi_drv_now(d);
	nsi_cnc_beat(&d->cnc, now);
	struct nsi_mpsc *ring = &d->cnc.to_driver;
	uint64_t skipped = ring->skipped;
	int work = nsi_mpsc_read(ring, on_command, d, 16, now);
	if (work < 0) {
		nsi_drv_report(d,
			       "command ring: impossible contents (corrupt or forged memory); the "
			       "commands in it were given up");
		work = 0;
	}
	if (ring->skipped != skipped) {
		nsi_drv_sys_add(d, NSI_SYS_COMMANDS_SKIPPED, (int64_t)(ring->skipped - skipped));
		nsi_drv_report(
			d,
			"command ring: a command left unfinished for %lld ms by a dead or stopped "
			"client was skipped",
			(long long)(ring->stall_timeout_ns / 1000000));
	}
	if (work > 0)
		nsi_drv_sys_add(d, NSI_SYS_COMMANDS, work);
	/* A threaded driver's network thread does this (driver/netloop.c). */
	int net = d->net_thread_on ? 0 : nsi_net_do_work(d, now);
	if (now >= d->next_timer_ns) {
		remove_lingering(d, now, false);
		time_out_clients(d, now);
		relink(d);
		close_broken_logs(d);
		for (int i = 0; i < d->pubs.n; i++)
			if (d->pubs.v[i]->kind !=
			    DRV_PUB_IMAGE) /* an image's gaps are never padded */
				nsi_ipc_pub_on_timer(d, d->pubs.v[i], now);
		refresh_counters(d);
		d->next_timer_ns = now + d->o.heartbeat_ns;
	}
	int64_t cycle = nsi_drv_now(d) - now;
	if (cycle > nsi_load_relaxed_i64(sys_counter(d, NSI_SYS_CYCLE_MAX_NS)))
		nsi_drv_sys_set(d, NSI_SYS_CYCLE_MAX_NS, cycle);
	nsi_drv_flush_notices(d);
	return work + net;
}

void
nsi_drv_flush_notices(struct nsi_driver *d)
{
	if (d->bcast_pending) {
		d->bcast_pending = false;
		nsi_doorbell_ring(&d->cnc.hdr->client_doorbell);
	}
}

void
nsi_driver_run(struct nsi_driver *d, const bool *stop)
{
	uint32_t *bell = &d->cnc.hdr->driver_doorbell;
	while (!__atomic_load_n(stop, __ATOMIC_ACQUIRE)) {
		/* Read the bell before working: a command rung in meanwhile ends the wait. */
		uint32_t seen = nsi_load_acquire_u32(bell);
		nsi_netloop_duty_lock(d);
		int work = nsi_driver_do_work(d);
		/* Sockets open: they get a thread of their own (or, failing that, our cycles). */
		if (work >= 0 && !d->net_thread_on && nsi_net_active(d) &&
		    nsi_netloop_start(d) != 0)
			nsi_drv_report(d,
				       "network thread: cannot start one; the conductor's thread "
				       "serves the sockets, waking every millisecond");
		bool own_net = !d->net_thread_on && nsi_net_active(d);
		pthread_mutex_unlock(&d->duty);
		if (work < 0)
			break; /* failed: the owner destroys it */
		if (work == 0)
			(void)nsi_doorbell_wait(bell, seen, own_net ? 1000000 : d->o.heartbeat_ns);
	}
	nsi_netloop_stop(d);
}

void
nsi_driver_wake(struct nsi_driver *d)
{
	/*
	 * A failed driver's thread has left its loop, and its cnc.dat mapping was replaced
	 * under it (mem/guard.h): nothing to wake. The flag's acquire pairs with the guard's
	 * release after the replacement, so no access here races with it.
	 */
	if (nsi_driver_failed(d))
		return;
	nsi_doorbell_ring(&d->cnc.hdr->driver_doorbell);
}

struct nsi_cnc *
nsi_driver_cnc(struct nsi_driver *d)
{
	return &d->cnc;
}

/* ---- life cycle ---- */

/* Remove a dead driver's logs (its cnc.dat is replaced by a rename, never left missing). */
static void
remove_stale(const char *dir)
{
	DIR *dp = opendir(dir);
	if (dp == NULL)
		return;
	struct dirent *e;
	char path[PATH_MAX];
	while ((e = readdir(dp)) != NULL) {
		size_t n = strlen(e->d_name);
		if (((strncmp(e->d_name, "pub-", 4) == 0 || strncmp(e->d_name, "img-", 4) == 0) &&
		     n > 4 && strcmp(e->d_name + n - 4, ".log") == 0) ||
		    strcmp(e->d_name, NSI_LOSS_FILE) == 0) {
			int len = snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
			if (len > 0 && (size_t)len < sizeof(path))
				unlink(path);
		}
	}
	closedir(dp);
}

/*
 * The lock is held by another process: a driver that is starting (its cnc.dat not there yet,
 * -EAGAIN: retry) or running (-EADDRINUSE, whether its heartbeat is fresh or it hangs).
 */
static int
held_by_whom(const char *cnc_path)
{
	struct nsi_cnc c;
	int rc = nsi_cnc_open_readonly(&c, cnc_path);
	if (rc == -ENOENT || rc == -EAGAIN)
		return -EAGAIN;
	if (rc == 0)
		nsi_cnc_close(&c);
	return -EADDRINUSE;
}

/*
 * With the lock ours, may whatever cnc.dat is there be replaced? It was left by a driver that
 * is gone, unless it looks alive (its process exists and its heartbeat is fresh, by our own
 * timeout: the file's may be forged): a driver of a version without the lock. Returns 0
 * (replace it, or none is there), -EADDRINUSE, -EPROTONOSUPPORT (another major version's: not
 * ours to replace), or -EPERM / -ELOOP (not ours, open to others, a symbolic link).
 */
static int
replaceable(const char *cnc_path, int64_t now, int64_t timeout_ns)
{
	struct nsi_cnc old;
	int rc = nsi_cnc_open_readonly(&old, cnc_path);
	if (rc == 0) {
		bool alive = nsi_cnc_driver_alive(&old, now, timeout_ns);
		nsi_cnc_close(&old);
		return alive ? -EADDRINUSE : 0;
	}
	if (rc == -EPROTONOSUPPORT || rc == -EPERM || rc == -ELOOP)
		return rc;
	return 0; /* none, half made, foreign or broken: the directory is ours, replace it */
}

/*
 * Create cnc.dat whole under another name, then rename it into place: clients never see a
 * file that is not sized and filled. Its inode is kept, so the driver later removes cnc.dat
 * only while it is still its own.
 */
static int
create_cnc(struct nsi_driver *d, const struct nsi_cnc_params *p, int64_t now)
{
	char tmp[PATH_MAX + 8];
	snprintf(tmp, sizeof(tmp), "%s.new", d->cnc_path);
	unlink(tmp); /* left by a driver that died while starting (the lock is ours) */
	int rc = nsi_cnc_create(&d->cnc, tmp, p, now);
	if (rc != 0)
		return rc;
	/* Before the rename: a client that sees the file sees the name. */
	memcpy(d->cnc.hdr->net_wake, d->wake_name, sizeof(d->cnc.hdr->net_wake));
	struct stat st;
	if (stat(tmp, &st) != 0 || nsi_driver_lock_name(d->lock_fd, st.st_dev, st.st_ino) != 0 ||
	    rename(tmp, d->cnc_path) != 0) {
		rc = errno != 0 ? -errno : -EIO;
		nsi_cnc_close(&d->cnc);
		unlink(tmp);
		return rc;
	}
	d->cnc.dev = st.st_dev;
	d->cnc.ino = st.st_ino;
	d->cnc_dev = st.st_dev;
	d->cnc_ino = st.st_ino;
	return 0;
}

/* Unlink @path only if it is the file we created (dev and inode): never someone else's. */
static void
unlink_own(const char *path, dev_t dev, ino_t ino)
{
	struct stat st;
	if (lstat(path, &st) == 0 && st.st_dev == dev && st.st_ino == ino)
		unlink(path);
}

int
nsi_driver_create(struct nsi_driver **out, const struct nsi_driver_opts *o)
{
	if (out == NULL || o == NULL || o->dir == NULL ||
	    strlen(o->dir) >= sizeof(((struct nsi_driver *)0)->dir))
		return -EINVAL;
	int rc = nsi_dir_secure(o->dir);
	if (rc != 0)
		return rc;
	struct nsi_driver *d = calloc(1, sizeof(*d));
	if (d == NULL)
		return -ENOMEM;
	d->o = *o;
	if (d->o.clock == NULL)
		d->o.clock = mono_clock;
	if (d->o.heartbeat_ns <= 0)
		d->o.heartbeat_ns = NSI_MS(NSI_DEFAULT_HEARTBEAT_MS);
	if (d->o.client_liveness_ns <= 0)
		d->o.client_liveness_ns = NSI_MS(NSI_DEFAULT_CLIENT_TIMEOUT_MS);
	if (d->o.driver_timeout_ns <= 0)
		d->o.driver_timeout_ns = NSI_MS(NSI_DEFAULT_DRIVER_TIMEOUT_MS);
	if (d->o.unblock_timeout_ns <= 0)
		d->o.unblock_timeout_ns = NSI_MS(NSI_DEFAULT_UNBLOCK_TIMEOUT_MS);
	if (d->o.command_timeout_ns <= 0)
		d->o.command_timeout_ns = d->o.heartbeat_ns * NSI_DEFAULT_COMMAND_TIMEOUT_BEATS;
	if (d->o.term_length <= 0)
		d->o.term_length = NSI_DEFAULT_TERM_LENGTH;
	if (d->o.mtu <= 0)
		d->o.mtu = nsi_log_mtu_fit(d->o.term_length, NSI_DEFAULT_MTU);
	snprintf(d->dir, sizeof(d->dir), "%s", o->dir);
	snprintf(d->cnc_path, sizeof(d->cnc_path), "%s/%s", d->dir, NSI_CNC_FILE);
	int64_t now = nsi_drv_now(d);
	d->prng = (uint32_t)now ^ (uint32_t)getpid() ^ 0x9e3779b9u;
	if (d->prng == 0)
		d->prng = 1;
	d->next_session_id = (int32_t)nsi_drv_random(d);
	d->instance = nsi_drv_random(d);
	d->pid = (int64_t)getpid();
	d->idle = o->idle;
	d->busy_cycles = true; /* the client's thread runs them, until a network thread does */
	pthread_mutex_init(&d->duty, NULL);
	if (nsi_netloop_wake_open(d) != 0)
		d->wake_fd = -1; /* publishers cannot wake the network thread: it naps instead */
	struct nsi_cnc_params p = { .to_driver_bytes = 64 * 1024,
				    .to_clients_bytes = 64 * 1024,
				    .counters =
					    o->counters > 0 ? o->counters : NSI_DEFAULT_COUNTERS,
				    .error_log_bytes = 64 * 1024,
				    .client_liveness_ns = d->o.client_liveness_ns,
				    .driver_timeout_ns = d->o.driver_timeout_ns };
	/* One driver per directory, decided by the lock: it dies with its holder's process. */
	d->lock_fd = nsi_driver_lock_take(d->dir);
	if (d->lock_fd < 0) {
		rc = d->lock_fd;
		if (rc == -EADDRINUSE)
			rc = held_by_whom(d->cnc_path);
		nsi_netloop_wake_close(d);
		free(d);
		return rc;
	}
	rc = replaceable(d->cnc_path, now, d->o.driver_timeout_ns);
	if (rc == 0) {
		remove_stale(d->dir);
		rc = create_cnc(d, &p, now);
	}
	if (rc != 0) {
		nsi_driver_lock_release(d->lock_fd);
		nsi_netloop_wake_close(d);
		free(d);
		return rc;
	}
	d->cnc.to_driver.stall_timeout_ns = d->o.command_timeout_ns;
	/* The loss report: without one (no room?) the driver runs, and ns-stat --loss says so. */
	char loss_path[PATH_MAX + 16];
	snprintf(loss_path, sizeof(loss_path), "%s/%s", d->dir, NSI_LOSS_FILE);
	if (nsi_shm_create(loss_path, NSI_LOSS_BYTES, false, NSI_SHM_NORMAL, &d->loss_mem) == 0)
		nsi_loss_init(d->loss_mem);
	else
		d->loss_mem = NULL;
	if (nsi_counters_own(&d->cnc.counters) != 0) {
		nsi_cnc_close(&d->cnc);
		unlink_own(d->cnc_path, d->cnc_dev, d->cnc_ino);
		nsi_driver_lock_release(d->lock_fd);
		nsi_netloop_wake_close(d);
		free(d);
		return -ENOMEM;
	}
	static const char *const sys_labels[NSI_SYS_COUNT] = {
		[NSI_SYS_COMMANDS] = "commands handled",
		[NSI_SYS_ERRORS] = "errors",
		[NSI_SYS_CLIENTS] = "clients",
		[NSI_SYS_PUBLICATIONS] = "publications (logs)",
		[NSI_SYS_SUBSCRIPTIONS] = "subscriptions",
		[NSI_SYS_BACK_PRESSURE] = "back-pressure events",
		[NSI_SYS_CLIENT_TIMEOUTS] = "client timeouts",
		[NSI_SYS_UNBLOCKED] = "unblocked logs",
		[NSI_SYS_CYCLE_MAX_NS] = "longest duty cycle (ns)",
		[NSI_SYS_BYTES] = "bytes published",
		[NSI_SYS_MESSAGES] = "messages delivered",
		[NSI_SYS_COMMANDS_SKIPPED] = "commands skipped (writer died mid-command)",
		[NSI_SYS_UDP_DATA_SENT] = "udp data datagrams sent",
		[NSI_SYS_UDP_BYTES_SENT] = "udp data bytes sent",
		[NSI_SYS_UDP_RETRANSMITS] = "udp retransmitted datagrams",
		[NSI_SYS_UDP_RETRANSMIT_BYTES] = "udp retransmitted bytes",
		[NSI_SYS_UDP_HEARTBEATS] = "udp heartbeats sent",
		[NSI_SYS_UDP_SETUPS] = "udp setups sent",
		[NSI_SYS_UDP_STATUS_RECEIVED] = "udp status messages received",
		[NSI_SYS_UDP_NAKS_RECEIVED] = "udp naks received",
		[NSI_SYS_UDP_NAKS_IGNORED] = "udp naks ignored",
		[NSI_SYS_UDP_SHORT_SENDS] = "udp short sends",
		[NSI_SYS_UDP_DATAGRAMS_RECEIVED] = "udp datagrams received",
		[NSI_SYS_UDP_INVALID] = "udp invalid datagrams",
		[NSI_SYS_UDP_STATUS_SENT] = "udp status messages sent",
		[NSI_SYS_UDP_NAKS_SENT] = "udp naks sent",
		[NSI_SYS_UDP_IMAGES_REFUSED] = "udp images refused",
		[NSI_SYS_UDP_RCVBUF] = "udp socket receive buffer granted (bytes)",
		[NSI_SYS_UDP_IMAGES_LOST] = "udp images ended by unrecoverable loss",
		[NSI_SYS_UDP_BYTES_RECEIVED] = "udp bytes received",
		[NSI_SYS_UDP_OVERRUNS] = "udp flow control over-runs (frames past the window)",
		[NSI_SYS_UDP_UNDERRUNS] = "udp flow control under-runs (frames already there)",
		[NSI_SYS_NET_LENT] = "network cycles run by application threads",
	};
	for (int i = 0; i < NSI_SYS_COUNT; i++)
		if (nsi_counter_alloc(&d->cnc.counters, NSI_COUNTER_SYSTEM, 0, i, sys_labels[i],
				      now, 0) != i) {
			nsi_counters_disown(&d->cnc.counters);
			nsi_cnc_close(&d->cnc);
			unlink_own(d->cnc_path, d->cnc_dev, d->cnc_ino);
			nsi_driver_lock_release(d->lock_fd);
			nsi_netloop_wake_close(d);
			free(d);
			return -ENOSPC;
		}
	*out = d;
	return 0;
}

void
nsi_driver_destroy(struct nsi_driver *d)
{
	if (d == NULL)
		return;
	while (d->endpoints.n > 0) {
		d->endpoints.v[0]->refs = 1;
		nsi_net_endpoint_put(d, d->endpoints.v[0]);
	}
	while (d->pubs.n > 0) {
		struct drv_pub *p = d->pubs.v[0];
		p->refs = 0;
		close_pub(d, p);
	}
	/* The driver ends: closed publications still sending stop where they are. */
	nsi_net_drains_free(d);
	free(d->draining.v);
	remove_lingering(d, 0, true);
	if (d->loss_mem != NULL) {
		char loss_path[PATH_MAX + 16];
		snprintf(loss_path, sizeof(loss_path), "%s/%s", d->dir, NSI_LOSS_FILE);
		munmap(d->loss_mem, NSI_LOSS_BYTES);
		unlink(loss_path);
	}
	nsi_doorbell_ring(&d->cnc.hdr->client_doorbell);
	unlink_own(d->cnc_path, d->cnc_dev, d->cnc_ino);
	nsi_cnc_close(&d->cnc);
	nsi_driver_lock_release(d->lock_fd); /* last: the directory is free from here */
	free(d->pubs.v);
	free(d->handles.v);
	free(d->subs.v);
	free(d->links.v);
	free(d->clients.v);
	free(d->lingering.v);
	free(d->relinks.v);
	free(d->endpoints.v);
	nsi_counters_disown(&d->cnc.counters);
	nsi_netloop_wake_close(d);
	pthread_mutex_destroy(&d->duty);
	free(d);
}

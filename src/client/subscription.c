/* SPDX-License-Identifier: MIT */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <nanostream/ring.h>

#include "client/client.h"
#include "ipc/uri.h"
#include "util/atomic.h"
#include "util/compiler.h"
#include "util/sized.h"

/* First released size (util/sized.h): never change it. */
#define SUBSCRIPTION_OPTS_0_2 NSI_SIZE_UPTO(struct ns_subscription_opts, reserved)

/*
 * Stop writing the image's position counter and tell the driver (its RELEASED word takes the
 * image's id): the driver may hand the counter out again at once instead of after a timeout.
 */
static void
release_counter(ns_image *img)
{
	if (img->rd.position_out == NULL)
		return;
	nsi_store_release_i64(img->rd.position_out + NSI_COUNTER_RELEASED_WORD, img->image_id);
	img->rd.position_out = NULL;
	img->rd.messages_out = NULL;
}

static int
subscription_add(ns_client *c, const char *uri, int32_t stream_id,
		 const struct ns_subscription_opts *opts, ns_subscription **out)
{
	struct nsi_uri u;
	char why[128];
	if (c == NULL || uri == NULL || out == NULL)
		return nsi_errmsg_set(-EINVAL, "a NULL client, URI or out pointer");
	if (nsi_uri_parse(uri, &u, why, sizeof(why)) != 0)
		return nsi_errmsg_set(-EINVAL, "URI: %s", why);
	struct ns_subscription_opts o = NS_SUBSCRIPTION_OPTS_INIT;
	if (opts != NULL) {
		if (nsi_sized_in(&o, sizeof(o), opts, SUBSCRIPTION_OPTS_0_2) != 0)
			return nsi_errmsg_set(-EINVAL,
					      "options: size %u outside the sized-struct "
					      "rule, or unknown non-zero bytes",
					      opts->size);
		bool zero = o.flags == 0;
		for (int i = 0; i < 4; i++)
			zero = zero && o.reserved[i] == 0;
		if (!zero)
			return nsi_errmsg_set(-EINVAL,
					      "options: flags and reserved words must be 0");
	}
	ns_subscription *s = calloc(1, sizeof(*s));
	if (s == NULL)
		return -ENOMEM;
	s->client = c;
	s->stream_id = stream_id;
	s->opts = o;
	if (u.media == NSI_MEDIA_UDP && c->driver != NULL && c->driver_threaded)
		s->lend = &c->cnc.hdr->net_sleeping;
	/* Registered before the command: the driver's image notices follow its answer at once. */
	s->reg_id = nsi_client_next_id(c);
	int rc = nsi_client_add_sub(c, s);
	if (rc != 0) {
		free(s);
		return rc;
	}
	struct nsi_response r = { 0 };
	rc = nsi_client_add(c, true, uri, stream_id, 0, s->reg_id, &r);
	if (rc == 0 && r.type != NSI_RSP_SUBSCRIPTION_READY)
		rc = nsi_errmsg_set(-EPROTO, "the driver's answer is malformed");
	if (rc != 0) {
		nsi_client_remove_sub(c, s);
		for (int i = 0; i < s->narrived; i++)
			nsi_image_free(s->arrived[i]);
		free(s->arrived);
		free(s->gone);
		free(s->known);
		free(s);
		return rc;
	}
	*out = s;
	return 0;
}

int
ns_subscription_add(ns_client *c, const char *uri, int32_t stream_id,
		    const struct ns_subscription_opts *opts, ns_subscription **out)
{
	nsi_errmsg_clear();
	return nsi_errmsg_default(subscription_add(c, uri, stream_id, opts, out));
}

int
ns_subscription_close(ns_subscription *s)
{
	if (s == NULL)
		return -EINVAL;
	/* Our counters first: the driver then reuses them at once when it removes us. */
	for (int i = 0; i < s->nimages; i++)
		release_counter(s->images[i]);
	pthread_mutex_lock(&s->client->lock);
	for (int i = 0; i < s->narrived; i++)
		release_counter(s->arrived[i]);
	pthread_mutex_unlock(&s->client->lock);
	nsi_client_remove(s->client, true, s->reg_id);
	nsi_client_remove_sub(s->client, s);
	for (int i = 0; i < s->nimages; i++)
		nsi_image_free(s->images[i]);
	for (int i = 0; i < s->narrived; i++)
		nsi_image_free(s->arrived[i]);
	free(s->images);
	free(s->arrived);
	free(s->gone);
	free(s->known);
	free(s);
	return 0;
}

/* ---- images arriving and leaving (the polling thread) ---- */

/*
 * The image's log holds impossible frames: stop reading it, and tell the driver, which stops
 * counting on our position (publishers are no longer held back by it) and joins the
 * subscription to the log again at its tail: the stream comes back, what lay between is lost
 * (the driver's error log says where).
 */
static void
report_corrupt(ns_subscription *s, ns_image *img)
{
	ns_client *c = s->client;
	release_counter(img);
	pthread_mutex_lock(&c->lock);
	for (int i = 0; i < s->nknown; i++)
		if (s->known[i] == img->image_id)
			s->known[i] = s->known[--s->nknown];
	pthread_mutex_unlock(&c->lock);
	struct nsi_cmd_remove m = { .client_id = c->client_id, .registration_id = img->image_id };
	if (nsi_mpsc_write(&c->cnc.to_driver, NSI_CMD_IMAGE_CORRUPT, &m, sizeof(m)) == 0)
		nsi_doorbell_ring(&c->cnc.hdr->driver_doorbell);
}

static void
take_changes(ns_subscription *s)
{
	ns_client *c = s->client;
	if (pthread_mutex_trylock(&c->lock) != 0)
		return;
	nsi_store_relaxed_u32(&s->changed, 0);
	int first_new = s->nimages;
	for (int i = 0; i < s->narrived; i++) {
		if (s->nimages == s->cap_images) {
			int ncap = s->cap_images ? s->cap_images * 2 : 4;
			ns_image **v = realloc(s->images, (size_t)ncap * sizeof(*v));
			if (v == NULL) {
				/* Keep the rest queued for the next poll. */
				memmove(s->arrived, s->arrived + i,
					(size_t)(s->narrived - i) * sizeof(*s->arrived));
				s->narrived -= i;
				nsi_store_relaxed_u32(&s->changed, 1);
				goto gone;
			}
			s->images = v;
			s->cap_images = ncap;
		}
		s->images[s->nimages++] = s->arrived[i];
	}
	s->narrived = 0;
gone:
	for (int g = 0; g < s->ngone; g++)
		for (int i = 0; i < s->nimages; i++)
			if (s->images[i]->image_id == s->gone[g].image_id) {
				s->images[i]->rd.end = s->gone[g].eos;
				/* The driver freed the counter: stop writing it, and say so. */
				release_counter(s->images[i]);
			}
	s->ngone = 0;
	int last_new = s->nimages;
	pthread_mutex_unlock(&c->lock);
	if (s->opts.on_available != NULL)
		for (int i = first_new; i < last_new; i++)
			s->opts.on_available(s->opts.ctx, s->images[i]);
}

/* Drop images whose stream ended and was read to its end, or that were found corrupt. */
static void
retire(ns_subscription *s)
{
	for (int i = 0; i < s->nimages;) {
		ns_image *img = s->images[i];
		if (img->rd.corrupt || img->rd.position >= img->rd.end) {
			if (img->rd.corrupt && img->rd.position < img->rd.end)
				report_corrupt(s, img);
			for (int k = i; k + 1 < s->nimages; k++)
				s->images[k] = s->images[k + 1];
			s->nimages--;
			if (s->opts.on_unavailable != NULL)
				s->opts.on_unavailable(s->opts.ctx, img);
			nsi_image_free(img);
		} else {
			i++;
		}
	}
}

NS_INLINE void
maybe_changes(ns_subscription *s)
{
	ns_client *c = s->client;
	int64_t tail = nsi_load_relaxed_i64(&c->cnc.to_clients.trailer->tail);
	if (NS_UNLIKELY(tail != nsi_load_relaxed_i64(&c->seen_tail)))
		(void)nsi_client_try_work(c);
	if (NS_UNLIKELY(nsi_load_relaxed_u32(&s->changed) != 0))
		take_changes(s);
}

/* ---- reading an image ---- */

struct reader {
	ns_fragment_fn fn;
	ns_controlled_handler_fn cfn;
	void *ctx;
};

static int
poll_images(ns_subscription *s, const struct reader *r, int limit)
{
	maybe_changes(s);
	int total = 0, n = s->nimages;
	bool stop = false, retiring = false;
	if (n == 0)
		return 0;
	int start = s->next < n ? s->next : 0;
	s->next = start + 1;
	for (int k = 0; k < n && total < limit && !stop; k++) {
		ns_image *img = s->images[(start + k) % n];
		/* Truncated under us (the guard put zeros there): as corrupt as a bad frame. */
		if (NS_UNLIKELY(nsi_logfile_broken(&img->lf)))
			img->rd.corrupt = true;
		total += nsi_log_read(&img->rd, r->fn, r->cfn, r->ctx, limit - total, &stop);
		retiring |= img->rd.corrupt || img->rd.position >= img->rd.end;
	}
	if (NS_UNLIKELY(retiring))
		retire(s);
	return total;
}

/*
 * Nothing there, and our own driver's network thread sleeps: read its sockets from here
 * (driver/netloop.c, lending) and look again, instead of leaving the datagram that may be
 * waiting to a thread that takes tens of microseconds to wake.
 */
NS_INLINE int
poll_lending(ns_subscription *s, const struct reader *r, int limit)
{
	int n = poll_images(s, r, limit);
	if (n == 0 && s->lend != NULL && NS_UNLIKELY(nsi_load_relaxed_u32(s->lend) != 0) &&
	    nsi_driver_lend(s->client->driver) > 0)
		n = poll_images(s, r, limit);
	return n;
}

int
ns_subscription_poll(ns_subscription *s, ns_fragment_fn fn, void *ctx, int limit)
{
	if (NS_UNLIKELY(s == NULL || fn == NULL || limit < 1))
		return -EINVAL;
	struct reader r = { .fn = fn, .ctx = ctx };
	return poll_lending(s, &r, limit);
}

int
ns_subscription_controlled_poll(ns_subscription *s, ns_controlled_handler_fn fn, void *ctx,
				int limit)
{
	if (s == NULL || fn == NULL || limit < 1)
		return -EINVAL;
	struct reader r = { .cfn = fn, .ctx = ctx };
	return poll_lending(s, &r, limit);
}

int
ns_subscription_poll_wait(ns_subscription *s, ns_fragment_fn fn, void *ctx, int limit,
			  uint32_t wait, int64_t deadline_ns)
{
	if (s == NULL || fn == NULL || limit < 1 || !nsi_wait_kind_ok(wait))
		return -EINVAL;
	for (uint64_t i = 0;; i++) {
		int n = ns_subscription_poll(s, fn, ctx, limit);
		if (n != 0)
			return n;
		if (ns_clock_ns() >= deadline_ns)
			return -ETIMEDOUT;
		if (nsi_client_driver_dead(s->client))
			return NS_EDRIVER_TIMEOUT;
		if (s->client->driver != NULL && !s->client->driver_threaded)
			(void)nsi_client_try_work(s->client);
		nsi_backoff(wait, i);
	}
}

/* ---- the 0.2 names, deprecated (removed in 0.4) ---- */

int
ns_poll(ns_subscription *s, ns_fragment_fn fn, void *ctx, int limit)
{
	return ns_subscription_poll(s, fn, ctx, limit);
}

int
ns_poll_wait(ns_subscription *s, ns_fragment_fn fn, void *ctx, int limit, uint32_t wait,
	     int64_t deadline_ns)
{
	return ns_subscription_poll_wait(s, fn, ctx, limit, wait, deadline_ns);
}

/* The 0.2 handler returns int: called through a trampoline, never through a cast pointer. */
struct legacy_handler {
	ns_controlled_fn fn;
	void *ctx;
};

static enum ns_controlled_action
legacy_call(void *ctx, const void *buf, size_t len, const struct ns_header *hdr)
{
	const struct legacy_handler *l = ctx;
	return (enum ns_controlled_action)l->fn(l->ctx, buf, len, hdr);
}

int
ns_controlled_poll(ns_subscription *s, ns_controlled_fn fn, void *ctx, int limit)
{
	if (fn == NULL)
		return -EINVAL;
	struct legacy_handler l = { .fn = fn, .ctx = ctx };
	return ns_subscription_controlled_poll(s, legacy_call, &l, limit);
}

int
ns_subscription_wait_connected(ns_subscription *s, int64_t deadline_ns)
{
	if (s == NULL)
		return -EINVAL;
	for (uint64_t i = 0;; i++) {
		if (nsi_client_try_work(s->client) == NS_EDRIVER_TIMEOUT)
			return NS_EDRIVER_TIMEOUT;
		if (nsi_load_relaxed_u32(&s->changed) != 0)
			take_changes(s);
		if (s->nimages > 0)
			return 0;
		if (ns_clock_ns() >= deadline_ns)
			return -ETIMEDOUT;
		nsi_backoff(NS_WAIT_PHASED, i);
	}
}

int
ns_subscription_image_count(const ns_subscription *s)
{
	return s != NULL ? s->nimages : -EINVAL;
}

int32_t
ns_image_session_id(const ns_image *img)
{
	return img != NULL ? img->session_id : 0;
}

int64_t
ns_image_position(const ns_image *img)
{
	return img != NULL ? img->rd.position : -EINVAL;
}

int
ns_image_is_end_of_stream(const ns_image *img)
{
	if (img == NULL)
		return -EINVAL;
	return img->rd.position >= img->rd.end;
}

/* SPDX-License-Identifier: MIT */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "driver/conductor.h"
#include "driver/net.h"
#include "driver/netloop.h"
#include "ipc/lossreport.h"
#include "util/atomic.h"

#define MS 1000000LL

static void add_sender(int64_t *t, const struct nsi_sender *s);
static void add_receiver(int64_t *t, const struct nsi_receiver *r);

/* ---- test-only loss injection (see net.h) ---- */

static struct drv_loss *
loss_from_env(struct nsi_driver *d, const char *what)
{
	const char *v = getenv("NANOSTREAM_TEST_LOSS");
	if (v == NULL || *v == '\0')
		return NULL;
	struct drv_loss *l = calloc(1, sizeof(*l));
	if (l == NULL)
		return NULL;
	long long seed = 1;
	int drop = 0, dup = 0, reorder = 0;
	(void)sscanf(v, "seed=%lld,drop=%d,dup=%d,reorder=%d", &seed, &drop, &dup, &reorder);
	l->rng = (uint64_t)seed * 2 + 1;
	l->drop = drop;
	l->dup = dup;
	l->reorder = reorder;
	for (int i = 0; i < DRV_LOSS_HOLD; i++) {
		l->held[i].buf = malloc(NSI_WIRE_MAX_DGRAM);
		if (l->held[i].buf == NULL) {
			for (int k = 0; k < i; k++)
				free(l->held[k].buf);
			free(l);
			return NULL;
		}
	}
	nsi_drv_report(d, "%s: TEST loss injection on (NANOSTREAM_TEST_LOSS=%.60s)", what, v);
	return l;
}

static void
loss_free(struct drv_loss *l)
{
	if (l == NULL)
		return;
	for (int i = 0; i < DRV_LOSS_HOLD; i++)
		free(l->held[i].buf);
	free(l);
}

static uint64_t
loss_rand(struct drv_loss *l)
{
	l->rng ^= l->rng << 13;
	l->rng ^= l->rng >> 7;
	l->rng ^= l->rng << 17;
	return l->rng;
}

typedef void (*deliver_fn)(void *ctx, const uint8_t *buf, size_t len,
			   const struct nsi_udp_addr *from);

/* Hand one received datagram on, through the injector when it is on. */
static void
loss_pass(struct drv_loss *l, const uint8_t *buf, size_t len, const struct nsi_udp_addr *from,
	  deliver_fn fn, void *ctx)
{
	if (l == NULL) {
		fn(ctx, buf, len, from);
		return;
	}
	/* Those held back long enough go first (reordered behind what came since). */
	for (int i = 0; i < l->n;) {
		if (--l->held[i].after <= 0) {
			fn(ctx, l->held[i].buf, l->held[i].len, &l->held[i].from);
			uint8_t *b = l->held[i].buf;
			l->held[i] = l->held[--l->n];
			l->held[l->n].buf = b;
			continue;
		}
		i++;
	}
	if ((int)(loss_rand(l) % 100) < l->drop) {
		l->dropped++;
		return;
	}
	if (l->n < DRV_LOSS_HOLD && len <= NSI_WIRE_MAX_DGRAM &&
	    (int)(loss_rand(l) % 100) < l->reorder) {
		memcpy(l->held[l->n].buf, buf, len);
		l->held[l->n].len = len;
		l->held[l->n].from = *from;
		l->held[l->n].after = 1 + (int)(loss_rand(l) % DRV_LOSS_HOLD);
		l->n++;
		l->reordered++;
		return;
	}
	fn(ctx, buf, len, from);
	if ((int)(loss_rand(l) % 100) < l->dup) {
		l->duplicated++;
		fn(ctx, buf, len, from);
	}
}

void
nsi_net_channel(const struct nsi_uri *u, char *key, size_t len)
{
	if (u->media == NSI_MEDIA_UDP && u->control_mode != 0 && u->control.set)
		snprintf(key, len, "udp-mdc:%s:%d", u->control.host, (int)u->control.port);
	else if (u->media == NSI_MEDIA_UDP && u->control_mode != 0)
		snprintf(key, len, "udp-mdc");
	else if (u->media == NSI_MEDIA_UDP)
		snprintf(key, len, "udp:%s:%d", u->endpoint.host, (int)u->endpoint.port);
	else
		snprintf(key, len, "ipc");
}

/* ---- network publications ---- */

/*
 * A socket opened: a spinning driver asks the kernel to busy-poll it too (SO_BUSY_POLL, where
 * net.core.busy_read or CAP_NET_ADMIN allows: ignored otherwise); a sleeping network thread
 * is woken to wait on it.
 */
static void
socket_added(struct nsi_driver *d, struct nsi_udp_socket *sock)
{
	if (d->idle == NSI_IDLE_SPIN) {
		int us = 50;
		(void)setsockopt(sock->fd, SOL_SOCKET, SO_BUSY_POLL, &us, sizeof(us));
	}
	if (d->net_thread_on)
		nsi_netloop_wake(d);
}

/*
 * A network log's two counters for ns-stat: a publication's sender position and limit, or an
 * image's high-water mark and position; labelled with the log, the session, the stream and
 * the peer (the destination, or the image's source).
 */
static void
net_counters(struct nsi_driver *d, struct drv_pub *p, int kind0, int kind1,
	     const struct nsi_udp_addr *peer)
{
	char addr[64], label[NSI_COUNTER_LABEL_MAX + 1];
	nsi_udp_addr_str(peer, addr, sizeof(addr));
	snprintf(label, sizeof(label), "%s %s session %d stream %d %s %s",
		 p->kind == DRV_PUB_IMAGE ? "image" : "publication", p->name, (int)p->session_id,
		 (int)p->stream_id, p->kind == DRV_PUB_IMAGE ? "from" : "to", addr);
	int64_t key = drv_pub_key(p);
	p->net_counter[0] = nsi_counter_alloc(&d->cnc.counters, kind0, p->reg_id, key, label,
					      nsi_drv_now(d), 0);
	p->net_counter[1] = nsi_counter_alloc(&d->cnc.counters, kind1, p->reg_id, key, label,
					      nsi_drv_now(d), 0);
}

static void
set_counter(struct nsi_driver *d, int32_t id, int64_t v)
{
	int64_t *c = id >= 0 ? nsi_counter_addr(&d->cnc.counters, id) : NULL;
	if (c != NULL)
		nsi_store_release_i64(c, v);
}

_Static_assert((int)NSI_URI_FC_MAX == (int)NSI_FC_MAX && (int)NSI_URI_FC_MIN == (int)NSI_FC_MIN &&
		       (int)NSI_URI_FC_TAGGED == (int)NSI_FC_TAGGED,
	       "the URI's fc values are flow control's kinds");

/*
 * Multi-destination-cast: the same bytes to every destination. A full socket buffer for any
 * of them makes the whole send "full" (the sender tries again; those that had it drop the
 * copy as a duplicate); an error for one destination does not stop the others, and is
 * returned only when no destination took the bytes.
 */
static int
to_every_destination(struct drv_net_pub *n, const uint8_t *buf, size_t len, size_t segment)
{
	int took = 0, full = 0, err = 0;
	for (int i = 0; i < n->ndests; i++) {
		int rc;
		if (segment > 0) {
			rc = nsi_udp_send_segments(&n->sock, &n->dests[i].addr, buf, len, segment);
		} else {
			struct iovec iov = { .iov_base = (void *)buf, .iov_len = len };
			rc = nsi_udp_send(&n->sock, &n->dests[i].addr, &iov, 1);
		}
		if (rc > 0 && (segment == 0 || (size_t)rc == len))
			took++;
		else if (rc >= 0)
			full++;
		else
			err = rc;
	}
	if (full > 0)
		return 0;
	return took > 0 || err == 0 ? (int)len : err;
}

static void
free_counter(struct nsi_driver *d, int32_t *id)
{
	if (*id >= 0)
		(void)nsi_counter_free(&d->cnc.counters, *id, nsi_drv_now(d), 0);
	*id = -1;
}

static int
pub_send(void *ctx, const uint8_t *buf, size_t len)
{
	struct drv_net_pub *n = ctx;
	if (n->mdc != 0)
		return to_every_destination(n, buf, len, 0);
	struct iovec iov = { .iov_base = (void *)buf, .iov_len = len };
	return nsi_udp_send(&n->sock, &n->dest, &iov, 1);
}

static int
pub_send_segments(void *ctx, const uint8_t *buf, size_t count, size_t segment)
{
	struct drv_net_pub *n = ctx;
	if (n->mdc != 0)
		return to_every_destination(n, buf, count, segment);
	return nsi_udp_send_segments(&n->sock, &n->dest, buf, count, segment);
}

static struct drv_dest *
find_dest(struct drv_net_pub *n, const struct nsi_udp_addr *a)
{
	for (int i = 0; i < n->ndests; i++)
		if (nsi_udp_addr_equal(&n->dests[i].addr, a))
			return &n->dests[i];
	return NULL;
}

/* A new destination: it gets a setup at once, and data from the sender position on. */
static struct drv_dest *
add_dest(struct drv_net_pub *n, const struct nsi_udp_addr *a, bool manual, int64_t now)
{
	if (n->ndests == DRV_DESTS)
		return NULL;
	struct drv_dest *e = &n->dests[n->ndests++];
	*e = (struct drv_dest){ .addr = *a, .last_ns = now, .manual = manual };
	n->dests_added++;
	n->sender.want_setup = true;
	n->sender.setup_due_ns = now;
	return e;
}

static void
remove_dest(struct drv_net_pub *n, struct drv_dest *e)
{
	*e = n->dests[--n->ndests];
	n->dests_removed++;
}

/*
 * A control frame at a multi-destination publication's socket: whether it comes from a
 * destination. A status message from elsewhere makes its source one (dynamic; any stream's,
 * as a receiver may subscribe to several); a manual publication takes none from strangers.
 */
static bool
dest_seen(struct drv_net_pub *n, const struct nsi_frame *f, const struct nsi_udp_addr *from,
	  int64_t now)
{
	struct drv_dest *e = find_dest(n, from);
	if (e == NULL && n->mdc == NSI_URI_CONTROL_DYNAMIC && f->type == NSI_FRAME_STATUS)
		e = add_dest(n, from, false, now);
	if (e == NULL)
		return false;
	e->last_ns = now;
	if (f->type == NSI_FRAME_STATUS && f->u.sm.receiver_id != 0)
		e->receiver_id = f->u.sm.receiver_id;
	return true;
}

/* Dynamic destinations silent for the receiver timeout are dropped. */
static void
expire_dests(struct drv_net_pub *n, int64_t now)
{
	for (int i = n->ndests - 1; i >= 0; i--)
		if (!n->dests[i].manual && now - n->dests[i].last_ns > n->dest_timeout_ns)
			remove_dest(n, &n->dests[i]);
}

int
nsi_net_pub_destination(struct nsi_driver *d, struct drv_pub *p, const struct nsi_uri *u, bool add,
			char *err, size_t err_len)
{
	struct drv_net_pub *n = p->net;
	if (p->kind != DRV_PUB_NET || n == NULL || n->mdc != NSI_URI_CONTROL_MANUAL) {
		snprintf(err, err_len,
			 "destinations are added to publications with control-mode=manual only");
		return -EINVAL;
	}
	if (u->media != NSI_MEDIA_UDP || !u->endpoint.set) {
		snprintf(err, err_len, "a destination is ns:udp?endpoint=host:port");
		return -EINVAL;
	}
	struct nsi_udp_addr a;
	int rc = nsi_udp_resolve(u->endpoint.host, u->endpoint.port, &a, err, err_len);
	if (rc != 0)
		return rc;
	if (a.ss.ss_family != n->sock.family) {
		snprintf(err, err_len, "%s: not of the publication socket's address family",
			 u->endpoint.host);
		return -EINVAL;
	}
	struct drv_dest *e = find_dest(n, &a);
	if (add && e != NULL) {
		snprintf(err, err_len, "%s:%d is a destination already", u->endpoint.host,
			 (int)u->endpoint.port);
		return -EEXIST;
	}
	if (!add && e == NULL) {
		snprintf(err, err_len, "%s:%d is not a destination", u->endpoint.host,
			 (int)u->endpoint.port);
		return -ENOENT;
	}
	if (!add) {
		/* Its receiver stops holding flow control at once. */
		remove_dest(n, e);
		if (nsi_fc_forget_addr(&n->sender.fc, &a) > 0) {
			n->sender.limit = n->sender.fc.limit;
			n->sender.connected = nsi_fc_connected(&n->sender.fc);
		}
		return 0;
	}
	if (add_dest(n, &a, true, nsi_drv_now(d)) == NULL) {
		snprintf(err, err_len, "%d destinations already", DRV_DESTS);
		return -ENOSPC;
	}
	if (d->net_thread_on)
		nsi_netloop_wake(d);
	return 0;
}

int
nsi_net_pub_open(struct nsi_driver *d, struct drv_pub *p, const struct nsi_uri *u, char *err,
		 size_t err_len)
{
	struct drv_net_pub *n = calloc(1, sizeof(*n));
	if (n == NULL)
		return -ENOMEM;
	n->sock.fd = -1;
	int rc = 0;
	n->mdc = u->control_mode;
	if (n->mdc != 0) {
		/*
		 * Multi-destination-cast: one socket, on the control address (status messages
		 * and NAKs come there; dynamic receivers announce themselves there), or any port
		 * for a manual one without control=; data to each destination.
		 */
		struct nsi_udp_addr local;
		if (u->control.set)
			rc = nsi_udp_resolve(u->control.host, u->control.port, &local, err,
					     err_len);
		else
			rc = nsi_udp_resolve(u->interface.set ? u->interface.host : "0.0.0.0",
					     u->interface.set ? u->interface.port : 0, &local, err,
					     err_len);
		if (rc == 0)
			rc = nsi_udp_open(&n->sock, &local, u->so_sndbuf,
					  u->so_rcvbuf > 0 ? u->so_rcvbuf : 2 << 20, err, err_len);
		if (rc == 0 && u->endpoint.set) {
			/* (An endpoint on a manual one: its first destination.) */
			struct nsi_udp_addr first;
			rc = nsi_udp_resolve(u->endpoint.host, u->endpoint.port, &first, err,
					     err_len);
			if (rc == 0)
				(void)add_dest(n, &first, true, nsi_drv_now(d));
		}
	}
	if (rc == 0 && n->mdc == 0)
		rc = nsi_udp_resolve(u->endpoint.host, u->endpoint.port, &n->dest, err, err_len);
	bool group = rc == 0 && n->mdc == 0 && nsi_udp_is_multicast(&n->dest);
	if (rc != 0 || n->mdc != 0) {
		/* (done above) */
	} else if (group) {
		/* Data to the group; status messages and NAKs come to its control address. */
		struct nsi_udp_addr control;
		struct nsi_udp_iface ifc, *pick = NULL;
		rc = nsi_udp_multicast_control(&n->dest, &control);
		if (rc != 0)
			snprintf(err, err_len, "%s: a multicast group must end in an odd byte",
				 u->endpoint.host);
		if (rc == 0 && u->interface.set) {
			rc = nsi_udp_find_iface(u->interface.host, u->interface.prefix,
						n->dest.ss.ss_family, &ifc, err, err_len);
			pick = &ifc;
		}
		if (rc == 0)
			/* Every receiver's status messages and NAKs come to this one socket. */
			rc = nsi_udp_open_multicast(&n->sock, &control, pick, u->ttl, u->so_sndbuf,
						    u->so_rcvbuf > 0 ? u->so_rcvbuf : 2 << 20, err,
						    err_len);
	} else if (rc == 0) {
		struct nsi_udp_addr local;
		const char *any = n->dest.ss.ss_family == AF_INET6 ? "::" : "0.0.0.0";
		rc = nsi_udp_resolve(u->interface.set ? u->interface.host : any,
				     u->interface.set ? u->interface.port : 0, &local, err,
				     err_len);
		if (rc == 0)
			rc = nsi_udp_open(&n->sock, &local, u->so_sndbuf, u->so_rcvbuf, err,
					  err_len);
	}
	struct nsi_sender_params sp = {
		.heartbeat_ns = 100 * MS,
		.nak_delay_ns = u->nak_delay_ns >= 0 ? u->nak_delay_ns : 0,
		.linger_ns = u->linger_ns >= 0 ? u->linger_ns : 8 * MS,
		.receiver_timeout_ns = 2000 * MS,
	};
	if (group || n->mdc != 0 || u->fc != 0) {
		/* Receivers come and go: max by default, each forgotten after 5 s of silence. */
		sp.fc = (struct nsi_fc_params){
			.kind = u->fc != 0 ? u->fc : NSI_FC_MAX,
			.timeout_ns = u->fc_timeout_ns > 0 ? u->fc_timeout_ns : 5000 * MS,
			.group_tag = u->fc_group_tag,
			.group_min = u->fc_group_min > 0 ? u->fc_group_min : 0,
		};
		sp.receiver_timeout_ns = sp.fc.timeout_ns;
	}
	n->dest_timeout_ns = sp.receiver_timeout_ns;
	n->dests_counter = -1;
	if (rc == 0)
		rc = nsi_sender_init(&n->sender, &p->lf.log, pub_send, n, &sp, nsi_drv_now(d));
	if (rc == 0)
		n->sender.send_segments = pub_send_segments;
	if (rc != 0) {
		nsi_udp_close(&n->sock);
		free(n);
		return rc;
	}
	p->kind = DRV_PUB_NET;
	p->net = n;
	n->loss = loss_from_env(d, p->name);
	nsi_net_channel(u, p->channel, sizeof(p->channel));
	net_counters(d, p, NSI_COUNTER_SENDER_POSITION, NSI_COUNTER_SENDER_LIMIT, &n->dest);
	if (n->mdc != 0) {
		char label[NSI_COUNTER_LABEL_MAX + 1];
		snprintf(label, sizeof(label),
			 "destinations of publication %s session %d stream %d (%s)", p->name,
			 (int)p->session_id, (int)p->stream_id,
			 n->mdc == NSI_URI_CONTROL_DYNAMIC ? "dynamic" : "manual");
		n->dests_counter =
			nsi_counter_alloc(&d->cnc.counters, NSI_COUNTER_DESTINATIONS, p->reg_id,
					  drv_pub_key(p), label, nsi_drv_now(d), 0);
	}
	socket_added(d, &n->sock);
	return 0;
}

void
nsi_net_pub_close(struct nsi_driver *d, struct drv_pub *p, int64_t eos)
{
	struct drv_net_pub *n = p->net;
	if (n == NULL)
		return;
	p->net = NULL;
	for (int i = 0; i < n->nshown; i++) {
		free_counter(d, &n->shown[i].status);
		free_counter(d, &n->shown[i].silence);
	}
	n->nshown = 0;
	free_counter(d, &n->dests_counter);
	/* Everything offered before the close is sent, or no one is left to take it. */
	nsi_sender_close(&n->sender, eos);
	snprintf(n->name, sizeof(n->name), "%s", p->name);
	char path[PATH_MAX];
	int len = snprintf(path, sizeof(path), "%s/%s", d->dir, p->name);
	if (len > 0 && (size_t)len < sizeof(path) && ARRAY_RESERVE(d->draining) &&
	    nsi_logfile_open(&n->lf, path) == 0) {
		n->sender.log = &n->lf.log;
		n->until_ns = nsi_drv_now(d) + DRV_NET_LINGER_NS;
		d->draining.v[d->draining.n++] = n;
		if (d->net_thread_on)
			nsi_netloop_wake(d);
		return;
	}
	/* No second mapping: what was sent is all there will be, and a heartbeat says so. */
	nsi_drv_report(d, "%s: closed before all was sent, and cannot keep sending it", p->name);
	nsi_sender_close(&n->sender, n->sender.position);
	n->sender.last_send_ns = INT64_MIN / 2;
	(void)nsi_sender_do_work(&n->sender, nsi_drv_now(d));
	add_sender(d->udp_closed, &n->sender);
	nsi_udp_close(&n->sock);
	loss_free(n->loss);
	free(n);
}

/* A draining publication is done: its receiver has it all, or is gone, or time is up. */
static bool
drained(const struct drv_net_pub *n, int64_t now)
{
	const struct nsi_sender *s = &n->sender;
	bool sent = s->position >= s->end_position && s->eos_heartbeats > 0;
	return (sent && (!s->connected || s->acked >= s->end_position)) || now >= n->until_ns ||
	       (!s->connected && s->want_setup && s->stats.status_messages == 0);
}

static void
drain_free(struct nsi_driver *d, int i)
{
	struct drv_net_pub *n = d->draining.v[i];
	d->draining.v[i] = d->draining.v[--d->draining.n];
	add_sender(d->udp_closed, &n->sender);
	nsi_udp_close(&n->sock);
	nsi_logfile_close(&n->lf);
	loss_free(n->loss);
	free(n);
}

void
nsi_net_drains_free(struct nsi_driver *d)
{
	while (d->draining.n > 0)
		drain_free(d, 0);
}

struct pub_rx {
	struct drv_net_pub *n;
	int64_t now;
};

static void
pub_deliver(void *ctx, const uint8_t *buf, size_t len, const struct nsi_udp_addr *from)
{
	struct pub_rx *x = ctx;
	size_t off = 0;
	struct nsi_frame f;
	while (nsi_wire_next(buf, len, &off, &f) == 1) {
		/* Manual: control frames from anywhere but a destination are a stranger's. */
		if (x->n->mdc != 0 && !dest_seen(x->n, &f, from, x->now))
			continue;
		nsi_sender_on_control(&x->n->sender, &f, from, x->now);
	}
}

static int sender_work(struct nsi_driver *d, struct drv_net_pub *n, const char *name, int64_t now);

/* A publication's sender, and the connected flag its publishers read. */
static int
pub_work(struct nsi_driver *d, struct drv_pub *p, int64_t now)
{
	struct drv_net_pub *n = p->net;
	int work = sender_work(d, n, p->name, now);
	uint32_t *connected = (uint32_t *)&p->lf.log.meta->is_connected;
	if (nsi_load_relaxed_u32(connected) != (uint32_t)n->sender.connected)
		nsi_store_release_u32(connected, n->sender.connected);
	return work;
}

/* Control frames for a sender (status messages, NAKs, RTT) on its socket, then its sending. */
static int
sender_work(struct nsi_driver *d, struct drv_net_pub *n, const char *name, int64_t now)
{
	uint8_t buf[512];
	struct nsi_udp_dgram dg[4];
	int work = 0;
	/*
	 * Status messages and NAKs: every cycle of a thread that sleeps between cycles (a
	 * datagram woke it); in cycles run back to back (a spinning thread, or the client's own
	 * thread), every 8th, or every one while the sender waits for its window or a receiver:
	 * one receive call fewer on the path of the data the other way.
	 */
	bool look = !d->busy_cycles || (++n->cycles & 7) == 0 || !n->sender.connected ||
		    n->sender.position >= n->sender.limit;
	for (int round = 0; look && round < 8; round++) {
		for (int i = 0; i < 4; i++)
			dg[i] = (struct nsi_udp_dgram){ .buf = buf + i * 128, .cap = 128 };
		int got = nsi_udp_recv(&n->sock, dg, 4);
		if (got <= 0)
			break;
		struct pub_rx x = { n, now };
		for (int i = 0; i < got; i++) {
			if (dg[i].len > dg[i].cap)
				continue; /* no control frame is that long */
			loss_pass(n->loss, dg[i].buf, dg[i].len, &dg[i].from, pub_deliver, &x);
		}
		work += got;
	}
	if (n->mdc == NSI_URI_CONTROL_DYNAMIC)
		expire_dests(n, now);
	int rc = nsi_sender_do_work(&n->sender, now);
	if (rc < 0) {
		nsi_drv_report(d, "%s: sending failed: %s", name, strerror(-rc));
		return work;
	}
	return work + rc;
}

/* ---- endpoints and images ---- */

static int
ep_send(void *ctx, const struct nsi_udp_addr *to, const uint8_t *buf, size_t len)
{
	struct drv_endpoint *ep = ctx;
	struct iovec iov = { .iov_base = (void *)buf, .iov_len = len };
	return nsi_udp_send(&ep->sock, ep->has_control ? &ep->control : to, &iov, 1);
}

static struct nsi_log *
ep_create(void *ctx, const struct nsi_frame *setup, const struct nsi_udp_addr *source, void **owner)
{
	(void)source;
	struct drv_endpoint *ep = ctx;
	struct nsi_driver *d = ep->d;
	bool wanted = false;
	for (int i = 0; i < d->subs.n && !wanted; i++) {
		const struct drv_sub *s = &d->subs.v[i];
		wanted = s->ep == ep && s->stream_id == setup->stream_id &&
			 (!s->has_session_id || s->session_id == setup->session_id);
	}
	if (!wanted || !ARRAY_RESERVE(d->pubs))
		return NULL;
	struct drv_log_spec spec = {
		.stream_id = setup->stream_id,
		.session_id = setup->session_id,
		.initial_term_id = setup->u.setup.initial_term_id,
		.term_length = setup->u.setup.term_length,
		.mtu = setup->u.setup.mtu,
		.prefix = "img",
	};
	char err[160];
	int rc = 0;
	struct nsi_log_params check = { .term_length = spec.term_length, .mtu = spec.mtu };
	if (nsi_log_params_check(&check) != 0) {
		nsi_drv_report(d, "%s: a setup with term length %d and mtu %d: refused", ep->key,
			       (int)spec.term_length, (int)spec.mtu);
		return NULL;
	}
	struct drv_pub *p = nsi_drv_log_create(d, &spec, err, sizeof(err), &rc);
	if (p == NULL) {
		nsi_drv_report(d, "%s: %s", ep->key, err);
		return NULL;
	}
	/* Subscribers linked below start where the image starts (a late join: not at 0). */
	int32_t terms = (int32_t)((uint32_t)setup->u.setup.active_term_id -
				  (uint32_t)setup->u.setup.initial_term_id);
	if (terms >= 0 && setup->u.setup.term_offset >= 0 &&
	    setup->u.setup.term_offset < p->lf.log.term_length)
		nsi_log_start_at(&p->lf.log,
				 ((int64_t)terms << p->lf.log.shift) + setup->u.setup.term_offset);
	p->kind = DRV_PUB_IMAGE;
	p->ep = ep;
	snprintf(p->channel, sizeof(p->channel), "%s", ep->key);
	net_counters(d, p, NSI_COUNTER_RECEIVER_HWM, NSI_COUNTER_RECEIVER_POSITION, source);
	*owner = p;
	nsi_drv_pub_added(d, p);
	return &p->lf.log;
}

static int64_t
ep_slowest(void *ctx, void *owner, int64_t rebuild)
{
	struct drv_endpoint *ep = ctx;
	int64_t v = nsi_drv_slowest(ep->d, owner);
	return v == INT64_MAX ? rebuild : v;
}

static void
ep_ended(void *ctx, void *owner, int reason)
{
	struct drv_endpoint *ep = ctx;
	struct drv_pub *p = owner;
	if (reason == NSI_IMAGE_SILENT)
		nsi_drv_report(ep->d, "%s: session %d stream %d went silent: its image ends",
			       ep->key, (int)p->session_id, (int)p->stream_id);
	if (reason == NSI_IMAGE_LOST)
		nsi_drv_report(ep->d,
			       "%s: session %d stream %d: data lost beyond what its sender still "
			       "holds (it said so, or the gap stayed unfilled for the liveness "
			       "timeout): its image ends at the gap, nothing after it delivered",
			       ep->key, (int)p->session_id, (int)p->stream_id);
	nsi_drv_pub_close(ep->d, p);
}

/* Gaps first NAKed: into the loss report (ns-stat --loss). */
static void
ep_loss(void *ctx, void *owner, const struct nsi_udp_addr *source, int64_t gaps, int64_t bytes)
{
	struct drv_endpoint *ep = ctx;
	const struct drv_pub *p = owner;
	if (ep->d->loss_mem == NULL)
		return;
	char src[64];
	nsi_udp_addr_str(source, src, sizeof(src));
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	nsi_loss_add(ep->d->loss_mem, p->session_id, p->stream_id, p->channel, src, gaps, bytes,
		     (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000, &ep->d->loss_count);
}

struct drv_endpoint *
nsi_net_endpoint_get(struct nsi_driver *d, const struct nsi_uri *u, char *err, size_t err_len,
		     int *rc)
{
	char key[DRV_CHANNEL_MAX];
	nsi_net_channel(u, key, sizeof(key));
	for (int i = 0; i < d->endpoints.n; i++) {
		if (strcmp(d->endpoints.v[i]->key, key) == 0) {
			/* One receiver per endpoint: its subscriptions agree on reliability. */
			if (d->endpoints.v[i]->rcv.p.unreliable != (u->reliable == 0)) {
				*rc = -EINVAL;
				snprintf(err, err_len,
					 "reliable=%s: the endpoint %s is already subscribed with "
					 "reliable=%s (one receiver per endpoint)",
					 u->reliable == 0 ? "false" : "true", key,
					 u->reliable == 0 ? "true" : "false");
				return NULL;
			}
			struct drv_endpoint *e = d->endpoints.v[i];
			if (e->rcv.p.has_group_tag != u->has_gtag ||
			    (u->has_gtag && e->rcv.p.group_tag != u->gtag)) {
				*rc = -EINVAL;
				snprintf(err, err_len,
					 "gtag: the endpoint %s is already subscribed with another "
					 "group tag (one receiver per endpoint)",
					 key);
				return NULL;
			}
			d->endpoints.v[i]->refs++;
			return d->endpoints.v[i];
		}
	}
	if (!ARRAY_RESERVE(d->endpoints)) {
		*rc = -ENOMEM;
		snprintf(err, err_len, "driver out of memory");
		return NULL;
	}
	struct drv_endpoint *ep = calloc(1, sizeof(*ep));
	uint8_t *buf = malloc((size_t)DRV_EP_BATCH * (NSI_WIRE_MAX_DGRAM + 1));
	if (ep == NULL || buf == NULL) {
		free(ep);
		free(buf);
		*rc = -ENOMEM;
		snprintf(err, err_len, "driver out of memory");
		return NULL;
	}
	ep->d = d;
	ep->buf = buf;
	snprintf(ep->key, sizeof(ep->key), "%s", key);
	struct nsi_udp_addr bind_to;
	*rc = nsi_udp_resolve(u->endpoint.host, u->endpoint.port, &bind_to, err, err_len);
	/* Ask for room for a full window in the kernel; it may grant less (net.core.rmem_max). */
	int32_t want_rcvbuf = u->so_rcvbuf > 0 ? u->so_rcvbuf : 2 << 20;
	if (*rc == 0 && nsi_udp_is_multicast(&bind_to)) {
		/* A member of the group; control frames to its control address. */
		struct nsi_udp_iface ifc, *pick = NULL;
		*rc = nsi_udp_multicast_control(&bind_to, &ep->control);
		if (*rc != 0)
			snprintf(err, err_len, "%s: a multicast group must end in an odd byte",
				 u->endpoint.host);
		if (*rc == 0 && u->interface.set) {
			*rc = nsi_udp_find_iface(u->interface.host, u->interface.prefix,
						 bind_to.ss.ss_family, &ifc, err, err_len);
			pick = &ifc;
		}
		if (*rc == 0)
			*rc = nsi_udp_open_multicast(&ep->sock, &bind_to, pick, u->ttl,
						     u->so_sndbuf, want_rcvbuf, err, err_len);
		ep->has_control = *rc == 0;
	} else if (*rc == 0) {
		*rc = nsi_udp_open(&ep->sock, &bind_to, u->so_sndbuf, want_rcvbuf, err, err_len);
		/* control=: a dynamic MDC publication learns of us from our status messages. */
		if (*rc == 0 && u->control.set) {
			*rc = nsi_udp_resolve(u->control.host, u->control.port, &ep->control, err,
					      err_len);
			ep->has_control = *rc == 0;
			if (*rc != 0)
				nsi_udp_close(&ep->sock);
		}
	}
	if (*rc != 0) {
		free(buf);
		free(ep);
		return NULL;
	}
	/*
	 * The window: what the URI says, else half of what the socket buffer holds (up to 1
	 * MiB). The kernel counts each datagram's whole buffer against the size it reports
	 * (getsockopt gives twice what was set, for that overhead), so a window of all of it
	 * overflows the socket in a burst of datagrams, and the kernel drops them: half fits.
	 */
	int32_t window = u->rcv_wnd > 0 ? u->rcv_wnd : 1 << 20;
	if (u->rcv_wnd <= 0 && ep->sock.rcvbuf_granted > 0 && ep->sock.rcvbuf_granted / 2 < window)
		window = ep->sock.rcvbuf_granted / 2;
	if (ep->sock.rcvbuf_granted < want_rcvbuf)
		nsi_drv_report(
			d,
			"%s: asked for %d bytes of socket receive buffer, the kernel granted "
			"%d (net.core.rmem_max): receiver window %d",
			key, (int)want_rcvbuf, (int)ep->sock.rcvbuf_granted, (int)window);
	struct nsi_receiver_ops ops = { ep_send, ep_create, ep_slowest, ep_ended, ep_loss };
	struct nsi_receiver_params rp = {
		.window = window, /* clamped to half a term per image */
		.status_ns = 200 * MS,
		.nak_delay_ns = u->nak_delay_ns >= 0 ? u->nak_delay_ns : 1 * MS,
		.nak_retry_ns = 10 * MS,
		.liveness_ns = 10000 * MS,
		.receiver_id = (int64_t)((uint64_t)nsi_drv_random(d) << 32 | nsi_drv_random(d)),
		.unreliable = u->reliable == 0,
		.group_tag = u->gtag,
		.has_group_tag = u->has_gtag,
	};
	if (ep->has_control && nsi_udp_is_multicast(&bind_to)) {
		/* A group: each receiver waits a random time below nak-delay (10 ms) to NAK. */
		rp.nak_delay_ns = 0;
		rp.nak_spread_ns = u->nak_delay_ns >= 0 ? u->nak_delay_ns : 10 * MS;
	}
	nsi_receiver_init(&ep->rcv, &ops, ep, &rp);
	for (int i = 0; i < DRV_EP_BATCH; i++)
		ep->dg[i] =
			(struct nsi_udp_dgram){ .buf = buf + (size_t)i * (NSI_WIRE_MAX_DGRAM + 1),
						.cap = NSI_WIRE_MAX_DGRAM };
	ep->refs = 1;
	ep->loss = loss_from_env(d, ep->key);
	d->endpoints.v[d->endpoints.n++] = ep;
	socket_added(d, &ep->sock);
	return ep;
}

void
nsi_net_endpoint_put(struct nsi_driver *d, struct drv_endpoint *ep)
{
	if (--ep->refs > 0)
		return;
	/* Its images end with it (no callback: the receiver goes too). */
	for (int i = d->pubs.n - 1; i >= 0; i--)
		if (d->pubs.v[i]->kind == DRV_PUB_IMAGE && d->pubs.v[i]->ep == ep)
			nsi_drv_pub_close(d, d->pubs.v[i]);
	for (int i = 0; i < d->endpoints.n; i++)
		if (d->endpoints.v[i] == ep)
			d->endpoints.v[i] = d->endpoints.v[--d->endpoints.n];
	add_receiver(d->udp_closed, &ep->rcv);
	nsi_udp_close(&ep->sock);
	loss_free(ep->loss);
	free(ep->buf);
	free(ep);
}

int64_t
nsi_net_image_end(const struct drv_pub *p)
{
	const struct nsi_receiver *r = &p->ep->rcv;
	for (int i = 0; i < r->nimages; i++)
		if (r->images[i].owner == p)
			return r->images[i].rx.rebuild;
	return 0;
}

struct ep_rx {
	struct nsi_receiver *r;
	int64_t now;
};

static void
ep_deliver(void *ctx, const uint8_t *buf, size_t len, const struct nsi_udp_addr *from)
{
	struct ep_rx *x = ctx;
	nsi_receiver_on_datagram(x->r, buf, len, from, x->now);
}

/*
 * A subscription with control= (a dynamic multi-destination-cast publication's control
 * address): for every stream subscribed on the endpoint that has no image yet, a status
 * message with the setup flag and no window, every 100 ms: the publication takes our address
 * as a destination and sends us a setup. Once there is an image its status messages (sent
 * to the control address too) keep us a destination.
 */
static int
announce(struct drv_endpoint *ep, int64_t now)
{
	struct nsi_driver *d = ep->d;
	int sent = 0;
	ep->elicit_due_ns = now + 100 * MS;
	for (int i = 0; i < d->subs.n; i++) {
		const struct drv_sub *sub = &d->subs.v[i];
		if (sub->ep != ep)
			continue;
		bool have = false;
		for (int k = 0; k < ep->rcv.nimages && !have; k++)
			have = ep->rcv.images[k].rx.stream_id == sub->stream_id &&
			       ep->rcv.images[k].ended == NSI_IMAGE_LIVE;
		if (have)
			continue;
		struct nsi_frame sm = { .flags = NSI_SM_F_SEND_SETUP,
					.session_id = sub->has_session_id ? sub->session_id : 0,
					.stream_id = sub->stream_id };
		sm.u.sm.receiver_id = ep->rcv.p.receiver_id;
		sm.u.sm.has_group_tag = ep->rcv.p.has_group_tag;
		sm.u.sm.group_tag = ep->rcv.p.group_tag;
		uint8_t buf[NSI_WIRE_SM_TAGGED];
		size_t len = nsi_wire_put_sm(buf, sizeof(buf), &sm);
		struct iovec iov = { .iov_base = buf, .iov_len = len };
		if (nsi_udp_send(&ep->sock, &ep->control, &iov, 1) > 0) {
			ep->rcv.stats.setups_asked++;
			sent++;
		}
	}
	return sent;
}

static int
ep_work(struct drv_endpoint *ep, int64_t now)
{
	int work = 0;
	for (int round = 0; round < 4; round++) {
		/*
		 * The first datagram alone (one recvfrom): a small one (a message of a ping-pong)
		 * goes to its subscriber without another receive call first; a large one says a
		 * stream is flowing, and the rest come in batches.
		 */
		int got = nsi_udp_recv(&ep->sock, ep->dg, round == 0 ? 1 : DRV_EP_BATCH);
		if (got <= 0)
			break;
		bool small = round == 0 && ep->dg[0].len < DRV_EP_SMALL;
		for (int i = 0; i < got; i++) {
			if (ep->dg[i].len > ep->dg[i].cap) {
				ep->rcv.stats.invalid++; /* longer than any MTU */
				continue;
			}
			struct ep_rx x = { &ep->rcv, now };
			loss_pass(ep->loss, ep->dg[i].buf, ep->dg[i].len, &ep->dg[i].from,
				  ep_deliver, &x);
		}
		work += got;
		if (small)
			break;
	}
	if (ep->has_control && !nsi_udp_is_multicast(&ep->control) && now >= ep->elicit_due_ns)
		work += announce(ep, now);
	int rc = nsi_receiver_do_work(&ep->rcv, now);
	return rc > 0 ? work + rc : work;
}

int
nsi_net_do_work(struct nsi_driver *d, int64_t now_ns)
{
	int work = 0;
	for (int i = 0; i < d->pubs.n; i++)
		if (d->pubs.v[i]->kind == DRV_PUB_NET)
			work += pub_work(d, d->pubs.v[i], now_ns);
	for (int i = d->draining.n - 1; i >= 0; i--) {
		struct drv_net_pub *n = d->draining.v[i];
		work += sender_work(d, n, n->name, now_ns);
		if (drained(n, now_ns))
			drain_free(d, i);
	}
	/* An endpoint may close images (and so change d->pubs) from its receiver's callbacks. */
	for (int i = 0; i < d->endpoints.n; i++)
		work += ep_work(d->endpoints.v[i], now_ns);
	return work;
}

int64_t
nsi_net_next_due(const struct nsi_driver *d, int64_t now_ns, bool *watching)
{
	int64_t due = INT64_MAX;
	for (int i = 0; i < d->pubs.n; i++)
		if (d->pubs.v[i]->kind == DRV_PUB_NET) {
			const struct drv_net_pub *n = d->pubs.v[i]->net;
			int64_t t = nsi_sender_next_due(&n->sender, watching);
			due = t < due ? t : due;
			for (int k = 0; n->mdc == NSI_URI_CONTROL_DYNAMIC && k < n->ndests; k++) {
				t = n->dests[k].last_ns + n->dest_timeout_ns + 1;
				due = t < due ? t : due;
			}
		}
	for (int i = 0; i < d->endpoints.n; i++) {
		const struct drv_endpoint *ep = d->endpoints.v[i];
		int64_t t = nsi_receiver_next_due(&ep->rcv, now_ns, watching);
		due = t < due ? t : due;
		if (ep->has_control && !nsi_udp_is_multicast(&ep->control))
			due = ep->elicit_due_ns < due ? ep->elicit_due_ns : due;
	}
	for (int i = 0; i < d->draining.n; i++) {
		int64_t t = nsi_sender_next_due(&d->draining.v[i]->sender, watching);
		t = t < d->draining.v[i]->until_ns ? t : d->draining.v[i]->until_ns;
		due = t < due ? t : due;
	}
	return due;
}

int
nsi_net_fds(const struct nsi_driver *d, struct pollfd *fds, int max)
{
	int n = 0;
	for (int i = 0; i < d->pubs.n && n < max; i++)
		if (d->pubs.v[i]->kind == DRV_PUB_NET)
			fds[n++] = (struct pollfd){ .fd = d->pubs.v[i]->net->sock.fd,
						    .events = POLLIN };
	for (int i = 0; i < d->endpoints.n && n < max; i++)
		fds[n++] = (struct pollfd){ .fd = d->endpoints.v[i]->sock.fd, .events = POLLIN };
	for (int i = 0; i < d->draining.n && n < max; i++)
		fds[n++] = (struct pollfd){ .fd = d->draining.v[i]->sock.fd, .events = POLLIN };
	return n;
}

bool
nsi_net_active(const struct nsi_driver *d)
{
	if (d->endpoints.n > 0 || d->draining.n > 0)
		return true;
	for (int i = 0; i < d->pubs.n; i++)
		if (d->pubs.v[i]->kind == DRV_PUB_NET)
			return true;
	return false;
}

/* ---- counters ---- */

static void
add_sender(int64_t *t, const struct nsi_sender *s)
{
	t[NSI_SYS_UDP_DATA_SENT] += (int64_t)s->stats.datagrams;
	t[NSI_SYS_UDP_BYTES_SENT] += (int64_t)s->stats.bytes;
	t[NSI_SYS_UDP_RETRANSMITS] += (int64_t)s->stats.retransmits;
	t[NSI_SYS_UDP_RETRANSMIT_BYTES] += (int64_t)s->stats.retransmit_bytes;
	t[NSI_SYS_UDP_HEARTBEATS] += (int64_t)s->stats.heartbeats;
	t[NSI_SYS_UDP_SETUPS] += (int64_t)s->stats.setups;
	t[NSI_SYS_UDP_STATUS_RECEIVED] += (int64_t)s->stats.status_messages;
	t[NSI_SYS_UDP_NAKS_RECEIVED] += (int64_t)s->stats.naks;
	t[NSI_SYS_UDP_NAKS_IGNORED] += (int64_t)s->stats.naks_ignored;
	t[NSI_SYS_UDP_SHORT_SENDS] += (int64_t)s->stats.short_sends;
}

static void
add_receiver(int64_t *t, const struct nsi_receiver *r)
{
	t[NSI_SYS_UDP_DATAGRAMS_RECEIVED] += (int64_t)r->stats.datagrams;
	t[NSI_SYS_UDP_INVALID] += (int64_t)r->stats.invalid;
	t[NSI_SYS_UDP_STATUS_SENT] += (int64_t)r->stats.status_messages;
	t[NSI_SYS_UDP_NAKS_SENT] += (int64_t)r->stats.naks;
	t[NSI_SYS_UDP_IMAGES_REFUSED] += (int64_t)r->stats.images_refused;
	t[NSI_SYS_UDP_IMAGES_LOST] += (int64_t)r->stats.images_lost;
	t[NSI_SYS_UDP_BYTES_RECEIVED] += (int64_t)r->stats.bytes;
	t[NSI_SYS_UDP_OVERRUNS] += (int64_t)r->stats.overruns;
	t[NSI_SYS_UDP_UNDERRUNS] += (int64_t)r->stats.underruns;
	for (int i = 0; i < r->nimages; i++) {
		t[NSI_SYS_UDP_OVERRUNS] += (int64_t)r->images[i].rx.stats.out_of_window;
		t[NSI_SYS_UDP_UNDERRUNS] += (int64_t)r->images[i].rx.stats.duplicates;
	}
}

/*
 * ns-stat's view of the receivers a publication knows: for each, the position of its last
 * status message and the time since, labelled with its id, address, group tag and whether
 * flow control follows it; counters come and go with the receivers.
 */
static void
show_receivers(struct nsi_driver *d, struct drv_pub *p, int64_t now)
{
	struct drv_net_pub *n = p->net;
	const struct nsi_fc *fc = &n->sender.fc;
	for (int i = n->nshown - 1; i >= 0; i--) {
		bool known = false;
		for (int k = 0; k < fc->n && !known; k++)
			known = fc->r[k].id == n->shown[i].id;
		if (!known) {
			free_counter(d, &n->shown[i].status);
			free_counter(d, &n->shown[i].silence);
			n->shown[i] = n->shown[--n->nshown];
		}
	}
	for (int k = 0; k < fc->n; k++) {
		const struct nsi_fc_receiver *r = &fc->r[k];
		int i = 0;
		while (i < n->nshown && n->shown[i].id != r->id)
			i++;
		if (i == n->nshown) {
			char addr[64], tag[32] = "", label[NSI_COUNTER_LABEL_MAX + 1];
			nsi_udp_addr_str(&r->from, addr, sizeof(addr));
			if (r->has_tag)
				snprintf(tag, sizeof(tag), " tag %lld", (long long)r->tag);
			snprintf(label, sizeof(label),
				 "receiver %016llx at %s%s of publication %s session %d stream %d: "
				 "%s by fc=%s",
				 (unsigned long long)r->id, addr, tag, p->name, (int)p->session_id,
				 (int)p->stream_id, r->follows ? "followed" : "not followed",
				 nsi_fc_name(fc->p.kind));
			int64_t key = drv_pub_key(p);
			n->shown[i].id = r->id;
			n->shown[i].status =
				nsi_counter_alloc(&d->cnc.counters, NSI_COUNTER_RECEIVER_STATUS,
						  p->reg_id, key, label, now, 0);
			n->shown[i].silence =
				nsi_counter_alloc(&d->cnc.counters, NSI_COUNTER_RECEIVER_SILENCE,
						  p->reg_id, key, label, now, 0);
			n->nshown++;
		}
		set_counter(d, n->shown[i].status, r->position);
		set_counter(d, n->shown[i].silence, (now - r->last_ns) / MS);
	}
	if (n->dests_counter >= 0)
		set_counter(d, n->dests_counter, n->ndests);
}

void
nsi_net_refresh(struct nsi_driver *d)
{
	int64_t t[NSI_SYS_COUNT];
	memcpy(t, d->udp_closed, sizeof(t));
	int64_t rcvbuf = 0;
	for (int i = 0; i < d->pubs.n; i++) {
		struct drv_pub *p = d->pubs.v[i];
		if (p->kind == DRV_PUB_NET && p->net != NULL) {
			add_sender(t, &p->net->sender);
			set_counter(d, p->net_counter[0], p->net->sender.position);
			set_counter(d, p->net_counter[1], p->net->sender.limit);
			show_receivers(d, p, nsi_drv_now(d));
		}
	}
	for (int i = 0; i < d->draining.n; i++)
		add_sender(t, &d->draining.v[i]->sender);
	for (int i = 0; i < d->endpoints.n; i++) {
		const struct nsi_receiver *r = &d->endpoints.v[i]->rcv;
		for (int k = 0; k < r->nimages; k++) {
			const struct drv_pub *p = r->images[k].owner;
			set_counter(d, p->net_counter[0], r->images[k].rx.hwm);
			set_counter(d, p->net_counter[1], r->images[k].rx.rebuild);
		}
	}
	for (int i = 0; i < d->endpoints.n; i++) {
		add_receiver(t, &d->endpoints.v[i]->rcv);
		int64_t g = d->endpoints.v[i]->sock.rcvbuf_granted;
		if (rcvbuf == 0 || g < rcvbuf)
			rcvbuf = g;
	}
	t[NSI_SYS_UDP_RCVBUF] = rcvbuf;
	t[NSI_SYS_NET_LENT] = d->net_lent;
	for (int k = NSI_SYS_UDP_DATA_SENT; k < NSI_SYS_COUNT; k++)
		nsi_drv_sys_set(d, k, t[k]);
}

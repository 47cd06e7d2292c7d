/* SPDX-License-Identifier: MIT */
#include "config.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <nanostream/ring.h>

#include "client/client.h"
#include "ipc/uri.h"
#include "util/atomic.h"
#include "util/compiler.h"

/*
 * A network log: the driver's network thread may sleep, and an offer wakes it (ipc/cnc.h).
 * The wake socket's name is read once from the CnC header and checked; without one (an older
 * driver, or a name that is not ours) offers wake nobody and the driver finds them itself.
 */
static void
wake_setup(ns_publication *p)
{
	p->net_sleeping = NULL;
	p->wake_fd = -1;
	if (!p->log.driver_managed)
		return;
	char name[NSI_CNC_WAKE_NAME];
	memcpy(name, p->client->cnc.hdr->net_wake, sizeof(name));
	name[sizeof(name) - 1] = '\0';
	if (strncmp(name, NSI_CNC_WAKE_PREFIX, sizeof(NSI_CNC_WAKE_PREFIX) - 1) != 0)
		return;
	struct sockaddr_un a;
	socklen_t alen = nsi_cnc_wake_addr(name, &a);
	int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return;
	if (connect(fd, (struct sockaddr *)&a, alen) != 0) {
		close(fd);
		return;
	}
	p->wake_fd = fd;
	p->net_sleeping = &p->client->cnc.hdr->net_sleeping;
}

/* The flag was up: take it (one publisher wakes the thread, not every one) and wake it. */
static NS_NOINLINE void
wake_net(ns_publication *p)
{
	if (__atomic_exchange_n(p->net_sleeping, 0, __ATOMIC_SEQ_CST) == 0)
		return;
	char b = 1;
	(void)send(p->wake_fd, &b, 1, MSG_DONTWAIT); /* full: wake-ups wait there already */
}

/*
 * The network thread sleeps. With our own driver in this process, a message offered after a
 * pause is sent by this thread at once (driver/netloop.c, lending: no thread wake-up on the
 * way, the latency case). A message offered within LEND_QUIET_NS of the end of the previous
 * commit is one of a run: the thread is woken and sends the run in batches (the streaming
 * case; a system call per message would cap a stream at the rate of system calls). The
 * pause is measured from the end of the previous commit, so the time a lent send took does
 * not itself make the next message look like one after a pause.
 */
#define LEND_QUIET_NS 2000LL

static NS_NOINLINE void
sleeping_net(ns_publication *p)
{
	if (p->client->driver != NULL) {
		int64_t now = ns_clock_ns();
		bool quiet = now - p->lent_ns >= LEND_QUIET_NS;
		int rc = quiet ? nsi_driver_lend(p->client->driver) : -EAGAIN;
		p->lent_ns = quiet ? ns_clock_ns() : now; /* the end of this commit */
		if (rc >= 0)
			return;
	}
	wake_net(p);
}

/*
 * After a commit to a network log: the fence orders the commit before the read of the flag,
 * as the network thread's fence orders its store of the flag before its last look at the
 * logs (driver/netloop.c), so one of the two sees the other.
 */
NS_INLINE void
committed(ns_publication *p)
{
	if (p->net_sleeping == NULL)
		return;
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	if (NS_UNLIKELY(__atomic_load_n(p->net_sleeping, __ATOMIC_RELAXED) != 0))
		sleeping_net(p);
}

static int answer(ns_client *c, int rc, const struct nsi_response *r);

int
nsi_client_add(ns_client *c, bool sub, const char *uri, int32_t stream_id, int32_t exclusive,
	       int64_t correlation, struct nsi_response *r)
{
	uint8_t buf[sizeof(struct nsi_cmd_add) + NSI_URI_MAX];
	size_t ulen = strlen(uri);
	struct nsi_cmd_add m = { .client_id = c->client_id,
				 .correlation_id = correlation,
				 .stream_id = stream_id,
				 .exclusive = exclusive,
				 .uri_length = (int32_t)ulen };
	memcpy(buf, &m, sizeof(m));
	memcpy(buf + sizeof(m), uri, ulen);
	int rc = nsi_client_request(c, sub ? NSI_CMD_ADD_SUBSCRIPTION : NSI_CMD_ADD_PUBLICATION,
				    buf, (int32_t)(sizeof(m) + ulen), m.correlation_id, r);
	return answer(c, rc, r);
}

/* A driver's answer: 0 for OK, its error code with its text in ns_errmsg() for an error. */
static int
answer(ns_client *c, int rc, const struct nsi_response *r)
{
	if (rc == -ETIMEDOUT)
		return nsi_errmsg_set(rc, "the driver of %s did not answer within %lld ms", c->dir,
				      (long long)(c->timeout_ns / 1000000));
	if (rc == NS_EDRIVER_TIMEOUT)
		return nsi_errmsg_set(rc, "the driver of %s stopped (its heartbeat is stale)",
				      c->dir);
	if (rc != 0)
		return rc;
	if (r->type == NSI_RSP_ERROR) {
		struct nsi_rsp_error e;
		if (r->length < (int32_t)sizeof(e))
			return nsi_errmsg_set(-EPROTO, "the driver's answer is too short");
		memcpy(&e, r->msg, sizeof(e));
		if (e.code >= 0 || e.code <= -4096)
			return nsi_errmsg_set(-EPROTO, "the driver's answer has no error code");
		/* Its text, as far as it lies inside the answer (the length is the driver's word). */
		int32_t room = r->length - (int32_t)sizeof(e);
		int32_t len = e.text_length < 0 ? 0 : e.text_length > room ? room : e.text_length;
		return nsi_errmsg_text(e.code, "", r->msg + sizeof(e), (size_t)len);
	}
	return 0;
}

static int
destination(ns_publication *p, const char *uri, bool add)
{
	if (p == NULL || uri == NULL)
		return nsi_errmsg_set(-EINVAL, "a NULL publication or URI");
	struct nsi_uri u;
	char why[160];
	if (nsi_uri_parse(uri, &u, why, sizeof(why)) != 0)
		return nsi_errmsg_set(-EINVAL, "URI: %s", why);
	if (u.media != NSI_MEDIA_UDP || !u.endpoint.set)
		return nsi_errmsg_set(-EINVAL, "a destination is ns:udp?endpoint=host:port");
	ns_client *c = p->client;
	uint8_t buf[sizeof(struct nsi_cmd_destination) + NSI_URI_MAX];
	size_t ulen = strlen(uri);
	struct nsi_cmd_destination m = { .client_id = c->client_id,
					 .correlation_id = nsi_client_next_id(c),
					 .registration_id = p->reg_id,
					 .uri_length = (int32_t)ulen };
	memcpy(buf, &m, sizeof(m));
	memcpy(buf + sizeof(m), uri, ulen);
	struct nsi_response r;
	int rc = nsi_client_request(c, add ? NSI_CMD_ADD_DESTINATION : NSI_CMD_REMOVE_DESTINATION,
				    buf, (int32_t)(sizeof(m) + ulen), m.correlation_id, &r);
	return answer(c, rc, &r);
}

int
ns_publication_add_destination(ns_publication *pub, const char *uri)
{
	return destination(pub, uri, true);
}

int
ns_publication_remove_destination(ns_publication *pub, const char *uri)
{
	return destination(pub, uri, false);
}

/* Tell the driver a registration is gone (best effort: a silent driver does not stop us). */
void
nsi_client_remove(ns_client *c, bool sub, int64_t reg_id)
{
	struct nsi_cmd_remove m = { .client_id = c->client_id,
				    .correlation_id = nsi_client_next_id(c),
				    .registration_id = reg_id };
	struct nsi_response r;
	(void)nsi_client_request(c, sub ? NSI_CMD_REMOVE_SUBSCRIPTION : NSI_CMD_REMOVE_PUBLICATION,
				 &m, sizeof(m), m.correlation_id, &r);
}

static int
publication_add(ns_client *c, const char *uri, int32_t stream_id, uint32_t flags,
		ns_publication **out)
{
	struct nsi_uri u;
	char why[128];
	if (c == NULL || uri == NULL || out == NULL)
		return nsi_errmsg_set(-EINVAL, "a NULL client, URI or out pointer");
	if ((flags & ~NS_PUBLICATION_EXCLUSIVE) != 0)
		return nsi_errmsg_set(-EINVAL, "unknown flags 0x%x", flags);
	if (nsi_uri_parse(uri, &u, why, sizeof(why)) != 0)
		return nsi_errmsg_set(-EINVAL, "URI: %s", why);
	ns_publication *p = calloc(1, sizeof(*p));
	if (p == NULL)
		return -ENOMEM;
	struct nsi_response r = { 0 };
	int64_t correlation = nsi_client_next_id(c);
	int rc = nsi_client_add(c, false, uri, stream_id, (flags & NS_PUBLICATION_EXCLUSIVE) != 0,
				correlation, &r);
	struct nsi_rsp_publication m;
	if (rc == 0 && (r.type != NSI_RSP_PUBLICATION_READY || r.length < (int32_t)sizeof(m)))
		rc = -EPROTO;
	if (rc == 0) {
		memcpy(&m, r.msg, sizeof(m));
		if (m.name_length != r.length - (int32_t)sizeof(m))
			rc = -EPROTO;
	}
	if (rc == -EPROTO)
		(void)nsi_errmsg_set(rc, "the driver's answer is malformed");
	if (rc == 0) {
		rc = nsi_client_open_log(c, (const char *)r.msg + sizeof(m), m.name_length, &p->lf);
		if (rc != 0)
			(void)nsi_errmsg_set(rc, "the log file %.*s in %s: %s", m.name_length,
					     (const char *)r.msg + sizeof(m), c->dir,
					     ns_strerror(rc));
	}
	if (rc != 0) {
		if (r.type == NSI_RSP_PUBLICATION_READY)
			nsi_client_remove(c, false, correlation);
		free(p);
		return rc;
	}
	p->log = p->lf.log;
	p->exclusive = (flags & NS_PUBLICATION_EXCLUSIVE) != 0;
	p->pid = (int32_t)getpid();
	p->client = c;
	p->reg_id = correlation;
	p->session_id = m.session_id;
	p->stream_id = stream_id;
	wake_setup(p);
	pthread_mutex_lock(&c->lock);
	c->npubs++;
	pthread_mutex_unlock(&c->lock);
	*out = p;
	return 0;
}

int
ns_publication_add(ns_client *c, const char *uri, int32_t stream_id, uint32_t flags,
		   ns_publication **out)
{
	nsi_errmsg_clear();
	return nsi_errmsg_default(publication_add(c, uri, stream_id, flags, out));
}

int
ns_publication_close(ns_publication *p)
{
	if (p == NULL)
		return -EINVAL;
	ns_client *c = p->client;
	nsi_client_remove(c, false, p->reg_id);
	nsi_logfile_close(&p->lf);
	if (p->wake_fd >= 0)
		close(p->wake_fd);
	pthread_mutex_lock(&c->lock);
	c->npubs--;
	pthread_mutex_unlock(&c->lock);
	free(p);
	return 0;
}

/* ---- the publisher limit ---- */

#define LIMIT_LOCK_STALE_NS (1000LL * 1000000)

/* The driver's system counter of refused offers (shared by all publishers: an atomic add). */
static void
count_back_pressure(ns_publication *p)
{
	int64_t *c = nsi_counter_addr(&p->client->cnc.counters, NSI_SYS_BACK_PRESSURE);
	if (c != NULL)
		(void)nsi_add_fetch_acq_rel_i64(c, 1);
}

/*
 * Whether the limit lock's holder @word may be displaced: a word that is no pid (shared memory
 * may hold anything), a process that is gone, or the same word seen for LIMIT_LOCK_STALE_NS
 * (a live holder keeps it for microseconds; one that keeps it longer is stuck or forged).
 */
static bool
lock_holder_gone(ns_publication *p, int32_t word)
{
	if (word <= 0 || nsi_pid_gone(word))
		return true;
	/* Threads sharing the publication may all look: relaxed atomics, a heuristic's words. */
	int64_t now = ns_clock_ns();
	if ((uint32_t)word != nsi_load_relaxed_u32((const uint32_t *)&p->lock_seen)) {
		nsi_store_relaxed_u32((uint32_t *)&p->lock_seen, (uint32_t)word);
		nsi_store_relaxed_i64(&p->lock_seen_ns, now);
		return false;
	}
	return now - nsi_load_relaxed_i64(&p->lock_seen_ns) >= LIMIT_LOCK_STALE_NS;
}

/* The limit in the log's metadata (one load), taken when it lets @position move on. */
static bool
shared_limit_ahead(ns_publication *p, int64_t position)
{
	int64_t shared = nsi_load_acquire_i64(&p->log.meta->publisher_limit);
	if (shared <= position)
		return false;
	nsi_store_release_i64(&p->limit, shared);
	return true;
}

/*
 * The limit ran out: take the slowest subscriber's position, clean the log behind it and
 * raise the limit to it plus the window. One publisher at a time does it (a lock word in the
 * log's metadata holding its pid; a dead holder's lock is taken over).
 */
NS_COLD static int
refresh_limit(ns_publication *p, int64_t position)
{
	struct nsi_log_meta *m = p->log.meta;
	if (nsi_logfile_broken(&p->lf))
		return NS_LOG_CORRUPT;
	if (shared_limit_ahead(p, position))
		return 0;
	if (nsi_load_acquire_i64(&m->end_of_stream_position) != INT64_MAX)
		return NS_PUBLICATION_CLOSED;
	/* Our own driver's network thread sleeps: send what the window holds from here. */
	if (p->net_sleeping != NULL && p->client->driver != NULL &&
	    __atomic_load_n(p->net_sleeping, __ATOMIC_RELAXED) != 0 &&
	    nsi_driver_lend(p->client->driver) > 0 && shared_limit_ahead(p, position))
		return 0;
	if (nsi_client_driver_dead(p->client))
		return NS_EDRIVER_TIMEOUT;
	/*
	 * A network log's limit is its driver's alone (it follows the receivers): not there
	 * yet is back pressure. (The local subscribers' scan below would find none, and said
	 * "not connected" of a connected publication whose receivers were behind.)
	 */
	if (p->log.driver_managed) {
		count_back_pressure(p);
		return NS_BACK_PRESSURED;
	}
	uint32_t expected = 0;
	if (!nsi_cas_acq_rel_u32((uint32_t *)&m->limit_lock, &expected, (uint32_t)p->pid) &&
	    (!lock_holder_gone(p, (int32_t)expected) ||
	     !nsi_cas_acq_rel_u32((uint32_t *)&m->limit_lock, &expected, (uint32_t)p->pid))) {
		count_back_pressure(p);
		return NS_BACK_PRESSURED;
	}
	nsi_store_relaxed_u32((uint32_t *)&p->lock_seen, 0); /* a holder seen later: new */
	const struct nsi_counters *counters = &p->client->cnc.counters;
	int64_t min = INT64_MAX;
	for (int i = 0; i < NSI_LOG_MAX_SUBSCRIBERS; i++) {
		int32_t id =
			(int32_t)nsi_load_acquire_u32((const uint32_t *)&m->subscriber_counters[i]);
		int64_t *v = id >= 0 ? nsi_counter_addr(counters, id) : NULL;
		if (v == NULL)
			continue;
		int64_t pos = nsi_load_acquire_i64(v);
		if (pos < min)
			min = pos;
	}
	int rc = 0;
	if (min == INT64_MAX) {
		rc = NS_NOT_CONNECTED;
	} else {
		/* Cleans and raises the limit, or for a driver-managed log only reads it. */
		int64_t limit = nsi_log_publisher_limit(&p->log, min);
		nsi_store_release_i64(&p->limit, limit);
		if (limit <= position)
			rc = NS_BACK_PRESSURED;
	}
	nsi_store_release_u32((uint32_t *)&m->limit_lock, 0);
	if (rc == NS_BACK_PRESSURED)
		count_back_pressure(p);
	return rc;
}

/* 0 when the next message may start, else the offer result that says why not. */
NS_INLINE int
check_limit(ns_publication *p)
{
	/*
	 * A network log is connected while a receiver answers (the driver keeps the flag, and
	 * writes it only when it changes): without one, offers fail at once, as Aeron's do,
	 * instead of filling the window for nobody.
	 */
	if (p->log.driver_managed &&
	    NS_UNLIKELY(nsi_load_relaxed_u32((const uint32_t *)&p->log.meta->is_connected) == 0))
		return NS_NOT_CONNECTED;
	int64_t position = nsi_log_tail_position(&p->log);
	/*
	 * The cached limit: threads sharing the publication refresh it, so it is an atomic,
	 * stored with release by the thread that read the subscribers' positions (acquire) and
	 * loaded with acquire here, so an append into space a subscriber has left happens after
	 * that subscriber read it (plain moves on x86-64). Each value stored was the limit at
	 * some moment and the limit only rises, so a stale one is lower: it only sends a thread
	 * to refresh_limit().
	 */
	return NS_LIKELY(position < nsi_load_acquire_i64(&p->limit)) ? 0
								     : refresh_limit(p, position);
}

/*
 * An appender's result as an offer result. The slow paths check whether the log was truncated
 * under us (the guard put zeros there, which read as a term that never rotates): that is a
 * corrupt log, not an admin action to retry for ever.
 */
static int64_t
append_result(const ns_publication *p, int64_t r)
{
	if (r == NSI_LOG_ROTATED)
		return NS_UNLIKELY(nsi_logfile_broken(&p->lf)) ? NS_LOG_CORRUPT : NS_ADMIN_ACTION;
	if (r == NSI_LOG_MAX_POSITION)
		return NS_MAX_POSITION_EXCEEDED;
	if (r == NSI_LOG_CORRUPT)
		return NS_LOG_CORRUPT;
	return r;
}

int64_t
ns_offer(ns_publication *p, const void *buf, size_t len)
{
	if (NS_UNLIKELY(p == NULL || (buf == NULL && len > 0)))
		return -EINVAL;
	if (NS_UNLIKELY(len > (size_t)p->log.max_message))
		return -EMSGSIZE;
	int rc = check_limit(p);
	if (NS_UNLIKELY(rc != 0))
		return rc;
	int64_t r = nsi_log_append(&p->log, p->exclusive, buf, (int32_t)len);
	if (NS_LIKELY(r > 0)) {
		committed(p);
		return r;
	}
	return append_result(p, r);
}

int64_t
ns_offerv(ns_publication *p, const struct iovec *iov, int iovcnt)
{
	if (p == NULL || iovcnt < 0 || (iov == NULL && iovcnt > 0))
		return -EINVAL;
	size_t total = 0;
	for (int i = 0; i < iovcnt; i++) {
		if (iov[i].iov_base == NULL && iov[i].iov_len > 0)
			return -EINVAL;
		total += iov[i].iov_len;
		if (total > (size_t)p->log.max_message)
			return -EMSGSIZE;
	}
	int rc = check_limit(p);
	if (rc != 0)
		return rc;
	_Static_assert(sizeof(struct nsi_gather) == sizeof(struct iovec), "gather is an iovec");
	int64_t r =
		nsi_log_appendv(&p->log, p->exclusive, (const struct nsi_gather *)(const void *)iov,
				iovcnt, (int32_t)total);
	if (r > 0)
		committed(p);
	return append_result(p, r);
}

_Static_assert(sizeof(struct nsi_log_claim) <= sizeof(void *) * 2 + sizeof(int64_t), "claim fits");

/*
 * struct ns_claim has no room for its publication, and a commit to a network log must wake a
 * sleeping network thread: the thread's last claim on a network log is remembered here. A
 * commit of another claim (several open at once) wakes nobody; the thread then finds the
 * frame within its next look (it watches a log whose tail is ahead of what it sent).
 */
static __thread struct {
	void *frame;
	ns_publication *pub;
} last_claim;

int64_t
ns_try_claim(ns_publication *p, size_t len, struct ns_claim *claim)
{
	if (NS_UNLIKELY(p == NULL || claim == NULL))
		return -EINVAL;
	if (NS_UNLIKELY(len > (size_t)p->log.max_payload))
		return -EMSGSIZE;
	int rc = check_limit(p);
	if (NS_UNLIKELY(rc != 0))
		return rc;
	struct nsi_log_claim c;
	int64_t r = nsi_log_claim(&p->log, p->exclusive, (int32_t)len, &c);
	if (r < 0)
		return append_result(p, r);
	claim->data = c.payload;
	claim->length = len;
	claim->frame_ = c.hdr;
	claim->position = r;
	if (p->net_sleeping != NULL) {
		last_claim.frame = c.hdr;
		last_claim.pub = p;
	}
	return r;
}

static int
finish_claim(struct ns_claim *claim, bool commit)
{
	if (claim == NULL || claim->frame_ == NULL)
		return -EINVAL;
	struct nsi_log_claim c = { .hdr = claim->frame_,
				   .payload = claim->data,
				   .length = (int32_t)claim->length };
	if (commit)
		nsi_log_claim_commit(&c);
	else
		nsi_log_claim_abort(&c);
	if (last_claim.frame == claim->frame_) {
		committed(last_claim.pub);
		last_claim.frame = NULL;
	}
	claim->frame_ = NULL;
	claim->data = NULL;
	return 0;
}

int
ns_claim_commit(struct ns_claim *claim)
{
	return finish_claim(claim, true);
}

int
ns_claim_abort(struct ns_claim *claim)
{
	return finish_claim(claim, false);
}

static bool
retryable(int64_t r)
{
	return r == NS_BACK_PRESSURED || r == NS_ADMIN_ACTION || r == NS_NOT_CONNECTED;
}

int64_t
ns_offer_wait(ns_publication *p, const void *buf, size_t len, uint32_t wait, int64_t deadline_ns)
{
	if (p == NULL || !nsi_wait_kind_ok(wait))
		return -EINVAL;
	for (uint64_t i = 0;; i++) {
		int64_t r = ns_offer(p, buf, len);
		if (!retryable(r))
			return r;
		/*
		 * The deadline holds whatever the log says: an admin action is retried at once,
		 * but a log whose metadata keeps saying "rotating" (damaged or forged) must not
		 * keep us past it.
		 */
		if (ns_clock_ns() >= deadline_ns)
			return -ETIMEDOUT;
		if (r != NS_ADMIN_ACTION) {
			if (nsi_client_try_work(p->client) == NS_EDRIVER_TIMEOUT)
				return NS_EDRIVER_TIMEOUT;
			nsi_backoff(wait, i);
		}
	}
}

int
ns_publication_wait_connected(ns_publication *p, int64_t deadline_ns)
{
	if (p == NULL)
		return -EINVAL;
	for (uint64_t i = 0; !ns_publication_is_connected(p); i++) {
		if (ns_clock_ns() >= deadline_ns)
			return -ETIMEDOUT;
		if (nsi_client_try_work(p->client) == NS_EDRIVER_TIMEOUT)
			return NS_EDRIVER_TIMEOUT;
		nsi_backoff(NS_WAIT_PHASED, i);
	}
	return 0;
}

int
ns_publication_is_connected(const ns_publication *p)
{
	if (p == NULL)
		return -EINVAL;
	return nsi_load_acquire_u32((const uint32_t *)&p->log.meta->is_connected) != 0;
}

int64_t
ns_publication_position(const ns_publication *p)
{
	if (p == NULL)
		return -EINVAL;
	return nsi_log_tail_position(&p->log);
}

int32_t
ns_publication_session_id(const ns_publication *p)
{
	return p != NULL ? p->session_id : -EINVAL;
}

int32_t
ns_publication_max_message(const ns_publication *p)
{
	return p != NULL ? p->log.max_message : -EINVAL;
}

int32_t
ns_publication_max_payload(const ns_publication *p)
{
	return p != NULL ? p->log.max_payload : -EINVAL;
}

/* SPDX-License-Identifier: MIT */
#include "config.h"

#include <errno.h>
#include <pwd.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <nanostream/ring.h>

#include "client/client.h"
#include "ipc/defaults.h"
#include "ipc/uri.h"
#include "util/atomic.h"
#include "util/cpu.h"
#include "util/sized.h"

/* First released size (util/sized.h): never change it. */
#define CLIENT_OPTS_0_2 NSI_SIZE_UPTO(struct ns_client_opts, reserved)

#define KEEPALIVE_NS NSI_MS(NSI_DEFAULT_KEEPALIVE_MS)

static int64_t
now_ns(void)
{
	return ns_clock_ns();
}

/* The clock of liveness checks (injectable); waits with deadlines use the real one. */
static int64_t
client_now(const ns_client *c)
{
	return c->clock != NULL ? c->clock(c->clock_ctx) : ns_clock_ns();
}

void
nsi_backoff(uint32_t wait, uint64_t i)
{
	struct timespec ts = { 0, 50000 };
	switch (wait) {
	case NS_WAIT_BUSY_SPIN:
		__builtin_ia32_pause();
		break;
	case NS_WAIT_YIELD:
		sched_yield();
		break;
	case NS_WAIT_SLEEP:
		nanosleep(&ts, NULL);
		break;
	default: /* NS_WAIT_PHASED */
		if (i < 1000)
			__builtin_ia32_pause();
		else if (i < 1100)
			sched_yield();
		else
			nanosleep(&ts, NULL);
		break;
	}
}

bool
nsi_wait_kind_ok(uint32_t wait)
{
	return wait == NS_WAIT_BUSY_SPIN || wait == NS_WAIT_YIELD || wait == NS_WAIT_SLEEP ||
	       wait == NS_WAIT_PHASED;
}

int64_t
nsi_client_next_id(ns_client *c)
{
	return nsi_mpsc_next_id(&c->cnc.to_driver);
}

/* ---- notices from the driver ---- */

static ns_subscription *
find_sub(ns_client *c, int64_t reg_id)
{
	for (int i = 0; i < c->nsubs; i++)
		if (c->subs[i]->reg_id == reg_id)
			return c->subs[i];
	return NULL;
}

static bool
push(void **v, int *n, int *cap, size_t elem, const void *item)
{
	if (*n == *cap) {
		int ncap = *cap > 0 ? *cap * 2 : 4;
		void *p = realloc(*v, (size_t)ncap * elem);
		if (p == NULL)
			return false;
		*v = p;
		*cap = ncap;
	}
	memcpy((uint8_t *)*v + (size_t)*n * elem, item, elem);
	(*n)++;
	return true;
}

int
nsi_client_open_log(ns_client *c, const char *name, int32_t name_len, struct nsi_logfile *lf)
{
	char path[PATH_MAX];
	/* A name from shared memory: a plain file name, nothing that walks elsewhere. */
	if (name_len <= 0 || name_len >= NSI_NAME_MAX || memchr(name, '/', (size_t)name_len) ||
	    memchr(name, '\0', (size_t)name_len) || name[0] == '.')
		return -EINVAL;
	snprintf(path, sizeof(path), "%s/%.*s", c->dir, (int)name_len, name);
	return nsi_logfile_open(lf, path);
}

void
nsi_image_free(ns_image *img)
{
	if (img == NULL)
		return;
	nsi_logfile_close(&img->lf);
	nsi_log_reader_free(&img->rd);
	free(img);
}

/* Where @image_id is in @s's list of images announced and not yet gone, or -1. */
static int
known_image(const ns_subscription *s, int64_t image_id)
{
	for (int i = 0; i < s->nknown; i++)
		if (s->known[i] == image_id)
			return i;
	return -1;
}

static void
on_image_available(ns_client *c, ns_subscription *s, struct nsi_rsp_image m, const uint8_t *msg,
		   int32_t length)
{
	/* A notice seen twice (the broadcast can be forged or replayed) adds no second reader. */
	if (m.name_length != length - (int32_t)sizeof(m) || known_image(s, m.image_id) >= 0)
		return;
	ns_image *img = calloc(1, sizeof(*img));
	if (img == NULL)
		return;
	int64_t *counter = nsi_counter_addr(&c->cnc.counters, m.position_counter);
	if (counter == NULL ||
	    nsi_client_open_log(c, (const char *)msg + sizeof(m), m.name_length, &img->lf) != 0) {
		free(img);
		return;
	}
	img->log = img->lf.log;
	/* Tell the driver the file is mapped: a closed log's file need not linger for us. */
	nsi_store_release_i64(counter + NSI_COUNTER_MAPPED_WORD, m.image_id);
	/*
	 * A stream that ended before this notice was read: its counter is already released, and
	 * nothing needs holding back any more; the image is read to its end without one.
	 */
	if (nsi_counter_type(&c->cnc.counters, m.position_counter) !=
	    NSI_COUNTER_SUBSCRIBER_POSITION) {
		if (nsi_load_acquire_i64(&img->log.meta->end_of_stream_position) == INT64_MAX) {
			nsi_image_free(img);
			return;
		}
		counter = NULL;
	}
	const struct nsi_data_header *dh = &img->log.meta->default_header;
	if (m.position < 0 || m.position % NSI_FRAME_ALIGN != 0 || dh->session_id != m.session_id ||
	    dh->stream_id != m.stream_id) {
		nsi_image_free(img);
		return;
	}
	/* Everything a read needs is allocated here, never on the polling path. */
	if (nsi_log_reader_init(&img->rd, &img->log, m.position, img) != 0) {
		nsi_image_free(img);
		return;
	}
	img->rd.position_out = counter;
	img->rd.messages_out = counter != NULL ? counter + NSI_COUNTER_MESSAGES_WORD : NULL;
	img->image_id = m.image_id;
	img->session_id = m.session_id;
	img->sub = s;
	if (!push((void **)&s->known, &s->nknown, &s->cap_known, sizeof(m.image_id), &m.image_id)) {
		nsi_image_free(img);
		return;
	}
	if (!push((void **)&s->arrived, &s->narrived, &s->cap_arrived, sizeof(img), &img)) {
		s->nknown--;
		nsi_image_free(img);
		return;
	}
	nsi_store_release_u32(&s->changed, 1);
}

static void
on_image_unavailable(ns_subscription *s, struct nsi_rsp_image m)
{
	int k = known_image(s, m.image_id);
	if (k < 0)
		return; /* never announced (or already gone): nothing of ours */
	s->known[k] = s->known[--s->nknown];
	struct nsi_image_gone g = { .image_id = m.image_id, .eos = m.position };
	if (push((void **)&s->gone, &s->ngone, &s->cap_gone, sizeof(g), &g))
		nsi_store_release_u32(&s->changed, 1);
}

static void
dispatch(ns_client *c, int32_t type, const uint8_t *msg, int32_t length)
{
	if (type == NSI_RSP_IMAGE_AVAILABLE || type == NSI_RSP_IMAGE_UNAVAILABLE) {
		struct nsi_rsp_image m;
		if (length < (int32_t)sizeof(m))
			return;
		memcpy(&m, msg, sizeof(m));
		ns_subscription *s = find_sub(c, m.subscription_id);
		if (s == NULL)
			return; /* another client's */
		if (type == NSI_RSP_IMAGE_AVAILABLE)
			on_image_available(c, s, m, msg, length);
		else
			on_image_unavailable(s, m);
		return;
	}
	/* Responses start with the correlation id. */
	if (c->waiting == NULL || length < 8 || length > (int32_t)sizeof(c->waiting->msg))
		return;
	int64_t correlation;
	memcpy(&correlation, msg, 8);
	if (correlation != c->waiting->correlation_id)
		return;
	c->waiting->type = type;
	c->waiting->length = length;
	memcpy(c->waiting->msg, msg, (size_t)length);
}

/*
 * Read the driver's broadcasts (lock held): at most NOTICES_PER_CALL records, so a buffer
 * full of forged records cannot keep the caller (and the lock) for long; the rest wait for
 * the next call.
 */
#define NOTICES_PER_CALL 256

static int
read_notices(ns_client *c)
{
	uint8_t buf[1024];
	int32_t type, length;
	int n = 0, rc = 0;
	/* The tail before reading: a notice that lands meanwhile still differs from it. */
	int64_t tail = nsi_load_acquire_i64(&c->cnc.to_clients.trailer->tail);
	for (int i = 0; i < NOTICES_PER_CALL; i++) {
		rc = nsi_bcast_receive(&c->rx, &type, buf, sizeof(buf), &length);
		if (rc == 0)
			break;
		if (rc == 1) {
			dispatch(c, type, buf, length);
			n++;
		}
	}
	/* Not all read: leave seen_tail behind so the next poll comes back for the rest. */
	if (rc == 0)
		nsi_store_relaxed_i64(&c->seen_tail, tail);
	return n;
}

/*
 * How often to tell the driver this client lives: a quarter of the driver's client liveness
 * timeout (from its CnC header), at most KEEPALIVE_NS.
 */
static int64_t
keepalive_interval(const ns_client *c)
{
	int64_t liveness = c->cnc.hdr->client_liveness_ns / 4;
	if (liveness <= 0 || liveness > KEEPALIVE_NS)
		return KEEPALIVE_NS;
	return liveness < 1000000 ? 1000000 : liveness;
}

/* Tell the driver this client lives, every keepalive interval at most (lock held). */
static int
keepalive(ns_client *c)
{
	int64_t now = client_now(c);
	if (now - c->last_keepalive_ns < keepalive_interval(c))
		return 0;
	/* A keepalive carries the pid: the driver releases a client whose process is gone. */
	struct nsi_cmd_remove m = { .client_id = c->client_id,
				    .registration_id = (int64_t)getpid() };
	if (nsi_mpsc_write(&c->cnc.to_driver, NSI_CMD_KEEPALIVE, &m, sizeof(m)) != 0)
		return 0; /* the ring is full: the next call tries again */
	c->last_keepalive_ns = now;
	return 1;
}

/*
 * Whether the driver of another process lives: its heartbeat is fresh and it holds the
 * directory's lock (which the kernel drops when its process ends, however it ends). The
 * heartbeat is shared memory: the newest value seen that is not in the future is kept, so a
 * forged old or future value changes nothing; a forged pid is never consulted.
 */
static bool
driver_alive(ns_client *c)
{
	int64_t now = client_now(c), beat = nsi_cnc_heartbeat(&c->cnc);
	if (beat <= now && beat > c->newest_beat)
		c->newest_beat = beat;
	if (nsi_sub_sat_i64(now, c->newest_beat) > c->driver_timeout_ns)
		return false; /* hung, stopped or gone */
	return nsi_driver_lock_held(c->lock_fd, c->cnc.dev, c->cnc.ino) != 0;
}

bool
nsi_client_driver_dead(const ns_client *c)
{
	return nsi_load_acquire_u32(&c->driver_dead) != 0;
}

static int
work_locked(ns_client *c)
{
	/*
	 * A driver of another process that stopped; our own (embedded) one that failed; or
	 * cnc.dat truncated under us (the guard put zeros where it was): the driver is gone.
	 */
	if (!nsi_client_driver_dead(c) &&
	    ((c->driver == NULL && !driver_alive(c)) ||
	     (c->driver != NULL && nsi_driver_failed(c->driver)) || nsi_cnc_broken(&c->cnc)))
		nsi_store_release_u32(&c->driver_dead, 1);
	if (nsi_client_driver_dead(c))
		return NS_EDRIVER_TIMEOUT;
	int n = keepalive(c);
	if (c->driver != NULL && !c->driver_threaded)
		n += nsi_driver_do_work(c->driver);
	return n + read_notices(c);
}

int
nsi_client_try_work(ns_client *c)
{
	if (pthread_mutex_trylock(&c->lock) != 0)
		return 0;
	int n = work_locked(c);
	pthread_mutex_unlock(&c->lock);
	return n;
}

int
ns_client_do_work(ns_client *c)
{
	if (c == NULL)
		return -EINVAL;
	pthread_mutex_lock(&c->lock);
	int n = work_locked(c);
	pthread_mutex_unlock(&c->lock);
	return n;
}

int
ns_client_is_embedded(const ns_client *c)
{
	if (c == NULL)
		return -EINVAL;
	return c->driver != NULL;
}

int
nsi_client_request(ns_client *c, int32_t type, const void *msg, int32_t length, int64_t correlation,
		   struct nsi_response *out)
{
	pthread_mutex_lock(&c->lock);
	if (work_locked(c) == NS_EDRIVER_TIMEOUT) {
		pthread_mutex_unlock(&c->lock);
		return NS_EDRIVER_TIMEOUT;
	}
	int64_t deadline = now_ns() + c->timeout_ns;
	uint32_t *bell = &c->cnc.hdr->client_doorbell;
	int rc;
	while ((rc = nsi_mpsc_write(&c->cnc.to_driver, type, msg, length)) == -EAGAIN) {
		if (now_ns() > deadline)
			break;
		(void)work_locked(c);
		nsi_backoff(NS_WAIT_SLEEP, 0);
	}
	if (rc != 0) {
		pthread_mutex_unlock(&c->lock);
		return rc == -EAGAIN ? -ETIMEDOUT : rc;
	}
	nsi_doorbell_ring(&c->cnc.hdr->driver_doorbell);
	out->correlation_id = correlation;
	out->type = 0;
	c->waiting = out;
	for (;;) {
		uint32_t seen = nsi_load_acquire_u32(bell);
		(void)work_locked(c);
		if (out->type != 0)
			break;
		if (nsi_client_driver_dead(c)) {
			rc = NS_EDRIVER_TIMEOUT;
			break;
		}
		int64_t left = deadline - now_ns();
		if (left <= 0) {
			rc = -ETIMEDOUT;
			break;
		}
		if (c->driver == NULL || c->driver_threaded)
			(void)nsi_doorbell_wait(bell, seen, left < 10000000 ? left : 10000000);
	}
	c->waiting = NULL;
	pthread_mutex_unlock(&c->lock);
	return rc;
}

int
nsi_client_add_sub(ns_client *c, ns_subscription *s)
{
	pthread_mutex_lock(&c->lock);
	bool ok = push((void **)&c->subs, &c->nsubs, &c->cap_subs, sizeof(s), &s);
	pthread_mutex_unlock(&c->lock);
	return ok ? 0 : -ENOMEM;
}

void
nsi_client_remove_sub(ns_client *c, ns_subscription *s)
{
	pthread_mutex_lock(&c->lock);
	for (int i = 0; i < c->nsubs; i++)
		if (c->subs[i] == s)
			c->subs[i] = c->subs[--c->nsubs];
	pthread_mutex_unlock(&c->lock);
}

/* ---- life cycle ---- */

int
nsi_default_dir(char *buf, size_t len)
{
	const char *env = getenv("NANOSTREAM_DIR");
	if (env != NULL && env[0] != '\0') {
		if (strlen(env) >= len)
			return -EINVAL;
		snprintf(buf, len, "%s", env);
		return 0;
	}
	struct passwd pw, *res = NULL;
	char pwbuf[1024];
	if (getpwuid_r(geteuid(), &pw, pwbuf, sizeof(pwbuf), &res) == 0 && res != NULL)
		snprintf(buf, len, "/dev/shm/nanostream-%s", res->pw_name);
	else
		snprintf(buf, len, "/dev/shm/nanostream-%u", (unsigned)geteuid());
	return 0;
}

/*
 * A client of a driver in another process keeps itself alive and hears the driver's notices
 * from a thread that sleeps on the broadcast doorbell (at most half a keepalive period): it
 * never spins, and applications that only offer or poll are not timed out.
 */
static void *
conductor_main(void *arg)
{
	ns_client *c = arg;
	uint32_t *bell = &c->cnc.hdr->client_doorbell;
	while (!__atomic_load_n(&c->stop, __ATOMIC_ACQUIRE)) {
		uint32_t seen = nsi_load_acquire_u32(bell);
		pthread_mutex_lock(&c->lock);
		int rc = work_locked(c);
		pthread_mutex_unlock(&c->lock);
		if (rc == NS_EDRIVER_TIMEOUT)
			break; /* nothing more to do: the application learns it from its calls */
		(void)nsi_doorbell_wait(bell, seen, keepalive_interval(c) / 2);
	}
	return NULL;
}

static void *
driver_main(void *arg)
{
	ns_client *c = arg;
	nsi_driver_run(c->driver, &c->stop);
	return NULL;
}

/*
 * Open the directory's CnC file when a live driver is behind it. Returns 0, -ENOENT (no driver
 * holds the directory), -EHOSTDOWN (one holds it but its heartbeat is stale: it hangs), or
 * nsi_cnc_open()'s error.
 */
static int
connect_cnc(ns_client *c, const char *path)
{
	int rc = nsi_cnc_open(&c->cnc, path);
	if (rc != 0)
		return rc;
	c->lock_fd = nsi_driver_lock_open(c->dir);
	/* Held, and by the driver of the file we mapped (not a new one about to replace it). */
	int held = c->lock_fd >= 0 ? nsi_driver_lock_held(c->lock_fd, c->cnc.dev, c->cnc.ino)
				   : c->lock_fd;
	c->newest_beat = 0;
	int64_t now = client_now(c), beat = nsi_cnc_heartbeat(&c->cnc);
	if (beat <= now && beat > 0)
		c->newest_beat = beat;
	rc = held == 1 && nsi_sub_sat_i64(now, c->newest_beat) <= c->driver_timeout_ns ? 0
	     : held == 1							       ? -EHOSTDOWN
										       : -ENOENT;
	if (rc != 0) {
		if (c->lock_fd >= 0)
			close(c->lock_fd);
		c->lock_fd = -1;
		nsi_cnc_close(&c->cnc);
	}
	return rc;
}

/* ns_errmsg() for a client that could not connect to (or start) the directory's driver. */
static void
connect_errmsg(int rc, const char *dir, int64_t timeout_ns)
{
	switch (rc) {
	case -ECONNREFUSED:
		(void)nsi_errmsg_set(rc, "no driver runs in %s, and NS_CLIENT_NO_EMBEDDED is set",
				     dir);
		break;
	case NS_EDRIVER_TIMEOUT:
		(void)nsi_errmsg_set(rc,
				     "a driver holds %s but does not answer (its heartbeat is "
				     "stale: hung or stopped)",
				     dir);
		break;
	case -EPROTONOSUPPORT:
		(void)nsi_errmsg_set(rc, "the driver of %s is of another major version", dir);
		break;
	case -ETIMEDOUT:
		(void)nsi_errmsg_set(rc, "no driver of %s was ready within %lld ms", dir,
				     (long long)(timeout_ns / 1000000));
		break;
	default:
		(void)nsi_errmsg_set(rc, "the driver of %s: %s", dir, ns_strerror(rc));
		break;
	}
}

static int
client_create(ns_client **out, const struct ns_client_opts *user_opts)
{
	struct ns_client_opts o;
	const struct ns_client_opts *opts = &o;

	if (out == NULL || user_opts == NULL)
		return nsi_errmsg_set(-EINVAL, "a NULL out pointer or options");
	if (nsi_sized_in(&o, sizeof(o), user_opts, CLIENT_OPTS_0_2) != 0)
		return nsi_errmsg_set(-EINVAL,
				      "options: size %u outside the sized-struct rule, or "
				      "unknown non-zero bytes",
				      user_opts->size);
	if ((opts->flags & ~(NS_CLIENT_NO_THREAD | NS_CLIENT_NO_EMBEDDED)) != 0)
		return nsi_errmsg_set(-EINVAL, "options: unknown flags 0x%x", opts->flags);
	if (opts->timeout_ns < 0 || opts->driver_timeout_ns < 0 || opts->client_timeout_ns < 0 ||
	    opts->unblock_timeout_ns < 0 || opts->term_length < 0 || opts->mtu < 0)
		return nsi_errmsg_set(-EINVAL, "options: a negative timeout, term_length or mtu");
	for (int i = 0; i < 3; i++)
		if (opts->reserved[i] != 0)
			return nsi_errmsg_set(-EINVAL, "options: reserved words must be 0");
	if (opts->mem_policy > NS_MEM_NORMAL)
		return nsi_errmsg_set(-EINVAL, "options: unknown mem_policy %u", opts->mem_policy);
	/* An embedded driver's log defaults, worked out once: a default MTU fits the term. */
	struct nsi_log_params lp = { .term_length = opts->term_length ? opts->term_length
								      : NSI_DEFAULT_TERM_LENGTH };
	lp.mtu = opts->mtu ? opts->mtu : nsi_log_mtu_fit(lp.term_length, NSI_DEFAULT_MTU);
	if (nsi_log_params_check(&lp) != 0)
		return nsi_errmsg_set(-EINVAL,
				      "options: term_length %d and mtu %d do not fit together",
				      lp.term_length, lp.mtu);
	ns_client *c = calloc(1, sizeof(*c));
	if (c == NULL)
		return -ENOMEM;
	c->lock_fd = -1;
	int rc = 0;
	if (opts->dir != NULL) {
		if (strlen(opts->dir) >= sizeof(c->dir))
			rc = -EINVAL;
		else
			snprintf(c->dir, sizeof(c->dir), "%s", opts->dir);
	} else {
		rc = nsi_default_dir(c->dir, sizeof(c->dir));
	}
	if (rc != 0)
		(void)nsi_errmsg_set(rc, "no usable driver directory name: %s", ns_strerror(rc));
	if (rc == 0) {
		rc = nsi_dir_secure(c->dir);
		if (rc != 0)
			(void)nsi_errmsg_set(rc, "the directory %s is %s", c->dir,
					     rc == -EPERM ? "not private to this user (owner, mode "
							    "or ACL)"
							  : ns_strerror(rc));
	}
	if (rc != 0) {
		free(c);
		return rc;
	}
	c->flags = opts->flags;
	c->clock = opts->clock;
	c->clock_ctx = opts->clock_ctx;
	c->timeout_ns =
		opts->timeout_ns ? opts->timeout_ns : NSI_MS(NSI_DEFAULT_REQUEST_TIMEOUT_MS);
	c->driver_timeout_ns = opts->driver_timeout_ns ? opts->driver_timeout_ns
						       : NSI_MS(NSI_DEFAULT_DRIVER_TIMEOUT_MS);
	char path[PATH_MAX];
	snprintf(path, sizeof(path), "%s/%s", c->dir, NSI_CNC_FILE);
	int64_t deadline = now_ns() + c->timeout_ns;
	for (uint64_t i = 0;; i++) {
		rc = connect_cnc(c, path);
		/*
		 * A dead driver's file (-ENOENT here), a foreign or broken one: no driver. A hung
		 * one (-EHOSTDOWN, which is NS_EDRIVER_TIMEOUT) holds the directory: that is the
		 * answer, there is no waiting it out.
		 */
		bool none = rc == -ENOENT || rc == -EINVAL || rc == -EPROTO;
		if (rc == 0 || (!none && rc != -EAGAIN))
			break;
		if (none && (opts->flags & NS_CLIENT_NO_EMBEDDED)) {
			rc = -ECONNREFUSED;
			break;
		}
		if (none) {
			struct nsi_driver_opts d = {
				.dir = c->dir,
				.heartbeat_ns = NSI_MS(NSI_DEFAULT_HEARTBEAT_MS),
				.client_liveness_ns = opts->client_timeout_ns,
				.unblock_timeout_ns = opts->unblock_timeout_ns,
				.clock = opts->clock,
				.clock_ctx = opts->clock_ctx,
				.driver_timeout_ns = c->driver_timeout_ns,
				.term_length = lp.term_length,
				.mtu = lp.mtu,
				.mem_huge = opts->mem_policy == NS_MEM_HUGE ? NSI_SHM_HUGE_ONLY
					    : opts->mem_policy == NS_MEM_NORMAL
						    ? NSI_SHM_NORMAL
						    : NSI_SHM_HUGE_WANTED,
				.prefault = true,
				/* Read here, as nanostreamd reads it (ns_client_create). */
				.idle = nsi_idle_parse(getenv("NANOSTREAM_IDLE")),
			};
			if (d.idle < 0) {
				rc = nsi_errmsg_set(-EINVAL, "NANOSTREAM_IDLE=%.32s: sleep or spin",
						    getenv("NANOSTREAM_IDLE"));
				break;
			}
			rc = nsi_driver_create(&c->driver, &d);
			if (rc == 0) {
				rc = nsi_cnc_open(&c->cnc, path);
				if (rc != 0) {
					nsi_driver_destroy(c->driver);
					c->driver = NULL;
				}
				break;
			}
			if (rc != -EADDRINUSE && rc != -EAGAIN && rc != -EEXIST)
				break;
		}
		if (now_ns() > deadline) {
			rc = -ETIMEDOUT;
			break;
		}
		nsi_backoff(NS_WAIT_PHASED, i);
	}
	if (rc != 0) {
		connect_errmsg(rc, c->dir, c->timeout_ns);
		free(c);
		return rc;
	}
	pthread_mutex_init(&c->lock, NULL);
	nsi_bcast_receiver_init(&c->rx, &c->cnc.to_clients);
	c->client_id = nsi_client_next_id(c);
	c->last_keepalive_ns = INT64_MIN / 2; /* the first work sends one */
	pthread_mutex_lock(&c->lock);
	(void)keepalive(c); /* the driver knows the client, and its pid, from now on */
	pthread_mutex_unlock(&c->lock);
	if (c->driver == NULL && !(opts->flags & NS_CLIENT_NO_THREAD)) {
		if (pthread_create(&c->conductor_thread, NULL, conductor_main, c) != 0) {
			close(c->lock_fd);
			nsi_cnc_close(&c->cnc);
			pthread_mutex_destroy(&c->lock);
			free(c);
			return -EAGAIN;
		}
		c->conductor_threaded = true;
	}
	if (c->driver != NULL && !(opts->flags & NS_CLIENT_NO_THREAD)) {
		if (pthread_create(&c->driver_thread, NULL, driver_main, c) != 0) {
			nsi_cnc_close(&c->cnc);
			nsi_driver_destroy(c->driver);
			pthread_mutex_destroy(&c->lock);
			free(c);
			return -EAGAIN;
		}
		c->driver_threaded = true;
	}
	*out = c;
	return 0;
}

int
ns_client_create(ns_client **out, const struct ns_client_opts *opts)
{
	nsi_errmsg_clear();
	return nsi_errmsg_default(client_create(out, opts));
}

int
ns_client_close(ns_client *c)
{
	if (c == NULL)
		return -EINVAL;
	pthread_mutex_lock(&c->lock);
	bool busy = c->nsubs > 0 || c->npubs > 0;
	pthread_mutex_unlock(&c->lock);
	if (busy)
		return -EBUSY;
	struct nsi_cmd_remove m = { .client_id = c->client_id,
				    .correlation_id = nsi_client_next_id(c) };
	struct nsi_response r;
	(void)nsi_client_request(c, NSI_CMD_CLIENT_CLOSE, &m, sizeof(m), m.correlation_id, &r);
	__atomic_store_n(&c->stop, true, __ATOMIC_RELEASE);
	if (c->driver_threaded) {
		nsi_driver_wake(c->driver);
		pthread_join(c->driver_thread, NULL);
	}
	if (c->conductor_threaded) {
		nsi_doorbell_ring(&c->cnc.hdr->client_doorbell);
		pthread_join(c->conductor_thread, NULL);
	}
	nsi_cnc_close(&c->cnc);
	if (c->lock_fd >= 0)
		close(c->lock_fd);
	if (c->driver != NULL)
		nsi_driver_destroy(c->driver);
	pthread_mutex_destroy(&c->lock);
	free(c->subs);
	free(c);
	return 0;
}

int
ns_uri_check(const char *uri, char *msg, size_t msg_len)
{
	struct nsi_uri u;
	if (msg != NULL && msg_len > 0)
		msg[0] = '\0';
	return nsi_uri_parse(uri, &u, msg, msg_len);
}

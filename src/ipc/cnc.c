/* SPDX-License-Identifier: MIT */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <linux/futex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/un.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "ipc/cnc.h"
#include "log/logfile.h"
#include "mem/guard.h"
#include "util/atomic.h"
#include "util/cpu.h"

/* ---- counters ---- */

int
nsi_counters_init(struct nsi_counters *c, void *meta, size_t meta_bytes, void *values,
		  size_t values_bytes)
{
	if (c == NULL || meta == NULL || values == NULL || meta_bytes % NSI_COUNTER_META_BYTES ||
	    values_bytes % NSI_COUNTER_VALUE_BYTES ||
	    meta_bytes / NSI_COUNTER_META_BYTES != values_bytes / NSI_COUNTER_VALUE_BYTES ||
	    values_bytes / NSI_COUNTER_VALUE_BYTES > INT32_MAX || (uintptr_t)values % 128 != 0)
		return -EINVAL;
	c->meta = meta;
	c->values = values;
	c->max = (int32_t)(values_bytes / NSI_COUNTER_VALUE_BYTES);
	c->own = NULL;
	return 0;
}

int
nsi_counters_own(struct nsi_counters *c)
{
	c->own = calloc((size_t)c->max, sizeof(*c->own));
	return c->own != NULL ? 0 : -ENOMEM;
}

void
nsi_counters_disown(struct nsi_counters *c)
{
	free(c->own);
	c->own = NULL;
}

static int64_t
value_word(const struct nsi_counters *c, int32_t id, int word)
{
	return nsi_load_acquire_i64(nsi_counter_addr(c, id) + word);
}

/* Whether counter @id (ours, reclaimed) may be handed out at @now_ns. */
static bool
reusable(const struct nsi_counters *c, int32_t id, int64_t now_ns)
{
	const struct nsi_counter_own *o = &c->own[id];
	if (o->state == NSI_COUNTER_FREE)
		return true;
	if (o->state != NSI_COUNTER_RECLAIMED)
		return false;
	return now_ns >= o->reuse_at_ns ||
	       (o->token != 0 && value_word(c, id, NSI_COUNTER_RELEASED_WORD) == o->token);
}

int32_t
nsi_counter_alloc(struct nsi_counters *c, int32_t type_id, int64_t owner_id, int64_t key,
		  const char *label, int64_t now_ns, int64_t token)
{
	for (int32_t id = 0; id < c->max; id++) {
		if (!reusable(c, id, now_ns))
			continue;
		struct nsi_counter_meta *m = &c->meta[id];
		int64_t *v = nsi_counter_addr(c, id);
		for (int w = 1; w < NSI_COUNTER_VALUE_BYTES / 8; w++)
			nsi_store_relaxed_i64(v + w, 0);
		nsi_store_release_i64(v, 0);
		m->type_id = type_id;
		m->owner_id = owner_id;
		m->key = key;
		m->free_at_ns = 0;
		size_t n = label != NULL ? strnlen(label, NSI_COUNTER_LABEL_MAX - 1) : 0;
		memcpy(m->label, label != NULL ? label : "", n);
		memset(m->label + n, 0, NSI_COUNTER_LABEL_MAX - n);
		m->label_length = (int32_t)n;
		c->own[id] =
			(struct nsi_counter_own){ .state = NSI_COUNTER_ALLOCATED, .token = token };
		/* Pairs with the acquire in nsi_counter_type() and foreach. */
		nsi_store_release_u32((uint32_t *)&m->state, (uint32_t)NSI_COUNTER_ALLOCATED);
		return id;
	}
	return -ENOSPC;
}

int
nsi_counter_free(struct nsi_counters *c, int32_t id, int64_t now_ns, int64_t reuse_delay_ns)
{
	if (id < 0 || id >= c->max || c->own[id].state != NSI_COUNTER_ALLOCATED)
		return -EINVAL;
	struct nsi_counter_meta *m = &c->meta[id];
	c->own[id].state = NSI_COUNTER_RECLAIMED;
	c->own[id].reuse_at_ns = now_ns + reuse_delay_ns;
	m->free_at_ns = now_ns;
	nsi_store_release_u32((uint32_t *)&m->state, (uint32_t)NSI_COUNTER_RECLAIMED);
	return 0;
}

int32_t
nsi_counters_available(const struct nsi_counters *c, int64_t now_ns)
{
	int32_t n = 0;
	for (int32_t id = 0; id < c->max; id++)
		n += reusable(c, id, now_ns);
	return n;
}

bool
nsi_counter_settled(const struct nsi_counters *c, int32_t id, int64_t token)
{
	if (id < 0 || id >= c->max || c->own[id].token != token)
		return true; /* serves someone else by now */
	return value_word(c, id, NSI_COUNTER_MAPPED_WORD) == token ||
	       value_word(c, id, NSI_COUNTER_RELEASED_WORD) == token;
}

int64_t *
nsi_counter_addr(const struct nsi_counters *c, int32_t id)
{
	if (id < 0 || id >= c->max)
		return NULL;
	return (int64_t *)(void *)(c->values + (size_t)id * NSI_COUNTER_VALUE_BYTES);
}

int32_t
nsi_counter_type(const struct nsi_counters *c, int32_t id)
{
	if (id < 0 || id >= c->max)
		return -ENOENT;
	const struct nsi_counter_meta *m = &c->meta[id];
	if ((int32_t)nsi_load_acquire_u32((const uint32_t *)&m->state) != NSI_COUNTER_ALLOCATED)
		return -ENOENT;
	int32_t type = m->type_id;
	return type >= 0 ? type : -ENOENT;
}

int
nsi_counters_foreach(const struct nsi_counters *c, nsi_counter_fn fn, void *ctx)
{
	int n = 0;
	char label[NSI_COUNTER_LABEL_MAX];
	for (int32_t id = 0; id < c->max; id++) {
		const struct nsi_counter_meta *m = &c->meta[id];
		int32_t state = (int32_t)nsi_load_acquire_u32((const uint32_t *)&m->state);
		if (state == NSI_COUNTER_FREE)
			break; /* never used: none after it was either */
		if (state != NSI_COUNTER_ALLOCATED)
			continue;
		int32_t len = m->label_length;
		if (len < 0 || len >= NSI_COUNTER_LABEL_MAX)
			len = 0;
		memcpy(label, m->label, (size_t)len);
		label[len] = '\0';
		fn(ctx, id, m->type_id, m->owner_id, m->key, label,
		   nsi_load_acquire_i64(nsi_counter_addr(c, id)));
		n++;
	}
	return n;
}

/* ---- error log ---- */

#define ERR_HDR ((int32_t)sizeof(struct nsi_errlog_record))

static int32_t
align8(int32_t v)
{
	return (v + 7) & ~7;
}

int
nsi_errlog_init(struct nsi_errlog *e, void *base, size_t bytes)
{
	if (e == NULL || base == NULL || bytes < 1024 || bytes > INT32_MAX || bytes % 8 != 0 ||
	    (uintptr_t)base % 8 != 0)
		return -EINVAL;
	e->buf = base;
	e->capacity = (int32_t)bytes;
	return 0;
}

static struct nsi_errlog_record *
record_at(const struct nsi_errlog *e, int32_t offset)
{
	return (struct nsi_errlog_record *)(void *)(e->buf + offset);
}

int
nsi_errlog_record(struct nsi_errlog *e, int64_t now_ns, const char *text)
{
	int32_t tlen = (int32_t)strnlen(text, 1024);
	int32_t offset = 0;
	while (offset + ERR_HDR <= e->capacity) {
		struct nsi_errlog_record *r = record_at(e, offset);
		int32_t length = (int32_t)nsi_load_acquire_u32((const uint32_t *)&r->length);
		if (length == 0)
			break;
		if (length == ERR_HDR + tlen && memcmp(r + 1, text, (size_t)tlen) == 0) {
			nsi_store_relaxed_i64(&r->last_ns, now_ns);
			nsi_store_release_u32((uint32_t *)&r->count, (uint32_t)r->count + 1);
			return 0;
		}
		if (length < ERR_HDR || align8(length) > e->capacity - offset)
			return -EBADMSG;
		offset += align8(length);
	}
	int32_t need = align8(ERR_HDR + tlen);
	if (need > e->capacity - offset)
		return -ENOSPC;
	struct nsi_errlog_record *r = record_at(e, offset);
	r->count = 1;
	r->first_ns = now_ns;
	nsi_store_relaxed_i64(&r->last_ns, now_ns);
	memcpy(r + 1, text, (size_t)tlen);
	nsi_store_release_u32((uint32_t *)&r->length, (uint32_t)(ERR_HDR + tlen));
	return 0;
}

int
nsi_errlog_read(const struct nsi_errlog *e, nsi_errlog_fn fn, void *ctx)
{
	char text[1025];
	int32_t offset = 0;
	int n = 0;
	while (offset + ERR_HDR <= e->capacity) {
		const struct nsi_errlog_record *r = record_at(e, offset);
		int32_t length = (int32_t)nsi_load_acquire_u32((const uint32_t *)&r->length);
		if (length == 0)
			break;
		if (length < ERR_HDR || length - ERR_HDR > 1024 ||
		    align8(length) > e->capacity - offset)
			return -EBADMSG;
		int32_t tlen = length - ERR_HDR;
		memcpy(text, r + 1, (size_t)tlen);
		text[tlen] = '\0';
		int32_t count = (int32_t)nsi_load_acquire_u32((const uint32_t *)&r->count);
		fn(ctx, count, r->first_ns, nsi_load_relaxed_i64(&r->last_ns), text, tlen);
		n++;
		offset += align8(length);
	}
	return n;
}

/* ---- the file ---- */

#define PAGE 4096

static size_t
round_page(size_t v)
{
	return (v + PAGE - 1) & ~(size_t)(PAGE - 1);
}

struct layout {
	size_t to_driver, to_clients, meta, values, errors, total;
};

static int
layout_of(struct layout *l, int64_t to_driver, int64_t to_clients, int64_t meta, int64_t values,
	  int64_t errors)
{
	if (to_driver <= NSI_MPSC_TRAILER || to_clients <= NSI_BCAST_TRAILER || meta <= 0 ||
	    values <= 0 || errors <= 0 || to_driver > (1 << 30) || to_clients > (1 << 30) ||
	    meta > (1 << 30) || values > (1 << 30) || errors > (1 << 30))
		return -EINVAL;
	l->to_driver = NSI_CNC_HEADER_BYTES;
	l->to_clients = l->to_driver + round_page((size_t)to_driver);
	l->meta = l->to_clients + round_page((size_t)to_clients);
	l->values = l->meta + round_page((size_t)meta);
	l->errors = l->values + round_page((size_t)values);
	l->total = l->errors + round_page((size_t)errors);
	return 0;
}

size_t
nsi_cnc_bytes(const struct nsi_cnc_params *p)
{
	struct layout l;
	if (p == NULL || p->counters <= 0 || p->counters > (1 << 20) ||
	    !nsi_is_pow2_u64((uint64_t)p->to_driver_bytes) ||
	    !nsi_is_pow2_u64((uint64_t)p->to_clients_bytes) || p->to_driver_bytes < 1024 ||
	    p->to_clients_bytes < 1024 || p->error_log_bytes < 1024 || p->error_log_bytes % 8)
		return 0;
	if (layout_of(&l, (int64_t)p->to_driver_bytes + NSI_MPSC_TRAILER,
		      (int64_t)p->to_clients_bytes + NSI_BCAST_TRAILER,
		      (int64_t)p->counters * NSI_COUNTER_META_BYTES,
		      (int64_t)p->counters * NSI_COUNTER_VALUE_BYTES, p->error_log_bytes) != 0)
		return 0;
	return l.total;
}

static int
attach_sections(struct nsi_cnc *cnc, const struct layout *l, const struct nsi_cnc_header *h)
{
	uint8_t *b = cnc->base;
	if (nsi_mpsc_init(&cnc->to_driver, b + l->to_driver, (size_t)h->to_driver_bytes) != 0 ||
	    nsi_bcast_init(&cnc->to_clients, b + l->to_clients, (size_t)h->to_clients_bytes) != 0 ||
	    nsi_counters_init(&cnc->counters, b + l->meta, (size_t)h->counters_meta_bytes,
			      b + l->values, (size_t)h->counters_values_bytes) != 0 ||
	    nsi_errlog_init(&cnc->errors, b + l->errors, (size_t)h->error_log_bytes) != 0)
		return -EINVAL;
	return 0;
}

int
nsi_cnc_create(struct nsi_cnc *cnc, const char *path, const struct nsi_cnc_params *p,
	       int64_t now_ns)
{
	size_t bytes = nsi_cnc_bytes(p);
	if (cnc == NULL || path == NULL || bytes == 0)
		return -EINVAL;
	void *base;
	int rc = nsi_shm_create(path, bytes, true, NSI_SHM_NORMAL, &base);
	if (rc != 0)
		return rc;
	struct nsi_cnc_header *h = base;
	h->magic = NSI_CNC_MAGIC;
	h->header_bytes = NSI_CNC_HEADER_BYTES;
	h->to_driver_bytes = p->to_driver_bytes + NSI_MPSC_TRAILER;
	h->to_clients_bytes = p->to_clients_bytes + NSI_BCAST_TRAILER;
	h->counters_meta_bytes = p->counters * NSI_COUNTER_META_BYTES;
	h->counters_values_bytes = p->counters * NSI_COUNTER_VALUE_BYTES;
	h->error_log_bytes = p->error_log_bytes;
	h->pid = (int64_t)getpid();
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	h->start_time_ms = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
	h->client_liveness_ns = p->client_liveness_ns;
	h->driver_timeout_ns = p->driver_timeout_ns;
	nsi_store_relaxed_i64(&h->driver_heartbeat_ns, now_ns);
	cnc->base = base;
	cnc->bytes = bytes;
	cnc->hdr = h;
	struct layout l;
	(void)layout_of(&l, h->to_driver_bytes, h->to_clients_bytes, h->counters_meta_bytes,
			h->counters_values_bytes, h->error_log_bytes);
	rc = attach_sections(cnc, &l, h);
	if (rc != 0) {
		munmap(base, bytes);
		unlink(path);
		return rc;
	}
	cnc->broken = 0;
	cnc->guard = nsi_guard_add(base, bytes, &cnc->broken);
	/* Readers that acquire the version see a complete header. */
	nsi_store_release_u32((uint32_t *)&h->version, NSI_CNC_VERSION);
	return 0;
}

int
nsi_cnc_attach(struct nsi_cnc *cnc, void *base, size_t bytes)
{
	if (cnc == NULL || base == NULL)
		return -EINVAL;
	struct nsi_cnc_header *h = base;
	struct layout l;
	if (bytes < NSI_CNC_HEADER_BYTES)
		return -EAGAIN; /* being created (or truncated: the caller's deadline decides) */
	int32_t version = (int32_t)nsi_load_acquire_u32((const uint32_t *)&h->version);
	if (version == 0)
		return -EAGAIN;
	if (h->magic != NSI_CNC_MAGIC)
		return -EPROTO; /* not a CnC file */
	if (version >> 16 != NSI_CNC_VERSION_MAJOR)
		return -EPROTONOSUPPORT; /* a driver of another major version */
	if (h->header_bytes != NSI_CNC_HEADER_BYTES ||
	    layout_of(&l, h->to_driver_bytes, h->to_clients_bytes, h->counters_meta_bytes,
		      h->counters_values_bytes, h->error_log_bytes) != 0 ||
	    l.total != bytes)
		return -EINVAL;
	cnc->base = base;
	cnc->bytes = bytes;
	cnc->hdr = h;
	return attach_sections(cnc, &l, h);
}

static int
open_mode(struct nsi_cnc *cnc, const char *path, bool writable)
{
	if (cnc == NULL || path == NULL)
		return -EINVAL;
	void *base = NULL;
	size_t bytes = 0;
	uint64_t dev = 0, ino = 0;
	int rc = nsi_shm_open_id(path, writable, &base, &bytes, &dev, &ino);
	if (rc != 0)
		return rc;
	cnc->dev = dev;
	cnc->ino = ino;
	/* Guarded before the first look: a file truncated already faults in attach. */
	cnc->broken = 0;
	cnc->guard = nsi_guard_add(base, bytes, &cnc->broken);
	rc = nsi_cnc_attach(cnc, base, bytes);
	if (rc == 0 && nsi_cnc_broken(cnc))
		rc = -EAGAIN; /* cut short under us: as a file not ready (the caller retries) */
	if (rc != 0) {
		nsi_guard_remove(cnc->guard);
		munmap(base, bytes);
		cnc->base = NULL;
		return rc;
	}
	return 0;
}

int
nsi_cnc_open(struct nsi_cnc *cnc, const char *path)
{
	return open_mode(cnc, path, true);
}

int
nsi_cnc_open_readonly(struct nsi_cnc *cnc, const char *path)
{
	return open_mode(cnc, path, false);
}

void
nsi_cnc_close(struct nsi_cnc *cnc)
{
	if (cnc != NULL && cnc->base != NULL) {
		nsi_guard_remove(cnc->guard);
		munmap(cnc->base, cnc->bytes);
		cnc->base = NULL;
	}
}

bool
nsi_cnc_broken(const struct nsi_cnc *cnc)
{
	return nsi_load_acquire_u32(&cnc->broken) != 0;
}

bool
nsi_pid_gone(int64_t pid)
{
	if (pid <= 0 || pid > INT32_MAX)
		return true;
	return kill((pid_t)pid, 0) != 0 && errno == ESRCH;
}

bool
nsi_cnc_driver_alive(const struct nsi_cnc *cnc, int64_t now, int64_t timeout_ns)
{
	return !nsi_pid_gone(cnc->hdr->pid) &&
	       nsi_sub_sat_i64(now, nsi_cnc_heartbeat(cnc)) <= timeout_ns;
}

int64_t
nsi_cnc_heartbeat(const struct nsi_cnc *cnc)
{
	return nsi_load_acquire_i64(&cnc->hdr->driver_heartbeat_ns);
}

void
nsi_cnc_beat(struct nsi_cnc *cnc, int64_t now_ns)
{
	nsi_store_release_i64(&cnc->hdr->driver_heartbeat_ns, now_ns);
}

/* ---- the directory's lock ---- */

/*
 * Descriptors of locks this process holds. A child forked by the application inherits them
 * (and with them a share of the open file description, which would keep the lock alive after
 * the driver's process died): the child closes its copies at once. A fixed table of atomic
 * words, since the fork handler may run while another thread was mid-update.
 */
#define HELD_MAX 16
static int held[HELD_MAX];
static pthread_once_t atfork_once = PTHREAD_ONCE_INIT;

static void
close_held_in_child(void)
{
	for (int i = 0; i < HELD_MAX; i++) {
		int fd = __atomic_load_n(&held[i], __ATOMIC_RELAXED);
		if (fd > 0)
			close(fd - 1);
		__atomic_store_n(&held[i], 0, __ATOMIC_RELAXED);
	}
}

static void
register_atfork(void)
{
	(void)pthread_atfork(NULL, NULL, close_held_in_child);
}

static void
hold(int fd)
{
	(void)pthread_once(&atfork_once, register_atfork);
	for (int i = 0; i < HELD_MAX; i++) {
		int free_slot = 0;
		/* Slots hold fd + 1, so 0 means free. */
		if (__atomic_compare_exchange_n(&held[i], &free_slot, fd + 1, false,
						__ATOMIC_ACQ_REL, __ATOMIC_RELAXED))
			return;
	}
	/* More than HELD_MAX drivers in one process: their children keep a copy (documented). */
}

static void
unhold(int fd)
{
	for (int i = 0; i < HELD_MAX; i++) {
		int mine = fd + 1;
		if (__atomic_compare_exchange_n(&held[i], &mine, 0, false, __ATOMIC_ACQ_REL,
						__ATOMIC_RELAXED))
			return;
	}
}

static int
lock_path(char *buf, size_t len, const char *dir)
{
	int n = snprintf(buf, len, "%s/%s", dir, NSI_LOCK_FILE);
	return n > 0 && (size_t)n < len ? 0 : -ENAMETOOLONG;
}

/* A regular file of ours that others cannot write (the lock file must not be planted). */
static int
check_ours(int fd)
{
	struct stat st;
	if (fstat(fd, &st) != 0)
		return -errno;
	if (!S_ISREG(st.st_mode))
		return -EINVAL;
	if (st.st_uid != geteuid() || (st.st_mode & 022) != 0)
		return -EPERM;
	return 0;
}

int
nsi_driver_lock_take(const char *dir)
{
	char path[PATH_MAX];
	int rc = lock_path(path, sizeof(path), dir);
	if (rc != 0)
		return rc;
	int fd = open(path, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0)
		return -errno;
	rc = check_ours(fd);
	struct flock l = { .l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 0, .l_len = 0 };
	if (rc == 0 && fcntl(fd, F_OFD_SETLK, &l) != 0)
		rc = errno == EAGAIN || errno == EACCES ? -EADDRINUSE : -errno;
	/* Forget the file a previous holder named: it is not ours (nsi_driver_lock_name()). */
	if (rc == 0 && ftruncate(fd, 0) != 0)
		rc = -errno;
	if (rc != 0) {
		close(fd);
		return rc;
	}
	hold(fd);
	return fd;
}

void
nsi_driver_lock_release(int fd)
{
	if (fd < 0)
		return;
	unhold(fd);
	close(fd); /* the last descriptor of the description: the lock goes with it */
}

int
nsi_driver_lock_open(const char *dir)
{
	char path[PATH_MAX];
	int rc = lock_path(path, sizeof(path), dir);
	if (rc != 0)
		return rc;
	int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	rc = check_ours(fd);
	if (rc != 0) {
		close(fd);
		return rc;
	}
	return fd;
}

int
nsi_driver_lock_name(int fd, uint64_t dev, uint64_t ino)
{
	uint64_t id[2] = { dev, ino };
	return pwrite(fd, id, sizeof(id), 0) == (ssize_t)sizeof(id) ? 0 : -EIO;
}

int
nsi_driver_lock_held(int fd, uint64_t dev, uint64_t ino)
{
	struct flock l = { .l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 0, .l_len = 0 };
	if (fcntl(fd, F_OFD_GETLK, &l) != 0)
		return -errno;
	if (l.l_type == F_UNLCK)
		return 0;
	uint64_t id[2] = { 0, 0 };
	if (pread(fd, id, sizeof(id), 0) != (ssize_t)sizeof(id))
		return 0; /* held, but its holder has not named its file yet: not that file */
	return id[0] == dev && id[1] == ino;
}

/* ---- doorbells (shared futexes: the words live in the shared file) ---- */

_Static_assert(NSI_CNC_WAKE_NAME < sizeof(((struct sockaddr_un *)0)->sun_path), "name fits");

socklen_t
nsi_cnc_wake_addr(const char name[NSI_CNC_WAKE_NAME], struct sockaddr_un *a)
{
	memset(a, 0, sizeof(*a));
	a->sun_family = AF_UNIX;
	size_t len = strnlen(name, NSI_CNC_WAKE_NAME - 1);
	memcpy(a->sun_path + 1, name, len);
	return (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + len);
}

void
nsi_doorbell_ring(uint32_t *word)
{
	(void)nsi_add_fetch_seq_cst_u32(word, 1);
	(void)syscall(SYS_futex, word, FUTEX_WAKE, INT_MAX, NULL, NULL, 0);
}

int
nsi_doorbell_wait(uint32_t *word, uint32_t seen, int64_t timeout_ns)
{
	if (nsi_load_acquire_u32(word) != seen)
		return 0;
	if (timeout_ns <= 0)
		return -ETIMEDOUT;
	struct timespec ts = { .tv_sec = timeout_ns / 1000000000,
			       .tv_nsec = timeout_ns % 1000000000 };
	if (syscall(SYS_futex, word, FUTEX_WAIT, seen, &ts, NULL, 0) != 0 && errno == ETIMEDOUT)
		return -ETIMEDOUT;
	return 0;
}

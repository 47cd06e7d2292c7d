/* SPDX-License-Identifier: MIT */
/*
 * The command-and-control file (src/ipc/cnc): counters, the error log, the file's header
 * checks (foreign, other version, not ready, truncated, not ours, a symbolic link) and the
 * doorbells.
 */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "ipc/cnc.h"
#include "util/atomic.h"
#include "util/cpu.h"

#define N 8

struct seen {
	int n;
	int32_t ids[N];
	char labels[N][64];
	int64_t values[N];
};

static void
collect(void *ctx, int32_t id, int32_t type_id, int64_t owner_id, int64_t key, const char *label,
	int64_t value)
{
	struct seen *s = ctx;
	(void)type_id;
	(void)owner_id;
	(void)key;
	s->ids[s->n] = id;
	snprintf(s->labels[s->n], 64, "%s", label);
	s->values[s->n] = value;
	s->n++;
}

static void
counters_allocate_free_and_reuse_late(void **state)
{
	(void)state;
	uint8_t *meta = aligned_alloc(128, N * NSI_COUNTER_META_BYTES);
	uint8_t *values = aligned_alloc(128, N * NSI_COUNTER_VALUE_BYTES);
	assert_non_null(meta);
	assert_non_null(values);
	memset(meta, 0, N * NSI_COUNTER_META_BYTES);
	struct nsi_counters c;
	assert_int_equal(nsi_counters_init(&c, meta, N * NSI_COUNTER_META_BYTES, values,
					   (N - 1) * NSI_COUNTER_VALUE_BYTES),
			 -EINVAL);
	assert_int_equal(nsi_counters_init(&c, meta, N * NSI_COUNTER_META_BYTES, values + 8,
					   N * NSI_COUNTER_VALUE_BYTES),
			 -EINVAL);
	assert_int_equal(nsi_counters_init(&c, meta, N * NSI_COUNTER_META_BYTES, values,
					   N * NSI_COUNTER_VALUE_BYTES),
			 0);
	assert_int_equal(nsi_counters_own(&c), 0);
	char label[300];
	memset(label, 'x', sizeof(label) - 1);
	label[sizeof(label) - 1] = '\0';
	for (int i = 0; i < N; i++) {
		char l[32];
		snprintf(l, sizeof(l), "counter %d", i);
		assert_int_equal(nsi_counter_alloc(&c, 7, 1, i, i == 3 ? label : l, 0, 40 + i), i);
		*nsi_counter_addr(&c, i) = 100 + i;
	}
	assert_int_equal(nsi_counter_alloc(&c, 7, 1, 0, "full", 0, 0), -ENOSPC);
	assert_int_equal(nsi_counters_available(&c, 0), 0);
	assert_int_equal(nsi_counter_type(&c, 2), 7);
	assert_int_equal(nsi_counter_type(&c, N), -ENOENT);
	assert_int_equal(nsi_counter_type(&c, -1), -ENOENT);
	assert_null(nsi_counter_addr(&c, N));
	assert_null(nsi_counter_addr(&c, -5));

	assert_int_equal(nsi_counter_free(&c, 2, 5000, 1000), 0);
	assert_int_equal(nsi_counter_free(&c, 2, 5000, 1000), -EINVAL); /* twice */
	assert_int_equal(nsi_counter_free(&c, N, 5000, 1000), -EINVAL);
	/* Forged shared state does not fool the allocator: it keeps its own. */
	c.meta[2].state = NSI_COUNTER_FREE;
	c.meta[4].state = NSI_COUNTER_FREE;
	assert_int_equal(nsi_counters_available(&c, 5000), 0);
	c.meta[2].state = NSI_COUNTER_RECLAIMED;
	c.meta[4].state = NSI_COUNTER_ALLOCATED;
	assert_int_equal(nsi_counter_type(&c, 2), -ENOENT);
	struct seen s = { 0 };
	assert_int_equal(nsi_counters_foreach(&c, collect, &s), N - 1);
	assert_int_equal(s.ids[2], 3);
	assert_int_equal(strlen(s.labels[2]), 63); /* truncated copy of the long label */
	assert_int_equal(s.values[0], 100);
	/* Not handed out again before the reuse delay (a late writer may still hold it). */
	assert_int_equal(nsi_counter_alloc(&c, 8, 1, 0, "again", 5500, 0), -ENOSPC);
	assert_false(nsi_counter_settled(&c, 2, 42));
	assert_int_equal(nsi_counter_alloc(&c, 8, 1, 0, "again", 6000, 77), 2);
	assert_int_equal(*nsi_counter_addr(&c, 2), 0);
	assert_int_equal(nsi_counter_type(&c, 2), 8);
	assert_true(nsi_counter_settled(&c, 2, 42)); /* serves someone else now */
	/* ... unless its user says it let it go (its token in the RELEASED word). */
	assert_int_equal(nsi_counter_free(&c, 5, 7000, 1000000), 0);
	nsi_counter_addr(&c, 5)[NSI_COUNTER_RELEASED_WORD] = 99; /* not its token */
	assert_int_equal(nsi_counters_available(&c, 7001), 0);
	assert_false(nsi_counter_settled(&c, 5, 45));
	nsi_counter_addr(&c, 5)[NSI_COUNTER_MAPPED_WORD] = 45; /* mapped: settled, not free */
	assert_true(nsi_counter_settled(&c, 5, 45));
	assert_int_equal(nsi_counters_available(&c, 7001), 0);
	nsi_counter_addr(&c, 5)[NSI_COUNTER_RELEASED_WORD] = 45;
	assert_int_equal(nsi_counters_available(&c, 7001), 1);
	assert_int_equal(nsi_counter_alloc(&c, 8, 1, 0, "acked", 7001, 0), 5);
	/* Freed with no delay: at once. */
	assert_int_equal(nsi_counter_free(&c, 6, 8000, 0), 0);
	assert_int_equal(nsi_counter_alloc(&c, 8, 1, 0, "at once", 8000, 0), 6);
	nsi_counters_disown(&c);
	free(meta);
	free(values);
}

struct errs {
	int n;
	int32_t counts[4];
	char text[4][64];
	int64_t first[4], last[4];
};

static void
collect_err(void *ctx, int32_t count, int64_t first_ns, int64_t last_ns, const char *text,
	    int32_t length)
{
	struct errs *e = ctx;
	assert_int_equal((int32_t)strlen(text), length);
	if (e->n < 4) {
		e->counts[e->n] = count;
		snprintf(e->text[e->n], 64, "%s", text);
		e->first[e->n] = first_ns;
		e->last[e->n] = last_ns;
	}
	e->n++;
}

static void
error_log_counts_repeats_and_fills_up(void **state)
{
	(void)state;
	uint64_t *mem = calloc(1, 1024);
	assert_non_null(mem);
	struct nsi_errlog e;
	assert_int_equal(nsi_errlog_init(&e, mem, 1000), -EINVAL);
	assert_int_equal(nsi_errlog_init(&e, mem, 512), -EINVAL);
	assert_int_equal(nsi_errlog_init(&e, mem, 1024), 0);
	assert_int_equal(nsi_errlog_record(&e, 10, "first error"), 0);
	assert_int_equal(nsi_errlog_record(&e, 20, "second"), 0);
	assert_int_equal(nsi_errlog_record(&e, 30, "first error"), 0);
	struct errs r = { 0 };
	assert_int_equal(nsi_errlog_read(&e, collect_err, &r), 2);
	assert_int_equal(r.counts[0], 2);
	assert_string_equal(r.text[0], "first error");
	assert_int_equal(r.first[0], 10);
	assert_int_equal(r.last[0], 30);
	assert_int_equal(r.counts[1], 1);
	assert_string_equal(r.text[1], "second");
	char big[200];
	int rc = 0, added = 0;
	for (int i = 0; rc == 0; i++) {
		snprintf(big, sizeof(big), "%0150d", i);
		rc = nsi_errlog_record(&e, 40, big);
		added += rc == 0;
	}
	assert_int_equal(rc, -ENOSPC);
	assert_int_equal(nsi_errlog_record(&e, 50, "second"), 0); /* repeats still count */
	memset(&r, 0, sizeof(r));
	assert_int_equal(nsi_errlog_read(&e, collect_err, &r), 2 + added);
	assert_int_equal(r.counts[1], 2);
	/* A corrupt length is reported, not followed. */
	((struct nsi_errlog_record *)(void *)mem)->length = 4;
	assert_int_equal(nsi_errlog_read(&e, collect_err, &r), -EBADMSG);
	free(mem);
}

static struct nsi_cnc_params
params(void)
{
	return (struct nsi_cnc_params){
		.to_driver_bytes = 4096,
		.to_clients_bytes = 4096,
		.counters = 64,
		.error_log_bytes = 4096,
		.client_liveness_ns = 100,
		.driver_timeout_ns = 200,
	};
}

static void
file_is_checked_on_open(void **state)
{
	(void)state;
	char dir[] = "/tmp/ns-cnctest-XXXXXX", path[256], link[256];
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/" NSI_CNC_FILE, dir);
	struct nsi_cnc a = { 0 }, b = { 0 };
	struct nsi_cnc_params p = params();
	assert_int_equal(nsi_cnc_open(&b, path), -ENOENT);
	p.to_driver_bytes = 3000;
	assert_int_equal(nsi_cnc_create(&a, path, &p, 1), -EINVAL);
	p = params();
	assert_int_equal(nsi_cnc_create(&a, path, &p, 1), 0);
	assert_int_equal(nsi_cnc_create(&b, path, &p, 1), -EEXIST);
	struct stat st;
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	assert_int_equal((size_t)st.st_size, nsi_cnc_bytes(&p));

	/* A second mapping sees commands, broadcasts, counters and the heartbeat. */
	assert_int_equal(nsi_cnc_open(&b, path), 0);
	assert_int_equal(b.hdr->pid, getpid());
	assert_int_equal(b.hdr->client_liveness_ns, 100);
	assert_int_equal(nsi_mpsc_write(&b.to_driver, 3, "cmd", 3), 0);
	assert_int_equal(nsi_mpsc_size(&a.to_driver), 16);
	assert_int_equal(nsi_counters_own(&a.counters), 0);
	int32_t id = nsi_counter_alloc(&a.counters, 1, 2, 3, "pos", 0, 0);
	assert_int_equal(nsi_counter_type(&b.counters, id), 1);
	nsi_counters_disown(&a.counters);
	nsi_cnc_beat(&a, 12345);
	assert_int_equal(nsi_cnc_heartbeat(&b), 12345);
	nsi_cnc_close(&b);

	/* Not ready (version 0), other major version, foreign magic, wrong sizes. */
	a.hdr->version = 0;
	assert_int_equal(nsi_cnc_open(&b, path), -EAGAIN);
	a.hdr->version = (NSI_CNC_VERSION_MAJOR + 1) << 16;
	assert_int_equal(nsi_cnc_open(&b, path), -EPROTONOSUPPORT);
	a.hdr->version = NSI_CNC_VERSION;
	a.hdr->magic = 42;
	assert_int_equal(nsi_cnc_open(&b, path), -EPROTO);
	a.hdr->magic = NSI_CNC_MAGIC;
	a.hdr->counters_meta_bytes = 1 << 30;
	assert_int_equal(nsi_cnc_open(&b, path), -EINVAL);
	a.hdr->counters_meta_bytes = 64 * NSI_COUNTER_META_BYTES;
	assert_int_equal(truncate(path, 8192), 0);
	assert_int_equal(nsi_cnc_open(&b, path), -EINVAL);
	assert_int_equal(truncate(path, 100), 0);
	assert_int_equal(nsi_cnc_open(&b, path), -EAGAIN);
	nsi_cnc_close(&a);

	/* Writable by others, or a symbolic link: refused. */
	assert_int_equal(unlink(path), 0);
	assert_int_equal(nsi_cnc_create(&a, path, &p, 1), 0);
	nsi_cnc_close(&a);
	assert_int_equal(chmod(path, 0666), 0);
	assert_int_equal(nsi_cnc_open(&b, path), -EPERM);
	assert_int_equal(chmod(path, 0600), 0);
	snprintf(link, sizeof(link), "%s/link.dat", dir);
	assert_int_equal(symlink(path, link), 0);
	assert_int_equal(nsi_cnc_open(&b, link), -ELOOP);
	assert_int_equal(nsi_cnc_open(NULL, path), -EINVAL);
	assert_int_equal(nsi_cnc_create(&a, NULL, &p, 1), -EINVAL);
	assert_int_equal(unlink(link), 0);
	assert_int_equal(unlink(path), 0);
	assert_int_equal(rmdir(dir), 0);
}

static uint32_t bell;

struct waiter_state {
	uint32_t seen;
	pid_t tid;	 /* atomic: set once the waiter runs */
	int rc;		 /* nsi_doorbell_wait()'s result */
	int64_t took_ns; /* how long it waited */
};

static void *
waiter(void *arg)
{
	struct waiter_state *w = arg;
	__atomic_store_n(&w->tid, gettid(), __ATOMIC_RELEASE);
	int64_t start = nsi_clock_ns();
	/* One wait, 5 s at most: only the ring can end it early. */
	w->rc = nsi_doorbell_wait(&bell, w->seen, 5LL * 1000000000);
	w->took_ns = nsi_clock_ns() - start;
	return NULL;
}

/* Whether thread @tid sleeps in a futex wait (the kernel's own word, from /proc). */
static bool
in_futex_wait(pid_t tid)
{
	char path[64], wchan[64] = "";
	snprintf(path, sizeof(path), "/proc/self/task/%d/wchan", (int)tid);
	FILE *f = fopen(path, "r");
	if (f == NULL)
		return false;
	size_t n = fread(wchan, 1, sizeof(wchan) - 1, f);
	fclose(f);
	wchan[n] = '\0';
	return strstr(wchan, "futex") != NULL;
}

/*
 * Issue 14.19: the old test could not fail (with the futex wake removed it passed in 0.03 s:
 * the waiter had not blocked yet). Now the waiter blocks first (seen in the kernel), then the
 * ring must end its one 5 s wait early, with 0.
 */
static void
doorbell_wakes_a_waiter(void **state)
{
	(void)state;
	uint32_t seen = nsi_load_acquire_u32(&bell);
	assert_int_equal(nsi_doorbell_wait(&bell, seen, 0), -ETIMEDOUT);
	assert_int_equal(nsi_doorbell_wait(&bell, seen + 1, 0), 0); /* already moved */
	struct waiter_state w = { .seen = seen };
	pthread_t t;
	assert_int_equal(pthread_create(&t, NULL, waiter, &w), 0);
	/* A readiness poll on the kernel's state, not a sleep that guesses. */
	int64_t give_up = nsi_clock_ns() + 4LL * 1000000000;
	while (__atomic_load_n(&w.tid, __ATOMIC_ACQUIRE) == 0 || !in_futex_wait(w.tid)) {
		assert_true(nsi_clock_ns() < give_up);
		sched_yield();
	}
	nsi_doorbell_ring(&bell);
	assert_int_equal(pthread_join(t, NULL), 0);
	print_message("# the waiter blocked, was rung, returned %d after %.3f ms\n", w.rc,
		      (double)w.took_ns / 1e6);
	assert_int_equal(w.rc, 0);
	assert_true(w.took_ns < 4LL * 1000000000); /* well before its 5 s */
	assert_int_equal(nsi_load_acquire_u32(&bell), seen + 1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(counters_allocate_free_and_reuse_late),
		cmocka_unit_test(error_log_counts_repeats_and_fills_up),
		cmocka_unit_test(file_is_checked_on_open),
		cmocka_unit_test(doorbell_wakes_a_waiter),
	};
	return cmocka_run_group_tests_name("cnc", tests, NULL, NULL);
}

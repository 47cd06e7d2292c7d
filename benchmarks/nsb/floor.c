/* SPDX-License-Identifier: MIT */
/*
 * The machine's floor, measured in the same run as everything else:
 *   floor.c2c1.rtt  two threads bouncing one cache line (each writes it in turn)
 *   floor.c2c2.rtt  each thread writes its own line and waits on the other's: the least a
 *                   queue round trip can cost (two line transfers, no shared writes)
 *   floor.handoff   a bare single-producer hand-off (events, a release-stored cursor every
 *                   `batch` events, a consumer position for back-pressure): the most a
 *                   one-way queue can move
 */
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "nsb.h"

#define STOP	    UINT64_MAX
#define HANDOFF_CAP (UINT64_C(1) << 16)

struct bounce {
	_Alignas(NSB_LINE) _Atomic uint64_t a;
	_Alignas(NSB_LINE) _Atomic uint64_t b;
	bool two_lines;
};

static void *
bounce_peer(void *arg)
{
	struct bounce *s = arg;
	for (uint64_t i = 1;; i++) {
		uint64_t v;
		if (s->two_lines) {
			while ((v = atomic_load_explicit(&s->a, memory_order_acquire)) != i &&
			       v != STOP)
				nsb_relax();
			if (v == STOP)
				break;
			atomic_store_explicit(&s->b, i, memory_order_release);
		} else {
			while ((v = atomic_load_explicit(&s->a, memory_order_acquire)) !=
				       2 * i - 1 &&
			       v != STOP)
				nsb_relax();
			if (v == STOP)
				break;
			atomic_store_explicit(&s->a, 2 * i, memory_order_release);
		}
	}
	return NULL;
}

static int
run_bounce(const struct nsb_workload *w, const struct nsb_env *env, struct nsb_run *run)
{
	struct bounce *s = aligned_alloc(NSB_LINE, sizeof(*s));
	pthread_t t;
	if (s == NULL)
		return -1;
	memset(s, 0, sizeof(*s));
	s->two_lines = w->p.shape == 2;
	if (nsb_thread(&t, env, 1, bounce_peer, s) != 0) {
		free(s);
		return -1;
	}
	nsb_pin(env, 0);
	int64_t end = nsb_now() + (int64_t)(env->seconds * 1e9);
	for (uint64_t i = 1;; i++) {
		int64_t t0 = nsb_now();
		if (s->two_lines) {
			atomic_store_explicit(&s->a, i, memory_order_release);
			while (atomic_load_explicit(&s->b, memory_order_acquire) != i)
				nsb_relax();
		} else {
			atomic_store_explicit(&s->a, 2 * i - 1, memory_order_release);
			while (atomic_load_explicit(&s->a, memory_order_acquire) != 2 * i)
				nsb_relax();
		}
		int64_t t1 = nsb_now();
		nsb_hist_record(run->hist, (uint64_t)(t1 - t0));
		if (t1 > end)
			break;
	}
	atomic_store_explicit(&s->a, STOP, memory_order_release);
	pthread_join(t, NULL);
	free(s);
	return 0;
}

/*
 * The placement probe: the median of 1000 one-line round trips between env->cpus[0] and
 * env->cpus[1], in ns (about 0.1-0.5 ms). ns-bench --placement uses it before and after each
 * run to tell which placement of the two vCPUs the run had.
 */
static int
cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
	return x < y ? -1 : x > y;
}

int64_t
nsb_probe_rtt(const struct nsb_env *env)
{
	enum { N = 1001 };
	static int64_t rtt[N];
	struct bounce *s = aligned_alloc(NSB_LINE, sizeof(*s));
	pthread_t t;
	if (s == NULL)
		return -1;
	memset(s, 0, sizeof(*s));
	if (nsb_thread(&t, env, 1, bounce_peer, s) != 0) {
		free(s);
		return -1;
	}
	nsb_pin(env, 0);
	for (uint64_t i = 1; i <= N; i++) {
		int64_t t0 = nsb_now();
		atomic_store_explicit(&s->a, 2 * i - 1, memory_order_release);
		while (atomic_load_explicit(&s->a, memory_order_acquire) != 2 * i)
			nsb_relax();
		rtt[i - 1] = nsb_now() - t0;
	}
	atomic_store_explicit(&s->a, STOP, memory_order_release);
	pthread_join(t, NULL);
	free(s);
	qsort(rtt, N, sizeof(rtt[0]), cmp_i64);
	return rtt[N / 2];
}

struct handoff {
	_Alignas(NSB_LINE) _Atomic uint64_t cursor;   /* events published (count) */
	_Alignas(NSB_LINE) _Atomic uint64_t consumed; /* events consumed (count) */
	_Alignas(NSB_LINE) _Atomic int done;
	uint64_t total; /* set before done */
	uint64_t bad;
	uint64_t *buf;
};

static void *
handoff_consumer(void *arg)
{
	struct handoff *h = arg;
	uint64_t next = 0, bad = 0;
	for (;;) {
		uint64_t avail = atomic_load_explicit(&h->cursor, memory_order_acquire);
		if (avail == next) {
			if (atomic_load_explicit(&h->done, memory_order_acquire) &&
			    next == atomic_load_explicit(&h->cursor, memory_order_acquire))
				break;
			nsb_relax();
			continue;
		}
		for (; next < avail; next++)
			bad += h->buf[next & (HANDOFF_CAP - 1)] != next;
		atomic_store_explicit(&h->consumed, next, memory_order_release);
	}
	h->bad = bad;
	return NULL;
}

static int
run_handoff(const struct nsb_workload *w, const struct nsb_env *env, struct nsb_run *run)
{
	struct handoff *h = aligned_alloc(NSB_LINE, sizeof(*h));
	pthread_t t;
	uint64_t batch = w->p.batch;
	if (h == NULL)
		return -1;
	memset(h, 0, sizeof(*h));
	h->buf = aligned_alloc(NSB_LINE, HANDOFF_CAP * sizeof(uint64_t));
	if (h->buf == NULL) {
		free(h);
		return -1;
	}
	memset(h->buf, 0xff, HANDOFF_CAP * sizeof(uint64_t));
	if (nsb_thread(&t, env, 1, handoff_consumer, h) != 0) {
		free(h->buf);
		free(h);
		return -1;
	}
	nsb_pin(env, 0);
	int64_t t0 = nsb_now(), end = t0 + (int64_t)(env->seconds * 1e9);
	uint64_t next = 0, cached = 0;
	for (uint64_t round = 0;; round++) {
		/* Room for a batch: the consumer's position, read only when the cache says full. */
		while (next + batch - cached > HANDOFF_CAP)
			cached = atomic_load_explicit(&h->consumed, memory_order_acquire);
		for (uint64_t k = 0; k < batch; k++, next++)
			h->buf[next & (HANDOFF_CAP - 1)] = next;
		atomic_store_explicit(&h->cursor, next, memory_order_release);
		if ((round & 63) == 0 && nsb_now() > end)
			break;
	}
	atomic_store_explicit(&h->done, 1, memory_order_release);
	pthread_join(t, NULL);
	int64_t elapsed = nsb_now() - t0;
	if (h->bad != 0 || atomic_load(&h->consumed) != next)
		nsb_fail(run, "handoff: %llu out of order, %llu of %llu consumed",
			 (unsigned long long)h->bad, (unsigned long long)atomic_load(&h->consumed),
			 (unsigned long long)next);
	run->value = (double)next / ((double)elapsed / 1e9);
	free(h->buf);
	free(h);
	return 0;
}

const struct nsb_workload nsb_floor_workloads[] = {
	{ "floor.c2c1.rtt",
	  "",
	  NSB_LATENCY,
	  2,
	  run_bounce,
	  { .shape = 1 },
	  "two threads bouncing one cache line, round trip" },
	{ "floor.c2c2.rtt",
	  "",
	  NSB_LATENCY,
	  2,
	  run_bounce,
	  { .shape = 2 },
	  "each thread writes its own line and waits on the other's, round trip" },
	{ "floor.handoff.b64",
	  "",
	  NSB_RATE,
	  2,
	  run_handoff,
	  { .batch = 64 },
	  "bare single-producer hand-off, cursor published every 64 events" },
	{ NULL, NULL, 0, 0, NULL, { 0 }, NULL },
};

/* SPDX-License-Identifier: MIT */
/*
 * nanostream's own workloads, through the public API of libnanostream.so as a user links it.
 * Every consumer checks what it receives: per-producer order (events carry the producer's id
 * and its own counter), and the totals at the end; a run that moved the wrong events is void.
 */
#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <nanostream/nanostream.h>

#include "nsb.h"

#define CAPACITY      (UINT64_C(1) << 16)
#define PING_CAPACITY 1024u
#define MAX_PRODUCERS 4
#define MAX_STAGES    3
#define ID_SHIFT      48
#define COUNT_MASK    ((UINT64_C(1) << ID_SHIFT) - 1)
#define CLOCK_EVERY   4096 /* events between deadline checks (the floor: 64 x 64) */

enum shape { P1C1, P2C1, P1C3, PIPELINE3, DIAMOND, WORKPOOL2, PINGPONG, ST };

/* One checking consumer's state, on its own lines. */
struct check {
	_Alignas(NSB_LINE) uint64_t next[MAX_PRODUCERS];
	uint64_t count, bad, sum;
	uint32_t producers, words;
	atomic_uint_fast64_t pool_count; /* work pools: shared by the workers */
	atomic_uint_fast64_t pool_sum;
};

static int
check_event(void *ctx, void *slot, int64_t seq, bool end)
{
	struct check *c = ctx;
	const uint64_t *w = slot;
	uint64_t v = w[0];
	uint32_t id = (uint32_t)(v >> ID_SHIFT);
	(void)seq, (void)end;
	if (id >= c->producers || (v & COUNT_MASK) != c->next[id] || w[c->words - 1] != v)
		c->bad++;
	else
		c->next[id]++;
	c->count++;
	return 0;
}

/* The same checks over a run of events (on_events): one call per run, a loop inside. */
static int
check_run(void *ctx, void *first, int64_t seq, uint32_t count, uint32_t stride, bool end)
{
	struct check *c = ctx;
	const uint8_t *slot = first;
	const uint32_t producers = c->producers, last = c->words - 1;
	uint64_t bad = 0, next[MAX_PRODUCERS];
	(void)seq, (void)end;
	/* Counters in locals: the slots cannot alias them. */
	memcpy(next, c->next, sizeof(next));
	if (producers == 1) {
		/*
		 * One producer: the floor's check exactly. Event i must hold i (producer 0's id
		 * bits are 0); after a lost or repeated event every later one counts as bad, which
		 * voids the run just the same. The counter does not depend on the data, so the loop
		 * pipelines as the floor's does.
		 */
		uint64_t n0 = next[0];
		if (last == 0) {
			for (uint32_t i = 0; i < count; i++, slot += stride, n0++)
				bad += *(const uint64_t *)(const void *)slot != n0;
		} else {
			for (uint32_t i = 0; i < count; i++, slot += stride, n0++) {
				const uint64_t *w = (const uint64_t *)(const void *)slot;
				bad += (w[0] != n0) | (w[last] != n0);
			}
		}
		next[0] = n0;
	} else {
		for (uint32_t i = 0; i < count; i++, slot += stride) {
			const uint64_t *w = (const uint64_t *)(const void *)slot;
			uint64_t v = w[0];
			uint32_t id = (uint32_t)(v >> ID_SHIFT);
			if (id >= producers || (v & COUNT_MASK) != next[id] || w[last] != v)
				bad++;
			else
				next[id]++;
		}
	}
	memcpy(c->next, next, sizeof(next));
	c->bad += bad;
	c->count += count;
	return 0;
}

/* Work-pool workers see disjoint subsets: they check count and sum, not order. */
static int
pool_event(void *ctx, void *slot, int64_t seq, bool end)
{
	struct check *c = ctx;
	(void)seq, (void)end;
	atomic_fetch_add_explicit(&c->pool_count, 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&c->pool_sum, *(const uint64_t *)slot, memory_order_relaxed);
	return 0;
}

struct producer {
	ns_ring *ring;
	const struct nsb_env *env;
	int cpu_index;
	uint32_t id, batch, words;
	bool queue; /* push as a queue's user: try-claims (up to the batch), retried when full */
	int64_t end;
	uint64_t sent, sum;
};

static inline void
write_event(uint64_t *w, uint32_t words, uint64_t v)
{
	for (uint32_t k = 0; k < words; k++)
		w[k] = v; /* every word, so a 64-byte event costs its full write */
}

/* Fill a claimed span with the next events of a producer (base | n, n counting up). */
static inline void
fill_span(const struct ns_ring_span *span, uint32_t words, uint64_t base, uint64_t *n)
{
	for (int r = 0; r < 2; r++) {
		if (words == 1 && span->stride == 8) {
			/* 8-byte events: a plain array store per event, as the floor. */
			uint64_t *w = span->data[r];
			for (size_t k = 0; k < span->count[r]; k++)
				w[k] = base | (*n + k);
			*n += span->count[r];
			continue;
		}
		uint8_t *slot = span->data[r];
		for (size_t k = 0; k < span->count[r]; k++, slot += span->stride)
			write_event((uint64_t *)(void *)slot, words, base | (*n)++);
	}
}

static void *
produce(void *arg)
{
	struct producer *p = arg;
	uint64_t base = (uint64_t)p->id << ID_SHIFT, n = 0;
	struct ns_ring_layout lay = NS_RING_LAYOUT_INIT;
	uint64_t full = 0;
	ns_ring_get_layout(p->ring, &lay);
	nsb_pin(p->env, p->cpu_index);
	for (;;) {
		if (p->queue) {
			uint32_t got = 1;
			int64_t seq = p->batch == 1
					      ? ns_ring_try_claim(p->ring)
					      : ns_ring_try_claim_upto(p->ring, p->batch, &got);
			if (seq == -EAGAIN) {
				/* Full: pause and try again, as the peers' harness does (peers.c). */
				nsb_relax();
				if ((++full & 255) == 0 && nsb_now() > p->end)
					break; /* full at the end: the consumer is gone */
				continue;
			}
			if (seq < 0)
				break;
			if (got == 1) {
				/* One event: its address computed inline (the layout's promise). */
				write_event(ns_ring_layout_slot(&lay, seq), p->words, base | n++);
				ns_ring_publish(p->ring, seq);
				if ((n & (CLOCK_EVERY - 1)) == 0 && nsb_now() > p->end)
					break;
				continue;
			}
			struct ns_ring_span span;
			ns_ring_span(p->ring, seq, got, &span);
			fill_span(&span, p->words, base, &n);
			ns_ring_publish_n(p->ring, seq, got);
			if ((n & (CLOCK_EVERY - 1)) < got && nsb_now() > p->end)
				break;
			continue;
		}
		if (p->batch == 1) {
			int64_t seq = ns_ring_claim(p->ring);
			if (seq < 0)
				break;
			write_event(ns_ring_slot(p->ring, seq), p->words, base | n);
			n++;
			ns_ring_publish(p->ring, seq);
		} else {
			int64_t first = ns_ring_claim_n(p->ring, p->batch);
			if (first < 0)
				break;
			struct ns_ring_span span;
			ns_ring_span(p->ring, first, p->batch, &span);
			fill_span(&span, p->words, base, &n);
			ns_ring_publish_n(p->ring, first, p->batch);
		}
		if ((n & (CLOCK_EVERY - 1)) < p->batch && nsb_now() > p->end)
			break;
	}
	p->sent = n;
	/* The sum of base | i over i < n (i < 2^48, so | is +), for the work pool's check. */
	p->sum = n * base + n * (n - 1) / 2;
	return NULL;
}

static ns_ring *
ring_for(const struct nsb_workload *w, uint64_t capacity, uint32_t producers)
{
	struct ns_ring_opts o = NS_RING_OPTS_INIT;
	ns_ring *ring = NULL;
	o.capacity = capacity;
	o.slot_size = w->p.slot_size;
	o.producer = producers > 1 ? NS_PRODUCER_MULTI : NS_PRODUCER_SINGLE;
	o.wait = w->p.wait;
	o.max_consumers = 8;
	if (w->p.flags & NSB_F_SEQ_IN_SLOT)
		o.flags = NS_RING_F_SEQ_IN_SLOT;
	return ns_ring_create(&ring, &o) == 0 ? ring : NULL;
}

/* The consumer flags a workload's NSB_F_* ask for. */
static uint32_t
consumer_flags(uint32_t wflags)
{
	return (wflags & NSB_F_NO_COALESCE) ? NS_CONSUMER_F_NO_COALESCE : 0;
}

static int
make_consumer(ns_consumer **c, ns_ring *ring, struct check *ck, ns_consumer *const *after,
	      uint32_t nafter, uint32_t wflags)
{
	struct ns_consumer_opts co = NS_CONSUMER_OPTS_INIT;
	co.flags = consumer_flags(wflags);
	if (wflags & NSB_F_RUNS)
		co.on_events = check_run;
	else
		co.on_event = check_event;
	co.ctx = ck;
	co.after = after;
	co.after_count = nafter;
	return ns_consumer_create(c, ring, &co);
}

/*
 * A poller pulled by a thread of the benchmark's own, as a queue's user pulls: one event at a
 * time by copy (ns_poller_take(), max 1), or runs of up to @max (ns_poller_peek() and
 * ns_poller_release()); every event checked, until told to stop.
 */
struct puller {
	ns_poller *poller;
	struct check *ck;
	const struct nsb_env *env;
	int cpu_index;
	uint32_t max, stride;
	_Alignas(NSB_LINE) atomic_int stop;
};

static void *
pull(void *arg)
{
	struct puller *p = arg;
	uint64_t ev[8]; /* the largest event a pulled workload moves: 64 bytes */
	nsb_pin(p->env, p->cpu_index);
	for (;;) {
		int rc;
		if (p->max == 1) {
			rc = ns_poller_take(p->poller, ev, p->ck->words * 8);
			if (rc == NS_POLLER_PROCESSING)
				check_event(p->ck, ev, 0, true);
		} else {
			void *first;
			int64_t seq;
			rc = ns_poller_peek(p->poller, p->max, &first, &seq);
			if (rc > 0) {
				check_run(p->ck, first, seq, (uint32_t)rc, p->stride, true);
				ns_poller_release(p->poller, (uint32_t)rc);
				rc = NS_POLLER_PROCESSING;
			}
		}
		if (rc != NS_POLLER_PROCESSING &&
		    atomic_load_explicit(&p->stop, memory_order_acquire) != 0)
			break;
		if (rc < 0)
			break;
	}
	return NULL;
}

/* Producers to 1, 3 or a graph of consumers (or a 2-worker pool), for env->seconds. */
static int
run_graph(const struct nsb_workload *w, const struct nsb_env *env, struct nsb_run *run)
{
	uint32_t producers = w->p.producers, nstages = 1, words = w->p.slot_size / 8;
	const uint32_t wflags = w->p.flags;
	struct check *ck = aligned_alloc(NSB_LINE, sizeof(struct check) * MAX_STAGES);
	ns_consumer *stage[MAX_STAGES] = { NULL };
	ns_work_pool *pool = NULL;
	ns_poller *poller = NULL;
	struct puller *puller = NULL;
	pthread_t threads[MAX_PRODUCERS], puller_thread;
	struct producer prod[MAX_PRODUCERS];
	ns_ring *ring = ring_for(w, CAPACITY, producers);
	int rc = -1;

	if (ck == NULL || ring == NULL)
		goto out;
	memset(ck, 0, sizeof(struct check) * MAX_STAGES);
	for (int i = 0; i < MAX_STAGES; i++)
		ck[i].producers = producers, ck[i].words = words;

	/* Topology. CPU indices: producers first, then the consumers. */
	switch ((enum shape)w->p.shape) {
	case P1C1:
	case P2C1:
		if (wflags & NSB_F_POLL) {
			struct ns_poller_opts po = NS_POLLER_OPTS_INIT;
			nstages = 0;
			puller = aligned_alloc(NSB_LINE, sizeof(*puller));
			rc = puller == NULL ? -1 : ns_poller_create(&poller, ring, &po);
			break;
		}
		rc = make_consumer(&stage[0], ring, &ck[0], NULL, 0, wflags);
		break;
	case P1C3: /* multicast: three independent consumers */
		nstages = 3;
		rc = 0;
		for (int i = 0; i < 3 && rc == 0; i++)
			rc = make_consumer(&stage[i], ring, &ck[i], NULL, 0, wflags);
		break;
	case PIPELINE3:
		nstages = 3;
		rc = make_consumer(&stage[0], ring, &ck[0], NULL, 0, wflags);
		for (int i = 1; i < 3 && rc == 0; i++)
			rc = make_consumer(&stage[i], ring, &ck[i], &stage[i - 1], 1, wflags);
		break;
	case DIAMOND:
		nstages = 3;
		rc = make_consumer(&stage[0], ring, &ck[0], NULL, 0, wflags);
		if (rc == 0)
			rc = make_consumer(&stage[1], ring, &ck[1], NULL, 0, wflags);
		if (rc == 0)
			rc = make_consumer(&stage[2], ring, &ck[2], stage, 2, wflags);
		break;
	case WORKPOOL2: {
		struct ns_work_pool_opts po = NS_WORK_POOL_OPTS_INIT;
		po.workers = 2;
		po.on_event = pool_event;
		po.ctx = &ck[0];
		nstages = 0;
		rc = ns_work_pool_create(&pool, ring, &po);
		break;
	}
	default:
		rc = -1;
	}
	if (rc != 0)
		goto out;
	for (uint32_t i = 0; i < nstages; i++) {
		int cpu = env->cpus[(producers + i) % (uint32_t)env->ncpus];
		if ((rc = ns_consumer_start(stage[i], cpu, "nsb-consumer")) != 0)
			goto out;
	}
	if (pool != NULL) {
		int cpus[2] = { env->cpus[producers % (uint32_t)env->ncpus],
				env->cpus[(producers + 1) % (uint32_t)env->ncpus] };
		if ((rc = ns_work_pool_start(pool, cpus)) != 0)
			goto out;
	}
	if (poller != NULL) {
		struct ns_ring_layout lay = NS_RING_LAYOUT_INIT;
		ns_ring_get_layout(ring, &lay);
		memset(puller, 0, sizeof(*puller));
		*puller = (struct puller){ .poller = poller,
					   .ck = &ck[0],
					   .env = env,
					   .cpu_index = (int)producers,
					   .max = w->p.pull_max,
					   .stride = (uint32_t)lay.stride };
		if (pthread_create(&puller_thread, NULL, pull, puller) != 0) {
			ns_poller_destroy(poller);
			poller = NULL;
			rc = -1;
			goto out;
		}
	}

	int64_t t0 = nsb_now();
	for (uint32_t i = 0; i < producers; i++) {
		prod[i] = (struct producer){ .ring = ring,
					     .env = env,
					     .cpu_index = (int)i,
					     .id = i,
					     .batch = w->p.batch,
					     .words = words,
					     .queue = (wflags & NSB_F_POLL) != 0,
					     .end = t0 + (int64_t)(env->seconds * 1e9) };
		if (i > 0 && pthread_create(&threads[i], NULL, produce, &prod[i]) != 0) {
			rc = -1;
			goto out;
		}
	}
	produce(&prod[0]);
	for (uint32_t i = 1; i < producers; i++)
		pthread_join(threads[i], NULL);
	uint64_t left = 0;
	rc = ns_ring_drain(ring, nsb_now() + INT64_C(60000000000), &left);
	int64_t elapsed = nsb_now() - t0;
	if (poller != NULL) {
		atomic_store_explicit(&puller->stop, 1, memory_order_release);
		pthread_join(puller_thread, NULL);
	}
	for (uint32_t i = 0; i < nstages; i++)
		ns_consumer_join(stage[i]);
	if (pool != NULL)
		ns_work_pool_join(pool);

	uint64_t sent = 0, sum = 0;
	for (uint32_t i = 0; i < producers; i++)
		sent += prod[i].sent, sum += prod[i].sum;
	if (rc != 0)
		nsb_fail(run, "drain: %s (%llu left)", ns_strerror(rc), (unsigned long long)left);
	for (uint32_t i = 0; i < (poller != NULL ? 1 : nstages); i++) {
		if (ck[i].count != sent || ck[i].bad != 0)
			nsb_fail(run, "consumer %u: %llu of %llu events, %llu out of order", i,
				 (unsigned long long)ck[i].count, (unsigned long long)sent,
				 (unsigned long long)ck[i].bad);
	}
	if (pool != NULL &&
	    (atomic_load(&ck[0].pool_count) != sent || atomic_load(&ck[0].pool_sum) != sum))
		nsb_fail(run, "work pool: %llu of %llu events, sum differs",
			 (unsigned long long)atomic_load(&ck[0].pool_count),
			 (unsigned long long)sent);
	run->value = (double)sent / ((double)elapsed / 1e9);
	rc = 0;
out:
	for (uint32_t i = 0; i < MAX_STAGES; i++)
		ns_consumer_destroy(stage[i]);
	ns_work_pool_destroy(pool);
	ns_poller_destroy(poller);
	ns_ring_destroy(ring);
	free(puller);
	free(ck);
	return rc;
}

/* --- ping-pong: two rings, a consumer on each side answering the other -------------------- */

struct pingpong {
	ns_ring *ping, *pong;
	struct nsb_hist *hist;
	int64_t end;
	uint64_t next, bad; /* the timer side's expected counter */
	_Alignas(NSB_LINE) atomic_int done;
};

struct ping {
	int64_t sent_ns;
	uint64_t n;
};

static void
send_ping(ns_ring *ring, uint64_t n)
{
	int64_t seq = ns_ring_claim(ring);
	if (seq < 0)
		return;
	struct ping *e = ns_ring_slot(ring, seq);
	e->n = n;
	e->sent_ns = nsb_now();
	ns_ring_publish(ring, seq);
}

/* The far side: echo every ping onto the pong ring. */
static int
echo_event(void *ctx, void *slot, int64_t seq, bool end)
{
	struct pingpong *pp = ctx;
	const struct ping *in = slot;
	(void)seq, (void)end;
	int64_t s = ns_ring_claim(pp->pong);
	if (s < 0)
		return 0;
	*(struct ping *)ns_ring_slot(pp->pong, s) = *in;
	ns_ring_publish(pp->pong, s);
	return 0;
}

/* The near side: time the round trip and send the next ping until the deadline. */
static int
timer_event(void *ctx, void *slot, int64_t seq, bool end)
{
	struct pingpong *pp = ctx;
	const struct ping *in = slot;
	int64_t now = nsb_now();
	(void)seq, (void)end;
	nsb_hist_record(pp->hist, (uint64_t)(now - in->sent_ns));
	pp->bad += in->n != pp->next;
	pp->next = in->n + 1;
	if (now < pp->end)
		send_ping(pp->ping, in->n + 1);
	else
		atomic_store_explicit(&pp->done, 1, memory_order_release);
	return 0;
}

static int
run_pingpong(const struct nsb_workload *w, const struct nsb_env *env, struct nsb_run *run)
{
	struct pingpong *pp = aligned_alloc(NSB_LINE, sizeof(*pp));
	ns_consumer *echo = NULL, *timer = NULL;
	struct ns_consumer_opts co = NS_CONSUMER_OPTS_INIT;
	int rc = -1;

	if (pp == NULL)
		return -1;
	memset(pp, 0, sizeof(*pp));
	pp->hist = run->hist;
	pp->ping = ring_for(w, PING_CAPACITY, 1);
	pp->pong = ring_for(w, PING_CAPACITY, 1);
	if (pp->ping == NULL || pp->pong == NULL)
		goto out;
	co.ctx = pp;
	co.flags = consumer_flags(w->p.flags);
	co.on_event = echo_event;
	if (ns_consumer_create(&echo, pp->ping, &co) != 0)
		goto out;
	co.on_event = timer_event;
	if (ns_consumer_create(&timer, pp->pong, &co) != 0)
		goto out;
	if (ns_consumer_start(echo, env->cpus[1 % env->ncpus], "nsb-echo") != 0 ||
	    ns_consumer_start(timer, env->cpus[0], "nsb-timer") != 0)
		goto out;
	pp->end = nsb_now() + (int64_t)(env->seconds * 1e9);
	/* The first ping; after it the timer thread is the ping ring's only producer. */
	send_ping(pp->ping, 0);
	struct timespec nap = { 0, 1000000 };
	while (!atomic_load_explicit(&pp->done, memory_order_acquire))
		nanosleep(&nap, NULL);
	ns_ring_halt(pp->ping);
	ns_ring_halt(pp->pong);
	ns_consumer_join(echo);
	ns_consumer_join(timer);
	if (pp->bad != 0 || run->hist->total == 0)
		nsb_fail(run, "ping-pong: %llu out of order", (unsigned long long)pp->bad);
	rc = 0;
out:
	ns_consumer_destroy(echo);
	ns_consumer_destroy(timer);
	ns_ring_destroy(pp->ping);
	ns_ring_destroy(pp->pong);
	free(pp);
	return rc;
}

/*
 * Ping-pong pulled, as the queue peers' ping-pong: the timing thread try-claims a slot of the
 * ping ring, writes a counter, publishes, then takes the answer from the pong ring's poller
 * (ns_poller_take(), spinning); the echo thread takes from ping and pushes onto pong.
 */
struct pull_pp {
	ns_ring *ping, *pong;
	ns_poller *ping_rx, *pong_rx;
	const struct nsb_env *env;
	_Alignas(NSB_LINE) atomic_int stop;
};

static void
push_value(ns_ring *ring, const struct ns_ring_layout *lay, uint64_t v)
{
	int64_t seq;
	while ((seq = ns_ring_try_claim(ring)) == -EAGAIN)
		nsb_relax();
	if (seq < 0)
		return;
	*(uint64_t *)ns_ring_layout_slot(lay, seq) = v;
	ns_ring_publish(ring, seq);
}

static void *
pull_echo(void *arg)
{
	struct pull_pp *pp = arg;
	struct ns_ring_layout lay = NS_RING_LAYOUT_INIT;
	uint64_t v;
	ns_ring_get_layout(pp->pong, &lay);
	nsb_pin(pp->env, 1);
	for (;;) {
		int rc = ns_poller_take(pp->ping_rx, &v, sizeof(v));
		if (rc == NS_POLLER_PROCESSING) {
			push_value(pp->pong, &lay, v);
			continue;
		}
		if (rc < 0 || atomic_load_explicit(&pp->stop, memory_order_acquire))
			break;
		nsb_relax();
	}
	return NULL;
}

static int
run_pull_pingpong(const struct nsb_workload *w, const struct nsb_env *env, struct nsb_run *run)
{
	struct pull_pp *pp = aligned_alloc(NSB_LINE, sizeof(*pp));
	struct ns_poller_opts po = NS_POLLER_OPTS_INIT;
	struct ns_ring_layout lay = NS_RING_LAYOUT_INIT;
	pthread_t echo;
	uint64_t bad = 0;
	int rc = -1;

	if (pp == NULL)
		return -1;
	memset(pp, 0, sizeof(*pp));
	pp->env = env;
	pp->ping = ring_for(w, PING_CAPACITY, 1);
	pp->pong = ring_for(w, PING_CAPACITY, 1);
	if (pp->ping == NULL || pp->pong == NULL ||
	    ns_poller_create(&pp->ping_rx, pp->ping, &po) != 0 ||
	    ns_poller_create(&pp->pong_rx, pp->pong, &po) != 0 ||
	    pthread_create(&echo, NULL, pull_echo, pp) != 0)
		goto out;
	ns_ring_get_layout(pp->ping, &lay);
	nsb_pin(env, 0);
	int64_t end = nsb_now() + (int64_t)(env->seconds * 1e9);
	for (uint64_t i = 0;; i++) {
		uint64_t v = 0;
		int64_t t0 = nsb_now();
		push_value(pp->ping, &lay, i);
		while (ns_poller_take(pp->pong_rx, &v, sizeof(v)) != NS_POLLER_PROCESSING)
			nsb_relax();
		int64_t t1 = nsb_now();
		nsb_hist_record(run->hist, (uint64_t)(t1 - t0));
		bad += v != i;
		if (t1 > end)
			break;
	}
	atomic_store_explicit(&pp->stop, 1, memory_order_release);
	pthread_join(echo, NULL);
	if (bad != 0 || run->hist->total == 0)
		nsb_fail(run, "pulled ping-pong: %llu wrong replies", (unsigned long long)bad);
	rc = 0;
out:
	ns_poller_destroy(pp->ping_rx);
	ns_poller_destroy(pp->pong_rx);
	ns_ring_destroy(pp->ping);
	ns_ring_destroy(pp->pong);
	free(pp);
	return rc;
}

/* --- one thread: the producer's own cost ------------------------------------------------- */

static int
run_st(const struct nsb_workload *w, const struct nsb_env *env, struct nsb_run *run)
{
	ns_ring *ring = ring_for(w, 4096, 1);
	uint32_t b = w->p.batch;
	uint64_t n = 0;
	if (ring == NULL)
		return -1;
	nsb_pin(env, 0);
	int64_t t0 = nsb_now(), end = t0 + (int64_t)(env->seconds * 1e9), now;
	do {
		for (int i = 0; i < 4096; i++) {
			if (b == 1) {
				int64_t seq = ns_ring_claim(ring);
				ns_ring_publish(ring, seq);
			} else {
				int64_t first = ns_ring_claim_n(ring, b);
				ns_ring_publish_n(ring, first, b);
			}
		}
		n += 4096u * b;
	} while ((now = nsb_now()) < end);
	if (ns_ring_cursor(ring) != (int64_t)n - 1)
		nsb_fail(run, "st: cursor %lld after %llu events", (long long)ns_ring_cursor(ring),
			 (unsigned long long)n);
	run->value = (double)(now - t0) / (double)n;
	ns_ring_destroy(ring);
	return 0;
}

/* clang-format off */
#define GF(name, sfx, thr, shape_, prod_, batch_, slot_, wait_, flags_, about)                     \
	{ name, sfx, NSB_RATE, thr, run_graph,                                                     \
	  { .wait = wait_, .batch = batch_, .slot_size = slot_, .producers = prod_,              \
	    .shape = shape_, .flags = flags_ }, about }
#define G(name, sfx, thr, shape_, prod_, batch_, slot_, wait_, about)                              \
	GF(name, sfx, thr, shape_, prod_, batch_, slot_, wait_, 0, about)
#define PULL(name, sfx, thr, shape_, prod_, batch_, max_, wait_, about)                            \
	{ name, sfx, NSB_RATE, thr, run_graph,                                                     \
	  { .wait = wait_, .batch = batch_, .slot_size = 8, .producers = prod_, .shape = shape_,  \
	    .flags = NSB_F_POLL, .pull_max = max_ }, about }
#define PPF(sfx, wait_, flags_, about)                                                             \
	{ "ring.pingpong.rtt", sfx, NSB_LATENCY, 2, run_pingpong,                                  \
	  { .wait = wait_, .batch = 1, .slot_size = 16, .producers = 1, .shape = PINGPONG,         \
	    .flags = flags_ }, about }
#define PP(sfx, wait_, about) PPF(sfx, wait_, 0, about)
#define ST(name, batch_, about)                                                                    \
	{ name, "", NSB_COST, 1, run_st,                                                           \
	  { .batch = batch_, .slot_size = 8, .producers = 1, .shape = ST }, about }

const struct nsb_workload nsb_ours_workloads[] = {
	G("ring.p1c1.b1", "", 2, P1C1, 1, 1, 8, NS_WAIT_BUSY_SPIN,
	  "1 producer -> 1 consumer, 8-byte events, claims of 1, consumer per event"),
	GF("ring.p1c1.b1.nocoalesce", "", 2, P1C1, 1, 1, 8, NS_WAIT_BUSY_SPIN, NSB_F_NO_COALESCE,
	   "1 -> 1, claims of 1, consumer with NS_CONSUMER_F_NO_COALESCE"),
	GF("ring.p1c1.b1.runs", "", 2, P1C1, 1, 1, 8, NS_WAIT_BUSY_SPIN, NSB_F_RUNS,
	   "1 -> 1, claims of 1, consumer takes runs of events (on_events)"),
	GF("ring.p1c1.b64", "", 2, P1C1, 1, 64, 8, NS_WAIT_BUSY_SPIN, NSB_F_RUNS,
	   "1 -> 1, claims of 64, consumer takes runs of events (on_events)"),
	G("ring.p1c1.b64.event", "", 2, P1C1, 1, 64, 8, NS_WAIT_BUSY_SPIN,
	  "1 -> 1, claims of 64, consumer called per event (on_event)"),
	GF("ring.p1c1.b4", "", 2, P1C1, 1, 4, 8, NS_WAIT_BUSY_SPIN, NSB_F_RUNS, "1 -> 1, claims of 4, runs"),
	GF("ring.p1c1.b16", "", 2, P1C1, 1, 16, 8, NS_WAIT_BUSY_SPIN, NSB_F_RUNS, "1 -> 1, claims of 16, runs"),
	GF("ring.p1c1.b256", "", 2, P1C1, 1, 256, 8, NS_WAIT_BUSY_SPIN, NSB_F_RUNS, "1 -> 1, claims of 256, runs"),
	G("ring.p1c1.b1", ".yield", 2, P1C1, 1, 1, 8, NS_WAIT_YIELD, "1 -> 1, claims of 1, yielding"),
	GF("ring.p1c1.b64", ".yield", 2, P1C1, 1, 64, 8, NS_WAIT_YIELD, NSB_F_RUNS,
	   "1 -> 1, claims of 64, runs, yielding"),
	G("ring.p1c1.b1", ".block", 1, P1C1, 1, 1, 8, NS_WAIT_BLOCKING,
	  "1 -> 1, claims of 1, blocking (mutex + condvar)"),
	GF("ring.p1c1.b64", ".block", 1, P1C1, 1, 64, 8, NS_WAIT_BLOCKING, NSB_F_RUNS,
	   "1 -> 1, claims of 64, runs, blocking"),
	GF("ring.p1c1.b1.slotseq", "", 2, P1C1, 1, 1, 8, NS_WAIT_BUSY_SPIN, NSB_F_SEQ_IN_SLOT,
	   "1 -> 1, claims of 1, ring with NS_RING_F_SEQ_IN_SLOT (latency layout)"),
	G("ring.p1c1.slot64.b1", "", 2, P1C1, 1, 1, 64, NS_WAIT_BUSY_SPIN,
	  "1 -> 1, 64-byte events, claims of 1"),
	PP("", NS_WAIT_BUSY_SPIN, "ping-pong through two rings, busy spin"),
	PP(".yield", NS_WAIT_YIELD, "ping-pong, yielding"),
	PP(".block", NS_WAIT_BLOCKING, "ping-pong, blocking (mutex + condvar)"),
	PP(".lite", NS_WAIT_LITE_BLOCKING, "ping-pong, lite blocking (futex)"),
	PPF(".nocoalesce", NS_WAIT_BUSY_SPIN, NSB_F_NO_COALESCE,
	    "ping-pong, busy spin, consumers with NS_CONSUMER_F_NO_COALESCE"),
	PPF(".slotseq", NS_WAIT_BUSY_SPIN, NSB_F_SEQ_IN_SLOT,
	    "ping-pong, busy spin, rings with NS_RING_F_SEQ_IN_SLOT (latency layout)"),
	PPF(".slotseq.block", NS_WAIT_BLOCKING, NSB_F_SEQ_IN_SLOT,
	    "ping-pong, blocking, rings with NS_RING_F_SEQ_IN_SLOT"),
	G("ring.p2c1", "", 3, P2C1, 2, 1, 8, NS_WAIT_BUSY_SPIN, "2 producers (MULTI) -> 1 consumer, busy spin"),
	G("ring.p2c1", ".yield", 3, P2C1, 2, 1, 8, NS_WAIT_YIELD, "2 producers -> 1 consumer, yielding"),
	G("ring.p1c3", "", 4, P1C3, 1, 1, 8, NS_WAIT_BUSY_SPIN, "multicast to 3 consumers, busy spin"),
	G("ring.p1c3", ".yield", 4, P1C3, 1, 1, 8, NS_WAIT_YIELD, "multicast to 3, yielding"),
	G("ring.pipeline3", "", 4, PIPELINE3, 1, 1, 8, NS_WAIT_BUSY_SPIN, "3-stage pipeline, busy spin"),
	G("ring.pipeline3", ".yield", 4, PIPELINE3, 1, 1, 8, NS_WAIT_YIELD, "3-stage pipeline, yielding"),
	G("ring.diamond", "", 4, DIAMOND, 1, 1, 8, NS_WAIT_BUSY_SPIN, "two consumers, then one after both, busy spin"),
	G("ring.diamond", ".yield", 4, DIAMOND, 1, 1, 8, NS_WAIT_YIELD, "diamond, yielding"),
	G("ring.workpool2", "", 3, WORKPOOL2, 1, 1, 8, NS_WAIT_BUSY_SPIN, "work pool of 2 (each event to one worker), busy spin"),
	G("ring.workpool2", ".yield", 3, WORKPOOL2, 1, 1, 8, NS_WAIT_YIELD, "work pool of 2, yielding"),
	PULL("ring.pull.p1c1.b1", "", 2, P1C1, 1, 1, 1, NS_WAIT_BUSY_SPIN,
	     "pulled: try-claims of 1 -> a poller taking 1 event per ns_poller_take()"),
	PULL("ring.pull.p1c1.b64", "", 2, P1C1, 1, 64, 64, NS_WAIT_BUSY_SPIN,
	     "pulled: try-claims of up to 64 -> ns_poller_peek() of up to 64, then release"),
	PULL("ring.pull.p2c1", "", 3, P2C1, 2, 1, 1, NS_WAIT_BUSY_SPIN,
	     "pulled: 2 producers (MULTI) try-claiming 1 -> ns_poller_take() of 1"),
	{ "ring.pull.pingpong.rtt",
	  "",
	  NSB_LATENCY,
	  2,
	  run_pull_pingpong,
	  { .wait = NS_WAIT_BUSY_SPIN, .batch = 1, .slot_size = 8 },
	  "pulled ping-pong: try-claim + publish one way, ns_poller_take() the other, spinning" },
	ST("ring.st.b1", 1, "one thread: claim + publish, one slot (ns/event)"),
	ST("ring.st.b64", 64, "one thread: claim + publish, 64 slots at a time (ns/event)"),
	{ NULL, NULL, 0, 0, NULL, { 0 }, NULL },
};
/* clang-format on */

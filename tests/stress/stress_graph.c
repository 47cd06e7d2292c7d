/* SPDX-License-Identifier: MIT */
/*
 * Consumer-graph stress: producers push checked events (tests/common/event.h) through
 *   multicast  3 consumers each see every event
 *   pipeline   A, then B, then C
 *   diamond    A and B in parallel, then C
 *   workpool   2 workers share the events (each exactly once), then a tail consumer
 * with 1 producer (SINGLE) and 2 producers (MULTI), for every wait strategy (busy spin with a
 * tenth of the events: 4 to 6 spinning threads on 2 cores advance once per time slice).
 * Every stage checks per-producer order, payload and CRC, and that each upstream stage had
 * finished the event before it; the totals must be exact. Stage 1 of every graph takes its
 * events in runs (on_events), the others one by one (on_event).
 *
 *   live       consumers added mid-stream (each must see every event after its start, in
 *              order) and removed mid-stream (producers must never wait on them), over a
 *              consumer that checks the whole stream
 *
 *   stress_graph multicast|pipeline|diamond|workpool|live
 *
 * Events per cell: NS_STRESS_EVENTS (default 200,000) times NS_STRESS_SCALE.
 */
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <nanostream/nanostream.h>

#include "event.h"
#include "testutil.h"

#define MAX_PRODUCERS 2
#define MAX_STAGES    4

enum topology { MULTICAST, PIPELINE, DIAMOND, WORKPOOL };

struct graph;

struct stage {
	struct graph *g;
	ns_consumer *self;
	uint32_t id;	 /* bit in graph.marks */
	uint32_t upmask; /* stages that must have finished each event first */
	bool in_order;	 /* sees events in sequence order (not a pool worker) */
	uint64_t next_pseq[MAX_PRODUCERS];
	uint64_t seen;
	uint64_t bad;
};

struct graph {
	uint32_t producers;
	uint64_t total;
	uint8_t *marks;	   /* per sequence: a bit per stage that finished it */
	uint32_t *handled; /* per sequence: pool workers that handled it */
	struct stage stages[MAX_STAGES];
};

static int
stage_event(void *ctx, void *slot, int64_t seq, bool end)
{
	struct stage *s = ctx;
	struct graph *g = s->g;
	const struct tu_event *e = slot;

	(void)end;
	if (!tu_event_intact(e, g->producers) || seq < 0 || (uint64_t)seq >= g->total) {
		s->bad++;
		return 0;
	}
	if (s->in_order) {
		if (e->pseq != s->next_pseq[e->producer])
			s->bad++;
		s->next_pseq[e->producer] = e->pseq + 1;
	} else {
		__atomic_add_fetch(&g->handled[seq], 1, __ATOMIC_RELAXED);
	}
	if ((__atomic_load_n(&g->marks[seq], __ATOMIC_ACQUIRE) & s->upmask) != s->upmask)
		__atomic_add_fetch(&s->bad, 1, __ATOMIC_RELAXED);
	__atomic_fetch_or(&g->marks[seq], (uint8_t)(1u << s->id), __ATOMIC_RELEASE);
	__atomic_add_fetch(&s->seen, 1, __ATOMIC_RELAXED);
	return 0;
}

/* The same checks, taking events in runs (on_events): stage 1 of every graph uses it. */
static int
stage_events(void *ctx, void *first, int64_t seq, uint32_t count, uint32_t stride, bool end)
{
	uint8_t *slot = first;
	for (uint32_t i = 0; i < count; i++, slot += stride)
		stage_event(ctx, slot, seq + i, end && i + 1 == count);
	return 0;
}

struct producer {
	ns_ring *ring;
	struct tu_barrier *start;
	uint32_t id;
	uint64_t count;
	int64_t error;
};

static void *
produce(void *arg)
{
	struct producer *p = arg;

	tu_barrier_wait(p->start);
	for (uint64_t i = 0; i < p->count;) {
		uint32_t n = p->count - i < 16 ? (uint32_t)(p->count - i) : 16;
		int64_t first = ns_ring_claim_n(p->ring, n);
		if (first < 0) {
			p->error = first;
			return NULL;
		}
		for (uint32_t k = 0; k < n; k++)
			tu_event_fill(ns_ring_slot(p->ring, first + k), p->id, i++);
		ns_ring_publish_n(p->ring, first, n);
	}
	return NULL;
}

static ns_consumer *
add_stage(struct graph *g, ns_ring *r, uint32_t id, ns_consumer **after, uint32_t n,
	  uint32_t upmask)
{
	struct ns_consumer_opts co = NS_CONSUMER_OPTS_INIT;
	struct stage *s = &g->stages[id];

	s->g = g;
	s->id = id;
	s->upmask = upmask;
	s->in_order = true;
	if (id == 1)
		co.on_events = stage_events;
	else
		co.on_event = stage_event;
	co.ctx = s;
	co.after = after;
	co.after_count = n;
	assert_int_equal(ns_consumer_create(&s->self, r, &co), 0);
	return s->self;
}

/* ns_ring_opts.flags of every ring: "slotseq" as the second argument sets NS_RING_F_SEQ_IN_SLOT. */
static uint32_t g_ring_flags;

static void
run_graph(enum topology topo, uint32_t producers, uint32_t wait, uint64_t events)
{
	struct ns_ring_opts ro = NS_RING_OPTS_INIT;
	struct graph g = { .producers = producers, .total = events / producers * producers };
	struct producer prod[MAX_PRODUCERS];
	pthread_t threads[MAX_PRODUCERS];
	ns_consumer *tails[MAX_STAGES];
	ns_consumer *all[MAX_STAGES];
	ns_work_pool *pool = NULL;
	struct tu_barrier start;
	ns_ring *r = NULL;
	int ntails = 0, nall = 0;

	g.marks = calloc(g.total, 1);
	g.handled = calloc(g.total, sizeof(*g.handled));
	assert_non_null(g.marks);
	assert_non_null(g.handled);
	ro.capacity = 512;
	ro.slot_size = sizeof(struct tu_event);
	ro.producer = producers == 1 ? NS_PRODUCER_SINGLE : NS_PRODUCER_MULTI;
	ro.wait = wait;
	ro.sleep_ns = 20000;
	ro.timeout_ns = 200000;
	ro.flags = g_ring_flags;
	assert_int_equal(ns_ring_create(&r, &ro), 0);

	if (topo == MULTICAST) {
		for (uint32_t i = 0; i < 3; i++)
			all[nall++] = tails[ntails++] = add_stage(&g, r, i, NULL, 0, 0);
	} else if (topo == PIPELINE) {
		ns_consumer *a = all[nall++] = add_stage(&g, r, 0, NULL, 0, 0);
		ns_consumer *b = all[nall++] = add_stage(&g, r, 1, &a, 1, 1u << 0);
		all[nall++] = tails[ntails++] = add_stage(&g, r, 2, &b, 1, 1u << 1 | 1u << 0);
	} else if (topo == DIAMOND) {
		ns_consumer *ab[2];
		ab[0] = all[nall++] = add_stage(&g, r, 0, NULL, 0, 0);
		ab[1] = all[nall++] = add_stage(&g, r, 1, NULL, 0, 0);
		all[nall++] = tails[ntails++] = add_stage(&g, r, 2, ab, 2, 1u << 0 | 1u << 1);
	} else {
		struct ns_work_pool_opts po = NS_WORK_POOL_OPTS_INIT;
		struct stage *w = &g.stages[0];
		w->g = &g;
		w->id = 0;
		w->in_order = false;
		po.workers = 2;
		po.on_event = stage_event;
		po.ctx = w;
		assert_int_equal(ns_work_pool_create(&pool, r, &po), 0);
		ns_consumer *head = ns_work_pool_consumer(pool);
		all[nall++] = tails[ntails++] = add_stage(&g, r, 1, &head, 1, 1u << 0);
	}
	for (int i = 0; i < nall; i++)
		assert_int_equal(ns_consumer_start(all[i], -1, "ns-stage"), 0);
	if (pool != NULL)
		assert_int_equal(ns_work_pool_start(pool, NULL), 0);

	int64_t t0 = ns_clock_ns();
	tu_barrier_init(&start, producers);
	for (uint32_t i = 0; i < producers; i++) {
		prod[i] = (struct producer){
			.ring = r, .start = &start, .id = i, .count = g.total / producers
		};
		assert_int_equal(pthread_create(&threads[i], NULL, produce, &prod[i]), 0);
	}
	for (uint32_t i = 0; i < producers; i++) {
		assert_int_equal(pthread_join(threads[i], NULL), 0);
		assert_int_equal(prod[i].error, 0);
	}
	/* Every event published: the drain lets every stage finish, then stops them all. */
	uint64_t left = 1;
	assert_int_equal(ns_ring_drain(r, ns_clock_ns() + INT64_C(60000000000), &left), 0);
	assert_int_equal(left, 0);
	for (int i = 0; i < nall; i++)
		assert_int_equal(ns_consumer_join(all[i]), -ESHUTDOWN);
	if (pool != NULL)
		assert_int_equal(ns_work_pool_join(pool), -ESHUTDOWN);
	double secs = (double)(ns_clock_ns() - t0) / 1e9;

	uint64_t bad = 0;
	int nstages = topo == MULTICAST || topo == PIPELINE || topo == DIAMOND ? 3 : 2;
	for (int i = 0; i < nstages; i++) {
		bad += g.stages[i].bad;
		assert_int_equal(g.stages[i].seen, g.total);
		if (g.stages[i].in_order) {
			for (uint32_t p = 0; p < producers; p++)
				assert_int_equal(g.stages[i].next_pseq[p], g.total / producers);
		}
	}
	if (topo == WORKPOOL) {
		for (uint64_t s = 0; s < g.total; s++)
			assert_int_equal(g.handled[s], 1);
	}
	printf("# topology %d, %u producer(s), wait %u: %llu events x %d stages in %.2f s, "
	       "%llu bad\n",
	       (int)topo, producers, wait, (unsigned long long)g.total, nstages, secs,
	       (unsigned long long)bad);
	assert_int_equal(bad, 0);
	for (int i = nall - 1; i >= 0; i--)
		ns_consumer_destroy(all[i]);
	ns_work_pool_destroy(pool);
	ns_ring_destroy(r);
	free(g.marks);
	free(g.handled);
	(void)tails;
	(void)ntails;
}

/* Live changes: a consumer added mid-stream sees every event after its start, in order. */
struct live {
	uint32_t producers;
	int64_t start; /* sequence it was created after */
	int64_t next;  /* next sequence it expects */
	uint64_t seen;
	uint64_t bad;
};

static int
live_event(void *ctx, void *slot, int64_t seq, bool end)
{
	struct live *l = ctx;
	(void)end;
	if (seq != l->next || !tu_event_intact(slot, l->producers))
		l->bad++;
	l->next = seq + 1;
	__atomic_add_fetch(&l->seen, 1, __ATOMIC_RELEASE);
	return 0;
}

static void
run_live(uint32_t producers, uint32_t wait, uint64_t events)
{
	struct ns_ring_opts ro = NS_RING_OPTS_INIT;
	struct graph g = { .producers = producers, .total = events / producers * producers };
	struct producer prod[MAX_PRODUCERS];
	pthread_t threads[MAX_PRODUCERS];
	struct tu_barrier start;
	ns_ring *r = NULL;
	uint64_t rounds = 0, live_seen = 0, live_bad = 0;

	g.marks = calloc(g.total, 1);
	g.handled = calloc(g.total, sizeof(*g.handled));
	ro.capacity = 512;
	ro.slot_size = sizeof(struct tu_event);
	ro.producer = producers == 1 ? NS_PRODUCER_SINGLE : NS_PRODUCER_MULTI;
	ro.wait = wait;
	ro.sleep_ns = 20000;
	ro.flags = g_ring_flags;
	assert_int_equal(ns_ring_create(&r, &ro), 0);
	ns_consumer *base = add_stage(&g, r, 0, NULL, 0, 0);
	assert_int_equal(ns_consumer_start(base, -1, "ns-base"), 0);

	tu_barrier_init(&start, producers);
	for (uint32_t i = 0; i < producers; i++) {
		prod[i] = (struct producer){
			.ring = r, .start = &start, .id = i, .count = g.total / producers
		};
		assert_int_equal(pthread_create(&threads[i], NULL, produce, &prod[i]), 0);
	}
	/* Add and remove consumers until the producers are done. */
	while (ns_ring_cursor(r) < (int64_t)g.total - 1 - 4096) {
		struct ns_consumer_opts co = NS_CONSUMER_OPTS_INIT;
		struct live l = { .producers = producers };
		ns_consumer *c = NULL;
		co.on_event = live_event;
		co.ctx = &l;
		assert_int_equal(ns_consumer_create(&c, r, &co), 0);
		l.start = ns_consumer_sequence(c);
		l.next = l.start + 1;
		assert_int_equal(ns_consumer_start(c, -1, "ns-live"), 0);
		/* Let it see some events (or the stream end), then remove it mid-stream. */
		while (__atomic_load_n(&l.seen, __ATOMIC_ACQUIRE) < 1000 &&
		       ns_ring_cursor(r) < (int64_t)g.total - 1)
			sched_yield();
		ns_consumer_destroy(c);
		live_seen += l.seen;
		live_bad += l.bad;
		rounds++;
	}
	for (uint32_t i = 0; i < producers; i++) {
		assert_int_equal(pthread_join(threads[i], NULL), 0);
		assert_int_equal(prod[i].error, 0);
	}
	uint64_t left = 1;
	assert_int_equal(ns_ring_drain(r, ns_clock_ns() + INT64_C(60000000000), &left), 0);
	assert_int_equal(ns_consumer_join(base), -ESHUTDOWN);
	printf("# live, %u producer(s), wait %u: %llu added and removed mid-stream, %llu events "
	       "checked by them, %llu bad; base saw %llu of %llu\n",
	       producers, wait, (unsigned long long)rounds, (unsigned long long)live_seen,
	       (unsigned long long)live_bad, (unsigned long long)g.stages[0].seen,
	       (unsigned long long)g.total);
	assert_int_equal(live_bad, 0);
	assert_int_equal(g.stages[0].bad, 0);
	assert_int_equal(g.stages[0].seen, g.total);
	ns_consumer_destroy(base);
	ns_ring_destroy(r);
	free(g.marks);
	free(g.handled);
}

static enum topology g_topology;
static bool g_live;

static void
graph_cell(void **state)
{
	const uint32_t *pw = *state;
	const char *s = getenv("NS_STRESS_EVENTS");
	uint64_t events = tu_scaled(s != NULL ? strtoull(s, NULL, 10) : 200000);

	/*
	 * Busy spin with 4-6 spinning threads on 2 cores moves about one ring-full per time
	 * slice: a tenth of the events keeps the cell short and still laps the ring hundreds of
	 * times.
	 */
	if (pw[1] == NS_WAIT_BUSY_SPIN)
		events /= 10;
	if (g_live)
		run_live(pw[0], pw[1], events);
	else
		run_graph(g_topology, pw[0], pw[1], events);
}

#define CELL(name, producers, wait)                                                                \
	static uint32_t name##_state[2] = { producers, wait };                                     \
	static int name##_setup(void **state)                                                      \
	{                                                                                          \
		*state = name##_state;                                                             \
		return 0;                                                                          \
	}

CELL(sp_spin, 1, NS_WAIT_BUSY_SPIN)
CELL(mp_spin, 2, NS_WAIT_BUSY_SPIN)
CELL(sp_yield, 1, NS_WAIT_YIELD)
CELL(sp_sleep, 1, NS_WAIT_SLEEP)
CELL(sp_blocking, 1, NS_WAIT_BLOCKING)
CELL(sp_lite, 1, NS_WAIT_LITE_BLOCKING)
CELL(sp_timeout, 1, NS_WAIT_TIMEOUT_BLOCKING)
CELL(sp_phased, 1, NS_WAIT_PHASED)
CELL(mp_yield, 2, NS_WAIT_YIELD)
CELL(mp_sleep, 2, NS_WAIT_SLEEP)
CELL(mp_blocking, 2, NS_WAIT_BLOCKING)
CELL(mp_lite, 2, NS_WAIT_LITE_BLOCKING)
CELL(mp_timeout, 2, NS_WAIT_TIMEOUT_BLOCKING)
CELL(mp_phased, 2, NS_WAIT_PHASED)

#define CELL_TEST(name) cmocka_unit_test_setup(graph_cell, name##_setup)

int
main(int argc, char **argv)
{
	static const char *const names[] = { "multicast", "pipeline", "diamond", "workpool" };
	const struct CMUnitTest cells[] = {
		CELL_TEST(sp_spin),    CELL_TEST(mp_spin),     CELL_TEST(sp_yield),
		CELL_TEST(sp_sleep),   CELL_TEST(sp_blocking), CELL_TEST(sp_lite),
		CELL_TEST(sp_timeout), CELL_TEST(sp_phased),   CELL_TEST(mp_yield),
		CELL_TEST(mp_sleep),   CELL_TEST(mp_blocking), CELL_TEST(mp_lite),
		CELL_TEST(mp_timeout), CELL_TEST(mp_phased),
	};
	char group[40];

	if (argc > 2 && strcmp(argv[2], "slotseq") == 0)
		g_ring_flags = NS_RING_F_SEQ_IN_SLOT;
	for (int t = 0; t < 4; t++) {
		if (argc > 1 && strcmp(argv[1], names[t]) == 0) {
			g_topology = (enum topology)t;
			snprintf(group, sizeof(group), "stress-%s%s", names[t],
				 g_ring_flags != 0 ? "-slotseq" : "");
			return cmocka_run_group_tests_name(group, cells, NULL, NULL);
		}
	}
	if (argc > 1 && strcmp(argv[1], "live") == 0) {
		g_live = true;
		return cmocka_run_group_tests_name("stress-live", cells, NULL, NULL);
	}
	fprintf(stderr, "usage: %s multicast|pipeline|diamond|workpool|live [slotseq]\n", argv[0]);
	return 2;
}

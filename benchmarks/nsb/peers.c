/* SPDX-License-Identifier: MIT */
/*
 * Peers: other queues on the same workloads, checked the same way (per-producer order and
 * totals). This file holds the shared harness and the mutex + condition variable queue
 * written here (what many applications use); Concurrency Kit and DPDK are in their own files.
 *
 * Consumers take whatever is there, up to 64 events per call, as our batch consumers do;
 * producers push one event per call (b1) or 64 (b64, where the queue has a batch call).
 */
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "nsb.h"

#define CAPACITY      (1u << 16)
#define PING_CAPACITY 1024u
#define BURST	      64u  /* most events a consumer takes per call */
#define MAX_BATCH     256u /* most events a producer pushes per call */
#define ID_SHIFT      48
#define COUNT_MASK    ((UINT64_C(1) << ID_SHIFT) - 1)
#define MAX_PRODUCERS 4

static void
wait_a_bit(uint32_t mode)
{
	if (mode == NSB_PEER_YIELD)
		sched_yield();
	else
		nsb_relax();
}

/* --- the mutex + condvar queue ----------------------------------------------------------- */

struct mutex_queue {
	pthread_mutex_t lock;
	pthread_cond_t not_empty, not_full;
	uint32_t waiting_consumers, waiting_producers; /* signal only when someone waits */
	bool closed;
	uint64_t head, tail; /* counts: head - tail items */
	uint32_t capacity;
	uint64_t *buf;
};

static void *
mq_create(uint32_t capacity, uint32_t producers)
{
	struct mutex_queue *q = calloc(1, sizeof(*q));
	(void)producers;
	if (q == NULL)
		return NULL;
	q->buf = calloc(capacity, sizeof(uint64_t));
	if (q->buf == NULL) {
		free(q);
		return NULL;
	}
	q->capacity = capacity;
	pthread_mutex_init(&q->lock, NULL);
	pthread_cond_init(&q->not_empty, NULL);
	pthread_cond_init(&q->not_full, NULL);
	return q;
}

static void
mq_destroy(void *arg)
{
	struct mutex_queue *q = arg;
	if (q == NULL)
		return;
	pthread_cond_destroy(&q->not_full);
	pthread_cond_destroy(&q->not_empty);
	pthread_mutex_destroy(&q->lock);
	free(q->buf);
	free(q);
}

static bool
mq_push_n(void *arg, const uint64_t *v, uint32_t n)
{
	struct mutex_queue *q = arg;
	pthread_mutex_lock(&q->lock);
	while (q->head - q->tail + n > q->capacity && !q->closed) {
		q->waiting_producers++;
		pthread_cond_wait(&q->not_full, &q->lock);
		q->waiting_producers--;
	}
	bool ok = !q->closed;
	if (ok) {
		for (uint32_t i = 0; i < n; i++)
			q->buf[(q->head + i) % q->capacity] = v[i];
		q->head += n;
		if (q->waiting_consumers != 0)
			pthread_cond_signal(&q->not_empty);
	}
	pthread_mutex_unlock(&q->lock);
	return ok;
}

static bool
mq_push(void *q, uint64_t v)
{
	return mq_push_n(q, &v, 1);
}

static uint32_t
mq_pop(void *arg, uint64_t *out, uint32_t max)
{
	struct mutex_queue *q = arg;
	pthread_mutex_lock(&q->lock);
	while (q->head == q->tail && !q->closed) {
		q->waiting_consumers++;
		pthread_cond_wait(&q->not_empty, &q->lock);
		q->waiting_consumers--;
	}
	uint32_t n = 0;
	for (; n < max && q->tail != q->head; n++, q->tail++)
		out[n] = q->buf[q->tail % q->capacity];
	if (n != 0 && q->waiting_producers != 0)
		pthread_cond_broadcast(&q->not_full);
	pthread_mutex_unlock(&q->lock);
	return n;
}

static void
mq_close(void *arg)
{
	struct mutex_queue *q = arg;
	pthread_mutex_lock(&q->lock);
	q->closed = true;
	pthread_cond_broadcast(&q->not_empty);
	pthread_cond_broadcast(&q->not_full);
	pthread_mutex_unlock(&q->lock);
}

static const struct nsb_queue_ops mutex_ops = {
	mq_create, mq_destroy, mq_push, mq_push_n, mq_pop, mq_close, true,
};

/* --- the harness ------------------------------------------------------------------------- */

struct peer_run {
	const struct nsb_queue_ops *ops;
	const struct nsb_env *env;
	void *q;
	uint32_t wait, batch, producers, pop_max;
	int64_t end;
	_Alignas(NSB_LINE) atomic_int producers_done;
	_Alignas(NSB_LINE) uint64_t sent[MAX_PRODUCERS];
	uint64_t next[MAX_PRODUCERS];
	uint64_t received, bad;
};

struct peer_producer {
	struct peer_run *pr;
	uint32_t id;
};

static void *
peer_produce(void *arg)
{
	struct peer_producer *pp = arg;
	struct peer_run *pr = pp->pr;
	const struct nsb_queue_ops *ops = pr->ops;
	uint64_t base = (uint64_t)pp->id << ID_SHIFT, n = 0, v[MAX_BATCH];
	nsb_pin(pr->env, (int)pp->id);
	for (;;) {
		if (pr->batch == 1) {
			while (!ops->push(pr->q, base | n)) {
				if (ops->blocking)
					goto out;
				wait_a_bit(pr->wait);
			}
			n++;
		} else {
			for (uint32_t k = 0; k < pr->batch; k++)
				v[k] = base | (n + k);
			if (ops->push_n == NULL) {
				/* No bulk call: the batch one by one, as its user would. */
				for (uint32_t k = 0; k < pr->batch; k++)
					while (!ops->push(pr->q, v[k]))
						wait_a_bit(pr->wait);
				n += pr->batch;
				goto next;
			}
			while (!ops->push_n(pr->q, v, pr->batch)) {
				if (ops->blocking)
					goto out;
				wait_a_bit(pr->wait);
			}
			n += pr->batch;
		}
	next:
		if ((n & 4095) < pr->batch && nsb_now() > pr->end) /* as ours and the floor */
			break;
	}
out:
	pr->sent[pp->id] = n;
	atomic_fetch_add_explicit(&pr->producers_done, 1, memory_order_acq_rel);
	return NULL;
}

static void *
peer_consume(void *arg)
{
	struct peer_run *pr = arg;
	const struct nsb_queue_ops *ops = pr->ops;
	uint64_t out[BURST];
	const uint32_t max = pr->pop_max;
	nsb_pin(pr->env, (int)pr->producers);
	for (;;) {
		uint32_t n = ops->pop(pr->q, out, max);
		if (n == 0) {
			if (ops->blocking)
				break; /* closed and empty */
			if (atomic_load_explicit(&pr->producers_done, memory_order_acquire) ==
				    (int)pr->producers &&
			    (n = ops->pop(pr->q, out, max)) == 0)
				break;
			if (n == 0) {
				wait_a_bit(pr->wait);
				continue;
			}
		}
		for (uint32_t i = 0; i < n; i++) {
			uint32_t id = (uint32_t)(out[i] >> ID_SHIFT);
			if (id >= pr->producers || (out[i] & COUNT_MASK) != pr->next[id])
				pr->bad++;
			else
				pr->next[id]++;
		}
		pr->received += n;
	}
	return NULL;
}

int
nsb_peer_flow(const struct nsb_workload *w, const struct nsb_env *env, struct nsb_run *run)
{
	struct peer_run *pr = aligned_alloc(NSB_LINE, sizeof(*pr));
	struct peer_producer prod[MAX_PRODUCERS];
	pthread_t threads[MAX_PRODUCERS], consumer;
	if (pr == NULL)
		return -1;
	memset(pr, 0, sizeof(*pr));
	pr->ops = w->p.ops;
	pr->env = env;
	pr->wait = w->p.wait;
	pr->batch = w->p.batch;
	pr->producers = w->p.producers;
	pr->pop_max = w->p.pull_max != 0 && w->p.pull_max < BURST ? w->p.pull_max : BURST;
	pr->q = pr->ops->create(CAPACITY, pr->producers);
	if (pr->q == NULL || pthread_create(&consumer, NULL, peer_consume, pr) != 0) {
		pr->ops->destroy(pr->q);
		free(pr);
		return -1;
	}
	int64_t t0 = nsb_now();
	pr->end = t0 + (int64_t)(env->seconds * 1e9);
	for (uint32_t i = 0; i < pr->producers; i++) {
		prod[i] = (struct peer_producer){ pr, i };
		if (i > 0)
			pthread_create(&threads[i], NULL, peer_produce, &prod[i]);
	}
	peer_produce(&prod[0]);
	for (uint32_t i = 1; i < pr->producers; i++)
		pthread_join(threads[i], NULL);
	if (pr->ops->blocking)
		pr->ops->close(pr->q);
	pthread_join(consumer, NULL);
	int64_t elapsed = nsb_now() - t0;
	uint64_t sent = 0;
	for (uint32_t i = 0; i < pr->producers; i++)
		sent += pr->sent[i];
	if (w->p.flags & NSB_F_UNORDERED)
		pr->bad = 0; /* out of order is what this queue does (see its line in `list`) */
	if (pr->received != sent || pr->bad != 0)
		nsb_fail(run, "peer: %llu of %llu received, %llu out of order",
			 (unsigned long long)pr->received, (unsigned long long)sent,
			 (unsigned long long)pr->bad);
	run->value = (double)sent / ((double)elapsed / 1e9);
	pr->ops->destroy(pr->q);
	free(pr);
	return 0;
}

/* Ping-pong: main thread pings and times, a second thread echoes. */
struct peer_pp {
	const struct nsb_queue_ops *ops;
	void *ping, *pong;
	uint32_t wait;
	const struct nsb_env *env;
	_Alignas(NSB_LINE) atomic_int stop;
};

static uint64_t
pop_one(const struct nsb_queue_ops *ops, void *q, uint32_t wait, atomic_int *stop, bool *ok)
{
	uint64_t v;
	while (ops->pop(q, &v, 1) == 0) {
		if (ops->blocking || atomic_load_explicit(stop, memory_order_acquire)) {
			*ok = false;
			return 0;
		}
		wait_a_bit(wait);
	}
	*ok = true;
	return v;
}

static void *
peer_echo(void *arg)
{
	struct peer_pp *pp = arg;
	bool ok;
	nsb_pin(pp->env, 1);
	for (;;) {
		uint64_t v = pop_one(pp->ops, pp->ping, pp->wait, &pp->stop, &ok);
		if (!ok)
			break;
		while (!pp->ops->push(pp->pong, v))
			wait_a_bit(pp->wait);
	}
	return NULL;
}

int
nsb_peer_pingpong(const struct nsb_workload *w, const struct nsb_env *env, struct nsb_run *run)
{
	struct peer_pp *pp = aligned_alloc(NSB_LINE, sizeof(*pp));
	pthread_t echo;
	uint64_t bad = 0;
	bool ok = true;
	if (pp == NULL)
		return -1;
	memset(pp, 0, sizeof(*pp));
	pp->ops = w->p.ops;
	pp->wait = w->p.wait;
	pp->env = env;
	pp->ping = pp->ops->create(PING_CAPACITY, 1);
	pp->pong = pp->ops->create(PING_CAPACITY, 1);
	if (pp->ping == NULL || pp->pong == NULL ||
	    pthread_create(&echo, NULL, peer_echo, pp) != 0) {
		pp->ops->destroy(pp->ping);
		pp->ops->destroy(pp->pong);
		free(pp);
		return -1;
	}
	nsb_pin(env, 0);
	int64_t end = nsb_now() + (int64_t)(env->seconds * 1e9);
	for (uint64_t i = 0; ok; i++) {
		int64_t t0 = nsb_now();
		while (!pp->ops->push(pp->ping, i))
			wait_a_bit(pp->wait);
		uint64_t v = pop_one(pp->ops, pp->pong, pp->wait, &pp->stop, &ok);
		int64_t t1 = nsb_now();
		nsb_hist_record(run->hist, (uint64_t)(t1 - t0));
		bad += v != i;
		if (t1 > end)
			break;
	}
	atomic_store_explicit(&pp->stop, 1, memory_order_release);
	if (pp->ops->blocking)
		pp->ops->close(pp->ping);
	pthread_join(echo, NULL);
	if (bad != 0 || !ok)
		nsb_fail(run, "peer ping-pong: %llu wrong replies", (unsigned long long)bad);
	pp->ops->destroy(pp->ping);
	pp->ops->destroy(pp->pong);
	free(pp);
	return 0;
}

const struct nsb_workload nsb_mutex_workloads[] = {
	{ "peer.mutex.p1c1.b1",
	  "",
	  NSB_RATE,
	  1,
	  nsb_peer_flow,
	  { .batch = 1, .producers = 1, .ops = &mutex_ops },
	  "mutex + condvar queue, 1 -> 1, one event per push" },
	{ "peer.mutex.p1c1.b64",
	  "",
	  NSB_RATE,
	  1,
	  nsb_peer_flow,
	  { .batch = 64, .producers = 1, .ops = &mutex_ops },
	  "mutex + condvar queue, 1 -> 1, 64 events per push" },
	{ "peer.mutex.p1c1.b4",
	  "",
	  NSB_RATE,
	  1,
	  nsb_peer_flow,
	  { .batch = 4, .producers = 1, .ops = &mutex_ops },
	  "mutex + condvar queue, 1 -> 1, 4 events per push" },
	{ "peer.mutex.p1c1.b16",
	  "",
	  NSB_RATE,
	  1,
	  nsb_peer_flow,
	  { .batch = 16, .producers = 1, .ops = &mutex_ops },
	  "mutex + condvar queue, 1 -> 1, 16 events per push" },
	{ "peer.mutex.p1c1.b256",
	  "",
	  NSB_RATE,
	  1,
	  nsb_peer_flow,
	  { .batch = 256, .producers = 1, .ops = &mutex_ops },
	  "mutex + condvar queue, 1 -> 1, 256 events per push" },
	{ "peer.mutex.pingpong.rtt",
	  "",
	  NSB_LATENCY,
	  0,
	  nsb_peer_pingpong,
	  { .batch = 1, .producers = 1, .ops = &mutex_ops },
	  "mutex + condvar queues, ping-pong (sleeps in the condvar)" },
	{ "peer.mutex.p2c1",
	  "",
	  NSB_RATE,
	  1,
	  nsb_peer_flow,
	  { .batch = 1, .producers = 2, .ops = &mutex_ops },
	  "mutex + condvar queue, 2 producers -> 1 consumer" },
	{ NULL, NULL, 0, 0, NULL, { 0 }, NULL },
};

/*
 * The queue peers of the pull family, mirroring ring.pull.*: .pull.p1c1.b1 pushes one value
 * and pops one per call; .pull.p1c1.b64 pushes 64 (a bulk call where the queue has one, else
 * one by one) and pops up to 64; .pull.p2c1 has two producers pushing one each and pops one
 * per call (multi-producer queues only). Ping-pong: one value each way per round trip.
 */
#define QFLOW(name, ops_, prod_, batch_, max_, about)                                              \
	{                                                                                          \
		name, "", NSB_RATE, (int)(prod_) + 1, nsb_peer_flow,                               \
			{ .wait = NSB_PEER_SPIN,                                                   \
			  .batch = batch_,                                                         \
			  .producers = prod_,                                                      \
			  .ops = ops_,                                                             \
			  .pull_max = max_ },                                                      \
			about                                                                      \
	}
#define QPING(name, ops_, about)                                                                   \
	{                                                                                          \
		name, "", NSB_LATENCY, 2, nsb_peer_pingpong,                                       \
			{ .wait = NSB_PEER_SPIN, .batch = 1, .producers = 1, .ops = ops_ }, about  \
	}

const struct nsb_workload nsb_queue_workloads[] = {
	QFLOW("peer.spsc.pull.p1c1.b1", &nsb_spsc_ops, 1, 1, 1,
	      "hand-written SPSC ring (cached indices), push 1 / pop 1, busy spin"),
	QFLOW("peer.spsc.pull.p1c1.b64", &nsb_spsc_ops, 1, 64, 64,
	      "hand-written SPSC ring, push 64 / pop up to 64"),
	QPING("peer.spsc.pingpong.rtt", &nsb_spsc_ops, "hand-written SPSC rings, ping-pong"),
#if NSB_HAVE_BOOST
	QFLOW("peer.boost.pull.p1c1.b1", &nsb_boost_ops, 1, 1, 1,
	      "boost::lockfree::spsc_queue, push 1 / pop 1, busy spin"),
	QFLOW("peer.boost.pull.p1c1.b64", &nsb_boost_ops, 1, 64, 64,
	      "boost::lockfree::spsc_queue, push 64 / pop up to 64"),
	QPING("peer.boost.pingpong.rtt", &nsb_boost_ops, "boost::lockfree::spsc_queue, ping-pong"),
#endif
#if NSB_HAVE_AQ
	QFLOW("peer.aq.pull.p1c1.b1", &nsb_aq_ops, 1, 1, 1,
	      "atomic_queue AtomicQueueB2 (SPSC), push 1 / pop 1, busy spin"),
	QFLOW("peer.aq.pull.p1c1.b64", &nsb_aq_ops, 1, 64, 64,
	      "atomic_queue (SPSC), 64 pushed one by one / pop up to 64"),
	{ "peer.aq.pull.p2c1",
	  "",
	  NSB_RATE,
	  3,
	  nsb_peer_flow,
	  { .wait = NSB_PEER_SPIN,
	    .batch = 1,
	    .producers = 2,
	    .ops = &nsb_aq_ops,
	    .pull_max = 1,
	    .flags = NSB_F_UNORDERED },
	  "atomic_queue AtomicQueueB2 (MPMC), 2 producers push 1 / pop 1; reorders a producer's "
	  "values (measured), so totals only" },
	QPING("peer.aq.pingpong.rtt", &nsb_aq_ops, "atomic_queue (SPSC), ping-pong"),
#endif
#if !NSB_NO_CK
	QFLOW("peer.ck.pull.p1c1.b1", &nsb_ck_ops, 1, 1, 1, "ck_ring spsc, push 1 / pop 1"),
	QFLOW("peer.ck.pull.p1c1.b64", &nsb_ck_ops, 1, 64, 64,
	      "ck_ring spsc, 64 pushed one by one / pop up to 64"),
	QFLOW("peer.ck.pull.p2c1", &nsb_ck_ops, 2, 1, 1,
	      "ck_ring mpmc, 2 producers push 1 / pop 1"),
#endif
#if !NSB_NO_RTE
	QFLOW("peer.rte.pull.p1c1.b1", &nsb_rte_ops, 1, 1, 1, "rte_ring SP/SC, push 1 / pop 1"),
	QFLOW("peer.rte.pull.p1c1.b64", &nsb_rte_ops, 1, 64, 64,
	      "rte_ring SP/SC, bulk push 64 / burst pop up to 64"),
	QFLOW("peer.rte.pull.p2c1", &nsb_rte_ops, 2, 1, 1,
	      "rte_ring MP/SC, 2 producers push 1 / pop 1"),
#endif
	QFLOW("peer.mutex.pull.p2c1", &mutex_ops, 2, 1, 1,
	      "mutex + condvar queue, 2 producers push 1 / pop 1"),
	{ NULL, NULL, 0, 0, NULL, { 0 }, NULL },
};

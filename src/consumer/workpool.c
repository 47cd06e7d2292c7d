/* SPDX-License-Identifier: MIT */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <nanostream/consumer.h>

#include "consumer/setup.h"
#include "util/sized.h"
#include "consumer/consumer.h"

/* First released size (util/sized.h): never change it. */
#define WORK_POOL_OPTS_0_1 NSI_SIZE_UPTO(struct ns_work_pool_opts, on_error)

struct ns_work_pool {
	struct ns_consumer *head; /* what downstream consumers list in `after` */
	struct ns_consumer **workers;
	uint32_t count;
	bool is_started;
	struct nsi_seq work_seq; /* the last sequence claimed by any worker */
};

static int
validate(const struct ns_work_pool_opts *o, const ns_ring *ring)
{
	if (o->flags != 0)
		return nsi_errmsg_set(-EINVAL, "work pool options: flags must be 0");
	if (o->on_event == NULL)
		return nsi_errmsg_set(-EINVAL, "work pool options: on_event is NULL");
	if (o->error_policy > NS_ERROR_RETRY)
		return nsi_errmsg_set(-EINVAL,
				      "work pool options: error_policy %u is not an enum "
				      "ns_error_policy",
				      o->error_policy);
	if (o->workers == 0 || o->workers > NS_WORK_POOL_MAX_WORKERS)
		return nsi_errmsg_set(-EINVAL,
				      "work pool options: workers %u is out of range (1 .. %u)",
				      o->workers, (unsigned)NS_WORK_POOL_MAX_WORKERS);
	return nsi_consumer_check_after(o->after, o->after_count, ring);
}

static void
free_workers(struct ns_work_pool *p)
{
	for (uint32_t i = 0; i < p->count; i++) {
		if (p->workers[i]->is_gated)
			nsi_gate_unregister(p->workers[i]->ring, p->workers[i]->gate);
		free(p->workers[i]->after);
		free(p->workers[i]);
	}
	p->count = 0;
}

static int
work_pool_create(ns_work_pool **pool, ns_ring *ring, const struct ns_work_pool_opts *opts)
{
	struct ns_work_pool_opts o;
	struct ns_work_pool *p;
	int rc;

	if (pool == NULL || ring == NULL || opts == NULL)
		return nsi_errmsg_set(-EINVAL, "%s is NULL",
				      pool == NULL   ? "pool"
				      : ring == NULL ? "ring"
						     : "opts");
	rc = nsi_sized_in_named(&o, sizeof(o), opts, WORK_POOL_OPTS_0_1, "struct ns_work_pool_opts",
				"NS_WORK_POOL_OPTS_INIT");
	if (rc < 0)
		return rc;
	rc = validate(&o, ring);
	if (rc < 0)
		return rc;
	if (nsi_ring_halted(ring))
		return -ESHUTDOWN;

	p = aligned_alloc(NS_FALSE_SHARING, sizeof(*p));
	if (p == NULL)
		return -ENOMEM;
	memset(p, 0, sizeof(*p));
	p->head = nsi_consumer_new(ring);
	p->workers = calloc(o.workers, sizeof(*p->workers));
	if (p->head == NULL || p->workers == NULL) {
		rc = -ENOMEM;
		goto err;
	}

	/* The first worker's gate decides where the pool starts; the others share it. */
	enum nsi_gate_start how = NSI_GATE_AT_CURSOR;
	int64_t start = -1;
	for (uint32_t i = 0; i < o.workers; i++) {
		struct ns_consumer *w = nsi_consumer_new(ring);
		if (w == NULL) {
			rc = -ENOMEM;
			goto err;
		}
		p->workers[p->count++] = w;
		w->on_event = o.on_event;
		w->ctx = o.ctx;
		w->on_error = o.on_error;
		w->max_batch = 1;
		w->error_policy = o.error_policy;
		w->max_retries = o.max_retries != 0 ? o.max_retries : NSI_DEFAULT_RETRIES;
		w->work_seq = &p->work_seq;
		rc = nsi_consumer_set_after(w, o.after, o.after_count);
		if (rc < 0)
			goto err;
		if (i == 0 && o.after_count != 0) {
			start = nsi_consumer_upstream_min(w);
			how = NSI_GATE_AT_TRUSTED;
		}
		rc = nsi_gate_register(ring, &w->gate, &start, how, w);
		if (rc < 0)
			goto err;
		w->is_gated = true;
		w->progress.sequence = start;
		how = NSI_GATE_AT_TRUSTED; /* protected by the first worker's gate */
	}
	nsi_seq_init(&p->work_seq, start);
	p->head->workers = p->workers;
	p->head->worker_count = p->count;
	*pool = p;
	return 0;

err:
	if (p->workers != NULL)
		free_workers(p);
	free(p->workers);
	free(p->head);
	free(p);
	return rc;
}

int
ns_work_pool_create(ns_work_pool **pool, ns_ring *ring, const struct ns_work_pool_opts *opts)
{
	nsi_errmsg_clear();
	return nsi_errmsg_default(work_pool_create(pool, ring, opts));
}

int
ns_work_pool_start(ns_work_pool *pool, const int *cpus)
{
	if (pool == NULL)
		return -EINVAL;
	if (pool->is_started)
		return -EALREADY;
	for (uint32_t i = 0; i < pool->count; i++) {
		int rc = ns_consumer_start(pool->workers[i], cpus != NULL ? cpus[i] : -1,
					   "ns-worker");
		if (rc < 0) {
			for (uint32_t k = 0; k < i; k++)
				ns_consumer_halt(pool->workers[k]);
			for (uint32_t k = 0; k < i; k++)
				ns_consumer_join(pool->workers[k]);
			return rc;
		}
	}
	pool->is_started = true;
	return 0;
}

int
ns_work_pool_halt(ns_work_pool *pool)
{
	if (pool == NULL)
		return -EINVAL;
	return ns_consumer_halt(pool->head);
}

int
ns_work_pool_join(ns_work_pool *pool)
{
	int result = 0;

	if (pool == NULL || !pool->is_started)
		return -EINVAL;
	for (uint32_t i = 0; i < pool->count; i++) {
		int rc = ns_consumer_join(pool->workers[i]);
		if (result == 0)
			result = rc;
	}
	pool->is_started = false;
	return result;
}

ns_consumer *
ns_work_pool_consumer(ns_work_pool *pool)
{
	return pool != NULL ? pool->head : NULL;
}

void
ns_work_pool_destroy(ns_work_pool *pool)
{
	if (pool == NULL)
		return;
	if (pool->is_started) {
		ns_work_pool_halt(pool);
		ns_work_pool_join(pool);
	}
	free_workers(pool);
	free(pool->workers);
	free(pool->head);
	free(pool);
}

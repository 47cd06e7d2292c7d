/* SPDX-License-Identifier: MIT */
#include "config.h"

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <nanostream/consumer.h>

#include "consumer/setup.h"
#include "util/sized.h"
#include "consumer/consumer.h"

/* First released sizes (util/sized.h): never change these. */
#define CONSUMER_OPTS_0_1  NSI_SIZE_UPTO(struct ns_consumer_opts, on_events)
#define CONSUMER_STATS_0_1 NSI_SIZE_UPTO(struct ns_consumer_stats, lag)

_Static_assert(offsetof(struct ns_consumer, halt_requested) % NS_FALSE_SHARING == 0 &&
		       offsetof(struct ns_consumer, progress) % NS_FALSE_SHARING == 0 &&
		       offsetof(struct ns_consumer, stats) % NS_FALSE_SHARING == 0 &&
		       offsetof(struct ns_consumer, batch) % NS_FALSE_SHARING == 0,
	       "fields written by different threads sit on their own line pairs");

struct ns_consumer *
nsi_consumer_new(ns_ring *ring)
{
	struct ns_consumer *c = aligned_alloc(NS_FALSE_SHARING, sizeof(*c));

	if (c != NULL) {
		memset(c, 0, sizeof(*c));
		c->ring = ring;
	}
	return c;
}

int
nsi_consumer_check_after(ns_consumer *const *after, uint32_t count, const ns_ring *ring)
{
	if (count > NSI_MAX_AFTER)
		return nsi_errmsg_set(-EINVAL, "after_count %u is over %u", count,
				      (unsigned)NSI_MAX_AFTER);
	if (count != 0 && after == NULL)
		return nsi_errmsg_set(-EINVAL, "after_count is %u but after is NULL", count);
	for (uint32_t i = 0; i < count; i++) {
		if (after[i] == NULL)
			return nsi_errmsg_set(-EINVAL, "after[%u] is NULL", i);
		if (after[i]->ring != ring)
			return nsi_errmsg_set(-EINVAL, "after[%u] consumes another ring", i);
	}
	return 0;
}

int
nsi_consumer_set_after(struct ns_consumer *c, ns_consumer *const *after, uint32_t count)
{
	if (count == 0)
		return 0;
	c->after = calloc(count, sizeof(*c->after));
	if (c->after == NULL)
		return -ENOMEM;
	memcpy(c->after, after, count * sizeof(*c->after));
	c->after_count = count;
	return 0;
}

static int
validate(const struct ns_consumer_opts *o, const ns_ring *ring)
{
	if ((o->flags & ~(NS_CONSUMER_F_START_AT | NS_CONSUMER_F_NO_COALESCE)) != 0)
		return nsi_errmsg_set(
			-EINVAL, "consumer options: unknown flags 0x%x",
			o->flags & ~(NS_CONSUMER_F_START_AT | NS_CONSUMER_F_NO_COALESCE));
	/* Exactly one handler: per event or per run. */
	if ((o->on_event == NULL) == (o->on_events == NULL))
		return nsi_errmsg_set(-EINVAL,
				      "consumer options: set exactly one of on_event and "
				      "on_events (%s set)",
				      o->on_event == NULL ? "neither is" : "both are");
	if (o->error_policy > NS_ERROR_RETRY)
		return nsi_errmsg_set(-EINVAL,
				      "consumer options: error_policy %u is not an enum "
				      "ns_error_policy",
				      o->error_policy);
	/* Both a start sequence and upstream consumers would be two starting points. */
	if ((o->flags & NS_CONSUMER_F_START_AT) != 0 && o->after_count != 0)
		return nsi_errmsg_set(-EINVAL, "consumer options: NS_CONSUMER_F_START_AT and after "
					       "are two starting points: give one");
	return nsi_consumer_check_after(o->after, o->after_count, ring);
}

static int
consumer_create(ns_consumer **consumer, ns_ring *ring, const struct ns_consumer_opts *opts)
{
	struct ns_consumer_opts o;
	struct ns_consumer *c;
	enum nsi_gate_start how = NSI_GATE_AT_CURSOR;
	int64_t start = -1;
	int rc;

	if (consumer == NULL || ring == NULL || opts == NULL)
		return nsi_errmsg_set(-EINVAL, "%s is NULL",
				      consumer == NULL ? "consumer"
				      : ring == NULL   ? "ring"
						       : "opts");
	rc = nsi_sized_in_named(&o, sizeof(o), opts, CONSUMER_OPTS_0_1, "struct ns_consumer_opts",
				"NS_CONSUMER_OPTS_INIT");
	if (rc < 0)
		return rc;
	rc = validate(&o, ring);
	if (rc < 0)
		return rc;
	if (nsi_ring_halted(ring))
		return nsi_errmsg_set(-ESHUTDOWN, "the ring was halted");

	c = nsi_consumer_new(ring);
	if (c == NULL)
		return -ENOMEM;
	c->on_event = o.on_event;
	c->on_events = o.on_events;
	c->coalesce = (o.flags & NS_CONSUMER_F_NO_COALESCE) == 0;
	c->ctx = o.ctx;
	c->on_start = o.on_start;
	c->on_shutdown = o.on_shutdown;
	c->on_batch_start = o.on_batch_start;
	c->on_timeout = o.on_timeout;
	c->on_error = o.on_error;
	c->max_batch =
		o.max_batch != 0 && o.max_batch < ring->capacity ? o.max_batch : ring->capacity;
	c->error_policy = o.error_policy;
	c->max_retries = o.max_retries != 0 ? o.max_retries : NSI_DEFAULT_RETRIES;
	rc = nsi_consumer_set_after(c, o.after, o.after_count);
	if (rc < 0)
		goto err_free;
	if (o.after_count != 0) {
		/* The upstream consumers' own gates already hold producers back to here. */
		start = nsi_consumer_upstream_min(c);
		how = NSI_GATE_AT_TRUSTED;
	} else if ((o.flags & NS_CONSUMER_F_START_AT) != 0) {
		start = o.start_sequence;
		how = NSI_GATE_AT_CHECKED;
	}
	rc = nsi_gate_register(ring, &c->gate, &start, how, c);
	if (rc == -EBUSY)
		(void)nsi_errmsg_set(rc,
				     "the ring already has max_consumers (%u) consumers, pollers "
				     "and workers: raise ns_ring_opts.max_consumers",
				     ring->max_gates);
	else if (rc == -EINVAL)
		(void)nsi_errmsg_set(rc,
				     "start_sequence %lld is not in the ring: after the cursor, "
				     "or older than the slowest consumer",
				     (long long)start);
	if (rc < 0)
		goto err_free;
	c->is_gated = true;
	c->progress.sequence = start;
	*consumer = c;
	return 0;

err_free:
	free(c->after);
	free(c);
	return rc;
}

int
ns_consumer_create(ns_consumer **consumer, ns_ring *ring, const struct ns_consumer_opts *opts)
{
	nsi_errmsg_clear();
	return nsi_errmsg_default(consumer_create(consumer, ring, opts));
}

int
ns_consumer_run(ns_consumer *consumer)
{
	uint32_t idle = 0;
	int rc;

	if (consumer == NULL || consumer->workers != NULL || consumer->is_poller)
		return -EINVAL; /* pools and pollers are driven by their own calls */
	if (!nsi_cas_acq_rel_u32(&consumer->running, &idle, 1))
		return -EALREADY;
	if (!consumer->is_gated)
		rc = -EALREADY;
	else if (consumer->work_seq != NULL)
		rc = nsi_worker_run(consumer);
	else
		rc = nsi_consumer_run(consumer);
	nsi_store_release_u32(&consumer->running, 0);
	return rc;
}

static void *
consumer_thread(void *arg)
{
	struct ns_consumer *c = arg;

	c->thread_result = ns_consumer_run(c);
	return NULL;
}

int
ns_consumer_start(ns_consumer *consumer, int cpu, const char *name)
{
	pthread_attr_t attr;
	int rc;

	if (consumer == NULL || consumer->workers != NULL || consumer->is_poller)
		return -EINVAL;
	long ncpu = sysconf(_SC_NPROCESSORS_CONF);
	if (cpu >= CPU_SETSIZE || (ncpu > 0 && cpu >= ncpu))
		return -EINVAL;
	if (consumer->is_started)
		return -EALREADY;
	rc = pthread_attr_init(&attr);
	if (rc != 0)
		return -rc;
	if (cpu >= 0) {
		cpu_set_t set;
		CPU_ZERO(&set);
		CPU_SET(cpu, &set);
		rc = pthread_attr_setaffinity_np(&attr, sizeof(set), &set);
	}
	if (rc == 0)
		rc = pthread_create(&consumer->thread, &attr, consumer_thread, consumer);
	pthread_attr_destroy(&attr);
	if (rc != 0)
		return -rc;
	consumer->is_started = true;
	if (name != NULL) {
		char short_name[16];
		strncpy(short_name, name, sizeof(short_name) - 1);
		short_name[sizeof(short_name) - 1] = '\0';
		pthread_setname_np(consumer->thread, short_name); /* cosmetic: failure is fine */
	}
	return 0;
}

int
ns_consumer_join(ns_consumer *consumer)
{
	if (consumer == NULL || !consumer->is_started)
		return -EINVAL;
	int rc = pthread_join(consumer->thread, NULL);
	if (rc != 0)
		return -rc;
	consumer->is_started = false;
	return consumer->thread_result;
}

int
ns_consumer_halt(ns_consumer *consumer)
{
	if (consumer == NULL)
		return -EINVAL;
	for (uint32_t i = 0; i < consumer->worker_count; i++)
		nsi_store_release_u32(&consumer->workers[i]->halt_requested, 1);
	nsi_store_release_u32(&consumer->halt_requested, 1);
	/*
	 * It may be asleep on either signal (publish: waiting for producers; progress: waiting
	 * for upstream consumers). Others woken with it re-check and sleep again.
	 */
	nsi_signal_wake_all(&consumer->ring->publish_sig);
	nsi_signal_wake_all(&consumer->ring->progress_sig);
	return 0;
}

int
ns_consumer_release(ns_consumer *consumer, int64_t seq)
{
	if (consumer == NULL || seq < consumer->batch.lo || seq > consumer->batch.received ||
	    seq <= consumer->batch.released)
		return -EINVAL;
	consumer->batch.released = seq;
	nsi_consumer_release(consumer, seq);
	return 0;
}

int64_t
ns_consumer_sequence(const ns_consumer *consumer)
{
	if (consumer == NULL)
		return -EINVAL;
	uint32_t finished;
	return nsi_consumer_progress(consumer, &finished);
}

int
ns_consumer_stats(const ns_consumer *consumer, struct ns_consumer_stats *stats)
{
	struct ns_consumer_stats s;

	if (consumer == NULL || stats == NULL ||
	    nsi_sized_out_check(stats, CONSUMER_STATS_0_1) != 0)
		return -EINVAL;
	memset(&s, 0, sizeof(s));
	/* A work pool's head reports the sum over its workers. */
	const struct ns_consumer *const *parts = (const struct ns_consumer *const *)&consumer;
	uint32_t n = 1;
	if (consumer->workers != NULL) {
		parts = (const struct ns_consumer *const *)consumer->workers;
		n = consumer->worker_count;
	}
	for (uint32_t i = 0; i < n; i++) {
		const struct ns_consumer *c = parts[i];
		s.events += nsi_load_relaxed_u64(&c->stats.events);
		s.batches += nsi_load_relaxed_u64(&c->stats.batches);
		s.waits += nsi_load_relaxed_u64(&c->stats.waits);
		s.errors += nsi_load_relaxed_u64(&c->stats.errors);
		uint64_t mb = nsi_load_relaxed_u64(&c->stats.max_batch);
		if (mb > s.max_batch)
			s.max_batch = mb;
	}
	uint32_t finished;
	s.sequence = nsi_consumer_progress(consumer, &finished);
	int64_t cursor = nsi_seq_load_acquire(&consumer->ring->cursor);
	s.lag = cursor > s.sequence ? cursor - s.sequence : 0;
	nsi_sized_out(stats, &s, sizeof(s));
	return 0;
}

void
nsi_consumer_free(struct ns_consumer *consumer)
{
	if (consumer->is_started) {
		ns_consumer_halt(consumer);
		ns_consumer_join(consumer);
	}
	if (consumer->is_gated)
		nsi_gate_unregister(consumer->ring, consumer->gate);
	free(consumer->after);
	free(consumer);
}

void
ns_consumer_destroy(ns_consumer *consumer)
{
	/* A work pool's head and a poller belong to their pool or poller. */
	if (consumer == NULL || consumer->workers != NULL || consumer->is_poller)
		return;
	nsi_consumer_free(consumer);
}

/* ---- ns_ring_waiting_on(): what a claim waits for ---- */

static bool
is_running(const struct ns_consumer *c)
{
	return __atomic_load_n(&c->running, __ATOMIC_ACQUIRE) != 0;
}

static int
describe(const struct ns_consumer *c, int64_t done, char *buf, size_t len)
{
	if (c == NULL)
		return snprintf(buf, len, "a consumer being created or destroyed");
	if (c->is_poller)
		return snprintf(buf, len,
				"a poller that has handled up to sequence %lld: it moves only when "
				"its owner calls ns_poller_poll()",
				(long long)done);
	const char *what = c->work_seq != NULL ? "a work pool worker" : "a consumer";
	if (is_running(c))
		return snprintf(buf, len,
				"%s that is running and has finished up to sequence %lld: its "
				"handler (or a consumer it runs after) is slow or stuck",
				what, (long long)done);
	return snprintf(buf, len,
			"%s that has finished up to sequence %lld and is not running: it was never "
			"started (%s), or its thread ended; start it or destroy it",
			what, (long long)done,
			c->work_seq != NULL ? "ns_work_pool_start()"
					    : "ns_consumer_start() or ns_consumer_run()");
}

int
ns_ring_waiting_on(const ns_ring *ring, ns_consumer **slowest, char *buf, size_t len)
{
	if (ring == NULL || (buf == NULL && len != 0))
		return -EINVAL;
	uint32_t n = nsi_load_acquire_u32(&ring->gate_set.hwm), used = 0;
	int64_t min = NSI_GATE_FREE;
	struct ns_consumer *who = NULL;

	/* The slowest gate; among equals, one that is not running (the likelier culprit). */
	for (uint32_t i = 0; i < n; i++) {
		int64_t v = nsi_load_acquire_i64(&ring->gates[i].value);
		if (v == NSI_GATE_FREE)
			continue;
		used++;
		struct ns_consumer *o = __atomic_load_n(&ring->gates[i].owner, __ATOMIC_ACQUIRE);
		if (v < min || (v == min && who != NULL && is_running(who) && o != NULL &&
				!is_running(o) && !o->is_poller)) {
			min = v;
			who = o;
		}
	}
	int64_t remaining = ns_ring_remaining(ring);
	int64_t cursor = ns_ring_cursor(ring);
	int waits = used != 0 && remaining <= 0;
	if (slowest != NULL)
		*slowest = who;
	if (len == 0)
		return waits;
	if (used == 0) {
		(void)snprintf(buf, len,
			       "a claim does not wait: no consumer gates the ring (cursor %lld; "
			       "with none, producers overwrite unread slots freely)",
			       (long long)cursor);
		return waits;
	}
	int k = snprintf(buf, len,
			 waits ? "a claim waits: all %lld slots are claimed and not yet released "
				 "(cursor %lld); the slowest of %u gating consumers is "
			       : "a claim does not wait: %lld of the slots are free (cursor %lld); "
				 "the slowest of %u gating consumers is ",
			 waits ? (long long)ring->capacity : (long long)remaining,
			 (long long)cursor, used);
	if (k >= 0 && (size_t)k < len)
		(void)describe(who, min, buf + k, len - (size_t)k);
	return waits;
}

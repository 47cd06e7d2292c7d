/* SPDX-License-Identifier: MIT */
#include "config.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "driver/conductor.h"
#include "driver/ipc_publication.h"
#include "util/atomic.h"

struct drv_pub *
nsi_ipc_pub_create(struct nsi_driver *d, int32_t stream_id, bool exclusive,
		   const struct nsi_uri *uri, int32_t term, int32_t mtu, char *err, size_t err_len,
		   int *rc)
{
	struct drv_log_spec spec = {
		.stream_id = stream_id,
		.session_id = uri->has_session_id ? uri->session_id : d->next_session_id++,
		.initial_term_id = (int32_t)nsi_drv_random(d),
		.term_length = term,
		.mtu = mtu,
		.max_message = uri->max_message,
		.exclusive = exclusive,
		.prefix = "pub",
	};
	return nsi_drv_log_create(d, &spec, err, err_len, rc);
}

struct drv_pub *
nsi_drv_log_create(struct nsi_driver *d, const struct drv_log_spec *spec, char *err, size_t err_len,
		   int *rc)
{
	struct drv_pub *p = calloc(1, sizeof(*p));
	if (p == NULL) {
		snprintf(err, err_len, "driver out of memory");
		*rc = -ENOMEM;
		return NULL;
	}
	p->reg_id = ++d->next_reg_id;
	p->session_id = spec->session_id;
	p->stream_id = spec->stream_id;
	p->exclusive = spec->exclusive;
	p->blocked_pos = -1;
	p->kind = DRV_PUB_IPC;
	snprintf(p->channel, sizeof(p->channel), "ipc");
	snprintf(p->name, sizeof(p->name), "%s-%08x-%lld.log", spec->prefix, (unsigned)d->instance,
		 (long long)p->reg_id);
	char path[PATH_MAX];
	snprintf(path, sizeof(path), "%s/%s", d->dir, p->name);
	struct nsi_log_params lp = { .term_length = spec->term_length,
				     .mtu = spec->mtu,
				     .initial_term_id = spec->initial_term_id,
				     .session_id = p->session_id,
				     .stream_id = p->stream_id,
				     .page_size = (int32_t)sysconf(_SC_PAGESIZE),
				     .max_message = spec->max_message,
				     .driver_managed = spec->driver_managed };
	*rc = nsi_logfile_create(&p->lf, path, &lp, d->o.prefault, d->o.mem_huge);
	if (*rc != 0) {
		snprintf(err, err_len, "cannot create log %s: %s", p->name, strerror(-*rc));
		free(p);
		return NULL;
	}
	char label[NSI_COUNTER_LABEL_MAX + 1];
	snprintf(label, sizeof(label), "publication %lld: %s session %d stream %d",
		 (long long)p->reg_id, p->name, (int)p->session_id, (int)p->stream_id);
	int64_t key = drv_pub_key(p);
	p->pos_counter = nsi_counter_alloc(&d->cnc.counters, NSI_COUNTER_PUBLISHER_POSITION,
					   p->reg_id, key, label, nsi_drv_now(d), 0);
	snprintf(label, sizeof(label), "publication %lld: %s session %d stream %d",
		 (long long)p->reg_id, p->name, (int)p->session_id, (int)p->stream_id);
	p->lim_counter = nsi_counter_alloc(&d->cnc.counters, NSI_COUNTER_PUBLISHER_LIMIT, p->reg_id,
					   key, label, nsi_drv_now(d), 0);
	p->net_counter[0] = p->net_counter[1] = -1;
	return p;
}

static void
unblocked(struct nsi_driver *d, const struct drv_pub *p, int64_t position, int32_t bytes)
{
	if (bytes > 0) {
		nsi_drv_sys_add(d, NSI_SYS_UNBLOCKED, 1);
		nsi_drv_report(
			d,
			"%s: padded %d bytes at position %lld left by a publisher that stopped "
			"between reserving and committing",
			p->name, (int)bytes, (long long)position);
	} else if (bytes < 0) {
		nsi_drv_report(d, "%s: impossible frame at position %lld", p->name,
			       (long long)position);
	}
}

/*
 * A log whose slowest subscriber has been stuck for the unblock timeout at a frame that was
 * reserved and never committed gets that frame padded: its publisher died (or is too slow to
 * wait for) and the subscribers carry on.
 */
void
nsi_ipc_pub_on_timer(struct nsi_driver *d, struct drv_pub *p, int64_t now)
{
	int64_t min = nsi_drv_slowest(d, p), tail = nsi_log_tail_position(&p->lf.log);
	if (min == INT64_MAX || min >= tail) {
		p->blocked_pos = -1;
		return;
	}
	if (min != p->blocked_pos) {
		p->blocked_pos = min;
		p->blocked_since = now;
		return;
	}
	if (now - p->blocked_since < d->o.unblock_timeout_ns)
		return;
	unblocked(d, p, min, nsi_log_unblock(&p->lf.log, min, tail));
	p->blocked_since = now;
}

/*
 * Every publisher of the log is gone: nothing reserved can be committed any more, so every
 * hole between the slowest subscriber and the tail is padded at once and the subscribers read
 * to the end of the stream. Returns the end of the stream: the tail, or where the frames stop
 * making sense. The metadata is shared memory: a forged tail or position must not turn this
 * into unbounded work, so the walk covers at most two terms (a publisher cannot be further
 * ahead of the slowest subscriber than its window and one message, at most 1.125 terms).
 */
static int64_t
fill_holes(struct nsi_driver *d, struct drv_pub *p, int64_t tail)
{
	struct nsi_log *log = &p->lf.log;
	int64_t pos = nsi_drv_slowest(d, p), reach = 2 * (int64_t)log->term_length;
	if (pos == INT64_MAX || pos >= tail)
		return tail;
	if (pos < 0 || pos % NSI_FRAME_ALIGN != 0 || tail - pos > reach) {
		nsi_drv_report(
			d,
			"%s: tail %lld and slowest subscriber %lld are too far apart: the stream "
			"ends at the subscriber",
			p->name, (long long)tail, (long long)pos);
		return pos >= 0 ? pos : tail;
	}
	while (pos < tail) {
		int32_t offset = (int32_t)(pos & (log->term_length - 1));
		const uint8_t *term = log->terms[nsi_log_partition((int32_t)(pos >> log->shift))];
		struct nsi_data_header h;
		int32_t len = nsi_term_frame(term, log->term_length, offset, &h);
		if (len == 0) {
			len = nsi_log_unblock(log, pos, tail);
			unblocked(d, p, pos, len);
		}
		if (len <= 0) {
			/* Corrupt, or nothing to pad: the stream ends here, not at a tail never met. */
			nsi_drv_report(d, "%s: the stream ends at %lld, short of its tail %lld",
				       p->name, (long long)pos, (long long)tail);
			return pos;
		}
		pos += len;
	}
	return tail;
}

int64_t
nsi_ipc_pub_end_stream(struct nsi_driver *d, struct drv_pub *p)
{
	struct nsi_log *log = &p->lf.log;
	int64_t eos = fill_holes(d, p, nsi_log_tail_position(log));
	nsi_store_release_i64(&log->meta->end_of_stream_position, eos);
	return eos;
}

int64_t
nsi_ipc_pub_refresh(struct nsi_driver *d, const struct drv_pub *p)
{
	int64_t tail = nsi_log_tail_position(&p->lf.log);
	int64_t *c = nsi_counter_addr(&d->cnc.counters, p->pos_counter);
	if (c != NULL)
		nsi_store_release_i64(c, tail);
	c = nsi_counter_addr(&d->cnc.counters, p->lim_counter);
	if (c != NULL)
		nsi_store_release_i64(c, nsi_load_acquire_i64(&p->lf.log.meta->publisher_limit));
	return tail;
}

void
nsi_ipc_pub_free(struct nsi_driver *d, struct drv_pub *p)
{
	nsi_logfile_close(&p->lf);
	/* Only the driver writes these two: handed out again at once. */
	(void)nsi_counter_free(&d->cnc.counters, p->pos_counter, nsi_drv_now(d), 0);
	(void)nsi_counter_free(&d->cnc.counters, p->lim_counter, nsi_drv_now(d), 0);
	for (int i = 0; i < 2; i++)
		if (p->net_counter[i] >= 0)
			(void)nsi_counter_free(&d->cnc.counters, p->net_counter[i], nsi_drv_now(d),
					       0);
	free(p);
}

/* SPDX-License-Identifier: MIT */
/*
 * Monitoring (nanostream/stat.h): a driver directory's command-and-control file mapped
 * read-only. Everything read from it is read once and bounded (ipc/cnc.c copies labels and
 * error texts out within their limits); a truncated file turns the mapping's pages into zeros
 * under the SIGBUS guard and the calls then say -EIO.
 */
#include "config.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <nanostream/stat.h>

#include "client/client.h"
#include "ipc/cnc.h"
#include "util/atomic.h"
#include "util/cpu.h"
#include "util/errmsg.h"
#include "util/sized.h"

struct ns_stat {
	struct nsi_cnc cnc;
	char dir[PATH_MAX - 64];
};

NS_API int
ns_stat_open(ns_stat **stat, const char *dir)
{
	nsi_errmsg_clear();
	if (stat == NULL)
		return nsi_errmsg_set(-EINVAL, "ns_stat_open: NULL out pointer");
	*stat = NULL;
	struct ns_stat *st = calloc(1, sizeof(*st));
	if (st == NULL)
		return nsi_errmsg_default(-ENOMEM);
	if (dir == NULL) {
		int rc = nsi_default_dir(st->dir, sizeof(st->dir));
		if (rc != 0) {
			free(st);
			return nsi_errmsg_default(rc);
		}
	} else if (strlen(dir) >= sizeof(st->dir)) {
		free(st);
		return nsi_errmsg_set(-EINVAL,
				      "ns_stat_open: a directory name of %zu bytes (at most %zu)",
				      strlen(dir), sizeof(st->dir) - 1);
	} else {
		snprintf(st->dir, sizeof(st->dir), "%s", dir);
	}
	char path[PATH_MAX];
	snprintf(path, sizeof(path), "%s/%s", st->dir, NSI_CNC_FILE);
	int rc = nsi_cnc_open_readonly(&st->cnc, path);
	if (rc != 0) {
		const char *why =
			rc == -ENOENT ? "no driver has run there (or the directory does not exist)"
			: rc == -EAGAIN		 ? "a driver is still creating it"
			: rc == -EPROTONOSUPPORT ? "a driver of another major version"
			: rc == -EPROTO		 ? "not a driver's file"
			: rc == -EPERM		 ? "not ours, or writable by others"
						 : strerror(-rc);
		free(st);
		return nsi_errmsg_set(rc, "ns_stat_open: %s: %s", path, why);
	}
	*stat = st;
	return 0;
}

static int
broken(const ns_stat *st)
{
	return nsi_cnc_broken(&st->cnc)
		       ? nsi_errmsg_set(-EIO, "%s/%s was truncated under the reader", st->dir,
					NSI_CNC_FILE)
		       : 0;
}

NS_API int
ns_stat_driver(const ns_stat *st, struct ns_driver_info *info)
{
	nsi_errmsg_clear();
	if (st == NULL || info == NULL ||
	    nsi_sized_out_check(info, NSI_SIZE_UPTO(struct ns_driver_info, reserved)) != 0)
		return nsi_errmsg_set(-EINVAL, "ns_stat_driver: NULL argument or bad info->size");
	const struct nsi_cnc_header *h = st->cnc.hdr;
	int64_t now = ns_clock_ns();
	struct ns_driver_info out = { .size = sizeof(out) };
	/* Each word once; ages and the timeout kept non-negative whatever the file says. */
	out.pid = nsi_load_relaxed_i64(&h->pid);
	out.start_time_ms = nsi_load_relaxed_i64(&h->start_time_ms);
	int64_t beat = nsi_cnc_heartbeat(&st->cnc);
	int64_t copied = nsi_load_acquire_i64(&h->counters_ns);
	int64_t timeout = nsi_load_relaxed_i64(&h->driver_timeout_ns);
	out.cnc_version = nsi_load_relaxed_u32((const uint32_t *)&h->version);
	out.heartbeat_age_ns = nsi_sub_sat_i64(now, beat);
	if (out.heartbeat_age_ns < 0)
		out.heartbeat_age_ns = 0;
	out.counters_age_ns = copied > 0 ? nsi_sub_sat_i64(now, copied) : -1;
	if (out.counters_age_ns < -1)
		out.counters_age_ns = 0;
	out.timeout_ns = timeout > 0 ? timeout : 0;
	int rc = broken(st);
	if (rc != 0)
		return rc;
	/* The lock says whether a driver runs; the pid is only what the file says. */
	int fd = nsi_driver_lock_open(st->dir);
	int held = fd >= 0 ? nsi_driver_lock_held(fd, st->cnc.dev, st->cnc.ino) : 0;
	if (fd >= 0)
		close(fd);
	out.state = held != 1				    ? NS_DRIVER_GONE
		    : out.heartbeat_age_ns > out.timeout_ns ? NS_DRIVER_HUNG
							    : NS_DRIVER_RUNNING;
	nsi_sized_out(info, &out, sizeof(out));
	return 0;
}

static const char *
type_name(int32_t type)
{
	switch (type) {
	case NSI_COUNTER_SYSTEM:
		return "system";
	case NSI_COUNTER_SUBSCRIBER_POSITION:
		return "sub-pos";
	case NSI_COUNTER_PUBLISHER_POSITION:
		return "pub-pos";
	case NSI_COUNTER_PUBLISHER_LIMIT:
		return "pub-lim";
	case NSI_COUNTER_SENDER_POSITION:
		return "snd-pos";
	case NSI_COUNTER_SENDER_LIMIT:
		return "snd-lim";
	case NSI_COUNTER_RECEIVER_HWM:
		return "rcv-hwm";
	case NSI_COUNTER_RECEIVER_POSITION:
		return "rcv-pos";
	case NSI_COUNTER_RECEIVER_STATUS:
		return "snd-rcv";
	case NSI_COUNTER_RECEIVER_SILENCE:
		return "snd-rcv-ms";
	case NSI_COUNTER_DESTINATIONS:
		return "snd-dst";
	default:
		return "other";
	}
}

struct counters_call {
	ns_counter_fn fn;
	void *ctx;
};

static void
on_counter(void *ctx, int32_t id, int32_t type_id, int64_t owner_id, int64_t key, const char *label,
	   int64_t value)
{
	const struct counters_call *call = ctx;
	struct ns_counter c = {
		.size = sizeof(c),
		.id = id,
		.type_id = type_id,
		.owner_id = owner_id,
		.key = key,
		.value = value,
		.type_name = type_name(type_id),
		.label = label,
	};
	call->fn(call->ctx, &c);
}

NS_API int
ns_stat_counters(const ns_stat *st, ns_counter_fn fn, void *ctx)
{
	nsi_errmsg_clear();
	if (st == NULL || fn == NULL)
		return nsi_errmsg_set(-EINVAL, "ns_stat_counters: NULL argument");
	struct counters_call call = { fn, ctx };
	int n = nsi_counters_foreach(&st->cnc.counters, on_counter, &call);
	int rc = broken(st);
	return rc != 0 ? rc : n;
}

struct errors_call {
	ns_error_fn fn;
	void *ctx;
};

static void
on_error(void *ctx, int32_t count, int64_t first_ns, int64_t last_ns, const char *text,
	 int32_t length)
{
	const struct errors_call *call = ctx;
	(void)length;
	struct ns_error_record e = {
		.size = sizeof(e),
		.count = count,
		.first_ns = first_ns,
		.last_ns = last_ns,
		.text = text,
	};
	call->fn(call->ctx, &e);
}

NS_API int
ns_stat_errors(const ns_stat *st, ns_error_fn fn, void *ctx)
{
	nsi_errmsg_clear();
	if (st == NULL || fn == NULL)
		return nsi_errmsg_set(-EINVAL, "ns_stat_errors: NULL argument");
	struct errors_call call = { fn, ctx };
	int n = nsi_errlog_read(&st->cnc.errors, on_error, &call);
	int rc = broken(st);
	if (rc != 0)
		return rc;
	if (n < 0)
		return nsi_errmsg_set(n, "%s/%s: the error log holds an impossible record", st->dir,
				      NSI_CNC_FILE);
	return n;
}

NS_API void
ns_stat_close(ns_stat *st)
{
	if (st == NULL)
		return;
	nsi_cnc_close(&st->cnc);
	free(st);
}

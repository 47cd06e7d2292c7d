/* SPDX-License-Identifier: MIT */
/*
 * ns-bench's harness for the workloads (nsb.h): the clock, pinning, pinned threads and the
 * failure note. main.c runs the workloads; the workload files use only this and nsb.h.
 */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <unistd.h>
#include <stdlib.h>

#include <nanostream/nanostream.h>

#include "nsb.h"

int64_t
nsb_now(void)
{
	return ns_clock_ns();
}

void
nsb_pin(const struct nsb_env *env, int index)
{
	cpu_set_t set;
	CPU_ZERO(&set);
	CPU_SET(env->cpus[index % env->ncpus], &set);
	sched_setaffinity(0, sizeof(set), &set);
}

struct start {
	const struct nsb_env *env;
	int index;
	void *(*fn)(void *);
	void *arg;
};

static void *
pinned_start(void *p)
{
	struct start s = *(struct start *)p;
	free(p);
	nsb_pin(s.env, s.index);
	return s.fn(s.arg);
}

int
nsb_thread(pthread_t *t, const struct nsb_env *env, int index, void *(*fn)(void *), void *arg)
{
	struct start *s = malloc(sizeof(*s));
	if (s == NULL)
		return ENOMEM;
	*s = (struct start){ env, index, fn, arg };
	int rc = pthread_create(t, NULL, pinned_start, s);
	if (rc != 0)
		free(s);
	return rc;
}

void
nsb_fail(struct nsb_run *run, const char *fmt, ...)
{
	va_list ap;
	if (run->error[0] != '\0')
		return; /* keep the first */
	va_start(ap, fmt);
	vsnprintf(run->error, sizeof(run->error), fmt, ap);
	va_end(ap);
}

void
nsb_rmdir_driver(const char *dir)
{
	/* A driver that stops cleanly leaves only its lock file (docs/ipc.md), which stays by
	 * design in a shared directory; ns-bench's directories are its own. */
	char path[512];
	snprintf(path, sizeof(path), "%s/driver.lock", dir);
	unlink(path);
	rmdir(dir);
}

/* SPDX-License-Identifier: MIT */
#ifndef NSI_LOG_LOGFILE_H
#define NSI_LOG_LOGFILE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "log/log.h"
#include "mem/shmfile.h"

/* Log buffers in shared files (mem/shmfile.h): created, formatted, opened and checked. */

struct nsi_logfile {
	struct nsi_log log;
	void *base;
	size_t bytes;
	uint32_t broken; /* atomic: the file was truncated under us (mem/guard.h) */
	int guard;	 /* the SIGBUS guard's entry, or negative */
};

/*
 * Create @path (which must not exist) as a new log with @p, map it and format it.
 * Returns 0, -EEXIST, -EINVAL (bad parameters, path too long), -ELOOP, or a system error; on
 * failure no file is left behind.
 */
int nsi_logfile_create(struct nsi_logfile *f, const char *path, const struct nsi_log_params *p,
		       bool prefault, int huge);

/*
 * Open an existing log at @path and validate it. Returns 0, -ENOENT, -ELOOP, -EINVAL (not a
 * regular file, a size that no log has, or metadata that does not match), or a system error.
 */
int nsi_logfile_open(struct nsi_logfile *f, const char *path);

/* Unmap (the file stays). */
void nsi_logfile_close(struct nsi_logfile *f);

/*
 * Whether the mapping broke: the file was truncated under us and a page past its end was
 * touched (the guard put zeros there; see mem/guard.h).
 */
bool nsi_logfile_broken(const struct nsi_logfile *f);

#endif /* NSI_LOG_LOGFILE_H */

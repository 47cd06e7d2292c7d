/* SPDX-License-Identifier: MIT */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "log/logfile.h"
#include "mem/guard.h"
#include "mem/region.h"
#include "util/atomic.h"

int
nsi_logfile_create(struct nsi_logfile *f, const char *path, const struct nsi_log_params *p,
		   bool prefault, int huge)
{
	if (f == NULL || path == NULL || p == NULL || nsi_log_params_check(p) != 0)
		return -EINVAL;
	size_t bytes = nsi_log_bytes(p->term_length);
	void *base;
	int rc = nsi_shm_create(path, bytes, prefault, huge, &base);
	if (rc != 0)
		return rc;
	rc = nsi_log_init(&f->log, base, bytes, p);
	if (rc != 0) {
		munmap(base, bytes);
		unlink(path);
		return rc;
	}
	f->base = base;
	f->bytes = bytes;
	f->broken = 0;
	f->guard = nsi_guard_add(base, bytes, &f->broken);
	return 0;
}

int
nsi_logfile_open(struct nsi_logfile *f, const char *path)
{
	if (f == NULL || path == NULL)
		return -EINVAL;
	void *base = NULL;
	size_t bytes = 0;
	int rc = nsi_shm_open(path, &base, &bytes);
	if (rc != 0)
		return rc;
	/* nsi_log_attach() checks that the size is one a log has and the metadata matches it. */
	/* Guarded before the first look: a file truncated already faults in attach. */
	f->broken = 0;
	f->guard = nsi_guard_add(base, bytes, &f->broken);
	rc = nsi_log_attach(&f->log, base, bytes);
	if (rc == 0 && nsi_load_acquire_u32(&f->broken))
		rc = -EBADMSG;
	if (rc != 0) {
		nsi_guard_remove(f->guard);
		munmap(base, bytes);
		return rc;
	}
	f->base = base;
	f->bytes = bytes;
	return 0;
}

void
nsi_logfile_close(struct nsi_logfile *f)
{
	if (f != NULL && f->base != NULL) {
		nsi_guard_remove(f->guard);
		munmap(f->base, f->bytes);
		f->base = NULL;
	}
}

bool
nsi_logfile_broken(const struct nsi_logfile *f)
{
	return nsi_load_acquire_u32(&f->broken) != 0;
}

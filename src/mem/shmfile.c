/* SPDX-License-Identifier: MIT */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "mem/shmfile.h"
#include "mem/guard.h"
#include "mem/region.h"
#include "util/atomic.h"

int
nsi_dir_secure(const char *dir)
{
	struct stat st;

	if (dir == NULL || dir[0] == '\0')
		return -EINVAL;
	if (mkdir(dir, 0700) != 0 && errno != EEXIST)
		return -errno;
	if (lstat(dir, &st) != 0)
		return -errno;
	if (S_ISLNK(st.st_mode))
		return -ELOOP;
	if (!S_ISDIR(st.st_mode))
		return -ENOTDIR;
	if (st.st_uid != geteuid() || (st.st_mode & 077) != 0)
		return -EPERM;
	/*
	 * A default ACL would be inherited by every file made here and could open them to
	 * others whatever mode we give them: refused. (An access ACL that grants anything shows
	 * in the group bits checked above.)
	 */
	if (lgetxattr(dir, "system.posix_acl_default", NULL, 0) > 0)
		return -EPERM;
	return 0;
}

/* Bytes of the mapping at @base on huge pages (tmpfs mapped by PMD). */
static int64_t
shared_huge_bytes(const void *base)
{
	static const char *const fields[] = { "ShmemPmdMapped:", "FilePmdMapped:", NULL };
	return nsi_mem_smaps_bytes(base, fields);
}

int
nsi_shm_create(const char *path, size_t bytes, bool prefault, int huge, void **out)
{
	if (path == NULL || out == NULL || bytes == 0 || huge < NSI_SHM_NORMAL ||
	    huge > NSI_SHM_HUGE_ONLY)
		return -EINVAL;
	int fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0)
		return -errno;
	int rc = 0;
	void *base = MAP_FAILED;
	bool reserved = false;
	if (ftruncate(fd, (off_t)bytes) != 0)
		rc = -errno;
	/*
	 * Reserve the storage: a full file system is an error here, never a SIGBUS later. With
	 * huge pages wanted, only after the mapping asked for them and its pages were faulted
	 * in by MADV_POPULATE_WRITE (which reports a full file system as an error), else the
	 * reservation would take normal pages.
	 */
	if (rc == 0 && huge == NSI_SHM_NORMAL) {
		rc = -posix_fallocate(fd, 0, (off_t)bytes);
		reserved = true;
	}
	if (rc == 0) {
		base = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
		if (base == MAP_FAILED)
			rc = -errno;
	}
	if (rc == 0 && huge != NSI_SHM_NORMAL && madvise(base, bytes, MADV_HUGEPAGE) != 0 &&
	    huge == NSI_SHM_HUGE_ONLY)
		rc = -ENOMEM;
	if (rc == 0 && (prefault || huge == NSI_SHM_HUGE_ONLY)) {
		rc = nsi_mem_populate_advise(base, bytes);
		if (rc == -EOPNOTSUPP) {
			/*
			 * Kernels before 5.14 fault pages in by writing them: on every path the
			 * storage is reserved first, so a full file system is -ENOSPC, not SIGBUS.
			 */
			rc = reserved ? 0 : -posix_fallocate(fd, 0, (off_t)bytes);
			reserved = true;
			if (rc == 0)
				nsi_mem_touch(base, bytes, (size_t)sysconf(_SC_PAGESIZE));
		}
		/* The populate's page faults found no room (they would have been SIGBUS). */
		if (rc == -EFAULT)
			rc = -ENOSPC;
	}
	/*
	 * Huge pages or nothing: the file system must have given some (tmpfs mounted with
	 * huge=always, within_size or advise). The metadata page at the end never is one.
	 */
	if (rc == 0 && huge == NSI_SHM_HUGE_ONLY && shared_huge_bytes(base) <= 0)
		rc = -ENOMEM;
	if (rc == 0 && !reserved)
		rc = -posix_fallocate(fd, 0, (off_t)bytes);
	close(fd);
	if (rc != 0) {
		if (base != MAP_FAILED)
			munmap(base, bytes);
		unlink(path);
		return rc;
	}
	*out = base;
	return 0;
}

int
nsi_shm_open(const char *path, void **out, size_t *bytes)
{
	return nsi_shm_open_mode(path, true, out, bytes);
}

int
nsi_shm_open_mode(const char *path, bool writable, void **out, size_t *bytes)
{
	return nsi_shm_open_id(path, writable, out, bytes, NULL, NULL);
}

int
nsi_shm_open_id(const char *path, bool writable, void **out, size_t *bytes, uint64_t *dev,
		uint64_t *ino)
{
	struct stat st;

	if (path == NULL || out == NULL || bytes == NULL)
		return -EINVAL;
	int fd = open(path, (writable ? O_RDWR : O_RDONLY) | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) != 0) {
		int rc = -errno;
		close(fd);
		return rc;
	}
	/* Only a regular file of our own that no one else may write. */
	int rc = 0;
	if (!S_ISREG(st.st_mode) || st.st_size <= 0)
		rc = -EINVAL;
	else if (st.st_uid != geteuid() || (st.st_mode & 022) != 0)
		rc = -EPERM;
	void *base = MAP_FAILED;
	if (rc == 0) {
		base = mmap(NULL, (size_t)st.st_size, writable ? PROT_READ | PROT_WRITE : PROT_READ,
			    MAP_SHARED, fd, 0);
		if (base == MAP_FAILED)
			rc = -errno;
	}
	close(fd);
	if (rc != 0)
		return rc;
	*out = base;
	*bytes = (size_t)st.st_size;
	if (dev != NULL)
		*dev = (uint64_t)st.st_dev;
	if (ino != NULL)
		*ino = (uint64_t)st.st_ino;
	return 0;
}

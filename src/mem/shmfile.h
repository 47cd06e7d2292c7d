/* SPDX-License-Identifier: MIT */
#ifndef NSI_MEM_SHMFILE_H
#define NSI_MEM_SHMFILE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * Files shared between processes: a directory that only its owner can enter (0700), files
 * only the owner can read (0600), created with O_EXCL and opened with O_NOFOLLOW, so another
 * user can neither read them nor plant a file or a symbolic link for us to write through.
 * Mapped MAP_SHARED and pre-faulted (MADV_POPULATE_WRITE) unless told not to.
 */

/*
 * Make @dir if missing (0700) and check it: a directory, not a symbolic link, owned by us,
 * no access for group or others, no default ACL (files made in it would inherit it). Returns
 * 0, -EPERM (exists with the wrong owner or mode, or a default ACL),
 * -ENOTDIR, -ELOOP (a symbolic link), or what mkdir/lstat said.
 */
int nsi_dir_secure(const char *dir);

/*
 * Huge pages for shared files: transparent huge pages of tmpfs, asked for by madvise. A tmpfs
 * gives them when mounted with huge=always, within_size or advise (/dev/shm is mounted
 * huge=never unless the administrator says otherwise).
 */
enum nsi_shm_huge {
	NSI_SHM_NORMAL = 0,	 /* normal pages */
	NSI_SHM_HUGE_WANTED = 1, /* ask; the file system may say no */
	NSI_SHM_HUGE_ONLY = 2,	 /* -ENOMEM unless the mapping got huge pages (checked in smaps) */
};

/*
 * Create @path (which must not exist: O_EXCL, O_NOFOLLOW, mode 0600) with @bytes reserved
 * (posix_fallocate: -ENOSPC now rather than SIGBUS later), map it shared, ask for huge pages
 * as @huge (enum nsi_shm_huge) says, and optionally pre-fault it. Returns 0 and the mapping
 * in *out, or a negative errno; on failure no file is left behind.
 */
int nsi_shm_create(const char *path, size_t bytes, bool prefault, int huge, void **out);

/*
 * Open and map an existing shared file: a regular file owned by us that neither group nor
 * others may write (-EPERM otherwise), not a symbolic link (-ELOOP). Returns 0, the mapping
 * and its size, or a negative errno.
 */
int nsi_shm_open(const char *path, void **out, size_t *bytes);
/* The same, mapped read-only when @writable is false (monitoring tools). */
int nsi_shm_open_mode(const char *path, bool writable, void **out, size_t *bytes);
/* The same, telling which file was mapped (device and inode; either pointer may be NULL). */
int nsi_shm_open_id(const char *path, bool writable, void **out, size_t *bytes, uint64_t *dev,
		    uint64_t *ino);

#endif /* NSI_MEM_SHMFILE_H */

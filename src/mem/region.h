/* SPDX-License-Identifier: MIT */
#ifndef NSI_MEM_REGION_H
#define NSI_MEM_REGION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <nanostream/memory.h>

/*
 * Memory regions: page-aligned (or caller-supplied), zero-filled storage under a policy (see
 * include/nanostream/memory.h). Used by create functions only, never on a hot path. Nothing
 * here prints: libhugetlbfs is only asked for things it answers silently, after the checks
 * that would otherwise make it complain.
 */

/* What a caller asks for (already copied out of a public options struct). */
struct nsi_mem_req {
	uint32_t policy;  /* enum ns_mem_policy */
	uint32_t flags;	  /* NS_MEM_F_* */
	uint32_t sources; /* huge sources to try (NS_MEM_SRC_* bits); 0 = all */
	int32_t node;	  /* with NS_MEM_F_BIND */
	void *user;	  /* caller's memory, or NULL */
	size_t user_bytes;
};

struct nsi_region {
	void *base;	/* usable memory */
	size_t bytes;	/* usable length (rounded up to the page size) */
	void *map_base; /* what to munmap (may include guard pages); NULL for user memory */
	size_t map_bytes;
	uint64_t page_size;  /* 0 for user memory */
	uint32_t source;     /* enum ns_mem_source */
	uint32_t info_flags; /* NS_MEM_INFO_* */
	int32_t node;	     /* bound node or -1 */
	int32_t huge_error;  /* see ns_mem_info.huge_error */
};

/* Check a request's own fields. Returns 0 or -EINVAL (unknown bits, missing node, bad mix). */
int nsi_mem_req_check(const struct nsi_mem_req *req);

/*
 * Get at least @bytes under @req. Returns 0 or a negative errno; on failure nothing is left
 * mapped, open or locked and *region is unchanged. A user region must be large enough and
 * 128-byte aligned (-EINVAL otherwise); it is zero-filled.
 */
int nsi_region_alloc(struct nsi_region *region, size_t bytes, const struct nsi_mem_req *req);
void nsi_region_free(struct nsi_region *region);

/* What the region is, as a whole struct ns_mem_info of this version. */
void nsi_region_info(const struct nsi_region *region, struct ns_mem_info *info);

/*
 * Huge-page bytes of the mapping that starts exactly at @base, from /proc/self/smaps
 * (AnonHugePages). Returns the count, or a negative errno when the mapping is not found.
 */
int64_t nsi_mem_thp_bytes(const void *base);

/*
 * The sum of the smaps fields named in @fields (NULL-terminated, e.g. "ShmemPmdMapped:") for
 * the mapping that starts exactly at @base, in bytes; a negative errno when it is not found.
 */
int64_t nsi_mem_smaps_bytes(const void *base, const char *const *fields);

/*
 * Touch every page of zero-filled memory for writing (MADV_POPULATE_WRITE; a write per @page
 * bytes on kernels before 5.14). Returns 0 or the kernel's error. With MADV_POPULATE_WRITE a
 * full tmpfs or hugetlbfs pool is an error here, never a SIGBUS; the fallback's writes are not
 * (shared files: reserve their storage first, as nsi_shm_create() does).
 */
int nsi_mem_populate(void *base, size_t bytes, size_t page);
/* The two halves: MADV_POPULATE_WRITE alone (-EOPNOTSUPP where the kernel lacks it), ... */
int nsi_mem_populate_advise(void *base, size_t bytes);
/* ... and the fallback, a write per @page bytes. */
void nsi_mem_touch(void *base, size_t bytes, size_t page);

/* For tests: behave as a kernel without MADV_POPULATE_WRITE (before 5.14). Atomic (relaxed). */
extern bool nsi_mem_no_populate_write;

#endif /* NSI_MEM_REGION_H */

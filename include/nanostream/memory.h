/* SPDX-License-Identifier: MIT */
/** @file
 * Memory policies for ring storage: huge pages, NUMA binding, pre-faulting, locking.
 */
#ifndef NANOSTREAM_MEMORY_H
#define NANOSTREAM_MEMORY_H

#include <stdint.h>

#include <nanostream/common.h>

#ifdef __cplusplus
extern "C" {
#endif

/*
 * Memory policy: where a ring's storage (its slots, consumer gates and control block) comes
 * from. Everything is allocated once, at create; nothing here runs on a hot path.
 *
 * Sources of huge pages, tried in this order (see docs/memory.md for reserving them):
 *   libhugetlbfs  a file on the hugetlbfs mount that libhugetlbfs finds (built with the
 *                 `hugepages` option, and a writable mount present when the process started)
 *   MAP_HUGETLB   anonymous pages from the kernel's reserved pool (vm.nr_hugepages)
 *   THP           normal anonymous memory, 2 MiB aligned, advised with MADV_HUGEPAGE; the
 *                 kernel backs it with transparent huge pages when it can
 * Under NS_MEM_AUTO the first source that works is used, and normal pages when none does (the
 * info call says why). NS_MEM_HUGE fails with -ENOMEM instead of falling back. A region
 * smaller than one huge page uses normal pages under AUTO (a 2 MiB page for a few KiB wastes
 * memory and saves no TLB misses).
 */

/** Memory policies for ns_ring_opts.mem_policy. */
enum ns_mem_policy {
	NS_MEM_AUTO = 0,   /**< huge pages when they can be had, else normal pages (default) */
	NS_MEM_HUGE = 1,   /**< huge pages or -ENOMEM; nothing is left allocated on failure */
	NS_MEM_NORMAL = 2, /**< normal pages only */
};

/**
 * Where memory came from (ns_mem_info.source). As bits, the huge-page ones also form the mask
 * ns_ring_opts.mem_sources that limits which sources AUTO and HUGE may try.
 */
enum ns_mem_source {
	NS_MEM_SRC_NORMAL = 1u << 0,	   /**< anonymous normal pages */
	NS_MEM_SRC_LIBHUGETLBFS = 1u << 1, /**< hugetlbfs file through libhugetlbfs */
	NS_MEM_SRC_MAP_HUGETLB = 1u << 2,  /**< anonymous mmap(MAP_HUGETLB) */
	NS_MEM_SRC_THP = 1u << 3,	   /**< transparent huge pages (madvise) */
	NS_MEM_SRC_USER = 1u << 4,	   /**< a region the caller supplied */
};

/** Every huge-page source: the default for ns_ring_opts.mem_sources (0 means the same). */
#define NS_MEM_SRC_ALL_HUGE (NS_MEM_SRC_LIBHUGETLBFS | NS_MEM_SRC_MAP_HUGETLB | NS_MEM_SRC_THP)

/**
 * Flags for ns_ring_opts.mem_flags. Pre-faulting is the default: every page is touched at
 * create, so the first events pay no page faults.
 */
#define NS_MEM_F_NO_PREFAULT 1u /**< leave pages to be faulted in by first use */
#define NS_MEM_F_LOCK	     2u /**< mlock() the memory (needs RLIMIT_MEMLOCK or CAP_IPC_LOCK) */
#define NS_MEM_F_BIND	     4u /**< bind the memory to NUMA node ns_ring_opts.numa_node */

/**
 * What a ring's memory turned out to be (ns_ring_mem_info()). Declare it with
 * NS_MEM_INFO_INIT so `size` tells the library which fields you know.
 */
struct ns_mem_info {
	uint32_t size;	    /**< set by NS_MEM_INFO_INIT; do not change */
	uint32_t source;    /**< one enum ns_mem_source value */
	uint64_t bytes;	    /**< bytes of storage (mapped length, or the caller's region size) */
	uint64_t page_size; /**< bytes per page: 4096, 2 MiB, ...; 0 for a caller's region */
	int32_t numa_node;  /**< node the memory is bound to, or -1 when not bound */
	uint32_t flags;	    /**< NS_MEM_INFO_* */
	/**
	 * Why huge pages were not used: 0 when they were, or were not asked for (NS_MEM_NORMAL,
	 * a caller's region). Otherwise a negative errno: -ERANGE (AUTO: the region is smaller
	 * than a huge page), -ENOMEM (none free or reserved), -EOPNOTSUPP (no source available:
	 * THP disabled, no hugetlbfs), or what the kernel said to the last source tried.
	 */
	int32_t huge_error;
	uint32_t reserved0; /**< 0 */
};

#define NS_MEM_INFO_PREFAULTED 1u /**< every page was touched at create */
#define NS_MEM_INFO_LOCKED     2u /**< the memory is mlock()ed */
#define NS_MEM_INFO_BOUND      4u /**< the memory is bound to numa_node */
/**
 * THP only: the memory was checked to sit on huge pages after pre-faulting (always done under
 * NS_MEM_HUGE). Without it THP is advised, and the kernel decides page by page.
 */
#define NS_MEM_INFO_VERIFIED 8u

/** Initializer for struct ns_mem_info: sets size. */
#define NS_MEM_INFO_INIT                                                                           \
	{                                                                                          \
		.size = sizeof(struct ns_mem_info)                                                 \
	}

/**
 * A short name for a memory source: "normal", "libhugetlbfs", "MAP_HUGETLB", "THP", "user",
 * or "unknown". Returns a static string, never NULL.
 * Errors: none (unknown values get "unknown").
 * Ownership: the string is the library's; do not free it.
 * Thread safety: any thread.
 * Progress: wait-free.
 */
NS_API const char *ns_mem_source_name(uint32_t source);

#ifdef __cplusplus
}
#endif
#endif /* NANOSTREAM_MEMORY_H */

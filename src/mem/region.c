/* SPDX-License-Identifier: MIT */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#if NS_HAVE_LIBHUGETLBFS
#include <stddef.h> /* hugetlbfs.h uses size_t without including it */
#include <hugetlbfs.h>
#endif
#if NS_HAVE_LIBNUMA
#include <numa.h>
#include <numaif.h>
#endif

#include "mem/region.h"
#include "util/errmsg.h"

#define USER_ALIGN  128u
#define KNOWN_FLAGS (NS_MEM_F_NO_PREFAULT | NS_MEM_F_LOCK | NS_MEM_F_BIND)
#define MAX_NODES   1024
#define ULONG_BITS  (8 * sizeof(unsigned long))
#define MODE_BIND   2 /* MPOL_BIND, for the build without numaif.h */
#define THP_DEFAULT (UINT64_C(2) << 20)

#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23 /* Linux 5.14 */
#endif

/* A mapping being set up; becomes the region once every step succeeded. */
struct attempt {
	void *map_base;
	size_t map_bytes;
	void *base;
	size_t bytes;
	size_t page;
};

static size_t
round_up(size_t v, size_t pow2)
{
	return (v + pow2 - 1) & ~(pow2 - 1);
}

static bool
is_pow2(uint64_t v)
{
	return v != 0 && (v & (v - 1)) == 0;
}

/* Read a small text file, NUL-terminated. Returns its length or a negative errno. */
static ssize_t
read_text(const char *path, char *buf, size_t size)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	ssize_t n = read(fd, buf, size - 1);
	int err = errno;
	close(fd);
	if (n < 0)
		return -err;
	buf[n] = '\0';
	return n;
}

/* The value of "<key> <n> kB" in a /proc text, in bytes; 0 when absent. */
static uint64_t
kb_field(const char *text, const char *key)
{
	const char *p = strstr(text, key);
	if (p == NULL)
		return 0;
	return strtoull(p + strlen(key), NULL, 10) * 1024u;
}

static size_t
normal_page_size(void)
{
	long p = sysconf(_SC_PAGESIZE);
	return p > 0 ? (size_t)p : 4096u;
}

static void
unmap_attempt(struct attempt *a)
{
	if (a->map_base != NULL)
		munmap(a->map_base, a->map_bytes);
	a->map_base = NULL;
}

/* --- sources ---------------------------------------------------------------------------- */

/*
 * Each mapper returns 0 with *a set, or a negative errno saying why the source cannot serve:
 * -ERANGE when @skip_small and @bytes is under one of its pages (AUTO), -EOPNOTSUPP when the
 * source is missing, or the kernel's answer.
 */

#if NS_HAVE_LIBHUGETLBFS
static int
map_libhugetlbfs(struct attempt *a, size_t bytes, bool skip_small)
{
	long page = gethugepagesize(); /* silent; -1 when the kernel offers none */
	if (page <= 0 || !is_pow2((uint64_t)page))
		return -EOPNOTSUPP;
	if (skip_small && bytes < (size_t)page)
		return -ERANGE;
	/* The mount libhugetlbfs found when the process started. NULL (no mount) is silent. */
	const char *dir = hugetlbfs_find_path_for_size(page);
	if (dir == NULL)
		return -ENOENT;
	/* libhugetlbfs prints when it cannot create its file: check first (a root-owned mount). */
	if (access(dir, W_OK | X_OK) != 0)
		return -errno;
	int fd = hugetlbfs_unlinked_fd_for_size(page);
	if (fd < 0)
		return errno != 0 ? -errno : -EIO;
	size_t len = round_up(bytes, (size_t)page);
	/*
	 * Private, like every other source (a fork() does not share the ring). The kernel still
	 * reserves every page now: ENOMEM here, never SIGBUS later.
	 */
	void *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
	int err = errno;
	close(fd);
	if (p == MAP_FAILED)
		return -err;
	*a = (struct attempt){ p, len, p, len, (size_t)page };
	return 0;
}
#endif

/* Default hugetlb page size (the pool that MAP_HUGETLB draws on); 0 when there is none. */
static size_t
hugetlb_page_size(void)
{
	char buf[8192];
	if (read_text("/proc/meminfo", buf, sizeof(buf)) < 0)
		return 0;
	uint64_t page = kb_field(buf, "Hugepagesize:");
	return is_pow2(page) ? (size_t)page : 0;
}

static int
map_hugetlb(struct attempt *a, size_t bytes, bool skip_small)
{
	size_t page = hugetlb_page_size();
	if (page == 0)
		return -EOPNOTSUPP;
	if (skip_small && bytes < page)
		return -ERANGE;
	size_t len = round_up(bytes, page);
	/* Private hugetlb mappings reserve their pages at mmap: ENOMEM now, not SIGBUS later. */
	void *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB,
		       -1, 0);
	if (p == MAP_FAILED)
		return -errno;
	*a = (struct attempt){ p, len, p, len, page };
	return 0;
}

/* THP's page size, or 0 when THP is off ("[never]") or absent. */
static size_t
thp_page_size(void)
{
	char buf[256];
	if (read_text("/sys/kernel/mm/transparent_hugepage/enabled", buf, sizeof(buf)) < 0 ||
	    strstr(buf, "[never]") != NULL)
		return 0;
	if (read_text("/sys/kernel/mm/transparent_hugepage/hpage_pmd_size", buf, sizeof(buf)) > 0) {
		uint64_t v = strtoull(buf, NULL, 10);
		if (is_pow2(v))
			return (size_t)v;
	}
	return (size_t)THP_DEFAULT;
}

/*
 * Normal memory, aligned to the huge page size and advised for THP, between two PROT_NONE
 * guard pages: they keep the kernel from merging the mapping with a neighbour, so smaps
 * reports its huge pages alone (and a write past the end faults instead of corrupting).
 */
static int
map_thp(struct attempt *a, size_t bytes, bool skip_small)
{
	size_t page = thp_page_size();
	if (page == 0)
		return -EOPNOTSUPP;
	if (skip_small && bytes < page)
		return -ERANGE;
	size_t guard = normal_page_size();
	size_t len = round_up(bytes, page);
	size_t span = len + page + 2 * guard;
	uint8_t *p = mmap(NULL, span, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		return -errno;
	uint8_t *start = (uint8_t *)round_up((size_t)(p + guard), page);
	uint8_t *lo = start - guard, *hi = start + len + guard;
	if (lo > p)
		munmap(p, (size_t)(lo - p));
	if (p + span > hi)
		munmap(hi, (size_t)(p + span - hi));
	*a = (struct attempt){ lo, len + 2 * guard, start, len, page };
	if (mprotect(lo, guard, PROT_NONE) != 0 || mprotect(start + len, guard, PROT_NONE) != 0 ||
	    madvise(start, len, MADV_HUGEPAGE) != 0) {
		int err = -errno;
		unmap_attempt(a);
		return err;
	}
	return 0;
}

static int
map_normal(struct attempt *a, size_t bytes)
{
	size_t page = normal_page_size();
	size_t len = round_up(bytes, page);
	void *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		return -errno;
	*a = (struct attempt){ p, len, p, len, page };
	return 0;
}

/* --- steps after mapping ---------------------------------------------------------------- */

/* 0 when @node exists and may hold our memory, -EINVAL when not, -EOPNOTSUPP without NUMA. */
static int
node_check(int32_t node)
{
	if (node < 0 || node >= MAX_NODES)
		return -EINVAL;
#if NS_HAVE_LIBNUMA
	if (numa_available() < 0)
		return -EOPNOTSUPP;
	/* Nodes with memory that this task may allocate on (its cpuset included). */
	if (node > numa_max_node() || !numa_bitmask_isbitset(numa_all_nodes_ptr, (unsigned)node))
		return -EINVAL;
	return 0;
#else
	char path[64];
	if (access("/sys/devices/system/node", F_OK) != 0)
		return -EOPNOTSUPP;
	snprintf(path, sizeof(path), "/sys/devices/system/node/node%d", (int)node);
	return access(path, F_OK) == 0 ? 0 : -EINVAL;
#endif
}

/* Bind before the first touch, so every page is allocated on @node. */
static int
bind_node(const struct attempt *a, int32_t node)
{
	unsigned long mask[MAX_NODES / ULONG_BITS] = { 0 };
	mask[(size_t)node / ULONG_BITS] = 1ul << ((size_t)node % ULONG_BITS);
	/* The kernel reads maxnode - 1 bits (a historical off-by-one that libnuma also feeds). */
#if NS_HAVE_LIBNUMA
	long rc = mbind(a->base, a->bytes, MPOL_BIND, mask, MAX_NODES + 1, MPOL_MF_STRICT);
#else
	long rc = syscall(SYS_mbind, a->base, a->bytes, MODE_BIND, mask, MAX_NODES + 1, 1u);
#endif
	return rc == 0 ? 0 : -errno;
}

bool nsi_mem_no_populate_write;

int
nsi_mem_populate_advise(void *base, size_t bytes)
{
	if (__atomic_load_n(&nsi_mem_no_populate_write, __ATOMIC_RELAXED)) /* a test's switch */
		return -EOPNOTSUPP;
	if (madvise(base, bytes, MADV_POPULATE_WRITE) == 0)
		return 0;
	return errno == EINVAL ? -EOPNOTSUPP : -errno;
}

void
nsi_mem_touch(void *base, size_t bytes, size_t page)
{
	/* The memory is zero, so write zero. */
	for (size_t off = 0; off < bytes; off += page)
		((volatile uint8_t *)base)[off] = 0;
}

int
nsi_mem_populate(void *base, size_t bytes, size_t page)
{
	int rc = nsi_mem_populate_advise(base, bytes);
	if (rc != -EOPNOTSUPP)
		return rc;
	/* Kernels before 5.14: write to each page. */
	nsi_mem_touch(base, bytes, page);
	return 0;
}

static int
populate(const struct attempt *a)
{
	return nsi_mem_populate(a->base, a->bytes, a->page);
}

int64_t
nsi_mem_smaps_bytes(const void *base, const char *const *fields)
{
	FILE *f = fopen("/proc/self/smaps", "re");
	char line[512];
	bool at_line_start = true, in_vma = false;
	int64_t result = -ENOENT;

	if (f == NULL)
		return -errno;
	while (fgets(line, sizeof(line), f) != NULL) {
		bool starts = at_line_start;
		at_line_start = strchr(line, '\n') != NULL;
		if (!starts)
			continue;
		unsigned long lo, hi;
		if (sscanf(line, "%lx-%lx ", &lo, &hi) == 2) {
			if (in_vma)
				break; /* the next mapping */
			in_vma = lo == (unsigned long)base;
			if (in_vma)
				result = 0;
			continue;
		}
		for (int i = 0; in_vma && fields[i] != NULL; i++)
			if (strncmp(line, fields[i], strlen(fields[i])) == 0)
				result += (int64_t)kb_field(line, fields[i]);
	}
	fclose(f);
	return result;
}

int64_t
nsi_mem_thp_bytes(const void *base)
{
	static const char *const fields[] = { "AnonHugePages:", NULL };
	return nsi_mem_smaps_bytes(base, fields);
}

/* --- the policy ------------------------------------------------------------------------- */

int
nsi_mem_req_check(const struct nsi_mem_req *req)
{
	if (req->policy > NS_MEM_NORMAL)
		return nsi_errmsg_set(-EINVAL,
				      "memory options: mem_policy %u is not an enum "
				      "ns_mem_policy (AUTO 0, HUGE 1, NORMAL 2)",
				      req->policy);
	if ((req->flags & ~KNOWN_FLAGS) != 0)
		return nsi_errmsg_set(-EINVAL, "memory options: unknown mem_flags bits 0x%x",
				      req->flags & ~KNOWN_FLAGS);
	if ((req->sources & ~(uint32_t)NS_MEM_SRC_ALL_HUGE) != 0)
		return nsi_errmsg_set(-EINVAL, "memory options: unknown mem_sources bits 0x%x",
				      req->sources & ~(uint32_t)NS_MEM_SRC_ALL_HUGE);
	/* A node without NS_MEM_F_BIND is most likely a forgotten flag. */
	if (!(req->flags & NS_MEM_F_BIND) && req->node != 0)
		return nsi_errmsg_set(-EINVAL,
				      "memory options: numa_node %d without NS_MEM_F_BIND in "
				      "mem_flags (set the flag, or leave the node 0)",
				      req->node);
	if (req->user == NULL)
		return req->user_bytes == 0
			       ? 0
			       : nsi_errmsg_set(-EINVAL, "memory options: mem_region_bytes without "
							 "a mem_region");
	if (req->policy != NS_MEM_AUTO || req->sources != 0 ||
	    (req->flags & (NS_MEM_F_LOCK | NS_MEM_F_BIND)) != 0)
		return nsi_errmsg_set(
			-EINVAL, "memory options: a caller's mem_region takes no mem_policy, "
				 "mem_sources, NS_MEM_F_LOCK or NS_MEM_F_BIND (lock or bind it "
				 "yourself)");
	if ((uintptr_t)req->user % USER_ALIGN != 0)
		return nsi_errmsg_set(-EINVAL,
				      "memory options: mem_region %p is not aligned to %d "
				      "bytes",
				      req->user, (int)USER_ALIGN);
	return 0;
}

typedef int (*mapper_fn)(struct attempt *a, size_t bytes, bool skip_small);

static const struct {
	uint32_t source;
	mapper_fn map;
} huge_sources[] = {
#if NS_HAVE_LIBHUGETLBFS
	{ NS_MEM_SRC_LIBHUGETLBFS, map_libhugetlbfs },
#endif
	{ NS_MEM_SRC_MAP_HUGETLB, map_hugetlb },
	{ NS_MEM_SRC_THP, map_thp },
};

/*
 * Steps common to every source once mapped: bind, pre-fault, check THP, lock. A failure the
 * next source might not have (pre-fault, THP check) is "soft": *soft is set and the caller
 * tries on; a failure of what the caller asked for (bind, lock) ends the create.
 */
static int
finish(struct attempt *a, uint32_t source, const struct nsi_mem_req *req, uint32_t *info_flags,
       bool *soft)
{
	bool thp = source == NS_MEM_SRC_THP;
	bool must_verify = thp && req->policy == NS_MEM_HUGE;
	int rc;

	*soft = false;
	*info_flags = 0;
	if (req->flags & NS_MEM_F_BIND) {
		rc = bind_node(a, req->node);
		if (rc < 0)
			return rc;
		*info_flags |= NS_MEM_INFO_BOUND;
	}
	if (!(req->flags & NS_MEM_F_NO_PREFAULT) || must_verify) {
		rc = populate(a);
		if (rc < 0) {
			*soft = source != NS_MEM_SRC_NORMAL;
			return rc;
		}
		*info_flags |= NS_MEM_INFO_PREFAULTED;
	}
	if (thp && (*info_flags & NS_MEM_INFO_PREFAULTED)) {
		int64_t huge = nsi_mem_thp_bytes(a->base);
		if (huge >= 0 && (uint64_t)huge >= a->bytes)
			*info_flags |= NS_MEM_INFO_VERIFIED;
		else if (must_verify) {
			*soft = true;
			return -ENOMEM;
		}
	}
	if (req->flags & NS_MEM_F_LOCK) {
		if (mlock(a->base, a->bytes) != 0)
			return -errno;
		*info_flags |= NS_MEM_INFO_LOCKED;
	}
	return 0;
}

static int
alloc_user(struct nsi_region *region, size_t bytes, const struct nsi_mem_req *req)
{
	if (req->user_bytes < bytes)
		return -EINVAL;
	memset(req->user, 0, bytes); /* also faults every page in */
	*region = (struct nsi_region){
		.base = req->user,
		.bytes = bytes,
		.source = NS_MEM_SRC_USER,
		.info_flags = NS_MEM_INFO_PREFAULTED,
		.node = -1,
	};
	return 0;
}

int
nsi_region_alloc(struct nsi_region *region, size_t bytes, const struct nsi_mem_req *req)
{
	struct attempt a = { 0 };
	uint32_t sources = req->sources != 0 ? req->sources : (uint32_t)NS_MEM_SRC_ALL_HUGE;
	uint32_t source = NS_MEM_SRC_NORMAL, info_flags = 0;
	int huge_error = 0, rc;
	bool soft, got = false;

	if (bytes == 0)
		return -EINVAL;
	if (req->user != NULL)
		return alloc_user(region, bytes, req);
	if (req->flags & NS_MEM_F_BIND) {
		rc = node_check(req->node);
		if (rc < 0)
			return rc;
	}
	if (req->policy != NS_MEM_NORMAL) {
		huge_error = -EOPNOTSUPP; /* until a source says otherwise */
		for (size_t i = 0; i < sizeof(huge_sources) / sizeof(huge_sources[0]) && !got;
		     i++) {
			if (!(sources & huge_sources[i].source))
				continue;
			rc = huge_sources[i].map(&a, bytes, req->policy == NS_MEM_AUTO);
			if (rc == 0) {
				rc = finish(&a, huge_sources[i].source, req, &info_flags, &soft);
				if (rc < 0) {
					unmap_attempt(&a);
					if (!soft)
						return rc;
				}
			}
			if (rc == 0) {
				got = true;
				source = huge_sources[i].source;
				huge_error = 0;
			} else {
				huge_error = rc;
			}
		}
		if (!got && req->policy == NS_MEM_HUGE)
			return -ENOMEM;
	}
	if (!got) {
		rc = map_normal(&a, bytes);
		if (rc == 0) {
			rc = finish(&a, NS_MEM_SRC_NORMAL, req, &info_flags, &soft);
			if (rc < 0)
				unmap_attempt(&a);
		}
		if (rc < 0)
			return rc;
	}
	*region = (struct nsi_region){
		.base = a.base,
		.bytes = a.bytes,
		.map_base = a.map_base,
		.map_bytes = a.map_bytes,
		.page_size = a.page,
		.source = source,
		.info_flags = info_flags,
		.node = (req->flags & NS_MEM_F_BIND) ? req->node : -1,
		.huge_error = huge_error,
	};
	return 0;
}

void
nsi_region_free(struct nsi_region *region)
{
	/* munmap also unlocks, and drops the last reference to a hugetlbfs file. */
	if (region->map_base != NULL)
		munmap(region->map_base, region->map_bytes);
	region->map_base = NULL;
	region->base = NULL;
	region->bytes = 0;
}

void
nsi_region_info(const struct nsi_region *region, struct ns_mem_info *info)
{
	*info = (struct ns_mem_info){
		.size = sizeof(*info),
		.source = region->source,
		.bytes = region->bytes,
		.page_size = region->page_size,
		.numa_node = region->node,
		.flags = region->info_flags,
		.huge_error = region->huge_error,
	};
}

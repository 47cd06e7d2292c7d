/* SPDX-License-Identifier: MIT */
/*
 * Huge pages for real: each source (libhugetlbfs, MAP_HUGETLB, THP) puts the ring's slots on
 * huge pages as the kernel sees them (/proc/self/smaps), AUTO prefers them in order, and with
 * none reserved AUTO falls back and says why while HUGE fails with -ENOMEM and leaks nothing.
 *
 * As root the test prepares the machine: it reserves huge pages (vm.nr_hugepages), mounts
 * hugetlbfs when nothing is mounted, re-executes itself so that libhugetlbfs (which looks for
 * mounts when it loads) sees the mount, and puts everything back afterwards. Not root: it
 * runs when enough huge pages are already free, and skips (exit 77) otherwise.
 */
#include "config.h"

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

#include <nanostream/nanostream.h>

#include "memutil.h"

/*
 * The whole program skipped (TAP: an empty plan with a SKIP directive, which meson counts as a
 * skipped test; the reason goes on the same line).
 */
static int
skip_all(const char *why)
{
	printf("1..0 # SKIP %s\n", why);
	return 0;
}
#define WANT_PAGES	32 /* 64 MiB of 2 MiB pages */
#define MIN_PAGES	8
#define CYCLES		1000
#define CHILD_ENV	"NS_HUGEPAGES_PREPARED"
#define NR_HUGEPAGES	"/proc/sys/vm/nr_hugepages"
#define HUGE_2M		(UINT64_C(2) << 20)
#define RING_2M_SLOTS	32768u /* x 64 bytes = one 2 MiB page of slots */
#define F_NODE_AND_ADDR 3      /* MPOL_F_NODE | MPOL_F_ADDR */

static const struct {
	uint32_t source;
	const char *name;
} sources[] = {
	{ NS_MEM_SRC_LIBHUGETLBFS, "libhugetlbfs" },
	{ NS_MEM_SRC_MAP_HUGETLB, "MAP_HUGETLB" },
	{ NS_MEM_SRC_THP, "THP" },
};

/* --- machine facts --------------------------------------------------------------------- */

/* A hugetlbfs mount of the default page size, or NULL (written into @buf). */
static const char *
hugetlbfs_mount(char *buf, size_t size)
{
	FILE *f = fopen("/proc/mounts", "r");
	char dev[256], dir[512], type[64], opts[512];
	const char *found = NULL;
	if (f == NULL)
		return NULL;
	while (fscanf(f, "%255s %511s %63s %511s %*d %*d", dev, dir, type, opts) == 4) {
		if (strcmp(type, "hugetlbfs") == 0 &&
		    (strstr(opts, "pagesize=") == NULL || strstr(opts, "pagesize=2M") != NULL)) {
			snprintf(buf, size, "%s", dir);
			found = buf;
			break;
		}
	}
	fclose(f);
	return found;
}

static bool
thp_enabled(void)
{
	char buf[128] = "";
	FILE *f = fopen("/sys/kernel/mm/transparent_hugepage/enabled", "r");
	if (f == NULL)
		return false;
	if (fgets(buf, sizeof(buf), f) == NULL)
		buf[0] = '\0';
	fclose(f);
	return buf[0] != '\0' && strstr(buf, "[never]") == NULL;
}

/* Can this process use libhugetlbfs's path: built with it, a writable mount seen at start? */
static bool
libhugetlbfs_usable(void)
{
	char mnt[512];
	const char *dir = hugetlbfs_mount(mnt, sizeof(mnt));
	return NS_HAVE_LIBHUGETLBFS && dir != NULL && access(dir, W_OK | X_OK) == 0;
}

static bool
source_expected(uint32_t source)
{
	switch (source) {
	case NS_MEM_SRC_LIBHUGETLBFS:
		return libhugetlbfs_usable();
	case NS_MEM_SRC_THP:
		return thp_enabled();
	default:
		return true;
	}
}

/* --- the tests ------------------------------------------------------------------------- */

static struct ns_ring_opts
huge_opts(uint32_t policy, uint32_t sources_mask, uint64_t capacity)
{
	struct ns_ring_opts o = NS_RING_OPTS_INIT;
	o.capacity = capacity;
	o.slot_size = 64;
	o.mem_policy = policy;
	o.mem_sources = sources_mask;
	return o;
}

/* What smaps says of the slots: on huge pages of the source's kind, all of them. */
static void
assert_slots_on_huge_pages(ns_ring *r, uint32_t source)
{
	void *slots = ns_ring_slot(r, 0);
	uint64_t bytes = ns_ring_capacity(r) * ns_ring_slot_size(r);
	if (source == NS_MEM_SRC_THP) {
		int64_t anon_huge = mu_smaps_field(slots, "AnonHugePages:");
		print_message("#   smaps: AnonHugePages %lld kB for %llu kB of slots\n",
			      (long long)anon_huge / 1024, (unsigned long long)bytes / 1024);
		assert_true(anon_huge >= (int64_t)bytes);
	} else {
		int64_t kps = mu_smaps_field(slots, "KernelPageSize:");
		int64_t hugetlb = mu_smaps_field(slots, "Private_Hugetlb:") +
				  mu_smaps_field(slots, "Shared_Hugetlb:");
		print_message("#   smaps: KernelPageSize %lld kB, hugetlb %lld kB for %llu kB\n",
			      (long long)kps / 1024, (long long)hugetlb / 1024,
			      (unsigned long long)bytes / 1024);
		assert_int_equal(kps, (int64_t)HUGE_2M);
		assert_true(hugetlb >= (int64_t)bytes);
	}
}

static void
ring_works(ns_ring *r)
{
	for (uint64_t i = 0; i < 2 * ns_ring_capacity(r); i++) {
		int64_t seq = ns_ring_try_claim(r);
		assert_true(seq >= 0);
		*(uint64_t *)ns_ring_slot(r, seq) = i;
		assert_int_equal(ns_ring_publish(r, seq), 0);
	}
}

static void
each_source_puts_the_slots_on_huge_pages(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(sources) / sizeof(sources[0]); i++) {
		struct ns_ring_opts o = huge_opts(NS_MEM_HUGE, sources[i].source, RING_2M_SLOTS);
		ns_ring *r = NULL;
		int rc = ns_ring_create(&r, &o);
		print_message("# %s: %s\n", sources[i].name, rc == 0 ? "ok" : ns_strerror(rc));
		if (!source_expected(sources[i].source)) {
			/* Not available here: HUGE says so and leaves nothing. */
			assert_int_equal(rc, -ENOMEM);
			assert_null(r);
			continue;
		}
		assert_int_equal(rc, 0);
		struct ns_mem_info info = mu_info_of(r);
		assert_int_equal(info.source, sources[i].source);
		assert_int_equal(info.page_size, HUGE_2M);
		assert_int_equal(info.bytes, HUGE_2M); /* 2 MiB of slots: exactly one page */
		assert_int_equal(info.huge_error, 0);
		assert_true(info.flags & NS_MEM_INFO_PREFAULTED);
		if (sources[i].source == NS_MEM_SRC_THP)
			assert_true(info.flags & NS_MEM_INFO_VERIFIED);
		assert_slots_on_huge_pages(r, sources[i].source);
		ring_works(r);
		ns_ring_destroy(r);
	}
}

static void
auto_takes_the_first_source_that_works(void **state)
{
	(void)state;
	struct ns_ring_opts o = huge_opts(NS_MEM_AUTO, 0, RING_2M_SLOTS * 2);
	ns_ring *r = NULL;
	uint32_t want = libhugetlbfs_usable() ? NS_MEM_SRC_LIBHUGETLBFS : NS_MEM_SRC_MAP_HUGETLB;

	assert_int_equal(ns_ring_create(&r, &o), 0);
	struct ns_mem_info info = mu_info_of(r);
	print_message("# AUTO took %s\n", ns_mem_source_name(info.source));
	assert_int_equal(info.source, want);
	assert_int_equal(info.huge_error, 0);
	assert_slots_on_huge_pages(r, want);
	ns_ring_destroy(r);

	/* Without the hugetlb sources, AUTO goes on to THP. */
	o.mem_sources = NS_MEM_SRC_THP;
	assert_int_equal(ns_ring_create(&r, &o), 0);
	assert_int_equal(mu_info_of(r).source, thp_enabled() ? NS_MEM_SRC_THP : NS_MEM_SRC_NORMAL);
	ns_ring_destroy(r);
}

static void
prefaulted_huge_pages_take_no_faults(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(sources) / sizeof(sources[0]); i++) {
		if (!source_expected(sources[i].source))
			continue;
		struct ns_ring_opts o =
			huge_opts(NS_MEM_HUGE, sources[i].source, RING_2M_SLOTS * 4);
		ns_ring *r = NULL;
		assert_int_equal(ns_ring_create(&r, &o), 0);
		long before = mu_minor_faults();
		mu_touch_slots(ns_ring_slot(r, 0), RING_2M_SLOTS * 4, 64);
		long faults = mu_minor_faults() - before;
		print_message("# %s pre-faulted: %ld minor faults writing 8 MiB of slots\n",
			      sources[i].name, faults);
		assert_int_equal(faults, 0);
		ns_ring_destroy(r);
	}
}

static void
bound_huge_pages_sit_on_node_0(void **state)
{
	(void)state;
	struct ns_ring_opts o = huge_opts(NS_MEM_HUGE, NS_MEM_SRC_MAP_HUGETLB, RING_2M_SLOTS * 2);
	ns_ring *r = NULL;
	if (access("/sys/devices/system/node/node0", F_OK) != 0)
		skip();
	o.mem_flags = NS_MEM_F_BIND;
	o.numa_node = 0;
	assert_int_equal(ns_ring_create(&r, &o), 0);
	struct ns_mem_info info = mu_info_of(r);
	assert_int_equal(info.source, NS_MEM_SRC_MAP_HUGETLB);
	assert_int_equal(info.numa_node, 0);
	int node = -1;
	assert_int_equal(
		syscall(SYS_get_mempolicy, &node, NULL, 0, ns_ring_slot(r, 0), F_NODE_AND_ADDR), 0);
	assert_int_equal(node, 0);
	assert_slots_on_huge_pages(r, NS_MEM_SRC_MAP_HUGETLB);
	ns_ring_destroy(r);
}

static void
none_reserved_auto_falls_back_huge_fails_cleanly(void **state)
{
	(void)state;
	if (geteuid() != 0)
		skip(); /* emptying the pool needs root */
	long reserved = mu_read_long(NR_HUGEPAGES);
	assert_int_equal(mu_write_long(NR_HUGEPAGES, 0), 0);
	assert_int_equal(mu_meminfo("HugePages_Free:"), 0);

	/* AUTO: normal pages, and the reason. */
	const uint32_t hugetlb = NS_MEM_SRC_LIBHUGETLBFS | NS_MEM_SRC_MAP_HUGETLB;
	struct ns_ring_opts o = huge_opts(NS_MEM_AUTO, hugetlb, RING_2M_SLOTS);
	ns_ring *r = NULL;
	assert_int_equal(ns_ring_create(&r, &o), 0);
	struct ns_mem_info info = mu_info_of(r);
	print_message("# AUTO without reserved pages: %s, huge_error %s\n",
		      ns_mem_source_name(info.source), ns_strerror(info.huge_error));
	assert_int_equal(info.source, NS_MEM_SRC_NORMAL);
	assert_int_equal(info.huge_error, -ENOMEM);
	assert_int_equal(info.page_size, (uint64_t)sysconf(_SC_PAGESIZE));
	ring_works(r);
	ns_ring_destroy(r);
	r = NULL;

	/* HUGE: -ENOMEM, the ring pointer untouched, no mapping, file or reservation left. */
	int maps = mu_mapping_count(), fds = mu_fd_count();
	int64_t rsvd = mu_meminfo("HugePages_Rsvd:");
	for (int i = 0; i < CYCLES; i++) {
		o = huge_opts(NS_MEM_HUGE, i % 2 ? hugetlb : NS_MEM_SRC_MAP_HUGETLB, RING_2M_SLOTS);
		o.producer = (uint32_t)(i % 2);
		assert_int_equal(ns_ring_create(&r, &o), -ENOMEM);
		assert_null(r);
	}
	assert_int_equal(mu_mapping_count(), maps);
	assert_int_equal(mu_fd_count(), fds);
	assert_int_equal(mu_meminfo("HugePages_Rsvd:"), rsvd);

	/*
	 * Silence: this is where libhugetlbfs would print warnings if asked for pages it cannot
	 * get. Each source alone, under both policies; standard error must stay empty.
	 */
	int rcs[6];
	struct mu_capture cap = mu_capture_stderr();
	for (size_t i = 0; i < 3; i++) {
		o = huge_opts(NS_MEM_HUGE, sources[i].source, RING_2M_SLOTS);
		rcs[2 * i] = ns_ring_create(&r, &o);
		if (rcs[2 * i] == 0)
			ns_ring_destroy(r);
		o.mem_policy = NS_MEM_AUTO;
		rcs[2 * i + 1] = ns_ring_create(&r, &o);
		if (rcs[2 * i + 1] == 0)
			ns_ring_destroy(r);
	}
	long printed = mu_release_stderr(cap);
	assert_int_equal(printed, 0);
	assert_int_equal(rcs[0], -ENOMEM); /* libhugetlbfs */
	assert_int_equal(rcs[1], 0);
	assert_int_equal(rcs[2], -ENOMEM); /* MAP_HUGETLB */
	assert_int_equal(rcs[3], 0);

	assert_int_equal(mu_write_long(NR_HUGEPAGES, reserved), 0);
}

static void
create_destroy_cycles_leak_nothing(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(sources) / sizeof(sources[0]); i++) {
		if (!source_expected(sources[i].source))
			continue;
		int maps = mu_mapping_count(), fds = mu_fd_count();
		int64_t free_pages = mu_meminfo("HugePages_Free:");
		for (int k = 0; k < CYCLES; k++) {
			struct ns_ring_opts o =
				huge_opts(NS_MEM_HUGE, sources[i].source, RING_2M_SLOTS);
			o.producer = (uint32_t)(k % 2);
			ns_ring *r = NULL;
			assert_int_equal(ns_ring_create(&r, &o), 0);
			ns_ring_destroy(r);
		}
		print_message("# %s: %d create/destroy cycles\n", sources[i].name, CYCLES);
		assert_int_equal(mu_mapping_count(), maps);
		assert_int_equal(mu_fd_count(), fds);
		assert_int_equal(mu_meminfo("HugePages_Free:"), free_pages);
	}
}

static int
run_hugepage_tests(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(each_source_puts_the_slots_on_huge_pages),
		cmocka_unit_test(auto_takes_the_first_source_that_works),
		cmocka_unit_test(prefaulted_huge_pages_take_no_faults),
		cmocka_unit_test(bound_huge_pages_sit_on_node_0),
		cmocka_unit_test(create_destroy_cycles_leak_nothing),
		cmocka_unit_test(none_reserved_auto_falls_back_huge_fails_cleanly),
	};
	return cmocka_run_group_tests_name("hugepages", tests, NULL, NULL);
}

/* --- preparing the machine ------------------------------------------------------------- */

/* Root: reserve pages and mount, run the tests in a fresh image of this program, restore. */
static int
prepare_and_run(char **argv)
{
	long before = mu_read_long(NR_HUGEPAGES);
	long free_before = mu_meminfo("HugePages_Free:");
	char mnt[512], made[] = "/tmp/ns-hugetlbfs-XXXXXX";
	bool mounted = false;
	int status = 1;

	if (before < 0 || free_before < 0) {
		return skip_all("no hugetlb support in this kernel");
	}
	if (free_before < WANT_PAGES && mu_write_long(NR_HUGEPAGES, before + WANT_PAGES) != 0) {
		return skip_all("cannot write " NR_HUGEPAGES);
	}
	if (mu_meminfo("HugePages_Free:") < MIN_PAGES) {
		mu_write_long(NR_HUGEPAGES, before);
		return skip_all("could not reserve enough huge pages");
	}
	if (hugetlbfs_mount(mnt, sizeof(mnt)) == NULL && mkdtemp(made) != NULL) {
		mounted = mount("none", made, "hugetlbfs", 0, "pagesize=2M,mode=0700") == 0;
		if (!mounted) {
			fprintf(stderr, "# mounting hugetlbfs failed (%s): libhugetlbfs untested\n",
				strerror(errno));
			rmdir(made);
		}
	}
	fflush(NULL);
	pid_t pid = fork();
	if (pid == 0) {
		setenv(CHILD_ENV, "1", 1);
		execv("/proc/self/exe", argv);
		_exit(127);
	}
	if (pid > 0 && waitpid(pid, &status, 0) == pid)
		status = WIFEXITED(status) ? WEXITSTATUS(status) : 1;
	if (mounted) {
		umount(made);
		rmdir(made);
	}
	mu_write_long(NR_HUGEPAGES, before);
	return status;
}

int
main(int argc, char **argv)
{
	(void)argc;
	if (getenv(CHILD_ENV) == NULL && geteuid() == 0)
		return prepare_and_run(argv);
	if (mu_meminfo("HugePages_Free:") < MIN_PAGES) {
		return skip_all("too few free huge pages, and not root to reserve them");
	}
	return run_hugepage_tests();
}

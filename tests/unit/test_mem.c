/* SPDX-License-Identifier: MIT */
/*
 * Memory policy without reserved huge pages: normal pages, AUTO's fallback and its reason,
 * caller regions, NUMA binding, pre-faulting, locking and leaks over many cycles. Huge pages
 * themselves are tested in tests/hugepages (they need root to reserve).
 */
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <cmocka.h>

#include <nanostream/nanostream.h>

#include "memutil.h"

#define MODE_BIND	2 /* MPOL_BIND */
#define F_NODE_AND_ADDR 3 /* MPOL_F_NODE | MPOL_F_ADDR */
#define F_ADDR		2 /* MPOL_F_ADDR */
#define CYCLES		1000
#define SMALL_CAPACITY	64u
#define FAULT_CAPACITY	4096u /* x 256 bytes: 1 MiB, 256 pages of 4 KiB */
#define FAULT_SLOT_SIZE 256u

static struct ns_ring_opts
opts_of(uint64_t capacity, uint32_t slot_size, uint32_t policy, uint32_t flags)
{
	struct ns_ring_opts o = NS_RING_OPTS_INIT;
	o.capacity = capacity;
	o.slot_size = slot_size;
	o.mem_policy = policy;
	o.mem_flags = flags;
	return o;
}

/* Events go through: claim, write, publish, and the slot holds what was written. */
static void
ring_works(ns_ring *r)
{
	for (uint64_t i = 0; i < 3 * ns_ring_capacity(r); i++) {
		int64_t seq = ns_ring_try_claim(r);
		assert_true(seq >= 0);
		uint64_t *slot = ns_ring_slot(r, seq);
		*slot = i * 7 + 1;
		assert_int_equal(ns_ring_publish(r, seq), 0);
		assert_int_equal(*(uint64_t *)ns_ring_slot(r, seq), i * 7 + 1);
	}
}

static void
normal_policy_reports_normal_pages(void **state)
{
	(void)state;
	struct ns_ring_opts o = opts_of(1024, 64, NS_MEM_NORMAL, 0);
	ns_ring *r = NULL;

	assert_int_equal(ns_ring_create(&r, &o), 0);
	struct ns_mem_info info = mu_info_of(r);
	assert_int_equal(info.source, NS_MEM_SRC_NORMAL);
	assert_int_equal(info.page_size, (uint64_t)sysconf(_SC_PAGESIZE));
	assert_true(info.bytes >= 1024 * 64);
	assert_int_equal(info.numa_node, -1);
	assert_int_equal(info.flags, NS_MEM_INFO_PREFAULTED);
	assert_int_equal(info.huge_error, 0);
	assert_string_equal(ns_mem_source_name(info.source), "normal");
	/* The kernel agrees: the slots sit on normal pages. */
	assert_int_equal(mu_smaps_field(ns_ring_slot(r, 0), "KernelPageSize:"), info.page_size);
	ring_works(r);
	ns_ring_destroy(r);
}

static void
auto_small_ring_uses_normal_pages_and_says_why(void **state)
{
	(void)state;
	/* 64 slots of 64 bytes: far below a huge page, so AUTO does not spend one on them. */
	struct ns_ring_opts o = opts_of(SMALL_CAPACITY, 64, NS_MEM_AUTO, 0);
	ns_ring *r = NULL;

	assert_int_equal(ns_ring_create(&r, &o), 0);
	struct ns_mem_info info = mu_info_of(r);
	assert_int_equal(info.source, NS_MEM_SRC_NORMAL);
	assert_int_equal(info.huge_error, -ERANGE);
	assert_true(info.flags & NS_MEM_INFO_PREFAULTED);
	ring_works(r);
	ns_ring_destroy(r);
}

static void
info_honours_the_callers_size(void **state)
{
	(void)state;
	struct ns_ring_opts o = opts_of(64, 64, NS_MEM_NORMAL, 0);
	ns_ring *r = NULL;
	struct {
		struct ns_mem_info info;
		uint8_t later[16]; /* fields a newer library might add */
	} big;

	assert_int_equal(ns_ring_create(&r, &o), 0);
	memset(&big, 0xee, sizeof(big));
	big.info.size = sizeof(big);
	assert_int_equal(ns_ring_mem_info(r, &big.info), 0);
	assert_int_equal(big.info.size, sizeof(big));
	assert_int_equal(big.info.source, NS_MEM_SRC_NORMAL);
	for (size_t i = 0; i < sizeof(big.later); i++)
		assert_int_equal(big.later[i], 0); /* what this library does not know reads as 0 */
	ns_ring_destroy(r);
}

static void
mem_size_covers_every_part(void **state)
{
	(void)state;
	struct ns_ring_opts sp = opts_of(1024, 64, NS_MEM_AUTO, 0);
	struct ns_ring_opts mp = sp;
	mp.producer = NS_PRODUCER_MULTI;

	int64_t sp_bytes = ns_ring_mem_size(&sp);
	int64_t mp_bytes = ns_ring_mem_size(&mp);
	assert_true(sp_bytes > 1024 * 64);
	/* MULTI adds one 32-bit availability word per slot. */
	assert_int_equal(mp_bytes - sp_bytes, 1024 * 4);
	sp.max_consumers = 32;
	assert_true(ns_ring_mem_size(&sp) > sp_bytes);
}

static void
user_region_holds_the_ring(void **state)
{
	(void)state;
	for (uint32_t producer = 0; producer < 2; producer++) {
		struct ns_ring_opts o = opts_of(256, 64, NS_MEM_AUTO, 0);
		o.producer = producer;
		int64_t need = ns_ring_mem_size(&o);
		assert_true(need > 0);
		size_t have = ((size_t)need + 2 * 4096 - 1) / 4096 * 4096; /* room to spare */
		uint8_t *mem = aligned_alloc(4096, have);
		assert_non_null(mem);
		memset(mem, 0xa5, have);
		o.mem_region = mem;
		o.mem_region_bytes = have;

		ns_ring *r = NULL;
		assert_int_equal(ns_ring_create(&r, &o), 0);
		struct ns_mem_info info = mu_info_of(r);
		assert_int_equal(info.source, NS_MEM_SRC_USER);
		assert_int_equal(info.page_size, 0);
		assert_int_equal(info.huge_error, 0);
		assert_true(info.flags & NS_MEM_INFO_PREFAULTED);
		assert_string_equal(ns_mem_source_name(info.source), "user");
		/* Every slot is inside the caller's memory, which starts zeroed. */
		for (int64_t s = 0; s < 256; s++) {
			uint8_t *slot = ns_ring_slot(r, s);
			assert_true(slot >= mem && slot + 64 <= mem + need);
			assert_int_equal(slot[0], 0);
		}
		/* The ring uses exactly ns_ring_mem_size() bytes: the rest is untouched. */
		for (size_t i = (size_t)need; i < have; i++)
			assert_int_equal(mem[i], 0xa5);
		ring_works(r);
		ns_ring_destroy(r);
		/* Still the caller's: destroy did not unmap or free it. */
		memset(mem, 0x5a, have);
		free(mem);
	}
}

static long
get_mempolicy_of(int *mode, unsigned long *mask, unsigned long maxnode, const void *addr,
		 unsigned long flags)
{
	return syscall(SYS_get_mempolicy, mode, mask, maxnode, addr, flags);
}

static bool
numa_kernel(void)
{
	return access("/sys/devices/system/node/node0", F_OK) == 0;
}

static void
numa_binding_to_node_0_works(void **state)
{
	(void)state;
	struct ns_ring_opts o = opts_of(FAULT_CAPACITY, 64, NS_MEM_AUTO, NS_MEM_F_BIND);
	ns_ring *r = NULL;
	o.numa_node = 0;

	int rc = ns_ring_create(&r, &o);
	if (!numa_kernel()) {
		assert_int_equal(rc, -EOPNOTSUPP);
		assert_null(r);
		skip();
	}
	assert_int_equal(rc, 0);
	struct ns_mem_info info = mu_info_of(r);
	assert_int_equal(info.numa_node, 0);
	assert_true(info.flags & NS_MEM_INFO_BOUND);

	/* The kernel's view: the slots' policy is MPOL_BIND to {0}, and the pages are on 0. */
	for (int64_t s = 0; s < (int64_t)FAULT_CAPACITY; s += 64) {
		int mode = -1;
		unsigned long mask[16] = { 0 };
		assert_int_equal(get_mempolicy_of(&mode, mask, 1024, ns_ring_slot(r, s), F_ADDR),
				 0);
		assert_int_equal(mode, MODE_BIND);
		assert_int_equal(mask[0], 1);
		int node = -1;
		assert_int_equal(
			get_mempolicy_of(&node, NULL, 0, ns_ring_slot(r, s), F_NODE_AND_ADDR), 0);
		assert_int_equal(node, 0);
	}
	ring_works(r);
	ns_ring_destroy(r);
}

static void
numa_missing_node_is_einval(void **state)
{
	(void)state;
	int nodes = 0;
	char path[64];
	while (snprintf(path, sizeof(path), "/sys/devices/system/node/node%d", nodes),
	       access(path, F_OK) == 0)
		nodes++;
	const int32_t bad[] = { nodes, nodes + 1, 1023, 1024, -1, INT32_MIN };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct ns_ring_opts o = opts_of(64, 64, NS_MEM_AUTO, NS_MEM_F_BIND);
		ns_ring *r = NULL;
		o.numa_node = bad[i];
		int rc = ns_ring_create(&r, &o);
		assert_int_equal(rc, numa_kernel() ? -EINVAL : -EOPNOTSUPP);
		assert_null(r);
	}
}

/* Minor faults that writing every slot of a fresh ring takes. */
static long
faults_writing_every_slot(uint32_t policy, uint32_t flags, uint64_t capacity,
			  struct ns_mem_info *info)
{
	struct ns_ring_opts o = opts_of(capacity, FAULT_SLOT_SIZE, policy, flags);
	ns_ring *r = NULL;

	assert_int_equal(ns_ring_create(&r, &o), 0);
	*info = mu_info_of(r);
	long before = mu_minor_faults();
	mu_touch_slots(ns_ring_slot(r, 0), capacity, FAULT_SLOT_SIZE);
	long after = mu_minor_faults();
	ns_ring_destroy(r);
	return after - before;
}

static void
prefault_leaves_no_faults_for_the_first_events(void **state)
{
	(void)state;
	struct ns_mem_info info;
	const uint32_t policies[] = { NS_MEM_NORMAL, NS_MEM_AUTO };

	for (size_t i = 0; i < 2; i++) {
		/* Large enough (8 MiB) that AUTO may take huge pages (THP here). */
		uint64_t capacity = FAULT_CAPACITY * 8;
		long faults = faults_writing_every_slot(policies[i], 0, capacity, &info);
		print_message("# %s (%s): pre-faulted: %ld minor faults writing %llu slots\n",
			      i == 0 ? "NORMAL" : "AUTO", ns_mem_source_name(info.source), faults,
			      (unsigned long long)capacity);
		assert_true(info.flags & NS_MEM_INFO_PREFAULTED);
		assert_int_equal(faults, 0);

		/* The control: without pre-faulting the same writes do fault (once per page). */
		faults = faults_writing_every_slot(policies[i], NS_MEM_F_NO_PREFAULT, capacity,
						   &info);
		print_message("# %s (%s): not pre-faulted: %ld minor faults\n",
			      i == 0 ? "NORMAL" : "AUTO", ns_mem_source_name(info.source), faults);
		assert_false(info.flags & NS_MEM_INFO_PREFAULTED);
		assert_true((uint64_t)faults >= info.bytes / info.page_size / 2);
	}
}

static void
lock_keeps_the_memory_resident(void **state)
{
	(void)state;
	struct ns_ring_opts o = opts_of(FAULT_CAPACITY, 64, NS_MEM_NORMAL, NS_MEM_F_LOCK);
	ns_ring *r = NULL;
	int maps = mu_mapping_count();

	int rc = ns_ring_create(&r, &o);
	if (rc != 0) {
		/* Without CAP_IPC_LOCK and a memlock limit too small: the kernel's code, no leak. */
		print_message("# mlock refused: %s\n", ns_strerror(rc));
		assert_true(rc == -ENOMEM || rc == -EPERM || rc == -EAGAIN);
		assert_null(r);
		assert_int_equal(mu_mapping_count(), maps);
		skip();
	}
	struct ns_mem_info info = mu_info_of(r);
	assert_true(info.flags & NS_MEM_INFO_LOCKED);
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
	/* The sanitizers' runtime turns mlock() into a no-op that succeeds. */
	print_message("# under a sanitizer mlock() is a no-op: not checking smaps\n");
#else
	assert_int_equal(mu_smaps_field(ns_ring_slot(r, 0), "Locked:"), (int64_t)info.bytes);
#endif
	ring_works(r);
	ns_ring_destroy(r);
}

static int
fail_third_slot(void *arg, void *slot, uint64_t index)
{
	(void)arg, (void)slot;
	return index == 2 ? -EIO : 0;
}

/*
 * The process has as many mappings as before. Not under TSan: its runtime maps shadow memory
 * on its own schedule (seen in CI under load: 4 more mappings after the cycles, none of them
 * ours); the plain and ASan builds check mappings, every build checks descriptors.
 */
static void
assert_mappings_back(int maps)
{
#if defined(__SANITIZE_THREAD__)
	(void)maps;
#else
	assert_int_equal(mu_mapping_count(), maps);
#endif
}

/* Create and destroy @n rings; mappings and descriptors must come back to where they were. */
static void
cycle(const struct ns_ring_opts *o, int n, uint32_t expect_source)
{
	int maps = mu_mapping_count(), fds = mu_fd_count();
	for (int i = 0; i < n; i++) {
		ns_ring *r = NULL;
		assert_int_equal(ns_ring_create(&r, o), 0);
		if (i == 0)
			assert_int_equal(mu_info_of(r).source, expect_source);
		ns_ring_destroy(r);
	}
	assert_mappings_back(maps);
	assert_int_equal(mu_fd_count(), fds);
}

static void
create_destroy_cycles_leak_nothing(void **state)
{
	(void)state;
	struct ns_ring_opts o;

	o = opts_of(1024, 64, NS_MEM_NORMAL, 0);
	cycle(&o, CYCLES, NS_MEM_SRC_NORMAL);
	o = opts_of(1024, 64, NS_MEM_NORMAL, NS_MEM_F_NO_PREFAULT);
	o.producer = NS_PRODUCER_MULTI;
	cycle(&o, CYCLES, NS_MEM_SRC_NORMAL);
	o = opts_of(SMALL_CAPACITY, 64, NS_MEM_AUTO, 0);
	cycle(&o, CYCLES, NS_MEM_SRC_NORMAL);
	if (numa_kernel()) {
		o = opts_of(1024, 64, NS_MEM_NORMAL, NS_MEM_F_BIND);
		cycle(&o, CYCLES, NS_MEM_SRC_NORMAL);
	}

	/* A caller's region, reused every time. */
	o = opts_of(1024, 64, NS_MEM_AUTO, 0);
	size_t need = ((size_t)ns_ring_mem_size(&o) + 127) / 128 * 128;
	void *mem = aligned_alloc(128, need);
	assert_non_null(mem);
	o.mem_region = mem;
	o.mem_region_bytes = need;
	cycle(&o, CYCLES, NS_MEM_SRC_USER);
	free(mem);

	/* Failing creates leave nothing either. */
	int maps = mu_mapping_count(), fds = mu_fd_count();
	for (int i = 0; i < CYCLES; i++) {
		ns_ring *r = NULL;
		o = opts_of(1024, 64, NS_MEM_AUTO, NS_MEM_F_BIND);
		o.numa_node = 1023;
		assert_true(ns_ring_create(&r, &o) < 0);
		o = opts_of(1024, 64, NS_MEM_AUTO, 0);
		o.slot_init = fail_third_slot; /* fails after the memory is set up */
		assert_int_equal(ns_ring_create(&r, &o), -EIO);
		assert_null(r);
	}
	assert_mappings_back(maps);
	assert_int_equal(mu_fd_count(), fds);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(normal_policy_reports_normal_pages),
		cmocka_unit_test(auto_small_ring_uses_normal_pages_and_says_why),
		cmocka_unit_test(info_honours_the_callers_size),
		cmocka_unit_test(mem_size_covers_every_part),
		cmocka_unit_test(user_region_holds_the_ring),
		cmocka_unit_test(numa_binding_to_node_0_works),
		cmocka_unit_test(numa_missing_node_is_einval),
		cmocka_unit_test(prefault_leaves_no_faults_for_the_first_events),
		cmocka_unit_test(lock_keeps_the_memory_resident),
		cmocka_unit_test(create_destroy_cycles_leak_nothing),
	};
	return cmocka_run_group_tests_name("mem", tests, NULL, NULL);
}

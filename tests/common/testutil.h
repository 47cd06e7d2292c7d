/* SPDX-License-Identifier: MIT */
#ifndef NS_TESTS_TESTUTIL_H
#define NS_TESTS_TESTUTIL_H

#include <netinet/in.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

/* Helpers shared by the tests: checksums, scaled counts, a barrier that does not sleep. */

/* A loopback UDP port nobody uses now (the kernel's pick, released again); aborts if none. */
static inline int
tu_free_udp_port(void)
{
	int fd = socket(AF_INET, SOCK_DGRAM, 0);
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t l = sizeof(a);
	if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof(a)) != 0 ||
	    getsockname(fd, (struct sockaddr *)&a, &l) != 0) {
		fprintf(stderr, "no free loopback UDP port\n");
		abort();
	}
	close(fd);
	return ntohs(a.sin_port);
}

/* CRC32C (Castagnoli), table-driven, reflected. */
static inline uint32_t
tu_crc32c(uint32_t crc, const void *data, size_t len)
{
	static uint32_t table[256];
	static int ready;
	const uint8_t *p = data;

	if (!__atomic_load_n(&ready, __ATOMIC_ACQUIRE)) {
		for (uint32_t i = 0; i < 256; i++) {
			uint32_t c = i;
			for (int k = 0; k < 8; k++)
				c = (c & 1) ? (c >> 1) ^ 0x82f63b78u : c >> 1;
			__atomic_store_n(&table[i], c, __ATOMIC_RELAXED);
		}
		__atomic_store_n(&ready, 1, __ATOMIC_RELEASE);
	}
	crc = ~crc;
	while (len--)
		crc = __atomic_load_n(&table[(crc ^ *p++) & 0xff], __ATOMIC_RELAXED) ^ (crc >> 8);
	return ~crc;
}

static inline uint64_t
tu_mix64(uint64_t x)
{
	x ^= x >> 30;
	x *= UINT64_C(0xbf58476d1ce4e5b9);
	x ^= x >> 27;
	x *= UINT64_C(0x94d049bb133111eb);
	return x ^ (x >> 31);
}

static inline void
tu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#else
	__asm__ __volatile__("" ::: "memory");
#endif
}

/* NS_STRESS_SCALE (default 1) multiplies iteration counts: PR = 1, nightly = 10. */
static inline uint64_t
tu_scaled(uint64_t base)
{
	const char *s = getenv("NS_STRESS_SCALE");
	uint64_t scale = s != NULL ? strtoull(s, NULL, 10) : 1;

	return base * (scale == 0 ? 1 : scale);
}

/*
 * A reusable barrier for n threads that spins, then yields (never sleeps on a timer), so
 * tests synchronise without sleeps even when threads outnumber cores.
 */
struct tu_barrier {
	uint32_t n;
	uint32_t count;
	uint32_t generation;
};

static inline void
tu_barrier_init(struct tu_barrier *b, uint32_t n)
{
	b->n = n;
	b->count = 0;
	b->generation = 0;
}

static inline void
tu_barrier_wait(struct tu_barrier *b)
{
	uint32_t gen = __atomic_load_n(&b->generation, __ATOMIC_ACQUIRE);

	if (__atomic_add_fetch(&b->count, 1, __ATOMIC_ACQ_REL) == b->n) {
		__atomic_store_n(&b->count, 0, __ATOMIC_RELAXED);
		__atomic_store_n(&b->generation, gen + 1, __ATOMIC_RELEASE);
		return;
	}
	for (uint32_t spins = 0; __atomic_load_n(&b->generation, __ATOMIC_ACQUIRE) == gen;
	     spins++) {
		if (spins > 200)
			sched_yield();
		else
			tu_relax();
	}
}

/* Remove @dir and everything in it (a test's scratch directory). Returns 0 or -1. */
static inline int
tu_rm_rf(const char *dir)
{
	char cmd[4200];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	return system(cmd) == 0 ? 0 : -1;
}

/*
 * Remove a driver directory the test made: the lock file every driver leaves (it is never
 * removed: see NSI_LOCK_FILE), then the directory. Returns rmdir()'s result.
 */
static inline int
tu_rmdir_driver(const char *dir)
{
	char path[4200];
	snprintf(path, sizeof(path), "%s/driver.lock", dir);
	(void)unlink(path);
	return rmdir(dir);
}

/*
 * Move this (still single-threaded) process into a network namespace of its own, with a
 * loopback interface that carries IPv4 multicast (224.0.0.0/4 routed to it) and a veth pair
 * for IPv6 groups (nsva, fd00::1): traffic then never leaves the test. As root a plain new namespace; otherwise a user
 * namespace too, where the process is root over its own network only. Returns 0, or -1 when
 * the kernel refuses (the caller skips) with the reason printed.
 */
static inline int
tu_private_net(void)
{
	uid_t uid = getuid();
	gid_t gid = getgid();
	int flags = CLONE_NEWNET | (uid != 0 ? CLONE_NEWUSER : 0);
	if (unshare(flags) != 0) {
		perror("# unshare (a network namespace of our own)");
		return -1;
	}
	if (uid != 0) {
		char map[64];
		FILE *f = fopen("/proc/self/setgroups", "w");
		if (f != NULL) {
			fputs("deny", f);
			fclose(f);
		}
		snprintf(map, sizeof(map), "0 %u 1", (unsigned)uid);
		f = fopen("/proc/self/uid_map", "w");
		if (f == NULL || fputs(map, f) < 0 || fclose(f) != 0)
			return -1;
		snprintf(map, sizeof(map), "0 %u 1", (unsigned)gid);
		f = fopen("/proc/self/gid_map", "w");
		if (f == NULL || fputs(map, f) < 0 || fclose(f) != 0)
			return -1;
	}
	/*
	 * IPv6 multicast does not loop back on lo: a veth pair (nsva, fd00::1) carries it, its
	 * local copies reaching the namespace's own members.
	 */
	int rc = system("ip link set lo up && ip link set lo multicast on && "
			"ip route add 224.0.0.0/4 dev lo && "
			"ip link show lo | grep -q MULTICAST && "
			"{ ip link add nsva type veth peer name nsvb && ip link set nsva up && "
			"ip link set nsvb up && ip -6 addr add fd00::1/64 dev nsva nodad; true; }");
	if (rc != 0)
		fprintf(stderr, "# cannot set up loopback multicast (ip missing?)\n");
	return rc == 0 ? 0 : -1;
}

#endif /* NS_TESTS_TESTUTIL_H */

/* SPDX-License-Identifier: MIT */
#ifndef NSI_UTIL_CPU_H
#define NSI_UTIL_CPU_H

#include <stdint.h>
#include <time.h>

#include "util/compiler.h"

/* Tell the core we are spinning: frees pipeline resources for the sibling hyperthread. */
NS_INLINE void
nsi_cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#elif defined(__aarch64__)
	__asm__ __volatile__("yield" ::: "memory");
#else
	__asm__ __volatile__("" ::: "memory");
#endif
}

/* CLOCK_MONOTONIC in nanoseconds; a vDSO call, no system call. */
NS_INLINE int64_t
nsi_clock_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/*
 * a - b, saturated at INT64_MIN and INT64_MAX: for differences with a value read from shared
 * memory (a heartbeat, a position), which may be anything, so the subtraction never overflows.
 */
NS_INLINE int64_t
nsi_sub_sat_i64(int64_t a, int64_t b)
{
	int64_t d;
	if (__builtin_sub_overflow(a, b, &d))
		return b < 0 ? INT64_MAX : INT64_MIN;
	return d;
}

/*
 * Whether @v can be a stream or ring position read from shared memory: not negative, and
 * below 2^62 (no stream gets there). Bounded this way, differences of two never overflow.
 */
NS_INLINE int
nsi_pos_ok(int64_t v)
{
	return v >= 0 && v < (INT64_C(1) << 62);
}

NS_INLINE int
nsi_is_pow2_u64(uint64_t v)
{
	return v != 0 && (v & (v - 1)) == 0;
}

NS_INLINE uint32_t
nsi_log2_u64(uint64_t v)
{
	return (uint32_t)(63 - __builtin_clzll(v));
}

/* The smallest power of two >= v (v in 1 .. 2^63). */
NS_INLINE uint64_t
nsi_pow2_ceil_u64(uint64_t v)
{
	return v <= 1 ? 1 : UINT64_C(1) << (64 - __builtin_clzll(v - 1));
}

#endif /* NSI_UTIL_CPU_H */

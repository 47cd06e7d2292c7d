/* SPDX-License-Identifier: MIT */
#ifndef NSI_UTIL_ATOMIC_H
#define NSI_UTIL_ATOMIC_H

#include <stdint.h>

#include "util/compiler.h"

/*
 * Every atomic access in the library goes through these wrappers, which name the memory
 * order. Callers comment the pairing (which release a given acquire synchronises with), so a
 * reviewer can check each edge, and a later port to a model checker stays mechanical.
 */

/* 64-bit signed (sequences). */
NS_INLINE int64_t
nsi_load_relaxed_i64(const int64_t *p)
{
	return __atomic_load_n(p, __ATOMIC_RELAXED);
}

NS_INLINE int64_t
nsi_load_acquire_i64(const int64_t *p)
{
	return __atomic_load_n(p, __ATOMIC_ACQUIRE);
}

NS_INLINE void
nsi_store_relaxed_i64(int64_t *p, int64_t v)
{
	__atomic_store_n(p, v, __ATOMIC_RELAXED);
}

NS_INLINE void
nsi_store_release_i64(int64_t *p, int64_t v)
{
	__atomic_store_n(p, v, __ATOMIC_RELEASE);
}

/* Returns the new value. */
NS_INLINE int64_t
nsi_add_fetch_acq_rel_i64(int64_t *p, int64_t v)
{
	return __atomic_add_fetch(p, v, __ATOMIC_ACQ_REL);
}

/* On failure *expected receives the current value. */
NS_INLINE int
nsi_cas_acq_rel_i64(int64_t *p, int64_t *expected, int64_t desired)
{
	return __atomic_compare_exchange_n(p, expected, desired, 0, __ATOMIC_ACQ_REL,
					   __ATOMIC_ACQUIRE);
}

/* 64-bit unsigned (single-writer counters that other threads read). */
NS_INLINE uint64_t
nsi_load_relaxed_u64(const uint64_t *p)
{
	return __atomic_load_n(p, __ATOMIC_RELAXED);
}

NS_INLINE void
nsi_store_relaxed_u64(uint64_t *p, uint64_t v)
{
	__atomic_store_n(p, v, __ATOMIC_RELAXED);
}

NS_INLINE uint64_t
nsi_load_acquire_u64(const uint64_t *p)
{
	return __atomic_load_n(p, __ATOMIC_ACQUIRE);
}

NS_INLINE void
nsi_store_release_u64(uint64_t *p, uint64_t v)
{
	__atomic_store_n(p, v, __ATOMIC_RELEASE);
}

/* 32-bit unsigned (availability words, flags, futex words, counts). */
NS_INLINE uint32_t
nsi_load_relaxed_u32(const uint32_t *p)
{
	return __atomic_load_n(p, __ATOMIC_RELAXED);
}

NS_INLINE uint32_t
nsi_load_acquire_u32(const uint32_t *p)
{
	return __atomic_load_n(p, __ATOMIC_ACQUIRE);
}

NS_INLINE void
nsi_store_relaxed_u32(uint32_t *p, uint32_t v)
{
	__atomic_store_n(p, v, __ATOMIC_RELAXED);
}

NS_INLINE void
nsi_store_release_u32(uint32_t *p, uint32_t v)
{
	__atomic_store_n(p, v, __ATOMIC_RELEASE);
}

NS_INLINE uint32_t
nsi_add_fetch_seq_cst_u32(uint32_t *p, uint32_t v)
{
	return __atomic_add_fetch(p, v, __ATOMIC_SEQ_CST);
}

NS_INLINE uint32_t
nsi_sub_fetch_release_u32(uint32_t *p, uint32_t v)
{
	return __atomic_sub_fetch(p, v, __ATOMIC_RELEASE);
}

NS_INLINE uint32_t
nsi_add_fetch_release_u32(uint32_t *p, uint32_t v)
{
	return __atomic_add_fetch(p, v, __ATOMIC_RELEASE);
}

NS_INLINE int
nsi_cas_acq_rel_u32(uint32_t *p, uint32_t *expected, uint32_t desired)
{
	return __atomic_compare_exchange_n(p, expected, desired, 0, __ATOMIC_ACQ_REL,
					   __ATOMIC_ACQUIRE);
}

/*
 * Full barrier: orders earlier stores before later loads (the one reordering x86 allows).
 * Used only where a Dekker-style handshake needs it: "I published, is anybody asleep?"
 * against "I am going to sleep, is anything published?".
 */
NS_INLINE void
nsi_fence_seq_cst(void)
{
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
}

/*
 * Seqlock-style fences: a writer that announces (relaxed store), fences (release), then
 * overwrites data; a reader that copies data, fences (acquire), then re-checks the
 * announcement (src/ipc/broadcast.c).
 */
NS_INLINE void
nsi_fence_release(void)
{
	__atomic_thread_fence(__ATOMIC_RELEASE);
}

NS_INLINE void
nsi_fence_acquire(void)
{
	__atomic_thread_fence(__ATOMIC_ACQUIRE);
}

#endif /* NSI_UTIL_ATOMIC_H */

/* SPDX-License-Identifier: MIT */
#ifndef NSI_UTIL_COMPILER_H
#define NSI_UTIL_COMPILER_H

#include "config.h"

#define NS_LIKELY(x)   __builtin_expect(!!(x), 1)
#define NS_UNLIKELY(x) __builtin_expect(!!(x), 0)
#define NS_INLINE      static inline __attribute__((always_inline))
#define NS_NOINLINE    __attribute__((noinline))
#define NS_COLD	       __attribute__((cold, noinline))

/*
 * One cache line is 64 bytes on the x86-64 and arm64 parts we target, but the adjacent-line
 * prefetcher pulls lines in pairs, so data written by one thread and read by another gets a
 * 128-byte pair to itself.
 */
#define NS_CACHELINE	  64
#define NS_FALSE_SHARING  128
#define NS_SHARED_ALIGNED __attribute__((aligned(NS_FALSE_SHARING)))

/*
 * Hot-path argument checks that are caller bugs rather than runtime conditions. Compiled in
 * by -Ddebug_checks=true only (not tied to NDEBUG, which Debian's plain builds define).
 */
#if NS_DEBUG_CHECKS
#include <stdio.h>
#include <stdlib.h>
#define NS_DEBUG_ASSERT(cond)                                                                      \
	do {                                                                                       \
		if (!(cond)) {                                                                     \
			fprintf(stderr, "nanostream: %s:%d: debug check failed: %s\n", __FILE__,   \
				__LINE__, #cond);                                                  \
			abort();                                                                   \
		}                                                                                  \
	} while (0)
#else
#define NS_DEBUG_ASSERT(cond) ((void)0)
#endif

#endif /* NSI_UTIL_COMPILER_H */

/* SPDX-License-Identifier: MIT */
#ifndef NSI_RING_SEQUENCE_H
#define NSI_RING_SEQUENCE_H

#include <stdint.h>

#include "util/atomic.h"
#include "util/compiler.h"

/*
 * A sequence: a 64-bit counter written by one thread and read by others. It sits alone on a
 * 128-byte line pair so that the writer's stores never invalidate a neighbour's data.
 */
struct nsi_seq {
	int64_t value;
	char pad[NS_FALSE_SHARING - sizeof(int64_t)];
} NS_SHARED_ALIGNED;

_Static_assert(sizeof(struct nsi_seq) == NS_FALSE_SHARING, "a sequence fills its line pair");

#define NSI_SEQ_INITIAL (-1)

NS_INLINE void
nsi_seq_init(struct nsi_seq *s, int64_t v)
{
	nsi_store_relaxed_i64(&s->value, v);
}

/* Pairs with nsi_seq_store_release() of the writer: what it wrote before is visible. */
NS_INLINE int64_t
nsi_seq_load_acquire(const struct nsi_seq *s)
{
	return nsi_load_acquire_i64(&s->value);
}

NS_INLINE int64_t
nsi_seq_load_relaxed(const struct nsi_seq *s)
{
	return nsi_load_relaxed_i64(&s->value);
}

NS_INLINE void
nsi_seq_store_release(struct nsi_seq *s, int64_t v)
{
	nsi_store_release_i64(&s->value, v);
}

NS_INLINE void
nsi_seq_store_relaxed(struct nsi_seq *s, int64_t v)
{
	nsi_store_relaxed_i64(&s->value, v);
}

NS_INLINE int
nsi_seq_cas(struct nsi_seq *s, int64_t *expected, int64_t desired)
{
	return nsi_cas_acq_rel_i64(&s->value, expected, desired);
}

/* Atomically adds @n and returns the new value. */
NS_INLINE int64_t
nsi_seq_add_and_get(struct nsi_seq *s, int64_t n)
{
	return nsi_add_fetch_acq_rel_i64(&s->value, n);
}

#endif /* NSI_RING_SEQUENCE_H */

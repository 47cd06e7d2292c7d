/* SPDX-License-Identifier: MIT */
#ifndef NSI_UTIL_SIZED_H
#define NSI_UTIL_SIZED_H

#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "util/errmsg.h"

/*
 * The one rule for the public structs that start with `uint32_t size` (include/nanostream/
 * common.h states it for users):
 *
 * - A size below the struct's first released size, or above NSI_SIZED_MAX, is -EINVAL.
 * - Options (read by the library): the caller's bytes are copied and what the caller did not
 *   pass (an older, smaller struct) reads as zero, which always means "default". Bytes past
 *   the end of our struct (a caller built against newer headers) must be zero: an option we do
 *   not know cannot be honoured, so a non-zero one is -EINVAL.
 * - Outputs (written by the library): the caller's `size` bytes are written: the fields we
 *   know up to it, zeros past the end of ours; `size` itself is kept.
 */

#define NSI_SIZED_MAX 4096u /* no struct of ours will grow past this */

/*
 * A struct's first released size: up to and including its last field of that release (on
 * every ABI; the fields of a release are a prefix of every later one). Each user names it
 * once, e.g. NSI_SIZE_UPTO(struct ns_ring_opts, mem_region_bytes) for 0.1's ring options.
 */
#define NSI_SIZE_UPTO(type, field) (offsetof(type, field) + sizeof(((type *)0)->field))

/* Copy the options at @src (@src->size bytes) into @dst (ours, @dst_size bytes). */
static inline int
nsi_sized_in(void *dst, size_t dst_size, const void *src, size_t min_size)
{
	uint32_t src_size;

	memcpy(&src_size, src, sizeof(src_size));
	if (src_size < min_size || src_size > NSI_SIZED_MAX)
		return -EINVAL;
	const unsigned char *s = src;
	for (size_t i = dst_size; i < src_size; i++) {
		if (s[i] != 0)
			return -EINVAL;
	}
	memset(dst, 0, dst_size);
	memcpy(dst, src, src_size < dst_size ? src_size : dst_size);
	memcpy(dst, &src_size, sizeof(src_size));
	return 0;
}

/*
 * nsi_sized_in() for a public create call: on failure, ns_errmsg() says what was wrong in the
 * terms of @what (the struct) and @init (its initializer macro).
 */
static inline int
nsi_sized_in_named(void *dst, size_t dst_size, const void *src, size_t min_size, const char *what,
		   const char *init)
{
	uint32_t src_size;

	memcpy(&src_size, src, sizeof(src_size));
	int rc = nsi_sized_in(dst, dst_size, src, min_size);
	if (rc == 0)
		return 0;
	if (src_size < min_size || src_size > NSI_SIZED_MAX)
		return nsi_errmsg_set(
			rc,
			"%s.size is %u, not a size this struct ever had (%zu .. %zu): "
			"start from %s, never from an uninitialised struct",
			what, src_size, min_size, dst_size, init);
	return nsi_errmsg_set(rc,
			      "%s sets a field past the %zu bytes this library knows (its headers "
			      "are newer than the library): leave it 0 or use a newer library",
			      what, dst_size);
}

/* Check an output struct's size before anything is computed: 0 or -EINVAL. */
static inline int
nsi_sized_out_check(const void *dst, size_t min_size)
{
	uint32_t dst_size;

	memcpy(&dst_size, dst, sizeof(dst_size));
	return dst_size < min_size || dst_size > NSI_SIZED_MAX ? -EINVAL : 0;
}

/* Write our @src (@src_size bytes) into the caller's @dst, checked by nsi_sized_out_check(). */
static inline void
nsi_sized_out(void *dst, const void *src, size_t src_size)
{
	uint32_t dst_size;

	memcpy(&dst_size, dst, sizeof(dst_size));
	size_t known = dst_size < src_size ? dst_size : src_size;
	memcpy(dst, src, known);
	memset((unsigned char *)dst + known, 0, dst_size - known);
	memcpy(dst, &dst_size, sizeof(dst_size));
}

#endif /* NSI_UTIL_SIZED_H */

/* SPDX-License-Identifier: MIT */
#ifndef NSI_API_OPTS_H
#define NSI_API_OPTS_H

#include <stddef.h>
#include <stdint.h>

/*
 * Copy a caller's sized options struct (first field: uint32_t size) into ours. A caller built
 * against older headers passes a smaller struct: the missing fields stay zero (default). One
 * built against newer headers passes a larger struct: its extra bytes must be zero, since we
 * cannot honour options we do not know. Returns 0 or -EINVAL (size below @min_size or unknown
 * non-zero bytes).
 */
int nsi_opts_copy(void *dst, size_t dst_size, const void *src, uint32_t src_size);

#endif /* NSI_API_OPTS_H */

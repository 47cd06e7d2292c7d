/* SPDX-License-Identifier: MIT */
#ifndef NSI_MEM_REGION_H
#define NSI_MEM_REGION_H

#include <stddef.h>

/*
 * Memory regions for ring storage. Today: anonymous private mappings of normal pages,
 * page-aligned and zero-filled. Huge pages, NUMA binding and pre-faulting come with the memory
 * policy work; callers already go through this interface so that lands in one place.
 */
struct nsi_region {
	void *base;
	size_t bytes; /* mapped length */
};

/* Map at least @bytes. Returns 0 or a negative errno (kernel errors passed through). */
int nsi_region_map(struct nsi_region *region, size_t bytes);
void nsi_region_unmap(struct nsi_region *region);

#endif /* NSI_MEM_REGION_H */

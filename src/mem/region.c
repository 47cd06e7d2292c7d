/* SPDX-License-Identifier: MIT */
#include "config.h"

#include <errno.h>
#include <sys/mman.h>

#include "mem/region.h"

int
nsi_region_map(struct nsi_region *region, size_t bytes)
{
	void *p = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (p == MAP_FAILED)
		return -errno;
	region->base = p;
	region->bytes = bytes;
	return 0;
}

void
nsi_region_unmap(struct nsi_region *region)
{
	if (region->base != NULL)
		munmap(region->base, region->bytes);
	region->base = NULL;
	region->bytes = 0;
}

/* SPDX-License-Identifier: MIT */
#ifndef NSB_MEDIAN_H
#define NSB_MEDIAN_H

#include <stdlib.h>

/* Median, min and max of @n > 0 values; sorts @v in place. Shared by the benchmarks. */
static inline int
nsb_cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

static inline void
nsb_median(double *v, int n, double *median, double *min, double *max)
{
	qsort(v, (size_t)n, sizeof(*v), nsb_cmp_double);
	*median = n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
	*min = v[0];
	*max = v[n - 1];
}

#endif /* NSB_MEDIAN_H */

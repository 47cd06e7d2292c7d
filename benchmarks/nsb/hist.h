/* SPDX-License-Identifier: MIT */
#ifndef NSB_HIST_H
#define NSB_HIST_H

#include <stdint.h>
#include <stdio.h>

/*
 * A log-linear latency histogram in nanoseconds: 2048 linear sub-buckets per power of two, so
 * every recorded value keeps at least 3 significant digits (relative error < 1/1024), from
 * 1 ns to 2^35 ns (34 s; larger values count as 2^35). The layout follows the idea of Gil
 * Tene's HdrHistogram; the code is ours. Recording is a few instructions and never allocates.
 */
#define NSB_HIST_SUB	 2048u
#define NSB_HIST_HALF	 1024u
#define NSB_HIST_MAX_LOG 35u
#define NSB_HIST_COUNTS	 ((NSB_HIST_MAX_LOG - 10u) * NSB_HIST_HALF + NSB_HIST_SUB)

struct nsb_hist {
	uint64_t total;
	uint64_t max;
	uint64_t min;
	double sum;
	uint64_t counts[NSB_HIST_COUNTS];
};

void nsb_hist_reset(struct nsb_hist *h);

static inline uint32_t
nsb_hist_index(uint64_t v)
{
	uint32_t pow2 = 63u - (uint32_t)__builtin_clzll(v | (NSB_HIST_SUB - 1));
	uint32_t bucket = pow2 - 10u;
	return bucket * NSB_HIST_HALF + (uint32_t)(v >> bucket);
}

static inline void
nsb_hist_record(struct nsb_hist *h, uint64_t v)
{
	if (v >= (UINT64_C(1) << NSB_HIST_MAX_LOG))
		v = (UINT64_C(1) << NSB_HIST_MAX_LOG) - 1;
	h->counts[nsb_hist_index(v)]++;
	h->total++;
	h->sum += (double)v;
	if (v > h->max)
		h->max = v;
	if (v < h->min)
		h->min = v;
}

void nsb_hist_merge(struct nsb_hist *into, const struct nsb_hist *from);
/* The value at percentile @p (0..100): the highest value its bucket holds; max at 100. */
uint64_t nsb_hist_percentile(const struct nsb_hist *h, double p);
/* HdrHistogram's percentile distribution text (.hgrm), values in microseconds. */
void nsb_hist_write_hgrm(const struct nsb_hist *h, FILE *out);

#endif /* NSB_HIST_H */

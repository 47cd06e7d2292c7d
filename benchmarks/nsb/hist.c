/* SPDX-License-Identifier: MIT */
#include <math.h>
#include <string.h>

#include "hist.h"

void
nsb_hist_reset(struct nsb_hist *h)
{
	memset(h, 0, sizeof(*h));
	h->min = UINT64_MAX;
}

void
nsb_hist_merge(struct nsb_hist *into, const struct nsb_hist *from)
{
	for (uint32_t i = 0; i < NSB_HIST_COUNTS; i++)
		into->counts[i] += from->counts[i];
	into->total += from->total;
	into->sum += from->sum;
	if (from->max > into->max)
		into->max = from->max;
	if (from->min < into->min)
		into->min = from->min;
}

/* The highest value that lands in counts[i]. */
static uint64_t
highest_of(uint32_t i)
{
	if (i < NSB_HIST_SUB)
		return i;
	uint32_t bucket = i / NSB_HIST_HALF - 1u;
	uint64_t sub = i - bucket * NSB_HIST_HALF;
	return ((sub + 1) << bucket) - 1;
}

uint64_t
nsb_hist_percentile(const struct nsb_hist *h, double p)
{
	if (h->total == 0)
		return 0;
	if (p >= 100.0)
		return h->max;
	uint64_t want = (uint64_t)ceil(p / 100.0 * (double)h->total);
	if (want == 0)
		want = 1;
	uint64_t seen = 0;
	for (uint32_t i = 0; i < NSB_HIST_COUNTS; i++) {
		seen += h->counts[i];
		if (seen >= want) {
			uint64_t v = highest_of(i);
			return v < h->max ? v : h->max;
		}
	}
	return h->max;
}

/* Count of values recorded in the buckets up to the one holding @value. */
static uint64_t
count_upto(const struct nsb_hist *h, uint64_t value)
{
	uint32_t last = nsb_hist_index(value);
	uint64_t seen = 0;
	for (uint32_t i = 0; i <= last && i < NSB_HIST_COUNTS; i++)
		seen += h->counts[i];
	return seen;
}

void
nsb_hist_write_hgrm(const struct nsb_hist *h, FILE *out)
{
	double mean = h->total ? h->sum / (double)h->total : 0.0;
	double var = 0.0;
	for (uint32_t i = 0; i < NSB_HIST_COUNTS; i++) {
		if (h->counts[i] != 0) {
			double d = (double)highest_of(i) - mean;
			var += d * d * (double)h->counts[i];
		}
	}
	double sd = h->total ? sqrt(var / (double)h->total) : 0.0;

	fprintf(out, "%12s %14s %10s %14s\n\n", "Value", "Percentile", "TotalCount",
		"1/(1-Percentile)");
	/* Reporting points: 5 per halving of the distance to 100 %, as HdrHistogram does. */
	double p = 0.0;
	while (h->total != 0) {
		uint64_t v = nsb_hist_percentile(h, p);
		uint64_t c = count_upto(h, v);
		double frac = (double)c / (double)h->total;
		if (c >= h->total) {
			fprintf(out, "%12.3f %14.12f %10llu\n", (double)v / 1e3, 1.0,
				(unsigned long long)c);
			break;
		}
		fprintf(out, "%12.3f %14.12f %10llu %14.2f\n", (double)v / 1e3, frac,
			(unsigned long long)c, 1.0 / (1.0 - frac));
		if (p >= 100.0)
			break; /* not reached: at 100 % every value is counted */
		double ticks = 5.0 * pow(2.0, floor(log2(100.0 / (100.0 - p))) + 1.0);
		p += 100.0 / ticks;
		if (p >= 100.0 - 1e-9)
			p = 100.0;
	}
	fprintf(out, "#[Mean    = %12.3f, StdDeviation   = %12.3f]\n", mean / 1e3, sd / 1e3);
	fprintf(out, "#[Max     = %12.3f, Total count    = %12llu]\n", (double)h->max / 1e3,
		(unsigned long long)h->total);
	fprintf(out, "#[Buckets = %12u, SubBuckets     = %12u]\n", NSB_HIST_MAX_LOG - 10u + 1u,
		NSB_HIST_SUB);
}

/* SPDX-License-Identifier: MIT */
/* ns-bench's latency histogram: precision, percentiles, merging, and the .hgrm writer ends. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "hist.h"

static struct nsb_hist h, g;

static void
every_value_keeps_three_significant_digits(void **state)
{
	(void)state;
	/* Values from 1 ns to 30 s, spread log-uniformly: the reported value (the highest of
	 * its bucket) is within 1/1024 of the recorded one, and never below it. */
	for (uint64_t v = 1; v < UINT64_C(30000000000); v = v * 1009 / 1000 + 1) {
		nsb_hist_reset(&h);
		nsb_hist_record(&h, v);
		uint64_t got = nsb_hist_percentile(&h, 50.0);
		assert_true(got == v); /* one value: max caps it exactly */
		uint32_t i = nsb_hist_index(v);
		assert_true(i < NSB_HIST_COUNTS);
	}
	/* Bucket bounds: the highest value of the bucket of v is within v * (1 + 1/1024). */
	for (uint64_t v = 1; v < (UINT64_C(1) << 34); v = v * 1013 / 1000 + 1) {
		nsb_hist_reset(&h);
		nsb_hist_record(&h, v);
		nsb_hist_record(&h, UINT64_C(1) << 34); /* max elsewhere, so no capping */
		uint64_t got = nsb_hist_percentile(&h, 50.0);
		assert_true(got >= v);
		assert_true((double)(got - v) <= (double)v / 1024.0);
	}
}

static void
percentiles_of_a_known_distribution(void **state)
{
	(void)state;
	nsb_hist_reset(&h);
	for (uint64_t v = 1; v <= 100000; v++)
		nsb_hist_record(&h, v);
	assert_int_equal(h.total, 100000);
	assert_int_equal(h.min, 1);
	assert_int_equal(h.max, 100000);
	const double p[] = { 50.0, 90.0, 99.0, 99.9 };
	for (size_t i = 0; i < 4; i++) {
		double want = p[i] * 1000.0;
		double got = (double)nsb_hist_percentile(&h, p[i]);
		assert_true(fabs(got - want) <= want / 1000.0 + 1.0);
	}
	assert_int_equal(nsb_hist_percentile(&h, 100.0), 100000);
	/* Values beyond the range count at the top. */
	nsb_hist_record(&h, UINT64_MAX);
	assert_int_equal(h.total, 100001);
}

static void
merge_adds_counts(void **state)
{
	(void)state;
	nsb_hist_reset(&h);
	nsb_hist_reset(&g);
	for (uint64_t v = 1; v <= 1000; v++)
		nsb_hist_record(v % 2 ? &h : &g, v);
	nsb_hist_merge(&h, &g);
	assert_int_equal(h.total, 1000);
	assert_int_equal(h.min, 1);
	assert_int_equal(h.max, 1000);
	assert_int_equal(nsb_hist_percentile(&h, 50.0), 500);
}

static void
hgrm_output_ends_at_100_percent(void **state)
{
	(void)state;
	char *buf = NULL;
	size_t len = 0;
	nsb_hist_reset(&h);
	for (uint64_t v = 300; v < 600; v++)
		nsb_hist_record(&h, v);
	nsb_hist_record(&h, 25000000); /* an outlier, as a preemption gives */
	FILE *f = open_memstream(&buf, &len);
	assert_non_null(f);
	nsb_hist_write_hgrm(&h, f);
	fclose(f);
	assert_true(len > 0 && len < 64 * 1024);
	assert_non_null(strstr(buf, "1.000000000000        301"));
	assert_non_null(strstr(buf, "#[Max     =    25000.000, Total count    =          301]"));
	free(buf);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(every_value_keeps_three_significant_digits),
		cmocka_unit_test(percentiles_of_a_known_distribution),
		cmocka_unit_test(merge_adds_counts),
		cmocka_unit_test(hgrm_output_ends_at_100_percent),
	};
	return cmocka_run_group_tests_name("hist", tests, NULL, NULL);
}

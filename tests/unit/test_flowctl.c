/* SPDX-License-Identifier: MIT */
/*
 * Flow control of network publications (src/driver/flowctl.c), driven by made-up status
 * messages on a made-up clock: max follows the fastest receiver and never goes down; min
 * follows the slowest and lets go of a silent one after the timeout; tagged follows only the
 * receivers with its tag; connected needs the group's minimum; a full table refuses newcomers
 * and keeps the known receivers.
 */
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "driver/flowctl.h"

#define MS  1000000LL
#define WND 1000

static struct nsi_fc
make(int kind, int64_t tag, int32_t group_min)
{
	struct nsi_fc fc;
	struct nsi_fc_params p = {
		.kind = kind, .timeout_ns = 100 * MS, .group_tag = tag, .group_min = group_min
	};
	assert_int_equal(nsi_fc_init(&fc, &p, 0), 0);
	return fc;
}

static void
bad_params_refused(void **state)
{
	(void)state;
	struct nsi_fc fc;
	struct nsi_fc_params p = { .kind = 0, .timeout_ns = MS };
	assert_int_equal(nsi_fc_init(&fc, &p, 0), -EINVAL);
	p.kind = NSI_FC_TAGGED + 1;
	assert_int_equal(nsi_fc_init(&fc, &p, 0), -EINVAL);
	p.kind = NSI_FC_MIN;
	p.timeout_ns = 0;
	assert_int_equal(nsi_fc_init(&fc, &p, 0), -EINVAL);
	p.timeout_ns = MS;
	p.group_min = -1;
	assert_int_equal(nsi_fc_init(&fc, &p, 0), -EINVAL);
	assert_int_equal(nsi_fc_init(NULL, &p, 0), -EINVAL);
	assert_string_equal(nsi_fc_name(NSI_FC_TAGGED), "tagged");
}

static void
max_follows_the_fastest_and_never_goes_down(void **state)
{
	(void)state;
	struct nsi_fc fc = make(NSI_FC_MAX, 0, 0);
	assert_int_equal(fc.limit, 0);
	assert_false(nsi_fc_connected(&fc));
	assert_int_equal(nsi_fc_on_status(&fc, 1, 500, WND, NULL, NULL, 0), 1500);
	assert_true(nsi_fc_connected(&fc));
	/* A slow receiver does not hold it back. */
	assert_int_equal(nsi_fc_on_status(&fc, 2, 100, WND, NULL, NULL, 0), 1500);
	assert_int_equal(nsi_fc_on_status(&fc, 1, 2000, WND, NULL, NULL, MS), 3000);
	/* A reordered, older message from the fast one lowers nothing. */
	assert_int_equal(nsi_fc_on_status(&fc, 1, 1000, WND, NULL, NULL, 2 * MS), 3000);
	assert_int_equal(fc.r[0].position, 2000);
	/* The fast one leaves: the limit stays. */
	assert_int_equal(nsi_fc_on_status(&fc, 2, 200, WND, NULL, NULL, 90 * MS), 3000);
	assert_int_equal(nsi_fc_expire(&fc, 103 * MS), 1);
	assert_int_equal(fc.n, 1);
	assert_int_equal(fc.r[0].id, 2);
	assert_int_equal(fc.limit, 3000);
	assert_int_equal(fc.stats.joined, 2);
	assert_int_equal(fc.stats.left, 1);
}

static void
min_follows_the_slowest_until_it_goes_quiet(void **state)
{
	(void)state;
	struct nsi_fc fc = make(NSI_FC_MIN, 0, 0);
	assert_int_equal(nsi_fc_on_status(&fc, 1, 5000, WND, NULL, NULL, 0), 6000);
	assert_int_equal(nsi_fc_on_status(&fc, 2, 3000, WND, NULL, NULL, 0), 4000);
	assert_int_equal(nsi_fc_on_status(&fc, 3, 4000, WND, NULL, NULL, 0), 4000);
	/* The slowest moves: the limit follows, now the next slowest's. */
	assert_int_equal(nsi_fc_on_status(&fc, 2, 4500, WND, NULL, NULL, 10 * MS), 5000);
	/* Receiver 3 goes quiet; at the timeout it stops holding the sender. */
	assert_int_equal(nsi_fc_on_status(&fc, 1, 5000, WND, NULL, NULL, 60 * MS), 5000);
	assert_int_equal(nsi_fc_on_status(&fc, 2, 4500, WND, NULL, NULL, 60 * MS), 5000);
	assert_int_equal(nsi_fc_next_due(&fc), 100 * MS + 1);
	assert_int_equal(nsi_fc_expire(&fc, 100 * MS), 0);
	assert_int_equal(fc.limit, 5000);
	assert_int_equal(nsi_fc_expire(&fc, 100 * MS + 1), 1);
	assert_int_equal(fc.limit, 5500);
	/* A newcomer slower than the rest holds the sender from its first message. */
	assert_int_equal(nsi_fc_on_status(&fc, 4, 4200, WND, NULL, NULL, 61 * MS), 5200);
	/* Everyone quiet: nobody to follow, the limit stays, not connected. */
	assert_int_equal(nsi_fc_expire(&fc, 200 * MS), 3);
	assert_int_equal(fc.limit, 5200);
	assert_false(nsi_fc_connected(&fc));
	assert_int_equal(nsi_fc_next_due(&fc), INT64_MAX);
}

static void
tagged_follows_its_group_only(void **state)
{
	(void)state;
	struct nsi_fc fc = make(NSI_FC_TAGGED, 7, 2);
	int64_t seven = 7, eight = 8;
	/* Untagged and other-tagged receivers are known but hold nothing. */
	assert_int_equal(nsi_fc_on_status(&fc, 1, 100, WND, NULL, NULL, 0), 0);
	assert_int_equal(nsi_fc_on_status(&fc, 2, 50, WND, &eight, NULL, 0), 0);
	assert_int_equal(fc.n, 2);
	assert_false(nsi_fc_connected(&fc));
	assert_int_equal(nsi_fc_on_status(&fc, 3, 9000, WND, &seven, NULL, 0), 10000);
	assert_false(nsi_fc_connected(&fc)); /* one of the two the group needs */
	assert_int_equal(nsi_fc_on_status(&fc, 4, 8000, WND, &seven, NULL, 0), 9000);
	assert_true(nsi_fc_connected(&fc));
	/* A receiver that drops its tag stops holding the sender. */
	assert_int_equal(nsi_fc_on_status(&fc, 4, 8100, WND, NULL, NULL, MS), 10000);
	assert_false(nsi_fc_connected(&fc));
}

static void
min_with_a_group_size(void **state)
{
	(void)state;
	struct nsi_fc fc = make(NSI_FC_MIN, 0, 3);
	nsi_fc_on_status(&fc, 1, 0, WND, NULL, NULL, 0);
	nsi_fc_on_status(&fc, 2, 0, WND, NULL, NULL, 0);
	assert_false(nsi_fc_connected(&fc));
	nsi_fc_on_status(&fc, 3, 0, WND, NULL, NULL, 0);
	assert_true(nsi_fc_connected(&fc));
}

static void
a_full_table_refuses_newcomers(void **state)
{
	(void)state;
	struct nsi_fc fc = make(NSI_FC_MIN, 0, 0);
	struct nsi_udp_addr a = { .len = 1 };
	for (int i = 0; i < NSI_FC_RECEIVERS; i++)
		nsi_fc_on_status(&fc, 100 + i, 1000 + i, WND, NULL, &a, 0);
	assert_int_equal(fc.limit, 2000);
	assert_int_equal(nsi_fc_on_status(&fc, 1, 0, WND, NULL, &a, 0), 2000);
	assert_int_equal(fc.stats.refused, 1);
	assert_int_equal(fc.n, NSI_FC_RECEIVERS);
	/* Bad numbers change nothing. */
	assert_int_equal(nsi_fc_on_status(&fc, 100, -1, WND, NULL, &a, 0), 2000);
	assert_int_equal(nsi_fc_on_status(&fc, 100, INT64_MAX, WND, NULL, &a, 0), 2000);
	assert_int_equal(nsi_fc_on_status(&fc, 100, 5000, -1, NULL, &a, 0), 2000);
	assert_int_equal(fc.r[0].position, 1000);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(bad_params_refused),
		cmocka_unit_test(max_follows_the_fastest_and_never_goes_down),
		cmocka_unit_test(min_follows_the_slowest_until_it_goes_quiet),
		cmocka_unit_test(tagged_follows_its_group_only),
		cmocka_unit_test(min_with_a_group_size),
		cmocka_unit_test(a_full_table_refuses_newcomers),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

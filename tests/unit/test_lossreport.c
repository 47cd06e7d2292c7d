/* SPDX-License-Identifier: MIT */
/*
 * The loss report (ipc/lossreport.h, ns-stat --loss): one record per stream, gaps and bytes
 * added up, the first and last time kept; a full report keeps what it has; and a reader of a
 * file another process wrote anything into reads every word once and bounded: a forged
 * count, capacity or unterminated text never takes it past the file.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "ipc/lossreport.h"

static void *
fresh(void)
{
	void *mem = calloc(1, NSI_LOSS_BYTES);
	assert_non_null(mem);
	nsi_loss_init(mem);
	return mem;
}

static void
records_add_up_per_stream(void **state)
{
	(void)state;
	void *mem = fresh();
	int32_t count = 0;
	struct nsi_loss_record r[4];
	assert_int_equal(nsi_loss_read(mem, NSI_LOSS_BYTES, r, 4), 0);
	nsi_loss_add(mem, 7, 1, "udp:10.0.0.1:40123", "10.0.0.2:5000", 3, 300, 1000, &count);
	nsi_loss_add(mem, 7, 1, "udp:10.0.0.1:40123", "10.0.0.2:5000", 2, 64, 2000, &count);
	nsi_loss_add(mem, 8, 1, "udp:10.0.0.1:40123", "10.0.0.2:5001", 1, 32, 3000, &count);
	assert_int_equal(nsi_loss_read(mem, NSI_LOSS_BYTES, r, 4), 2);
	assert_int_equal(r[0].observations, 5);
	assert_int_equal(r[0].bytes, 364);
	assert_int_equal(r[0].first_ms, 1000);
	assert_int_equal(r[0].last_ms, 2000);
	assert_string_equal(r[0].channel, "udp:10.0.0.1:40123");
	assert_string_equal(r[0].source, "10.0.0.2:5000");
	assert_int_equal(r[1].session_id, 8);
	/* Full: the streams already there are kept and still counted, new ones dropped. */
	for (int i = 0; i < NSI_LOSS_RECORDS + 10; i++)
		nsi_loss_add(mem, 100 + i, 2, "udp:x", "y", 1, 1, 4000, &count);
	static struct nsi_loss_record all[NSI_LOSS_RECORDS + 1];
	assert_int_equal(nsi_loss_read(mem, NSI_LOSS_BYTES, all, NSI_LOSS_RECORDS + 1),
			 NSI_LOSS_RECORDS);
	nsi_loss_add(mem, 7, 1, "udp:10.0.0.1:40123", "10.0.0.2:5000", 1, 1, 5000, &count);
	assert_int_equal(nsi_loss_read(mem, NSI_LOSS_BYTES, r, 1), 1);
	assert_int_equal(r[0].observations, 6);
	free(mem);
}

static void
a_forged_report_is_read_within_bounds(void **state)
{
	(void)state;
	void *mem = fresh();
	int32_t count = 0;
	nsi_loss_add(mem, 7, 1, "udp:a", "b", 1, 1, 1, &count);
	struct nsi_loss_header *h = mem;
	struct nsi_loss_record *rec = (struct nsi_loss_record *)(h + 1);
	memset(rec[0].channel, 'x', sizeof(rec[0].channel)); /* no terminator */
	h->count = 1 << 30;
	h->capacity = 1 << 30;
	static struct nsi_loss_record r[NSI_LOSS_RECORDS + 8];
	/* A file of three records' room: never more than three, whatever it says. */
	size_t len = sizeof(*h) + 3 * sizeof(struct nsi_loss_record);
	assert_int_equal(nsi_loss_read(mem, len, r, NSI_LOSS_RECORDS + 8), 3);
	assert_int_equal(strlen(r[0].channel), NSI_LOSS_TEXT - 1);
	/* The writer keeps its own count and adds in unsigned arithmetic: forged words there
	 * neither move it nor overflow (UBSan would say so). */
	rec[0].observations = INT64_MAX;
	memcpy(rec[0].channel, "udp:a", 6);
	nsi_loss_add(mem, 7, 1, "udp:a", "b", 1, 1, 2, &count);
	nsi_loss_add(mem, 9, 1, "udp:a", "b", 1, 1, 2, &count);
	assert_int_equal(count, 2);
	assert_true(rec[0].observations == INT64_MIN); /* wrapped, not undefined */
	h->count = -5;
	assert_int_equal(nsi_loss_read(mem, len, r, 8), 0);
	/* Not a report at all, or too short for a header. */
	assert_int_equal(nsi_loss_read(mem, sizeof(*h) - 1, r, 8), -EPROTO);
	h->magic ^= 1;
	assert_int_equal(nsi_loss_read(mem, NSI_LOSS_BYTES, r, 8), -EPROTO);
	assert_int_equal(nsi_loss_read(NULL, NSI_LOSS_BYTES, r, 8), -EINVAL);
	free(mem);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(records_add_up_per_stream),
		cmocka_unit_test(a_forged_report_is_read_within_bounds),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

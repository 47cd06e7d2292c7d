/* SPDX-License-Identifier: MIT */
/* Sequences, atomics wrappers, and the cache-line placement of every shared field. */
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <nanostream/ring.h>

#include "ring/ring.h"
#include "ring/sequence.h"

static void
sequence_operations_behave(void **state)
{
	(void)state;
	struct nsi_seq s;

	nsi_seq_init(&s, NSI_SEQ_INITIAL);
	assert_int_equal(nsi_seq_load_acquire(&s), -1);
	nsi_seq_store_release(&s, 41);
	assert_int_equal(nsi_seq_load_relaxed(&s), 41);
	nsi_seq_store_relaxed(&s, 42);
	assert_int_equal(nsi_seq_load_acquire(&s), 42);
	assert_int_equal(nsi_seq_add_and_get(&s, 8), 50);
	assert_int_equal(nsi_seq_add_and_get(&s, -50), 0);

	int64_t expected = 7;
	assert_false(nsi_seq_cas(&s, &expected, 9));
	assert_int_equal(expected, 0); /* failure reports the current value */
	assert_true(nsi_seq_cas(&s, &expected, 9));
	assert_int_equal(nsi_seq_load_acquire(&s), 9);

	nsi_seq_store_release(&s, INT64_MAX);
	assert_int_equal(nsi_seq_load_acquire(&s), INT64_MAX);
	nsi_seq_store_release(&s, INT64_MIN);
	assert_int_equal(nsi_seq_load_acquire(&s), INT64_MIN);
}

static void
sequence_fills_its_line_pair(void **state)
{
	(void)state;
	struct nsi_seq pair[2];

	assert_int_equal(sizeof(struct nsi_seq), 128);
	assert_int_equal(_Alignof(struct nsi_seq), 128);
	assert_int_equal((uintptr_t)&pair[0] % 128, 0);
	assert_int_equal((uintptr_t)&pair[1] - (uintptr_t)&pair[0], 128);
	assert_int_equal(sizeof(struct nsi_gate), 128);
	assert_int_equal(_Alignof(struct nsi_gate), 128);
	assert_int_equal(_Alignof(struct nsi_signal), 128);
}

static size_t
pair_of(size_t offset)
{
	return offset / 128;
}

/* Fields written by different threads must never share a 128-byte line pair. */
static void
ring_shared_fields_are_on_separate_line_pairs(void **state)
{
	(void)state;
	const size_t fields[] = {
		offsetof(struct ns_ring, slots), /* read-mostly block */
		offsetof(struct ns_ring, sp),
		offsetof(struct ns_ring, cursor),
		offsetof(struct ns_ring, mp_cached_min),
		offsetof(struct ns_ring, gate_set),
		offsetof(struct ns_ring, publish_sig),
		offsetof(struct ns_ring, progress_sig),
	};
	const size_t n = sizeof(fields) / sizeof(fields[0]);

	for (size_t i = 1; i < n; i++) {
		assert_int_equal(fields[i] % 128, 0);
		assert_true(pair_of(fields[i]) > pair_of(fields[i - 1]));
	}
	/* The read-mostly block (incl. the halt flag) ends before the producer's line. */
	assert_true(offsetof(struct ns_ring, control) + sizeof(struct nsi_region) <=
		    offsetof(struct ns_ring, sp));

	/* And a live ring's allocation keeps that alignment. */
	struct ns_ring_opts o = NS_RING_OPTS_INIT;
	ns_ring *r = NULL;
	assert_int_equal(ns_ring_create(&r, &o), 0);
	assert_int_equal((uintptr_t)r % 128, 0);
	assert_int_equal((uintptr_t)r->gates % 128, 0);
	assert_int_equal((uintptr_t)r->slots % 128, 0);
	ns_ring_destroy(r);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(sequence_operations_behave),
		cmocka_unit_test(sequence_fills_its_line_pair),
		cmocka_unit_test(ring_shared_fields_are_on_separate_line_pairs),
	};
	return cmocka_run_group_tests_name("sequence", tests, NULL, NULL);
}

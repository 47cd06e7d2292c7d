/* SPDX-License-Identifier: MIT */
/*
 * The sized-struct rule (nanostream/common.h) for every public struct with a `size`: programs
 * built against the 0.1 and 0.2 headers (their layouts are written out below, as those
 * headers had them) keep working; a size below the first release is -EINVAL; bytes the
 * library does not know must be zero in options and are written as zero in outputs; a refused
 * call changes nothing. The helper itself is checked with a made-up struct that grew.
 */
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <nanostream/nanostream.h>

#include "testutil.h"
#include "util/sized.h"

/* ---- the layouts as the 0.1 headers had them ---- */
struct ring_opts_0_1 {
	uint32_t size, flags;
	uint64_t capacity;
	uint32_t slot_size, producer, wait, max_consumers, spin_tries, yield_tries;
	uint64_t sleep_ns, timeout_ns, phase_spin_ns, phase_yield_ns;
	ns_slot_init_fn slot_init;
	void *slot_init_arg;
	uint32_t mem_policy, mem_flags, mem_sources;
	int32_t numa_node;
	void *mem_region;
	uint64_t mem_region_bytes;
};

struct consumer_opts_0_1 {
	uint32_t size, flags;
	ns_event_fn on_event;
	void *ctx;
	uint32_t max_batch, error_policy, max_retries, after_count;
	ns_consumer *const *after;
	int64_t start_sequence;
	void (*on_start)(void *ctx);
	void (*on_shutdown)(void *ctx);
	void (*on_batch_start)(void *ctx, uint64_t batch_size, uint64_t queue_depth);
	void (*on_timeout)(void *ctx, int64_t sequence);
	void (*on_error)(void *ctx, void *slot, int64_t seq, int code);
	ns_events_fn on_events;
};

struct consumer_stats_0_1 {
	uint32_t size, reserved;
	uint64_t events, batches, max_batch, waits, errors;
	int64_t sequence, lag;
};

struct work_pool_opts_0_1 {
	uint32_t size, flags, workers, error_policy;
	ns_event_fn on_event;
	void *ctx;
	uint32_t max_retries, after_count;
	ns_consumer *const *after;
	void (*on_error)(void *ctx, void *slot, int64_t seq, int code);
};

struct poller_opts_0_1 {
	uint32_t size, flags, after_count, reserved;
	ns_consumer *const *after;
};

struct mem_info_0_1 {
	uint32_t size, source;
	uint64_t bytes, page_size;
	int32_t numa_node;
	uint32_t flags;
	int32_t huge_error;
	uint32_t reserved0;
};

/* ---- and as the 0.2 headers have them (the IPC structs are new in 0.2) ---- */
struct client_opts_0_2 {
	uint32_t size, flags;
	const char *dir;
	int64_t timeout_ns, driver_timeout_ns, client_timeout_ns, unblock_timeout_ns;
	int64_t (*clock)(void *ctx);
	void *clock_ctx;
	int32_t term_length, mtu;
	uint32_t mem_policy;
	uint32_t reserved[3];
};

struct subscription_opts_0_2 {
	uint32_t size, flags;
	ns_image_fn on_available, on_unavailable;
	void *ctx;
	uint32_t reserved[4];
};

/* Options a later version might add, as a caller built against newer headers passes them. */
#define NEWER(type)                                                                                \
	struct {                                                                                   \
		type known;                                                                        \
		uint64_t later[4];                                                                 \
	}

static int
on_event(void *ctx, void *slot, int64_t seq, bool end_of_batch)
{
	(void)ctx, (void)slot, (void)seq, (void)end_of_batch;
	return 0;
}

static struct ring_opts_0_1
ring_opts(void)
{
	struct ring_opts_0_1 o;
	memset(&o, 0, sizeof(o));
	o.size = sizeof(o);
	o.capacity = 64;
	o.slot_size = 16;
	o.producer = NS_PRODUCER_SINGLE;
	o.wait = NS_WAIT_BUSY_SPIN;
	return o;
}

static void
ring_options_of_every_size(void **state)
{
	(void)state;
	ns_ring *r = (ns_ring *)&r; /* must stay as it is when refused */
	ns_ring *const untouched = r;

	/* As built against 0.1: accepted, and what it asked for is what it got. */
	struct ring_opts_0_1 o = ring_opts();
	assert_int_equal(ns_ring_create(&r, (const struct ns_ring_opts *)&o), 0);
	assert_int_equal(ns_ring_capacity(r), 64);
	assert_int_equal(ns_ring_mem_size((const struct ns_ring_opts *)&o) > 0, 1);
	ns_ring_destroy(r);

	/* One word short of the first release, zero, and past the limit: refused. */
	const uint32_t bad[] = { sizeof(o) - 8, 0, 4, 4097, UINT32_MAX };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		o.size = bad[i];
		r = untouched;
		assert_int_equal(ns_ring_create(&r, (const struct ns_ring_opts *)&o), -EINVAL);
		assert_ptr_equal(r, untouched);
		assert_int_equal(ns_ring_mem_size((const struct ns_ring_opts *)&o), -EINVAL);
	}

	/* From newer headers: unknown bytes that are zero are fine, any other value is refused. */
	NEWER(struct ring_opts_0_1) n;
	memset(&n, 0, sizeof(n));
	n.known = ring_opts();
	n.known.size = sizeof(n);
	assert_int_equal(ns_ring_create(&r, (const struct ns_ring_opts *)&n), 0);
	ns_ring_destroy(r);
	for (size_t i = 0; i < 4; i++) {
		n.later[i] = 1;
		r = untouched;
		assert_int_equal(ns_ring_create(&r, (const struct ns_ring_opts *)&n), -EINVAL);
		assert_ptr_equal(r, untouched);
		n.later[i] = 0;
	}
}

static void
consumer_options_of_every_size(void **state)
{
	(void)state;
	struct ns_ring_opts ro = NS_RING_OPTS_INIT;
	ns_ring *ring = NULL;
	assert_int_equal(ns_ring_create(&ring, &ro), 0);

	struct consumer_opts_0_1 o;
	memset(&o, 0, sizeof(o));
	o.size = sizeof(o);
	o.on_event = on_event;
	o.start_sequence = -1;
	ns_consumer *c = NULL;
	assert_int_equal(ns_consumer_create(&c, ring, (const struct ns_consumer_opts *)&o), 0);

	/* Stats as 0.1 knew them, and as a newer caller's larger struct. */
	assert_int_equal(ns_consumer_start(c, -1, "sizes"), 0);
	int64_t seq = ns_ring_claim(ring);
	assert_int_equal(seq, 0);
	assert_int_equal(ns_ring_publish(ring, seq), 0);
	assert_int_equal(ns_ring_drain(ring, ns_clock_ns() + 10 * 1000000000LL, NULL), 0);
	assert_int_equal(ns_consumer_join(c), -ESHUTDOWN); /* drained and halted */
	struct consumer_stats_0_1 st;
	memset(&st, 0xee, sizeof(st));
	st.size = sizeof(st);
	assert_int_equal(ns_consumer_stats(c, (struct ns_consumer_stats *)&st), 0);
	assert_int_equal(st.size, sizeof(st));
	assert_int_equal(st.reserved, 0);
	assert_int_equal(st.events, 1);
	assert_int_equal(st.sequence, 0);
	NEWER(struct consumer_stats_0_1) big;
	memset(&big, 0xee, sizeof(big));
	big.known.size = sizeof(big);
	assert_int_equal(ns_consumer_stats(c, (struct ns_consumer_stats *)&big), 0);
	assert_int_equal(big.known.size, sizeof(big));
	assert_int_equal(big.known.events, 1);
	for (size_t i = 0; i < 4; i++)
		assert_int_equal(big.later[i],
				 0); /* written: what this library does not know is 0 */
	/* Too small: refused, and not a byte written. */
	memset(&st, 0xee, sizeof(st));
	st.size = sizeof(st) - 8;
	assert_int_equal(ns_consumer_stats(c, (struct ns_consumer_stats *)&st), -EINVAL);
	const unsigned char *p = (const unsigned char *)&st;
	for (size_t i = sizeof(st.size); i < sizeof(st); i++)
		assert_int_equal(p[i], 0xee);
	ns_consumer_destroy(c);
	ns_ring_destroy(ring);
	ring = NULL;
	assert_int_equal(ns_ring_create(&ring, &ro), 0);

	/* Options: short, or with unknown non-zero bytes, are refused. */
	o.size = sizeof(o) - 8;
	c = NULL;
	assert_int_equal(ns_consumer_create(&c, ring, (const struct ns_consumer_opts *)&o),
			 -EINVAL);
	assert_null(c);
	NEWER(struct consumer_opts_0_1) n;
	memset(&n, 0, sizeof(n));
	n.known = o;
	n.known.size = sizeof(n);
	assert_int_equal(ns_consumer_create(&c, ring, (const struct ns_consumer_opts *)&n), 0);
	ns_consumer_destroy(c);
	c = NULL;
	n.later[3] = 0x100;
	assert_int_equal(ns_consumer_create(&c, ring, (const struct ns_consumer_opts *)&n),
			 -EINVAL);
	assert_null(c);

	/* Work pools and pollers, the same. */
	struct work_pool_opts_0_1 w;
	memset(&w, 0, sizeof(w));
	w.size = sizeof(w);
	w.workers = 2;
	w.on_event = on_event;
	ns_work_pool *wp = NULL;
	assert_int_equal(ns_work_pool_create(&wp, ring, (const struct ns_work_pool_opts *)&w), 0);
	ns_work_pool_destroy(wp);
	wp = NULL;
	w.size = sizeof(w) - 8;
	assert_int_equal(ns_work_pool_create(&wp, ring, (const struct ns_work_pool_opts *)&w),
			 -EINVAL);
	NEWER(struct work_pool_opts_0_1) wn;
	memset(&wn, 0, sizeof(wn));
	wn.known = w;
	wn.known.size = sizeof(wn);
	wn.later[0] = 1;
	assert_int_equal(ns_work_pool_create(&wp, ring, (const struct ns_work_pool_opts *)&wn),
			 -EINVAL);
	assert_null(wp);

	struct poller_opts_0_1 po;
	memset(&po, 0, sizeof(po));
	po.size = sizeof(po);
	ns_poller *pl = NULL;
	assert_int_equal(ns_poller_create(&pl, ring, (const struct ns_poller_opts *)&po), 0);
	ns_poller_destroy(pl);
	pl = NULL;
	po.size = sizeof(po) - 8;
	assert_int_equal(ns_poller_create(&pl, ring, (const struct ns_poller_opts *)&po), -EINVAL);
	NEWER(struct poller_opts_0_1) pn;
	memset(&pn, 0, sizeof(pn));
	pn.known.size = sizeof(pn);
	assert_int_equal(ns_poller_create(&pl, ring, (const struct ns_poller_opts *)&pn), 0);
	ns_poller_destroy(pl);
	pl = NULL;
	pn.later[1] = 1;
	assert_int_equal(ns_poller_create(&pl, ring, (const struct ns_poller_opts *)&pn), -EINVAL);
	assert_null(pl);
	ns_ring_destroy(ring);
}

static void
mem_info_of_every_size(void **state)
{
	(void)state;
	struct ns_ring_opts ro = NS_RING_OPTS_INIT;
	ro.mem_policy = NS_MEM_NORMAL;
	ns_ring *ring = NULL;
	assert_int_equal(ns_ring_create(&ring, &ro), 0);
	struct mem_info_0_1 mi;
	memset(&mi, 0xee, sizeof(mi));
	mi.size = sizeof(mi);
	assert_int_equal(ns_ring_mem_info(ring, (struct ns_mem_info *)&mi), 0);
	assert_int_equal(mi.size, sizeof(mi));
	assert_int_equal(mi.source, NS_MEM_SRC_NORMAL);
	assert_int_equal(mi.reserved0, 0);
	memset(&mi, 0xee, sizeof(mi));
	mi.size = sizeof(mi) - 4;
	assert_int_equal(ns_ring_mem_info(ring, (struct ns_mem_info *)&mi), -EINVAL);
	assert_int_equal(mi.source, 0xeeeeeeee);
	ns_ring_destroy(ring);
}

static char dir[64];

static void
client_and_subscription_options_of_every_size(void **state)
{
	(void)state;
	snprintf(dir, sizeof(dir), "/tmp/ns-sizestest-XXXXXX");
	assert_non_null(mkdtemp(dir));

	struct client_opts_0_2 o;
	memset(&o, 0, sizeof(o));
	o.size = sizeof(o);
	o.dir = dir;
	o.term_length = 64 * 1024;
	ns_client *c = NULL;
	assert_int_equal(ns_client_create(&c, (const struct ns_client_opts *)&o), 0);

	struct subscription_opts_0_2 so;
	memset(&so, 0, sizeof(so));
	so.size = sizeof(so);
	ns_subscription *s = NULL;
	assert_int_equal(
		ns_subscription_add(c, "ns:ipc", 1, (const struct ns_subscription_opts *)&so, &s),
		0);
	assert_int_equal(ns_subscription_close(s), 0);
	s = NULL;
	so.size = sizeof(so) - 8;
	assert_int_equal(
		ns_subscription_add(c, "ns:ipc", 1, (const struct ns_subscription_opts *)&so, &s),
		-EINVAL);
	assert_null(s);
	NEWER(struct subscription_opts_0_2) sn;
	memset(&sn, 0, sizeof(sn));
	sn.known.size = sizeof(sn);
	assert_int_equal(
		ns_subscription_add(c, "ns:ipc", 1, (const struct ns_subscription_opts *)&sn, &s),
		0);
	assert_int_equal(ns_subscription_close(s), 0);
	s = NULL;
	sn.later[2] = 7;
	assert_int_equal(
		ns_subscription_add(c, "ns:ipc", 1, (const struct ns_subscription_opts *)&sn, &s),
		-EINVAL);
	assert_null(s);
	assert_int_equal(ns_client_close(c), 0);

	/* Client options: short or with unknown non-zero bytes refused; zero ones accepted. */
	c = NULL;
	o.size = sizeof(o) - 8;
	assert_int_equal(ns_client_create(&c, (const struct ns_client_opts *)&o), -EINVAL);
	assert_null(c);
	NEWER(struct client_opts_0_2) n;
	memset(&n, 0, sizeof(n));
	n.known = o;
	n.known.size = sizeof(n);
	assert_int_equal(ns_client_create(&c, (const struct ns_client_opts *)&n), 0);
	assert_int_equal(ns_client_close(c), 0);
	c = NULL;
	n.later[0] = 1;
	assert_int_equal(ns_client_create(&c, (const struct ns_client_opts *)&n), -EINVAL);
	assert_null(c);
	assert_int_equal(tu_rm_rf(dir), 0);
}

/* The helper with a struct that grew: what an older caller did not pass reads as zero. */
struct grown_v1 {
	uint32_t size, a;
	uint64_t b;
};
struct grown_v2 {
	uint32_t size, a;
	uint64_t b, c, d;
};

/*
 * Called through pointers the compiler cannot see through: inlined into this test, GCC's
 * array-bounds check (sanitizer builds) flags the loop over bytes past a small caller struct
 * that a size this small never runs.
 */
static int (*volatile sized_in)(void *, size_t, const void *, size_t) = nsi_sized_in;
static int (*volatile sized_out_check)(const void *, size_t) = nsi_sized_out_check;
static void (*volatile sized_out)(void *, const void *, size_t) = nsi_sized_out;

static void
helper_zero_fills_what_an_older_caller_did_not_pass(void **state)
{
	(void)state;
	struct grown_v1 v1 = { .size = sizeof(v1), .a = 1, .b = 2 };
	struct grown_v2 v2;
	memset(&v2, 0xee, sizeof(v2));
	assert_int_equal(sized_in(&v2, sizeof(v2), &v1, sizeof(v1)), 0);
	assert_int_equal(v2.size, sizeof(v1));
	assert_int_equal(v2.a, 1);
	assert_int_equal(v2.b, 2);
	assert_int_equal(v2.c, 0);
	assert_int_equal(v2.d, 0);
	/* Below the first release: refused, nothing written. */
	memset(&v2, 0xee, sizeof(v2));
	v1.size = sizeof(v1) - 1;
	assert_int_equal(sized_in(&v2, sizeof(v2), &v1, sizeof(v1)), -EINVAL);
	assert_int_equal(v2.a, 0xeeeeeeee);

	/* Output into an older caller's struct: only its bytes are written. */
	struct {
		struct grown_v1 v;
		uint64_t after;
	} out;
	memset(&out, 0xee, sizeof(out));
	out.v.size = sizeof(out.v);
	struct grown_v2 ours = { .size = sizeof(ours), .a = 3, .b = 4, .c = 5, .d = 6 };
	assert_int_equal(sized_out_check(&out.v, sizeof(struct grown_v1)), 0);
	sized_out(&out.v, &ours, sizeof(ours));
	assert_int_equal(out.v.size, sizeof(out.v));
	assert_int_equal(out.v.a, 3);
	assert_int_equal(out.v.b, 4);
	assert_int_equal(out.after, 0xeeeeeeeeeeeeeeeeull);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(ring_options_of_every_size),
		cmocka_unit_test(consumer_options_of_every_size),
		cmocka_unit_test(mem_info_of_every_size),
		cmocka_unit_test(client_and_subscription_options_of_every_size),
		cmocka_unit_test(helper_zero_fills_what_an_older_caller_did_not_pass),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

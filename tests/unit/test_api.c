/* SPDX-License-Identifier: MIT */
/*
 * Every public function with bad arguments: NULL for each pointer, zero, negative, too large,
 * not a power of two. Each call returns its documented code, never crashes, and changes
 * nothing. tests/abi/api-coverage.sh checks that every NS_API function is named here.
 */
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include <nanostream/nanostream.h>

/* A CPU number no machine running these tests has. */
#define CPU_SETSIZE_GUESS 4096

static int
fill(void *slot, int64_t seq, void *arg)
{
	(void)slot, (void)seq, (void)arg;
	return 0;
}

static int
fill2(void *slot, int64_t seq, void *a, void *b)
{
	(void)slot, (void)seq, (void)a, (void)b;
	return 0;
}

static int
fill3(void *slot, int64_t seq, void *a, void *b, void *c)
{
	(void)slot, (void)seq, (void)a, (void)b, (void)c;
	return 0;
}

static int
handler(void *ctx, void *slot, int64_t seq, bool end)
{
	(void)ctx, (void)slot, (void)seq, (void)end;
	return 0;
}

static int
run_handler(void *ctx, void *first, int64_t seq, uint32_t count, uint32_t stride, bool end)
{
	(void)ctx, (void)first, (void)seq, (void)count, (void)stride, (void)end;
	return 0;
}

static void
ring_create_rejects_bad_options(void **state)
{
	(void)state;
	ns_ring *r = NULL;
	struct ns_ring_opts o;

#define EXPECT_CREATE_EINVAL(field, value)                                                         \
	do {                                                                                       \
		struct ns_ring_opts bad_ = NS_RING_OPTS_INIT;                                      \
		bad_.field = value;                                                                \
		assert_int_equal(ns_ring_create(&r, &bad_), -EINVAL);                              \
		assert_null(r);                                                                    \
	} while (0)

	o = (struct ns_ring_opts)NS_RING_OPTS_INIT;
	assert_int_equal(ns_ring_create(NULL, &o), -EINVAL);
	assert_int_equal(ns_ring_create(&r, NULL), -EINVAL);
	assert_null(r);
	EXPECT_CREATE_EINVAL(size, 0);
	EXPECT_CREATE_EINVAL(size, 4);
	EXPECT_CREATE_EINVAL(flags, 4);
	EXPECT_CREATE_EINVAL(flags, 0x80000000u);
	EXPECT_CREATE_EINVAL(capacity, 0);
	EXPECT_CREATE_EINVAL(capacity, 3);
	EXPECT_CREATE_EINVAL(capacity, 1000);
	EXPECT_CREATE_EINVAL(capacity, UINT64_C(1) << 31);
	EXPECT_CREATE_EINVAL(capacity, UINT64_MAX);
	EXPECT_CREATE_EINVAL(slot_size, 0);
	EXPECT_CREATE_EINVAL(slot_size, 12);
	EXPECT_CREATE_EINVAL(slot_size, 65536 + 8);
	EXPECT_CREATE_EINVAL(slot_size, UINT32_MAX);
	EXPECT_CREATE_EINVAL(producer, 2);
	EXPECT_CREATE_EINVAL(producer, UINT32_MAX);
	EXPECT_CREATE_EINVAL(wait, 7);
	EXPECT_CREATE_EINVAL(wait, UINT32_MAX);
	EXPECT_CREATE_EINVAL(max_consumers, 1025);
	EXPECT_CREATE_EINVAL(mem_policy, 3);
	EXPECT_CREATE_EINVAL(mem_policy, UINT32_MAX);
	EXPECT_CREATE_EINVAL(mem_flags, 8);
	EXPECT_CREATE_EINVAL(mem_flags, 0x80000000u);
	EXPECT_CREATE_EINVAL(mem_sources, NS_MEM_SRC_NORMAL);
	EXPECT_CREATE_EINVAL(mem_sources, NS_MEM_SRC_USER);
	EXPECT_CREATE_EINVAL(mem_sources, 0x100);
	EXPECT_CREATE_EINVAL(numa_node, 1);	      /* a node without NS_MEM_F_BIND */
	EXPECT_CREATE_EINVAL(mem_region_bytes, 4096); /* bytes without a region */
#undef EXPECT_CREATE_EINVAL

	/* Memory options that are only wrong together. */
	static uint8_t user[1 << 16] __attribute__((aligned(4096)));
	const struct {
		uint32_t policy, flags, sources;
		int32_t node;
		void *region;
		uint64_t bytes;
	} bad_mem[] = {
		{ 0, NS_MEM_F_BIND, 0, -1, NULL, 0 },	      /* no such node */
		{ 0, NS_MEM_F_BIND, 0, 1024, NULL, 0 },	      /* past any node */
		{ 0, NS_MEM_F_BIND, 0, INT32_MAX, NULL, 0 },  /* far past */
		{ NS_MEM_HUGE, 0, 0, 0, user, sizeof(user) }, /* a region with a policy */
		{ NS_MEM_NORMAL, 0, 0, 0, user, sizeof(user) },
		{ 0, NS_MEM_F_LOCK, 0, 0, user, sizeof(user) }, /* lock a region: caller's job */
		{ 0, NS_MEM_F_BIND, 0, 0, user, sizeof(user) }, /* bind a region: caller's job */
		{ 0, 0, NS_MEM_SRC_THP, 0, user, sizeof(user) },
		{ 0, 0, 0, 0, user + 8, sizeof(user) - 8 }, /* misaligned */
		{ 0, 0, 0, 0, user, 0 },		    /* far too small */
		{ 0, 0, 0, 0, user, 1024 },		    /* too small */
	};
	for (size_t i = 0; i < sizeof(bad_mem) / sizeof(bad_mem[0]); i++) {
		struct ns_ring_opts bad = NS_RING_OPTS_INIT;
		bad.capacity = 64;
		bad.mem_policy = bad_mem[i].policy;
		bad.mem_flags = bad_mem[i].flags;
		bad.mem_sources = bad_mem[i].sources;
		bad.numa_node = bad_mem[i].node;
		bad.mem_region = bad_mem[i].region;
		bad.mem_region_bytes = bad_mem[i].bytes;
		memset(user, 0xa5, sizeof(user));
		assert_int_equal(ns_ring_create(&r, &bad), -EINVAL);
		assert_null(r);
		/* The caller's region is left as it was. */
		assert_int_equal(user[0], 0xa5);
		assert_int_equal(user[sizeof(user) - 1], 0xa5);
	}

	/* Edge values that are valid. */
	o.capacity = 1;
	o.slot_size = 8;
	assert_int_equal(ns_ring_create(&r, &o), 0);
	ns_ring_destroy(r);
	ns_ring_destroy(NULL);
}

static void
ring_calls_reject_null_and_bad_counts(void **state)
{
	(void)state;
	struct ns_ring_opts o = NS_RING_OPTS_INIT;
	struct ns_ring_span span;
	ns_ring *r = NULL;
	void *args[1] = { NULL };

	o.capacity = 8;
	assert_int_equal(ns_ring_create(&r, &o), 0);

	assert_int_equal(ns_ring_claim(NULL), -EINVAL);
	assert_int_equal(ns_ring_claim_n(NULL, 1), -EINVAL);
	assert_int_equal(ns_ring_claim_n(r, 0), -EINVAL);
	assert_int_equal(ns_ring_claim_n(r, 9), -EINVAL);
	assert_int_equal(ns_ring_claim_n(r, UINT32_MAX), -EINVAL);
	assert_int_equal(ns_ring_claim_until(NULL, 1, 0), -EINVAL);
	assert_int_equal(ns_ring_claim_until(r, 0, 0), -EINVAL);
	assert_int_equal(ns_ring_claim_until(r, 9, INT64_MAX), -EINVAL);
	assert_int_equal(ns_ring_try_claim(NULL), -EINVAL);
	assert_int_equal(ns_ring_try_claim_n(NULL, 1), -EINVAL);
	assert_int_equal(ns_ring_try_claim_n(r, 0), -EINVAL);
	assert_int_equal(ns_ring_try_claim_n(r, 9), -EINVAL);
	uint32_t claimed = 77;
	assert_int_equal(ns_ring_try_claim_upto(NULL, 1, &claimed), -EINVAL);
	assert_int_equal(ns_ring_try_claim_upto(r, 1, NULL), -EINVAL);
	assert_int_equal(ns_ring_try_claim_upto(r, 0, &claimed), -EINVAL);
	assert_int_equal(ns_ring_try_claim_upto(r, 9, &claimed), -EINVAL);
	assert_int_equal(ns_ring_try_claim_upto(r, UINT32_MAX, &claimed), -EINVAL);
	assert_int_equal(claimed, 77);		   /* -EINVAL leaves it alone */
	assert_int_equal(ns_ring_remaining(r), 8); /* and claims nothing */

	assert_null(ns_ring_slot(NULL, 0));
	assert_null(ns_ring_slot(r, -1));
	assert_int_equal(ns_ring_span(NULL, 0, 1, &span), -EINVAL);
	assert_int_equal(ns_ring_span(r, 0, 1, NULL), -EINVAL);
	assert_int_equal(ns_ring_span(r, -1, 1, &span), -EINVAL);
	assert_int_equal(ns_ring_span(r, 0, 0, &span), -EINVAL);
	assert_int_equal(ns_ring_span(r, 0, 9, &span), -EINVAL);
	struct ns_ring_layout lay = NS_RING_LAYOUT_INIT;
	assert_int_equal(ns_ring_get_layout(NULL, &lay), -EINVAL);
	assert_int_equal(ns_ring_get_layout(r, NULL), -EINVAL);
	lay.size = 8; /* shorter than the first released layout */
	lay.slots = &lay;
	assert_int_equal(ns_ring_get_layout(r, &lay), -EINVAL);
	assert_ptr_equal(lay.slots, &lay); /* nothing written */
	lay.size = UINT32_MAX;
	assert_int_equal(ns_ring_get_layout(r, &lay), -EINVAL);

	assert_int_equal(ns_ring_publish(NULL, 0), -EINVAL);
	assert_int_equal(ns_ring_publish(r, -1), -EINVAL);
	assert_int_equal(ns_ring_publish_n(NULL, 0, 1), -EINVAL);
	assert_int_equal(ns_ring_publish_n(r, -1, 1), -EINVAL);
	assert_int_equal(ns_ring_publish_n(r, 0, 0), -EINVAL);
	assert_int_equal(ns_ring_publish_n(r, 0, 9), -EINVAL);
	assert_int_equal(ns_ring_abandon(NULL, 0, 1), -EINVAL);
	assert_int_equal(ns_ring_abandon(r, -1, 1), -EINVAL);
	assert_int_equal(ns_ring_abandon(r, 0, 0), -EINVAL);
	assert_int_equal(ns_ring_abandon(r, 0, 9), -EINVAL);
	assert_int_equal(ns_ring_abandon(r, 0, 1), -EINVAL); /* nothing claimed */

	assert_int_equal(ns_ring_halt(NULL), -EINVAL);
	assert_int_equal(ns_ring_drain(NULL, 0, NULL), -EINVAL);
	assert_int_equal(ns_ring_is_halted(NULL), -EINVAL);
	assert_int_equal(ns_ring_is_published(NULL, 0), -EINVAL);
	assert_int_equal(ns_ring_is_published(r, -1), -EINVAL);
	assert_int_equal(ns_ring_cursor(NULL), -EINVAL);
	assert_int_equal(ns_ring_remaining(NULL), -EINVAL);
	assert_int_equal(ns_ring_capacity(NULL), 0);
	assert_int_equal(ns_ring_slot_size(NULL), 0);

	struct ns_mem_info info = NS_MEM_INFO_INIT;
	assert_int_equal(ns_ring_mem_info(NULL, &info), -EINVAL);
	assert_int_equal(ns_ring_mem_info(r, NULL), -EINVAL);
	info.size = 8;
	info.source = 12345;
	assert_int_equal(ns_ring_mem_info(r, &info), -EINVAL);
	assert_int_equal(info.source, 12345); /* untouched */
	struct ns_ring_opts bad_opts = NS_RING_OPTS_INIT;
	assert_int_equal(ns_ring_mem_size(NULL), -EINVAL);
	bad_opts.capacity = 3;
	assert_int_equal(ns_ring_mem_size(&bad_opts), -EINVAL);
	bad_opts.capacity = 8;
	bad_opts.size = 4;
	assert_int_equal(ns_ring_mem_size(&bad_opts), -EINVAL);
	bad_opts.size = sizeof(bad_opts);
	bad_opts.mem_flags = 0x40;
	assert_int_equal(ns_ring_mem_size(&bad_opts), -EINVAL);
	assert_string_equal(ns_mem_source_name(0), "unknown");
	assert_string_equal(ns_mem_source_name(UINT32_MAX), "unknown");
	assert_string_equal(ns_mem_source_name(NS_MEM_SRC_THP | NS_MEM_SRC_NORMAL), "unknown");

	assert_int_equal(ns_publish(NULL, fill, NULL), -EINVAL);
	assert_int_equal(ns_publish(r, NULL, NULL), -EINVAL);
	assert_int_equal(ns_publish2(NULL, fill2, NULL, NULL), -EINVAL);
	assert_int_equal(ns_publish2(r, NULL, NULL, NULL), -EINVAL);
	assert_int_equal(ns_publish3(NULL, fill3, NULL, NULL, NULL), -EINVAL);
	assert_int_equal(ns_publish3(r, NULL, NULL, NULL, NULL), -EINVAL);
	assert_int_equal(ns_publish_try(NULL, fill, NULL), -EINVAL);
	assert_int_equal(ns_publish_try(r, NULL, NULL), -EINVAL);
	assert_int_equal(ns_publish2_try(NULL, fill2, NULL, NULL), -EINVAL);
	assert_int_equal(ns_publish2_try(r, NULL, NULL, NULL), -EINVAL);
	assert_int_equal(ns_publish3_try(NULL, fill3, NULL, NULL, NULL), -EINVAL);
	assert_int_equal(ns_publish3_try(r, NULL, NULL, NULL, NULL), -EINVAL);
	assert_int_equal(ns_publish_batch(NULL, fill, args, 1), -EINVAL);
	assert_int_equal(ns_publish_batch(r, NULL, args, 1), -EINVAL);
	assert_int_equal(ns_publish_batch(r, fill, NULL, 1), -EINVAL);
	assert_int_equal(ns_publish_batch(r, fill, args, 0), -EINVAL);
	assert_int_equal(ns_publish_batch(r, fill, args, 9), -EINVAL);
	assert_int_equal(ns_publish_batch_try(NULL, fill, args, 1), -EINVAL);
	assert_int_equal(ns_publish_batch_try(r, NULL, args, 1), -EINVAL);
	assert_int_equal(ns_publish_batch_try(r, fill, NULL, 1), -EINVAL);
	assert_int_equal(ns_publish_batch_try(r, fill, args, 0), -EINVAL);

	/* None of that changed the ring. */
	assert_int_equal(ns_ring_cursor(r), -1);
	assert_int_equal(ns_ring_remaining(r), 8);
	assert_int_equal(ns_ring_is_halted(r), 0);
	assert_int_equal(ns_ring_claim(r), 0);
	ns_ring_destroy(r);
}

static void
consumer_calls_reject_bad_arguments(void **state)
{
	(void)state;
	struct ns_ring_opts o = NS_RING_OPTS_INIT;
	struct ns_consumer_opts co = NS_CONSUMER_OPTS_INIT;
	ns_consumer *c = NULL;
	ns_ring *r = NULL;

	assert_int_equal(ns_ring_create(&r, &o), 0);
	co.on_event = handler;
	assert_int_equal(ns_consumer_create(NULL, r, &co), -EINVAL);
	assert_int_equal(ns_consumer_create(&c, NULL, &co), -EINVAL);
	assert_int_equal(ns_consumer_create(&c, r, NULL), -EINVAL);
	co.on_event = NULL;
	assert_int_equal(ns_consumer_create(&c, r, &co), -EINVAL);
	co.on_event = handler;
	co.on_events = run_handler; /* both handlers: which one? */
	assert_int_equal(ns_consumer_create(&c, r, &co), -EINVAL);
	co.on_events = NULL;
	co.flags = 0x4;
	assert_int_equal(ns_consumer_create(&c, r, &co), -EINVAL);
	co.flags = 0x80;
	assert_int_equal(ns_consumer_create(&c, r, &co), -EINVAL);
	co.flags = 0;
	co.error_policy = 3;
	assert_int_equal(ns_consumer_create(&c, r, &co), -EINVAL);
	co.error_policy = UINT32_MAX;
	assert_int_equal(ns_consumer_create(&c, r, &co), -EINVAL);
	co.error_policy = NS_ERROR_STOP;
	co.after_count = 1; /* with after == NULL */
	assert_int_equal(ns_consumer_create(&c, r, &co), -EINVAL);
	ns_consumer *none[1] = { NULL };
	co.after = none;
	assert_int_equal(ns_consumer_create(&c, r, &co), -EINVAL);
	co.after_count = 1025;
	assert_int_equal(ns_consumer_create(&c, r, &co), -EINVAL);
	/* An upstream consumer of another ring. */
	ns_ring *other = NULL;
	ns_consumer *foreign = NULL;
	assert_int_equal(ns_ring_create(&other, &o), 0);
	co.after_count = 0;
	co.after = NULL;
	assert_int_equal(ns_consumer_create(&foreign, other, &co), 0);
	co.after = &foreign;
	co.after_count = 1;
	assert_int_equal(ns_consumer_create(&c, r, &co), -EINVAL);
	/* Both a start sequence and upstream consumers. */
	co.flags = NS_CONSUMER_F_START_AT;
	assert_int_equal(ns_consumer_create(&c, other, &co), -EINVAL);
	co.after = NULL;
	co.after_count = 0;
	/* Start sequences the ring cannot honour: beyond the cursor, or already reusable. */
	co.start_sequence = 5;
	assert_int_equal(ns_consumer_create(&c, r, &co), -EINVAL);
	co.start_sequence = -2;
	assert_int_equal(ns_consumer_create(&c, r, &co), -EINVAL);
	co.start_sequence = INT64_MIN;
	assert_int_equal(ns_consumer_create(&c, r, &co), -EINVAL);
	co.flags = 0;
	co.start_sequence = -1;
	ns_consumer_destroy(foreign);
	ns_ring_destroy(other);
	co.size = 0;
	assert_int_equal(ns_consumer_create(&c, r, &co), -EINVAL);
	assert_null(c);
	co.size = sizeof(co);
	/* Failed creates took no consumer place: all 16 default places are still free. */
	ns_consumer *all[16];
	for (int i = 0; i < 16; i++)
		assert_int_equal(ns_consumer_create(&all[i], r, &co), 0);
	for (int i = 0; i < 16; i++)
		ns_consumer_destroy(all[i]);

	assert_int_equal(ns_consumer_run(NULL), -EINVAL);
	assert_int_equal(ns_consumer_halt(NULL), -EINVAL);
	assert_int_equal(ns_consumer_sequence(NULL), -EINVAL);
	assert_int_equal(ns_consumer_start(NULL, -1, NULL), -EINVAL);
	assert_int_equal(ns_consumer_join(NULL), -EINVAL);
	assert_int_equal(ns_consumer_release(NULL, 0), -EINVAL);
	struct ns_consumer_stats st = NS_CONSUMER_STATS_INIT;
	assert_int_equal(ns_consumer_stats(NULL, &st), -EINVAL);
	ns_consumer_destroy(NULL);

	/* A valid consumer, misused. */
	assert_int_equal(ns_consumer_create(&c, r, &co), 0);
	assert_int_equal(ns_consumer_start(c, 1 << 20, "x"), -EINVAL);
	assert_int_equal(ns_consumer_start(c, CPU_SETSIZE_GUESS, "x"), -EINVAL);
	assert_int_equal(ns_consumer_join(c), -EINVAL);	      /* never started */
	assert_int_equal(ns_consumer_release(c, 0), -EINVAL); /* nothing received */
	assert_int_equal(ns_consumer_release(c, -5), -EINVAL);
	assert_int_equal(ns_consumer_stats(c, NULL), -EINVAL);
	st.size = 0;
	assert_int_equal(ns_consumer_stats(c, &st), -EINVAL);
	st.size = sizeof(st);
	assert_int_equal(ns_consumer_stats(c, &st), 0);
	assert_int_equal(st.events, 0);
	assert_int_equal(st.sequence, -1);
	ns_consumer_destroy(c);
	ns_ring_destroy(r);
}

static void
work_pool_calls_reject_bad_arguments(void **state)
{
	(void)state;
	struct ns_ring_opts o = NS_RING_OPTS_INIT;
	struct ns_work_pool_opts po = NS_WORK_POOL_OPTS_INIT;
	ns_work_pool *p = NULL;
	ns_ring *r = NULL;
	int cpus[2] = { 0, 1 << 20 };

	o.max_consumers = 4;
	assert_int_equal(ns_ring_create(&r, &o), 0);
	po.workers = 2;
	po.on_event = handler;
	assert_int_equal(ns_work_pool_create(NULL, r, &po), -EINVAL);
	assert_int_equal(ns_work_pool_create(&p, NULL, &po), -EINVAL);
	assert_int_equal(ns_work_pool_create(&p, r, NULL), -EINVAL);
#define EXPECT_POOL_EINVAL(field, value)                                                           \
	do {                                                                                       \
		struct ns_work_pool_opts bad_ = po;                                                \
		bad_.field = value;                                                                \
		assert_int_equal(ns_work_pool_create(&p, r, &bad_), -EINVAL);                      \
		assert_null(p);                                                                    \
	} while (0)
	EXPECT_POOL_EINVAL(size, 0);
	EXPECT_POOL_EINVAL(flags, 1);
	EXPECT_POOL_EINVAL(workers, 0);
	EXPECT_POOL_EINVAL(workers, NS_WORK_POOL_MAX_WORKERS + 1);
	EXPECT_POOL_EINVAL(on_event, NULL);
	EXPECT_POOL_EINVAL(error_policy, 3);
	EXPECT_POOL_EINVAL(after_count, 1);
	EXPECT_POOL_EINVAL(after_count, 1025);
#undef EXPECT_POOL_EINVAL
	/* Five workers on a ring with four consumer places: -EBUSY, and no place is lost. */
	po.workers = 5;
	assert_int_equal(ns_work_pool_create(&p, r, &po), -EBUSY);
	assert_null(p);
	po.workers = 4;
	assert_int_equal(ns_work_pool_create(&p, r, &po), 0);
	ns_work_pool_destroy(p);
	po.workers = 2;
	assert_int_equal(ns_work_pool_create(&p, r, &po), 0);

	assert_int_equal(ns_work_pool_start(NULL, NULL), -EINVAL);
	assert_int_equal(ns_work_pool_start(p, cpus), -EINVAL); /* second CPU does not exist */
	assert_int_equal(ns_work_pool_halt(NULL), -EINVAL);
	assert_int_equal(ns_work_pool_join(NULL), -EINVAL);
	assert_int_equal(ns_work_pool_join(p), -EINVAL);
	assert_null(ns_work_pool_consumer(NULL));
	ns_work_pool_destroy(NULL);
	ns_work_pool_destroy(p);
	ns_ring_destroy(r);
}

static int
runs_handler(void *ctx, void *first, int64_t seq, uint32_t count, uint32_t stride, bool end)
{
	(void)ctx, (void)first, (void)seq, (void)count, (void)stride, (void)end;
	return 0;
}

static void
poller_calls_reject_bad_arguments(void **state)
{
	(void)state;
	struct ns_ring_opts o = NS_RING_OPTS_INIT;
	struct ns_poller_opts po = NS_POLLER_OPTS_INIT;
	ns_poller *p = NULL;
	ns_ring *r = NULL;

	assert_int_equal(ns_ring_create(&r, &o), 0);
	assert_int_equal(ns_poller_create(NULL, r, &po), -EINVAL);
	assert_int_equal(ns_poller_create(&p, NULL, &po), -EINVAL);
	assert_int_equal(ns_poller_create(&p, r, NULL), -EINVAL);
	po.flags = 1;
	assert_int_equal(ns_poller_create(&p, r, &po), -EINVAL);
	po.flags = 0;
	po.reserved = 1;
	assert_int_equal(ns_poller_create(&p, r, &po), -EINVAL);
	po.reserved = 0;
	po.after_count = 1;
	assert_int_equal(ns_poller_create(&p, r, &po), -EINVAL);
	po.after_count = 0;
	po.size = 0;
	assert_int_equal(ns_poller_create(&p, r, &po), -EINVAL);
	assert_null(p);
	po.size = sizeof(po);
	assert_int_equal(ns_poller_create(&p, r, &po), 0);
	assert_int_equal(ns_poller_poll(NULL, handler, NULL, 0), -EINVAL);
	assert_int_equal(ns_poller_poll(p, NULL, NULL, 0), -EINVAL);
	assert_int_equal(ns_poller_poll_runs(NULL, runs_handler, NULL, 0), -EINVAL);
	assert_int_equal(ns_poller_poll_runs(p, NULL, NULL, 0), -EINVAL);
	void *slot = NULL;
	int64_t seq = -1;
	uint64_t v = 0;
	assert_int_equal(ns_poller_peek(NULL, 0, &slot, &seq), -EINVAL);
	assert_int_equal(ns_poller_peek(p, 0, NULL, &seq), -EINVAL);
	assert_int_equal(ns_poller_peek(p, 0, &slot, NULL), -EINVAL);
	assert_int_equal(ns_poller_release(NULL, 1), -EINVAL);
	assert_int_equal(ns_poller_release(p, 1), -EINVAL); /* nothing peeked */
	assert_int_equal(ns_poller_release(p, UINT32_MAX), -EINVAL);
	assert_int_equal(ns_poller_take(NULL, &v, sizeof(v)), -EINVAL);
	assert_int_equal(ns_poller_take(p, NULL, sizeof(v)), -EINVAL);
	assert_int_equal(ns_poller_take(p, &v, 0), -EINVAL);
	assert_int_equal(ns_poller_take(p, &v, o.slot_size + 1), -EINVAL);
	assert_int_equal(ns_poller_take(p, &v, UINT32_MAX), -EINVAL);
	/* None of it moved the poller. */
	assert_int_equal(ns_consumer_sequence(ns_poller_consumer(p)), -1);
	assert_null(ns_poller_consumer(NULL));
	ns_poller_destroy(NULL);
	ns_poller_destroy(p);
	ns_ring_destroy(r);
}

static void
strerror_and_version_always_answer(void **state)
{
	(void)state;
	const int codes[] = { 0,
			      -EAGAIN,
			      -ETIMEDOUT,
			      -ESHUTDOWN,
			      -EINVAL,
			      -ECANCELED,
			      -EALREADY,
			      -EBUSY,
			      -ENOMEM,
			      -ENOENT,
			      -ERANGE,
			      -EOPNOTSUPP,
			      EINVAL,
			      -99999,
			      INT32_MIN,
			      NS_NOT_CONNECTED,
			      NS_BACK_PRESSURED,
			      NS_ADMIN_ACTION,
			      NS_PUBLICATION_CLOSED,
			      NS_MAX_POSITION_EXCEEDED,
			      NS_EDRIVER_TIMEOUT,
			      -EMSGSIZE,
			      -ECONNREFUSED,
			      -EPROTO,
			      -EPERM };

	for (size_t i = 0; i < sizeof(codes) / sizeof(codes[0]); i++) {
		const char *s = ns_strerror(codes[i]);
		assert_non_null(s);
		assert_true(strlen(s) > 0);
	}
	assert_string_equal(ns_strerror(-EINVAL), ns_strerror(EINVAL));
	/* The offer results are told apart. */
	assert_string_not_equal(ns_strerror(NS_NOT_CONNECTED), ns_strerror(NS_BACK_PRESSURED));
	assert_string_not_equal(ns_strerror(NS_ADMIN_ACTION), ns_strerror(NS_PUBLICATION_CLOSED));
	assert_string_equal(ns_version(), NS_VERSION_STRING);
	assert_int_equal(ns_version_number(), NS_VERSION_NUMBER);
	int64_t a = ns_clock_ns();
	int64_t b = ns_clock_ns();
	assert_true(a > 0);
	assert_true(b >= a);
}

/* A refused create says which option is wrong and what it must be (ns_errmsg()). */
static void
expect_ring_refusal(const struct ns_ring_opts *o, const char *a, const char *b)
{
	ns_ring *r = NULL;
	assert_int_equal(ns_ring_create(&r, o), -EINVAL);
	assert_null(r);
	const char *m = ns_errmsg();
	if (strstr(m, a) == NULL || strstr(m, b) == NULL)
		fail_msg("ns_errmsg() \"%s\" lacks \"%s\" or \"%s\"", m, a, b);
	assert_int_equal(ns_ring_mem_size(o), -EINVAL);
	assert_non_null(strstr(ns_errmsg(), a));
}

static int
on_ev(void *ctx, void *slot, int64_t seq, bool end)
{
	(void)ctx, (void)slot, (void)seq, (void)end;
	return 0;
}

static void
refusals_are_explained(void **state)
{
	(void)state;
	struct ns_ring_opts o = NS_RING_OPTS_INIT;
	o.capacity = 1000;
	expect_ring_refusal(&o, "capacity 1000 is not a power of two", "1024 is the next one");
	o.capacity = 0;
	expect_ring_refusal(&o, "capacity 0 is out of range", "2^30");
	o.capacity = 1024;
	o.slot_size = 12;
	expect_ring_refusal(&o, "slot_size 12 is not a multiple of 8", "16 would fit it");
	o.slot_size = 64;
	o.producer = 7;
	expect_ring_refusal(&o, "producer 7", "NS_PRODUCER_MULTI");
	o.producer = NS_PRODUCER_SINGLE;
	o.wait = 42;
	expect_ring_refusal(&o, "wait 42", "enum ns_wait_kind");
	o.wait = NS_WAIT_YIELD;
	o.numa_node = 1;
	expect_ring_refusal(&o, "numa_node 1", "NS_MEM_F_BIND");
	o.numa_node = 0;

	/* Options not made with the macro: a garbage size. */
	struct ns_ring_opts junk;
	memset(&junk, 0x5a, sizeof(junk));
	expect_ring_refusal(&junk, "struct ns_ring_opts.size is", "start from NS_RING_OPTS_INIT");
	struct ns_ring_opts zero;
	memset(&zero, 0, sizeof(zero));
	expect_ring_refusal(&zero, "size is 0", "NS_RING_OPTS_INIT");

	/* A success clears it. */
	ns_ring *r = NULL;
	assert_int_equal(ns_ring_create(&r, &o), 0);
	assert_string_equal(ns_errmsg(), "");

	/* Consumers: no handler; more than the ring's max_consumers. */
	struct ns_consumer_opts co = NS_CONSUMER_OPTS_INIT;
	ns_consumer *c[17] = { 0 };
	assert_int_equal(ns_consumer_create(&c[0], r, &co), -EINVAL);
	assert_non_null(strstr(ns_errmsg(), "set exactly one of on_event and on_events"));
	co.on_event = on_ev;
	int made = 0;
	for (int i = 0; i < 17; i++) {
		int rc = ns_consumer_create(&c[i], r, &co);
		if (rc == 0) {
			made++;
			assert_string_equal(ns_errmsg(), "");
		} else {
			assert_int_equal(rc, -EBUSY);
			assert_non_null(strstr(ns_errmsg(), "max_consumers (16)"));
		}
	}
	assert_int_equal(made, 16);
	struct ns_poller_opts po = NS_POLLER_OPTS_INIT;
	ns_poller *p = NULL;
	assert_int_equal(ns_poller_create(&p, r, &po), -EBUSY);
	assert_non_null(strstr(ns_errmsg(), "max_consumers (16)"));
	po.size = 3;
	assert_int_equal(ns_poller_create(&p, r, &po), -EINVAL);
	assert_non_null(strstr(ns_errmsg(), "NS_POLLER_OPTS_INIT"));
	struct ns_work_pool_opts wo = NS_WORK_POOL_OPTS_INIT;
	ns_work_pool *w = NULL;
	assert_int_equal(ns_work_pool_create(&w, r, &wo), -EINVAL);
	assert_non_null(strstr(ns_errmsg(), "on_event is NULL"));
	for (int i = 0; i < 17; i++)
		ns_consumer_destroy(c[i]);
	char why[8];
	assert_int_equal(ns_ring_waiting_on(NULL, NULL, why, sizeof(why)), -EINVAL);
	assert_int_equal(ns_ring_waiting_on(r, NULL, NULL, sizeof(why)), -EINVAL);
	ns_ring_destroy(r);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(ring_create_rejects_bad_options),
		cmocka_unit_test(ring_calls_reject_null_and_bad_counts),
		cmocka_unit_test(consumer_calls_reject_bad_arguments),
		cmocka_unit_test(work_pool_calls_reject_bad_arguments),
		cmocka_unit_test(poller_calls_reject_bad_arguments),
		cmocka_unit_test(strerror_and_version_always_answer),
		cmocka_unit_test(refusals_are_explained),
	};
	return cmocka_run_group_tests_name("api", tests, NULL, NULL);
}

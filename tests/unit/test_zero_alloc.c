/* SPDX-License-Identifier: MIT */
/*
 * Zero allocation while running: after create and start, publishing and consuming must not
 * call malloc, calloc, realloc, aligned_alloc, posix_memalign or free. The allocator entry
 * points are wrapped at link time (-Wl,--wrap=...) for this binary and the library archive
 * it links; calls are counted only while 1,000,000 events (200,000 under sanitizers) flow
 * through each topology.
 */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <nanostream/nanostream.h>

static uint32_t counting;
static uint64_t calls;
/* When set, only this thread's calls count (an IPC test: not the embedded driver's thread). */
static pthread_t only;
static uint32_t only_set;

#define WRAP_COUNT()                                                                               \
	do {                                                                                       \
		if (__atomic_load_n(&counting, __ATOMIC_RELAXED) &&                                \
		    (!__atomic_load_n(&only_set, __ATOMIC_RELAXED) ||                              \
		     pthread_equal(pthread_self(), only)))                                         \
			__atomic_add_fetch(&calls, 1, __ATOMIC_RELAXED);                           \
	} while (0)

void *__real_malloc(size_t n);
void *__real_calloc(size_t n, size_t m);
void *__real_realloc(void *p, size_t n);
void *__real_aligned_alloc(size_t a, size_t n);
int __real_posix_memalign(void **p, size_t a, size_t n);
void __real_free(void *p);
void *__wrap_malloc(size_t n);
void *__wrap_calloc(size_t n, size_t m);
void *__wrap_realloc(void *p, size_t n);
void *__wrap_aligned_alloc(size_t a, size_t n);
int __wrap_posix_memalign(void **p, size_t a, size_t n);
void __wrap_free(void *p);

void *
__wrap_malloc(size_t n)
{
	WRAP_COUNT();
	return __real_malloc(n);
}

void *
__wrap_calloc(size_t n, size_t m)
{
	WRAP_COUNT();
	return __real_calloc(n, m);
}

void *
__wrap_realloc(void *p, size_t n)
{
	WRAP_COUNT();
	return __real_realloc(p, n);
}

void *
__wrap_aligned_alloc(size_t a, size_t n)
{
	WRAP_COUNT();
	return __real_aligned_alloc(a, n);
}

int
__wrap_posix_memalign(void **p, size_t a, size_t n)
{
	WRAP_COUNT();
	return __real_posix_memalign(p, a, n);
}

void
__wrap_free(void *p)
{
	WRAP_COUNT();
	__real_free(p);
}

#if defined(__SANITIZE_THREAD__) || defined(__SANITIZE_ADDRESS__)
#define EVENTS 200000 /* sanitizers: the same paths, a fifth of the time */
#else
#define EVENTS 1000000
#endif

static int
noop(void *ctx, void *slot, int64_t seq, bool end)
{
	(void)ctx, (void)slot, (void)seq, (void)end;
	return 0;
}

static int
noop_translate(void *slot, int64_t seq, void *arg)
{
	(void)arg;
	*(uint64_t *)slot = (uint64_t)seq;
	return 0;
}

static ns_ring *
make_ring(uint32_t producer, uint32_t wait)
{
	struct ns_ring_opts o = NS_RING_OPTS_INIT;
	ns_ring *r = NULL;

	o.capacity = 1024;
	o.slot_size = 8;
	o.producer = producer;
	o.wait = wait;
	assert_int_equal(ns_ring_create(&r, &o), 0);
	return r;
}

static ns_consumer *
consumer_after(ns_ring *r, ns_consumer **after, uint32_t n)
{
	struct ns_consumer_opts co = NS_CONSUMER_OPTS_INIT;
	ns_consumer *c = NULL;

	co.on_event = noop;
	co.after = after;
	co.after_count = n;
	assert_int_equal(ns_consumer_create(&c, r, &co), 0);
	assert_int_equal(ns_consumer_start(c, -1, NULL), 0);
	return c;
}

static int
poll_noop(void *ctx, void *slot, int64_t seq, bool end)
{
	(void)slot, (void)seq, (void)end;
	(*(int64_t *)ctx)++;
	return 0;
}

static int
runs_noop(void *ctx, void *first, int64_t seq, uint32_t count, uint32_t stride, bool end)
{
	(void)first, (void)seq, (void)stride, (void)end;
	*(int64_t *)ctx += count;
	return 0;
}

/* One pull by a poller: every pull call in turn (poll, runs, take, peek + release). */
static void
pull_some(ns_poller *p, int64_t *polled, uint64_t *turn)
{
	uint64_t v;
	void *first;
	int64_t seq;
	int n;

	switch ((*turn)++ & 3) {
	case 0:
		ns_poller_poll(p, poll_noop, polled, 0);
		break;
	case 1:
		ns_poller_poll_runs(p, runs_noop, polled, 0);
		break;
	case 2:
		if (ns_poller_take(p, &v, sizeof(v)) == NS_POLLER_PROCESSING)
			(*polled)++;
		break;
	default:
		n = ns_poller_peek(p, 0, &first, &seq);
		if (n > 0 && ns_poller_release(p, (uint32_t)n) == 0)
			*polled += n;
		break;
	}
}

/* Publish EVENTS events (one at a time, and through translators and batches) while counting. */
static void
publish_counted(ns_ring *r, ns_consumer *const *tails, int ntails, ns_poller *poller)
{
	int64_t polled = 0;
	uint64_t turn = 0;
	uint64_t value = 1;
	void *args[16];

	for (int i = 0; i < 16; i++)
		args[i] = &value;
	__atomic_store_n(&calls, 0, __ATOMIC_RELAXED);
	__atomic_store_n(&counting, 1, __ATOMIC_RELAXED);
	for (int64_t i = 0; i < EVENTS;) {
		int64_t seq;
		if (i % 3 == 0) {
			seq = ns_ring_claim(r);
			*(uint64_t *)ns_ring_slot(r, seq) = (uint64_t)i;
			ns_ring_publish(r, seq);
			i++;
		} else if (i % 3 == 1) {
			ns_publish_batch(r, noop_translate, args, 16);
			i += 16;
			uint32_t got = 0;
			seq = ns_ring_try_claim_upto(r, 4, &got);
			if (seq >= 0) {
				ns_ring_publish_n(r, seq, got);
				i += got;
			}
		} else {
			ns_publish(r, noop_translate, &value);
			i++;
		}
		if (poller != NULL)
			pull_some(poller, &polled, &turn);
	}
	int64_t last = ns_ring_cursor(r);
	for (int t = 0; t < ntails; t++) {
		while (ns_consumer_sequence(tails[t]) < last) {
			if (poller != NULL)
				pull_some(poller, &polled, &turn);
			sched_yield();
		}
	}
	__atomic_store_n(&counting, 0, __ATOMIC_RELAXED);
	assert_int_equal(__atomic_load_n(&calls, __ATOMIC_RELAXED), 0);
}

static void
multicast_allocates_nothing(void **state)
{
	(void)state;
	for (uint32_t mode = 0; mode < 2; mode++) {
		ns_ring *r = make_ring(mode, mode ? NS_WAIT_BLOCKING : NS_WAIT_YIELD);
		ns_consumer *c[3];
		for (int i = 0; i < 3; i++)
			c[i] = consumer_after(r, NULL, 0);
		publish_counted(r, c, 3, NULL);
		for (int i = 0; i < 3; i++)
			ns_consumer_destroy(c[i]);
		ns_ring_destroy(r);
	}
}

static void
pipeline_allocates_nothing(void **state)
{
	(void)state;
	for (uint32_t mode = 0; mode < 2; mode++) {
		ns_ring *r = make_ring(mode, mode ? NS_WAIT_LITE_BLOCKING : NS_WAIT_YIELD);
		ns_consumer *a = consumer_after(r, NULL, 0);
		ns_consumer *b = consumer_after(r, &a, 1);
		ns_consumer *c = consumer_after(r, &b, 1);
		publish_counted(r, &c, 1, NULL);
		ns_consumer_destroy(c);
		ns_consumer_destroy(b);
		ns_consumer_destroy(a);
		ns_ring_destroy(r);
	}
}

static void
diamond_allocates_nothing(void **state)
{
	(void)state;
	for (uint32_t mode = 0; mode < 2; mode++) {
		ns_ring *r = make_ring(mode, mode ? NS_WAIT_PHASED : NS_WAIT_YIELD);
		ns_consumer *ups[2] = { consumer_after(r, NULL, 0), consumer_after(r, NULL, 0) };
		ns_consumer *d = consumer_after(r, ups, 2);
		publish_counted(r, &d, 1, NULL);
		ns_consumer_destroy(d);
		ns_consumer_destroy(ups[0]);
		ns_consumer_destroy(ups[1]);
		ns_ring_destroy(r);
	}
}

static void
work_pool_allocates_nothing(void **state)
{
	(void)state;
	for (uint32_t mode = 0; mode < 2; mode++) {
		ns_ring *r = make_ring(mode, NS_WAIT_YIELD);
		struct ns_work_pool_opts po = NS_WORK_POOL_OPTS_INIT;
		ns_work_pool *pool = NULL;
		po.workers = 2;
		po.on_event = noop;
		assert_int_equal(ns_work_pool_create(&pool, r, &po), 0);
		assert_int_equal(ns_work_pool_start(pool, NULL), 0);
		ns_consumer *head = ns_work_pool_consumer(pool);
		publish_counted(r, &head, 1, NULL);
		ns_work_pool_destroy(pool);
		ns_ring_destroy(r);
	}
}

static void
poller_allocates_nothing(void **state)
{
	(void)state;
	for (uint32_t mode = 0; mode < 2; mode++) {
		ns_ring *r = make_ring(mode, NS_WAIT_YIELD);
		struct ns_poller_opts po = NS_POLLER_OPTS_INIT;
		ns_poller *p = NULL;
		assert_int_equal(ns_poller_create(&p, r, &po), 0);
		ns_consumer *as_consumer = ns_poller_consumer(p);
		publish_counted(r, &as_consumer, 1, p);
		ns_poller_destroy(p);
		ns_ring_destroy(r);
	}
}

static void
wrapping_really_counts(void **state)
{
	(void)state;
	/*
	 * The wrap reaches the library: creating and destroying a consumer inside the window
	 * counts (a ring no longer uses the heap: it lives in its own mapping).
	 */
	ns_ring *r = make_ring(NS_PRODUCER_SINGLE, NS_WAIT_YIELD);
	struct ns_consumer_opts co = NS_CONSUMER_OPTS_INIT;
	ns_consumer *c = NULL;
	co.on_event = noop;
	__atomic_store_n(&calls, 0, __ATOMIC_RELAXED);
	__atomic_store_n(&counting, 1, __ATOMIC_RELAXED);
	assert_int_equal(ns_consumer_create(&c, r, &co), 0);
	ns_consumer_destroy(c);
	__atomic_store_n(&counting, 0, __ATOMIC_RELAXED);
	ns_ring_destroy(r);
	assert_true(__atomic_load_n(&calls, __ATOMIC_RELAXED) >= 2); /* aligned_alloc + free */
}

static void
on_fragment(void *ctx, const void *buf, size_t len, const struct ns_header *h)
{
	uint64_t *sum = ctx;
	(void)h;
	*sum += len + ((const uint8_t *)buf)[len - 1];
}

/*
 * IPC: offering and polling, fragmented messages included, allocate nothing on the calling
 * thread once the publication and subscription exist and the image has arrived. (The
 * reassembly buffer is allocated when the image arrives, not at the first fragmented message.)
 */
static void
ipc_offer_and_poll_allocate_nothing(void **state)
{
	(void)state;
	char dir[] = "/tmp/ns-zeroalloc-XXXXXX";
	assert_non_null(mkdtemp(dir));
	struct ns_client_opts o = NS_CLIENT_OPTS_INIT;
	o.dir = dir;
	ns_client *c = NULL;
	assert_int_equal(ns_client_create(&c, &o), 0);
	ns_publication *p = NULL;
	ns_subscription *s = NULL;
	assert_int_equal(ns_subscription_add(c, "ns:ipc?term-length=64k&mtu=1024", 3, NULL, &s), 0);
	assert_int_equal(ns_publication_add(c, "ns:ipc?term-length=64k&mtu=1024", 3, 0, &p), 0);
	int64_t deadline = ns_clock_ns() + 10LL * 1000000000;
	assert_int_equal(ns_subscription_wait_connected(s, deadline), 0);
	static uint8_t msg[3000]; /* up to 3000 bytes: fragmented past 992 */
	for (size_t i = 0; i < sizeof(msg); i++)
		msg[i] = (uint8_t)i;
	uint64_t sum = 0, want = 0;
	/* One small message first, so the image is surely there: no fragment has been read. */
	assert_true(ns_offer_wait(p, msg, 8, NS_WAIT_YIELD, deadline) > 0);
	want += 8 + msg[7];
	while (ns_subscription_poll(s, on_fragment, &sum, 16) == 0)
		assert_true(ns_clock_ns() < deadline);
	only = pthread_self();
	__atomic_store_n(&only_set, 1, __ATOMIC_RELAXED);
	__atomic_store_n(&calls, 0, __ATOMIC_RELAXED);
	__atomic_store_n(&counting, 1, __ATOMIC_RELAXED);
	int n = EVENTS / 20;
	for (int i = 0; i < n; i++) {
		size_t len = 1 + (size_t)i * 7919 % sizeof(msg);
		int64_t r;
		while ((r = ns_offer(p, msg, len)) < 0) {
			assert_true(r == NS_BACK_PRESSURED || r == NS_ADMIN_ACTION);
			(void)ns_subscription_poll(s, on_fragment, &sum, 16);
		}
		want += len + msg[len - 1];
	}
	while (sum != want && ns_clock_ns() < deadline + 20LL * 1000000000)
		(void)ns_subscription_poll(s, on_fragment, &sum, 16);
	__atomic_store_n(&counting, 0, __ATOMIC_RELAXED);
	__atomic_store_n(&only_set, 0, __ATOMIC_RELAXED);
	print_message("# %d messages of 1 to 3000 bytes (mtu 1024): %llu allocator calls\n", n,
		      (unsigned long long)__atomic_load_n(&calls, __ATOMIC_RELAXED));
	assert_int_equal(sum, want);
	assert_int_equal(__atomic_load_n(&calls, __ATOMIC_RELAXED), 0);
	assert_int_equal(ns_publication_close(p), 0);
	assert_int_equal(ns_subscription_close(s), 0);
	assert_int_equal(ns_client_close(c), 0);
	char cmd[64];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	assert_int_equal(system(cmd), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(wrapping_really_counts),
		cmocka_unit_test(multicast_allocates_nothing),
		cmocka_unit_test(pipeline_allocates_nothing),
		cmocka_unit_test(diamond_allocates_nothing),
		cmocka_unit_test(work_pool_allocates_nothing),
		cmocka_unit_test(poller_allocates_nothing),
		cmocka_unit_test(ipc_offer_and_poll_allocate_nothing),
	};
	return cmocka_run_group_tests_name("zero-alloc", tests, NULL, NULL);
}

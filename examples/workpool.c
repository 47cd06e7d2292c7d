/* SPDX-License-Identifier: MIT */
/*
 * Work pool: two workers share expensive jobs, each job handled by exactly one of them; a
 * collector runs after the pool and adds up the results in sequence order.
 */
#include <inttypes.h>
#include <stdio.h>

#include <nanostream/nanostream.h>

#define JOBS 200000

struct job {
	uint64_t input;
	uint64_t result; /* written by whichever worker takes the job */
};

/* "Expensive" work: a few rounds of integer mixing. */
static int
work(void *ctx, void *slot, int64_t seq, bool end_of_batch)
{
	struct job *j = slot;
	uint64_t x = j->input;

	(void)ctx, (void)seq, (void)end_of_batch;
	for (int i = 0; i < 16; i++)
		x = x * UINT64_C(6364136223846793005) + UINT64_C(1442695040888963407);
	j->result = x;
	return 0;
}

static int
collect(void *ctx, void *slot, int64_t seq, bool end_of_batch)
{
	(void)seq, (void)end_of_batch;
	*(uint64_t *)ctx ^= ((const struct job *)slot)->result;
	return 0;
}

int
main(void)
{
	struct ns_ring_opts ro = NS_RING_OPTS_INIT;
	struct ns_work_pool_opts po = NS_WORK_POOL_OPTS_INIT;
	struct ns_consumer_opts co = NS_CONSUMER_OPTS_INIT;
	ns_work_pool *pool;
	ns_consumer *collector;
	uint64_t digest = 0;
	ns_ring *ring;

	ro.capacity = 1024;
	ro.slot_size = sizeof(struct job);
	ro.wait = NS_WAIT_YIELD;
	if (ns_ring_create(&ring, &ro) < 0)
		return 1;
	po.workers = 2;
	po.on_event = work;
	if (ns_work_pool_create(&pool, ring, &po) < 0)
		return 1;
	ns_consumer *pool_as_consumer = ns_work_pool_consumer(pool);
	co.on_event = collect;
	co.ctx = &digest;
	co.after = &pool_as_consumer; /* sees each job once a worker has finished it */
	co.after_count = 1;
	if (ns_consumer_create(&collector, ring, &co) < 0)
		return 1;
	ns_work_pool_start(pool, NULL);
	ns_consumer_start(collector, -1, "collector");

	uint64_t expected = 0;
	for (uint64_t i = 0; i < JOBS; i++) {
		int64_t seq = ns_ring_claim(ring);
		struct job *j = ns_ring_slot(ring, seq);
		j->input = i;
		j->result = 0;
		ns_ring_publish(ring, seq);
		struct job check = { .input = i };
		work(NULL, &check, 0, false);
		expected ^= check.result;
	}
	ns_ring_drain(ring, ns_clock_ns() + INT64_C(60000000000), NULL);
	ns_consumer_join(collector);
	ns_work_pool_join(pool);

	struct ns_consumer_stats st = NS_CONSUMER_STATS_INIT;
	ns_consumer_stats(pool_as_consumer, &st);
	printf("digest %016" PRIx64 " (expected %016" PRIx64 "), jobs done by the pool %" PRIu64
	       "\n",
	       digest, expected, st.events);
	int ok = digest == expected && st.events == JOBS;
	ns_consumer_destroy(collector);
	ns_work_pool_destroy(pool);
	ns_ring_destroy(ring);
	return ok ? 0 : 1;
}

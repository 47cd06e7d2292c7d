/* SPDX-License-Identifier: MIT */
/*
 * The quick-start demo: a producer pushes events through a two-stage pipeline. Stage 1
 * enriches each event in place (a hash of its value); stage 2 runs after stage 1, checks the
 * enrichment and keeps a checksum over every event. Prints the rate and the checksum.
 *
 *   demo [events] [spin|yield|sleep|blocking|lite|timeout|phased]
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <nanostream/nanostream.h>

struct event {
	uint64_t value;
	uint64_t hash; /* written by stage 1 */
};

struct verifier {
	uint64_t events;
	uint64_t checksum;
	uint64_t next_value; /* events must arrive in order */
	uint64_t errors;     /* out of order, or not enriched by stage 1 */
};

/* A 64-bit mix (splitmix64's finaliser). */
static uint64_t
mix(uint64_t x)
{
	x ^= x >> 30;
	x *= UINT64_C(0xbf58476d1ce4e5b9);
	x ^= x >> 27;
	x *= UINT64_C(0x94d049bb133111eb);
	return x ^ (x >> 31);
}

static int
enrich(void *ctx, void *slot, int64_t seq, bool end_of_batch)
{
	struct event *e = slot;

	(void)ctx, (void)seq, (void)end_of_batch;
	e->hash = mix(e->value);
	return 0;
}

static int
verify(void *ctx, void *slot, int64_t seq, bool end_of_batch)
{
	struct verifier *v = ctx;
	const struct event *e = slot;

	(void)seq, (void)end_of_batch;
	if (e->value != v->next_value || e->hash != mix(e->value))
		v->errors++;
	v->next_value = e->value + 1;
	v->checksum += e->hash;
	v->events++;
	return 0;
}

static int
parse_wait(const char *s)
{
	static const char *const names[] = { "spin", "yield",	"sleep", "blocking",
					     "lite", "timeout", "phased" };
	for (int i = 0; i < (int)(sizeof(names) / sizeof(names[0])); i++) {
		if (strcmp(s, names[i]) == 0)
			return i;
	}
	return -1;
}

static int
fail(const char *what, int rc)
{
	fprintf(stderr, "%s: %s\n", what, ns_strerror(rc));
	return 1;
}

int
main(int argc, char **argv)
{
	uint64_t n = argc > 1 ? strtoull(argv[1], NULL, 10) : 10000000;
	int wait = argc > 2 ? parse_wait(argv[2]) : NS_WAIT_YIELD;
	struct ns_ring_opts ro = NS_RING_OPTS_INIT;
	struct ns_consumer_opts co = NS_CONSUMER_OPTS_INIT;
	struct verifier v = { 0 };
	ns_consumer *stage1 = NULL, *stage2 = NULL;
	ns_ring *ring = NULL;
	uint64_t left = 0;
	int rc;

	if (n == 0 || wait < 0) {
		fprintf(stderr,
			"usage: %s [events] [spin|yield|sleep|blocking|lite|timeout|phased]\n",
			argv[0]);
		return 2;
	}
	ro.capacity = 4096;
	ro.slot_size = sizeof(struct event);
	ro.wait = (uint32_t)wait;
	if ((rc = ns_ring_create(&ring, &ro)) < 0)
		return fail("ns_ring_create", rc);
	co.on_event = enrich;
	if ((rc = ns_consumer_create(&stage1, ring, &co)) < 0)
		return fail("ns_consumer_create", rc);
	co.on_event = verify;
	co.ctx = &v;
	co.after = &stage1; /* stage 2 sees an event only after stage 1 finished it */
	co.after_count = 1;
	if ((rc = ns_consumer_create(&stage2, ring, &co)) < 0)
		return fail("ns_consumer_create", rc);
	if ((rc = ns_consumer_start(stage1, -1, "demo-enrich")) < 0 ||
	    (rc = ns_consumer_start(stage2, -1, "demo-verify")) < 0)
		return fail("ns_consumer_start", rc);

	uint64_t expected = 0;
	int64_t start = ns_clock_ns();
	for (uint64_t i = 0; i < n; i++) {
		int64_t seq = ns_ring_claim(ring);
		if (seq < 0)
			return fail("ns_ring_claim", (int)seq);
		struct event *e = ns_ring_slot(ring, seq);
		e->value = i;
		e->hash = 0;
		ns_ring_publish(ring, seq);
		expected += mix(i);
	}
	/* Let both stages finish every event, then stop them. */
	rc = ns_ring_drain(ring, ns_clock_ns() + INT64_C(60000000000), &left);
	if (rc < 0)
		return fail("ns_ring_drain", rc);
	ns_consumer_join(stage1);
	ns_consumer_join(stage2);
	int64_t elapsed = ns_clock_ns() - start;

	printf("nanostream %s demo: 1 producer -> ring of %" PRIu64
	       " slots -> enrich -> verify (2 consumer threads)\n",
	       ns_version(), ns_ring_capacity(ring));
	printf("events      %" PRIu64 " sent, %" PRIu64 " verified, %" PRIu64 " errors\n", n,
	       v.events, v.errors);
	printf("rate        %.1f M events/s (%.2f ns/event)\n", (double)n * 1e3 / (double)elapsed,
	       (double)elapsed / (double)n);
	printf("checksum    %016" PRIx64 " expected %016" PRIx64 " -> %s\n", v.checksum, expected,
	       v.checksum == expected ? "OK" : "MISMATCH");
	struct ns_mem_info mem = NS_MEM_INFO_INIT;
	if (ns_ring_mem_info(ring, &mem) == 0)
		printf("memory      %" PRIu64 " KiB on %s pages of %" PRIu64 " KiB%s%s%s\n",
		       mem.bytes / 1024, ns_mem_source_name(mem.source), mem.page_size / 1024,
		       (mem.flags & NS_MEM_INFO_PREFAULTED) ? ", pre-faulted" : "",
		       mem.huge_error != 0 ? "; no huge pages: " : "",
		       mem.huge_error != 0 ? ns_strerror(mem.huge_error) : "");

	ns_consumer_destroy(stage2);
	ns_consumer_destroy(stage1);
	ns_ring_destroy(ring);
	return v.checksum == expected && v.events == n && v.errors == 0 ? 0 : 1;
}

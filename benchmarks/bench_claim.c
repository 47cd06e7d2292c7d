/* SPDX-License-Identifier: MIT */
/*
 * Single-thread claim + publish cost (ns/event), the producer's own overhead with no consumer
 * contending: claims of 1 and of 64, SINGLE and MULTI producer modes, with and without
 * writing an 8-byte event into each slot.
 *
 *   bench_claim [--runs N] [--events N]
 *
 * Each figure is the median of N runs (default 7) after a discarded warm-up run; min and max
 * are shown. The thread is pinned to CPU 0. Lines "figure<TAB>value<TAB>unit" follow the
 * table for scripts.
 */
#include <errno.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <nanostream/nanostream.h>

/* Built twice: against libnanostream.so (figures as named) and statically (suffix .static). */
#ifndef LINKAGE_SUFFIX
#define LINKAGE_SUFFIX ""
#endif

struct workload {
	const char *figure;
	uint32_t producer;
	uint32_t batch;
	bool write;
	bool translator; /* ns_publish(): claim, translate and publish in one call */
};

static const struct workload workloads[] = {
	{ "ring.st.b1", NS_PRODUCER_SINGLE, 1, false, false },
	{ "ring.st.b64", NS_PRODUCER_SINGLE, 64, false, false },
	{ "ring.st.b1.write", NS_PRODUCER_SINGLE, 1, true, false },
	{ "ring.st.b64.write", NS_PRODUCER_SINGLE, 64, true, false },
	{ "ring.st.b1.translator", NS_PRODUCER_SINGLE, 1, true, true },
	{ "ring.st.mp.b1", NS_PRODUCER_MULTI, 1, false, false },
	{ "ring.st.mp.b64", NS_PRODUCER_MULTI, 64, false, false },
};

static int
write_event(void *slot, int64_t seq, void *arg)
{
	(void)arg;
	*(uint64_t *)slot = (uint64_t)seq;
	return 0;
}

static volatile uint64_t sink; /* keeps the compiler from dropping the loops */

static double
run_once(const struct workload *w, uint64_t events)
{
	struct ns_ring_opts o = NS_RING_OPTS_INIT;
	ns_ring *ring = NULL;
	uint64_t n = events / w->batch;

	o.capacity = 4096;
	o.slot_size = 8;
	o.producer = w->producer;
	if (ns_ring_create(&ring, &o) < 0) {
		fprintf(stderr, "ns_ring_create failed\n");
		exit(1);
	}
	int64_t t0 = ns_clock_ns();
	if (w->translator) {
		for (uint64_t i = 0; i < n; i++)
			ns_publish(ring, write_event, NULL);
	} else if (w->batch == 1) {
		for (uint64_t i = 0; i < n; i++) {
			int64_t seq = ns_ring_claim(ring);
			if (w->write)
				*(uint64_t *)ns_ring_slot(ring, seq) = i;
			ns_ring_publish(ring, seq);
		}
	} else {
		for (uint64_t i = 0; i < n; i++) {
			int64_t first = ns_ring_claim_n(ring, w->batch);
			if (w->write) {
				struct ns_ring_span sp;
				ns_ring_span(ring, first, w->batch, &sp);
				for (int run = 0; run < 2; run++) {
					uint64_t *slot = sp.data[run];
					for (size_t k = 0; k < sp.count[run]; k++)
						slot[k] = i + k;
				}
			}
			ns_ring_publish_n(ring, first, w->batch);
		}
	}
	int64_t t1 = ns_clock_ns();
	sink += (uint64_t)ns_ring_cursor(ring);
	ns_ring_destroy(ring);
	return (double)(t1 - t0) / (double)(n * w->batch);
}

static int
cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

int
main(int argc, char **argv)
{
	uint32_t runs = 7;
	uint64_t events = 50000000;
	const size_t nw = sizeof(workloads) / sizeof(workloads[0]);
	double median[sizeof(workloads) / sizeof(workloads[0])];

	for (int i = 1; i + 1 < argc; i += 2) {
		if (strcmp(argv[i], "--runs") == 0)
			runs = (uint32_t)strtoul(argv[i + 1], NULL, 10);
		else if (strcmp(argv[i], "--events") == 0)
			events = strtoull(argv[i + 1], NULL, 10);
	}
	if (runs == 0 || runs > 99 || events < 64) {
		fprintf(stderr, "usage: %s [--runs 1..99] [--events N>=64]\n", argv[0]);
		return 2;
	}

	cpu_set_t set;
	CPU_ZERO(&set);
	CPU_SET(0, &set);
	bool pinned = sched_setaffinity(0, sizeof(set), &set) == 0;

	printf("nanostream %s single-thread claim+publish (%s), %llu events x %u runs (median "
	       "[min, max]), %s\n",
	       ns_version(), LINKAGE_SUFFIX[0] != 0 ? "static library" : "shared library",
	       (unsigned long long)events, runs, pinned ? "pinned to CPU 0" : "unpinned");
	printf("%-28s %10s %10s %10s\n", "figure", "ns/event", "min", "max");
	for (size_t w = 0; w < nw; w++) {
		double t[99];
		run_once(&workloads[w], events / 4); /* warm-up, discarded */
		for (uint32_t r = 0; r < runs; r++)
			t[r] = run_once(&workloads[w], events);
		qsort(t, runs, sizeof(double), cmp_double);
		median[w] = t[runs / 2];
		printf("%-21s%-7s %10.3f %10.3f %10.3f\n", workloads[w].figure, LINKAGE_SUFFIX,
		       median[w], t[0], t[runs - 1]);
	}
	printf("\n");
	for (size_t w = 0; w < nw; w++)
		printf("%s%s\t%.3f\tns/event\n", workloads[w].figure, LINKAGE_SUFFIX, median[w]);
	return 0;
}

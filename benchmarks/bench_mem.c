/* SPDX-License-Identifier: MIT */
/*
 * What the memory policy buys, measured:
 *
 *  1. A large ring (default 2^22 slots of 64 bytes: 256 MiB) streamed by one producer and one
 *     consumer on their own CPUs, several laps, on normal pages, hugetlb pages (MAP_HUGETLB;
 *     libhugetlbfs maps the same kernel pages) and THP. Figure: M events/s; ratio to normal.
 *     The machine's floor in the same run: one thread writing then reading the same bytes
 *     (64 per event) of a normal-page buffer, as M events/s.
 *  2. The first million events of a fresh ring (2^20 slots of 64 bytes, so every event is the
 *     first touch of its slot) with and without pre-fault, normal and huge pages. Figures:
 *     ms for the million events, ms for create; ratio without/with.
 *
 *   bench_mem [--runs N] [--slots-log2 N] [--laps N]
 *
 * As root it reserves the huge pages it needs (vm.nr_hugepages) and gives them back after;
 * otherwise hugetlb figures need enough free huge pages, or are reported as skipped. Each
 * figure is the median of N runs (default 7) after a warm-up; min and max are shown. Lines
 * "figure<TAB>value<TAB>unit" follow for scripts.
 */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <nanostream/nanostream.h>

#include "median.h"
#include "memutil.h" /* tests/common: /proc and /sys readers */

#define SLOT_SIZE    64u   /* bytes written and read per event */
#define SPARSE_SLOT  4096u /* a slot sized for the largest message, holding a small one */
#define FIRST_EVENTS (UINT64_C(1) << 20)
#define NR_HUGEPAGES "/proc/sys/vm/nr_hugepages"
#define MAX_RUNS     64
#define MAX_FIGURES  96
#define PRODUCER_CPU 0
#define CONSUMER_CPU 1

struct figure {
	char name[80];
	const char *unit;
	double median, min, max;
	bool skipped;
};

static struct figure figures[MAX_FIGURES];
static int nfigures;

static void
add_figure(const char *name, const char *unit, double *v, int n)
{
	struct figure *f = &figures[nfigures++];
	snprintf(f->name, sizeof(f->name), "%s", name);
	f->unit = unit;
	f->skipped = n == 0;
	if (n == 0)
		return;
	nsb_median(v, n, &f->median, &f->min, &f->max);
}

static const struct figure *
find_figure(const char *name)
{
	for (int i = 0; i < nfigures; i++)
		if (strcmp(figures[i].name, name) == 0 && !figures[i].skipped)
			return &figures[i];
	return NULL;
}

static void
add_ratio(const char *name, const char *num, const char *den)
{
	const struct figure *a = find_figure(num), *b = find_figure(den);
	struct figure *f = &figures[nfigures++];
	snprintf(f->name, sizeof(f->name), "%s", name);
	f->unit = "ratio";
	f->skipped = a == NULL || b == NULL;
	if (!f->skipped)
		f->median = f->min = f->max = a->median / b->median;
}

static void
pin(int cpu)
{
	cpu_set_t set;
	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	sched_setaffinity(0, sizeof(set), &set);
}

/* --- the streaming ring ----------------------------------------------------------------- */

struct sum {
	uint64_t value;
};

static int
sum_event(void *ctx, void *slot, int64_t seq, bool end)
{
	(void)seq, (void)end;
	const uint64_t *w = slot;
	uint64_t s = 0;
	for (unsigned i = 0; i < SLOT_SIZE / 8; i++)
		s += w[i];
	((struct sum *)ctx)->value += s;
	return 0;
}

static ns_ring *
make_ring(uint64_t slots, uint32_t slot_size, uint32_t policy, uint32_t sources, uint32_t flags,
	  double *create_ms)
{
	struct ns_ring_opts o = NS_RING_OPTS_INIT;
	ns_ring *ring = NULL;
	o.capacity = slots;
	o.slot_size = slot_size;
	o.wait = NS_WAIT_YIELD;
	o.mem_policy = policy;
	o.mem_sources = sources;
	o.mem_flags = flags;
	int64_t t0 = ns_clock_ns();
	int rc = ns_ring_create(&ring, &o);
	if (create_ms != NULL)
		*create_ms = (double)(ns_clock_ns() - t0) / 1e6;
	return rc == 0 ? ring : NULL;
}

/* Fill the 64-byte event of number @i. */
static inline void
fill(uint64_t *w, uint64_t i)
{
	for (unsigned k = 0; k < SLOT_SIZE / 8; k++)
		w[k] = i + k;
}

/*
 * One producer (this thread) writes @events 64-byte events, claiming @batch slots at a time;
 * one consumer thread reads and sums them. Returns the ns from the first claim to the last
 * event consumed, or -1.
 */
static int64_t
stream(ns_ring *ring, uint64_t events, uint32_t batch)
{
	struct ns_consumer_opts co = NS_CONSUMER_OPTS_INIT;
	struct sum sum = { 0 };
	ns_consumer *c = NULL;
	co.on_event = sum_event;
	co.ctx = &sum;
	if (ns_consumer_create(&c, ring, &co) != 0 ||
	    ns_consumer_start(c, CONSUMER_CPU, "bench-consumer") != 0)
		return -1;
	pin(PRODUCER_CPU);
	int64_t t0 = ns_clock_ns();
	uint64_t expect = 0;
	if (batch == 1) {
		for (uint64_t i = 0; i < events; i++) {
			int64_t seq = ns_ring_claim(ring);
			fill(ns_ring_slot(ring, seq), i);
			expect += 8 * i + 28;
			ns_ring_publish(ring, seq);
		}
	}
	for (uint64_t i = 0; batch > 1 && i < events; i += batch) {
		int64_t first = ns_ring_claim_n(ring, batch);
		struct ns_ring_span span;
		ns_ring_span(ring, first, batch, &span);
		uint64_t e = i;
		for (int run = 0; run < 2; run++) {
			uint8_t *slot = span.data[run];
			for (size_t k = 0; k < span.count[run]; k++, e++, slot += span.stride) {
				fill((uint64_t *)(void *)slot, e);
				expect += 8 * e + 28;
			}
		}
		ns_ring_publish_n(ring, first, batch);
	}
	uint64_t remaining = 0;
	int drained = ns_ring_drain(ring, ns_clock_ns() + INT64_C(60000000000), &remaining);
	int64_t elapsed = ns_clock_ns() - t0;
	ns_consumer_join(c);
	ns_consumer_destroy(c);
	if (drained != 0 || sum.value != expect || remaining != 0) {
		fprintf(stderr, "bench_mem: consumer saw the wrong events\n");
		exit(1);
	}
	return elapsed;
}

/* Per-event latencies, in buckets of LAT_BUCKET_NS up to LAT_BUCKETS (the rest: the last). */
#define LAT_BUCKET_NS 16
#define LAT_BUCKETS   65536
static uint32_t lat_hist[LAT_BUCKETS];

struct first_result {
	int64_t total_ns, p99_ns, worst_ns;
};

/*
 * The producer alone (no consumer, so it never waits) writes the first @events events of a
 * fresh ring: each is the first touch of its slot. Times every claim + write + publish.
 */
static struct first_result
first_events(ns_ring *ring, uint64_t events)
{
	struct first_result res = { 0, 0, 0 };
	memset(lat_hist, 0, sizeof(lat_hist));
	pin(PRODUCER_CPU);
	int64_t t0 = ns_clock_ns(), prev = t0;
	for (uint64_t i = 0; i < events; i++) {
		int64_t seq = ns_ring_claim(ring);
		fill(ns_ring_slot(ring, seq), i);
		ns_ring_publish(ring, seq);
		int64_t now = ns_clock_ns(), d = now - prev;
		if (d > res.worst_ns)
			res.worst_ns = d;
		uint64_t b = (uint64_t)d / LAT_BUCKET_NS;
		lat_hist[b < LAT_BUCKETS ? b : LAT_BUCKETS - 1]++;
		prev = now;
	}
	res.total_ns = prev - t0;
	uint64_t seen = 0;
	for (uint32_t b = 0; b < LAT_BUCKETS; b++) {
		seen += lat_hist[b];
		if (seen * 100 >= events * 99) {
			res.p99_ns = (int64_t)(b + 1) * LAT_BUCKET_NS;
			break;
		}
	}
	return res;
}

/* Floor: one thread writes then reads 64 bytes per event over a buffer of the same size. */
static double
floor_meps(size_t bytes, int laps)
{
	uint8_t *buf = mmap(NULL, bytes, PROT_READ | PROT_WRITE,
			    MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
	if (buf == MAP_FAILED)
		return 0;
	volatile uint64_t sink = 0;
	uint64_t events = bytes / SLOT_SIZE * (uint64_t)laps;
	int64_t t0 = ns_clock_ns();
	for (int lap = 0; lap < laps; lap++) {
		for (size_t off = 0; off < bytes; off += SLOT_SIZE) {
			uint64_t *w = (uint64_t *)(void *)(buf + off);
			for (unsigned k = 0; k < SLOT_SIZE / 8; k++)
				w[k] = off + k;
		}
		uint64_t s = 0;
		for (size_t off = 0; off < bytes; off += 8)
			s += *(uint64_t *)(void *)(buf + off);
		sink += s;
	}
	int64_t elapsed = ns_clock_ns() - t0;
	munmap(buf, bytes);
	(void)sink;
	return (double)events / ((double)elapsed / 1e3);
}

struct kind {
	const char *name;
	uint32_t policy, sources;
	uint32_t expect; /* the source it must get, or the figure is skipped */
};

static const struct kind kinds[] = {
	{ "normal", NS_MEM_NORMAL, 0, NS_MEM_SRC_NORMAL },
	{ "hugetlb", NS_MEM_HUGE, NS_MEM_SRC_MAP_HUGETLB, NS_MEM_SRC_MAP_HUGETLB },
	{ "thp", NS_MEM_HUGE, NS_MEM_SRC_THP, NS_MEM_SRC_THP },
};
#define NKINDS (sizeof(kinds) / sizeof(kinds[0]))

static uint32_t
source_of(const ns_ring *ring)
{
	struct ns_mem_info info = NS_MEM_INFO_INIT;
	ns_ring_mem_info(ring, &info);
	return info.source;
}

/* Ring shapes for the large-ring figures; each moves 64 bytes per event. */
static const struct shape {
	const char *name;
	uint32_t slot_size, batch;
} shapes[] = {
	{ "b1", SLOT_SIZE, 1 },	      /* one event per claim */
	{ "b64", SLOT_SIZE, 64 },     /* 64 per claim: near memory speed */
	{ "sparse", SPARSE_SLOT, 1 }, /* 4 KiB slots holding 64-byte events: a page per event */
};

static void
bench_large(int runs, unsigned slots_log2, int laps)
{
	double v[MAX_RUNS];
	char name[80], num[80], den[80];

	for (size_t b = 0; b < sizeof(shapes) / sizeof(shapes[0]); b++) {
		/* Every shape spans the same bytes: 2^slots_log2 slots of 64 bytes. */
		uint64_t slots = (UINT64_C(1) << slots_log2) * SLOT_SIZE / shapes[b].slot_size;
		uint64_t events = slots * (uint64_t)laps;
		/*
		 * The kinds take turns within each run, so that drift on a shared machine
		 * falls on all of them alike. Run -1 is a warm-up, discarded.
		 */
		double kv[NKINDS][MAX_RUNS];
		int n[NKINDS] = { 0 };
		bool usable[NKINDS] = { true, true, true };
		for (int r = -1; r < runs; r++) {
			for (size_t k = 0; k < NKINDS; k++) {
				if (!usable[k])
					continue;
				ns_ring *ring =
					make_ring(slots, shapes[b].slot_size, kinds[k].policy,
						  kinds[k].sources, 0, NULL);
				if (ring == NULL || source_of(ring) != kinds[k].expect) {
					ns_ring_destroy(ring);
					usable[k] = false;
					n[k] = 0;
					continue;
				}
				int64_t ns = stream(ring, events, shapes[b].batch);
				ns_ring_destroy(ring);
				if (ns > 0 && r >= 0)
					kv[k][n[k]++] = (double)events / ((double)ns / 1e3);
			}
		}
		for (size_t k = 0; k < NKINDS; k++) {
			snprintf(name, sizeof(name), "mem.large.%s.%s", shapes[b].name,
				 kinds[k].name);
			add_figure(name, "Mev/s", kv[k], n[k]);
		}
		for (size_t k = 1; k < sizeof(kinds) / sizeof(kinds[0]); k++) {
			snprintf(name, sizeof(name), "mem.large.%s.%s/normal", shapes[b].name,
				 kinds[k].name);
			snprintf(num, sizeof(num), "mem.large.%s.%s", shapes[b].name,
				 kinds[k].name);
			snprintf(den, sizeof(den), "mem.large.%s.normal", shapes[b].name);
			add_ratio(name, num, den);
		}
	}
	int n = 0;
	for (int r = 0; r < runs; r++)
		v[n++] = floor_meps((size_t)(UINT64_C(1) << slots_log2) * SLOT_SIZE, laps);
	add_figure("mem.large.floor", "Mev/s", v, n);
	add_ratio("mem.large.b64.normal/floor", "mem.large.b64.normal", "mem.large.floor");
}

static void
bench_first_million(int runs)
{
	double total[MAX_RUNS], p99[MAX_RUNS], worst[MAX_RUNS], create[MAX_RUNS];
	char name[80], num[80], den[80];

	for (size_t k = 0; k < sizeof(kinds) / sizeof(kinds[0]); k++) {
		for (int pre = 1; pre >= 0; pre--) {
			const char *tag = pre ? "prefault" : "noprefault";
			int n = 0;
			for (int r = -1; r < runs; r++) {
				double create_ms;
				/* AUTO limited to one source: HUGE would pre-fault THP to check it. */
				uint32_t policy = kinds[k].policy == NS_MEM_NORMAL ? NS_MEM_NORMAL
										   : NS_MEM_AUTO;
				ns_ring *ring =
					make_ring(FIRST_EVENTS, SLOT_SIZE, policy, kinds[k].sources,
						  pre ? 0 : NS_MEM_F_NO_PREFAULT, &create_ms);
				if (ring == NULL || source_of(ring) != kinds[k].expect) {
					ns_ring_destroy(ring);
					break;
				}
				struct first_result fr = first_events(ring, FIRST_EVENTS);
				ns_ring_destroy(ring);
				if (r >= 0) {
					total[n] = (double)fr.total_ns / 1e6;
					p99[n] = (double)fr.p99_ns / 1e3;
					worst[n] = (double)fr.worst_ns / 1e3;
					create[n++] = create_ms;
				}
			}
			snprintf(name, sizeof(name), "mem.first1m.%s.%s", kinds[k].name, tag);
			add_figure(name, "ms", total, n);
			snprintf(name, sizeof(name), "mem.first1m.%s.%s.p99", kinds[k].name, tag);
			add_figure(name, "us", p99, n);
			snprintf(name, sizeof(name), "mem.first1m.%s.%s.worst", kinds[k].name, tag);
			add_figure(name, "us", worst, n);
			snprintf(name, sizeof(name), "mem.create64m.%s.%s", kinds[k].name, tag);
			add_figure(name, "ms", create, n);
		}
		const char *stats[] = { "", ".p99", ".worst" };
		for (size_t i = 0; i < 3; i++) {
			snprintf(name, sizeof(name), "mem.first1m.%s%s.noprefault/prefault",
				 kinds[k].name, stats[i]);
			snprintf(num, sizeof(num), "mem.first1m.%s.noprefault%s", kinds[k].name,
				 stats[i]);
			snprintf(den, sizeof(den), "mem.first1m.%s.prefault%s", kinds[k].name,
				 stats[i]);
			add_ratio(name, num, den);
		}
	}
}

/* --- huge pages for the run ------------------------------------------------------------- */

int
main(int argc, char **argv)
{
	int runs = 7, laps = 3;
	unsigned slots_log2 = 22;

	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--runs") == 0 && i + 1 < argc)
			runs = atoi(argv[++i]);
		else if (strcmp(argv[i], "--slots-log2") == 0 && i + 1 < argc)
			slots_log2 = (unsigned)atoi(argv[++i]);
		else if (strcmp(argv[i], "--laps") == 0 && i + 1 < argc)
			laps = atoi(argv[++i]);
		else {
			fprintf(stderr,
				"usage: bench_mem [--runs N] [--slots-log2 N] [--laps N]\n");
			return 2;
		}
	}
	if (runs < 1 || runs > MAX_RUNS || slots_log2 < 10 || slots_log2 > 26 || laps < 1) {
		fprintf(stderr, "bench_mem: runs 1..%d, slots-log2 10..26, laps >= 1\n", MAX_RUNS);
		return 2;
	}

	/* Pages for the large ring plus the 64 MiB one, and some to spare. */
	long need =
		(long)(((UINT64_C(1) << slots_log2) * SLOT_SIZE + (UINT64_C(64) << 20)) >> 21) + 4;
	long before = mu_read_long(NR_HUGEPAGES);
	bool reserved = false;
	if (geteuid() == 0 && before >= 0) {
		mu_write_long(NR_HUGEPAGES, before + need);
		reserved = true;
	}

	bench_large(runs, slots_log2, laps);
	bench_first_million(runs);

	if (reserved)
		mu_write_long(NR_HUGEPAGES, before);

	printf("%-46s %12s %12s %12s  %s\n", "figure", "median", "min", "max", "unit");
	for (int i = 0; i < nfigures; i++) {
		const struct figure *f = &figures[i];
		if (f->skipped)
			printf("%-46s %12s %12s %12s  %s\n", f->name, "skipped", "-", "-", f->unit);
		else
			printf("%-46s %12.3f %12.3f %12.3f  %s\n", f->name, f->median, f->min,
			       f->max, f->unit);
	}
	printf("\n");
	for (int i = 0; i < nfigures; i++) {
		if (!figures[i].skipped)
			printf("%s\t%.4f\t%s\n", figures[i].name, figures[i].median,
			       figures[i].unit);
	}
	return 0;
}

/* SPDX-License-Identifier: MIT */
/*
 * ns-bench: nanostream's workloads against peers and the machine's floor, in one run.
 *
 *   ns-bench list
 *   ns-bench run [NAME...] [--runs N] [--seconds S] [--format table|tsv|json] [--cpus A,B]
 *                [--hist DIR]
 *
 * NAME selects workloads by prefix ("ring.p1c1", "peer", "floor.c2c2.rtt"); none means all.
 * Each figure is the median of N runs (default 5) after one discarded warm-up run, with min
 * and max; the workloads take turns, one run each per round. Threads are pinned to the --cpus list in turn (default: every online CPU).
 */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <time.h>
#include <time.h>
#include <unistd.h>

#include <nanostream/nanostream.h>

#include "median.h"
#include "nsb.h"

#ifndef NSB_BUILD_FLAGS
#define NSB_BUILD_FLAGS "unknown"
#endif

#define MAX_RUNS    101
#define MAX_FIGURES 256
#define NPCT	    5

static const double pct_value[NPCT] = { 50.0, 90.0, 99.0, 99.9, 100.0 };
static const char *const pct_name[NPCT] = { ".p50", ".p90", ".p99", ".p999", ".max" };

/* --- figures ------------------------------------------------------------------------------ */

struct figure {
	char name[128];
	const char *unit;
	bool lower_better;
	int n;
	double runs[MAX_RUNS];
	double median, min, max;
	const char *error; /* the workload failed: no value */
};

static struct figure figures[MAX_FIGURES];
static int nfigures;

static struct figure *
new_figure(const char *name, const char *unit, bool lower_better)
{
	if (nfigures == MAX_FIGURES)
		return NULL;
	struct figure *f = &figures[nfigures++];
	memset(f, 0, sizeof(*f));
	snprintf(f->name, sizeof(f->name), "%s", name);
	f->unit = unit;
	f->lower_better = lower_better;
	return f;
}

static void
settle(struct figure *f)
{
	double v[MAX_RUNS];
	if (f->n == 0)
		return;
	memcpy(v, f->runs, sizeof(double) * (size_t)f->n);
	nsb_median(v, f->n, &f->median, &f->min, &f->max);
}

static const struct figure *
find(const char *name)
{
	for (int i = 0; i < nfigures; i++)
		if (strcmp(figures[i].name, name) == 0 && figures[i].n > 0 && !figures[i].error)
			return &figures[i];
	return NULL;
}

/* --- the workload list -------------------------------------------------------------------- */

static int
all_workloads(const struct nsb_workload **out, int max)
{
	const struct nsb_workload *const lists[] = { nsb_floor_workloads, nsb_ours_workloads,
						     nsb_mutex_workloads, nsb_ck_workloads,
						     nsb_rte_workloads,	  nsb_queue_workloads,
						     nsb_ipc_workloads,	  nsb_udp_workloads,
						     nsb_cxx_workloads };
	int n = 0;
	for (size_t l = 0; l < sizeof(lists) / sizeof(lists[0]); l++)
		for (const struct nsb_workload *w = lists[l]; w->base != NULL && n < max; w++)
			out[n++] = w;
	return n;
}

static void
full_name(const struct nsb_workload *w, char *buf, size_t size)
{
	snprintf(buf, size, "%s%s", w->base, w->suffix);
}

static const char *
unit_of(enum nsb_kind k)
{
	return k == NSB_RATE ? "ev/s" : k == NSB_COST ? "ns/event" : "ns";
}

/* --- running ------------------------------------------------------------------------------ */

struct settings {
	int runs;
	double seconds;
	const char *format;
	const char *hist_dir;
	struct nsb_env env;
	char warnings[16][160];
	int nwarnings;
	/*
	 * --placement: keep only runs made in this placement of the two vCPUs (0: any; 1: close,
	 * 2: far), told by nsb_probe_rtt() before and after each run against placement_ns.
	 */
	int placement;
	int64_t placement_ns;
	double placement_wait; /* seconds to wait for the placement, per run */
	int64_t probe_min, probe_max;
	int discarded, skipped;
};

static void
warn(struct settings *s, const char *fmt, ...)
{
	va_list ap;
	char buf[160];
	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	fprintf(stderr, "warning: %s\n", buf);
	if (s->nwarnings < 16)
		snprintf(s->warnings[s->nwarnings++], sizeof(s->warnings[0]), "%s", buf);
}

static void
write_hgrm(const struct settings *s, const char *name, const struct nsb_hist *h)
{
	char path[512];
	snprintf(path, sizeof(path), "%s/%s.hgrm", s->hist_dir, name);
	FILE *f = fopen(path, "w");
	if (f == NULL) {
		fprintf(stderr, "ns-bench: cannot write %s: %s\n", path, strerror(errno));
		return;
	}
	nsb_hist_write_hgrm(h, f);
	fclose(f);
}

/* One workload's figures and merged histogram, filled round by round. */
struct slot {
	const struct nsb_workload *w;
	struct figure *f[NPCT];
	int nf;
	bool failed;
	struct nsb_hist *total;
};

static int
open_slot(struct slot *sl, const struct nsb_workload *w)
{
	char name[96], fname[128];
	memset(sl, 0, sizeof(*sl));
	sl->w = w;
	sl->nf = w->kind == NSB_LATENCY ? NPCT : 1;
	full_name(w, name, sizeof(name));
	for (int i = 0; i < sl->nf; i++) {
		if (w->kind == NSB_LATENCY)
			snprintf(fname, sizeof(fname), "%s%s%s", w->base, pct_name[i], w->suffix);
		else
			snprintf(fname, sizeof(fname), "%s", name);
		sl->f[i] = new_figure(fname, unit_of(w->kind), w->kind != NSB_RATE);
		if (sl->f[i] == NULL)
			return -1;
	}
	if (w->kind == NSB_LATENCY) {
		sl->total = malloc(sizeof(*sl->total));
		if (sl->total == NULL)
			return -1;
		nsb_hist_reset(sl->total);
	}
	return 0;
}

static const char *const placement_names[3] = { "any", "close", "far" };

/* The placement now: 1 close, 2 far (or 0 when the probe fails), recorded in @s. */
static int
probe_placement(struct settings *s)
{
	int64_t rtt = nsb_probe_rtt(&s->env);
	if (rtt < 0)
		return 0;
	if (s->probe_min == 0 || rtt < s->probe_min)
		s->probe_min = rtt;
	if (rtt > s->probe_max)
		s->probe_max = rtt;
	return rtt < s->placement_ns ? 1 : 2;
}

/* Wait (bounded by placement_wait) until the placement is the one asked for. */
static bool
await_placement(struct settings *s)
{
	int64_t until = nsb_now() + (int64_t)(s->placement_wait * 1e9);
	for (;;) {
		if (probe_placement(s) == s->placement)
			return true;
		if (nsb_now() > until)
			return false;
		struct timespec nap = { 0, 200000000 };
		nanosleep(&nap, NULL);
	}
}

static void run_once_now(struct settings *s, struct slot *sl, bool keep);
static struct nsb_hist hist; /* the last run's distribution */

/*
 * Run @sl's workload once; @keep is false for the warm-up round. With --placement the run
 * counts only if the placement asked for held before and after it: otherwise it is made
 * again (at most 5 times), and a run that never finds the placement is left out.
 */
static void
run_once(struct settings *s, struct slot *sl, bool keep)
{
	if (!keep || s->placement == 0 || sl->failed) {
		run_once_now(s, sl, keep);
		return;
	}
	for (int attempt = 0; attempt < 5; attempt++) {
		if (!await_placement(s))
			break;
		int before[NPCT];
		for (int i = 0; i < sl->nf; i++)
			before[i] = sl->f[i]->n;
		run_once_now(s, sl, true);
		if (sl->failed)
			return;
		if (probe_placement(s) == s->placement) {
			if (sl->total != NULL)
				nsb_hist_merge(sl->total, &hist);
			return;
		}
		for (int i = 0; i < sl->nf; i++) /* moved during the run: not this placement's */
			sl->f[i]->n = before[i];
		s->discarded++;
	}
	s->skipped++;
}

static void
run_once_now(struct settings *s, struct slot *sl, bool keep)
{
	struct nsb_run run;
	char name[96];

	if (sl->failed)
		return;
	full_name(sl->w, name, sizeof(name));
	memset(&run, 0, sizeof(run));
	nsb_hist_reset(&hist);
	run.hist = &hist;
	if (sl->w->run(sl->w, &s->env, &run) != 0 && run.error[0] == '\0')
		snprintf(run.error, sizeof(run.error), "could not set the workload up");
	if (run.error[0] != '\0') {
		fprintf(stderr, "\nns-bench: %s: %s\n", name, run.error);
		for (int i = 0; i < sl->nf; i++)
			sl->f[i]->error = "failed";
		sl->failed = true;
		return;
	}
	if (!keep)
		return;
	if (sl->w->kind == NSB_LATENCY) {
		for (int i = 0; i < NPCT; i++)
			sl->f[i]->runs[sl->f[i]->n++] =
				(double)nsb_hist_percentile(&hist, pct_value[i]);
		if (s->placement == 0) /* else once the run is known to count (run_once()) */
			nsb_hist_merge(sl->total, &hist);
	} else {
		sl->f[0]->runs[sl->f[0]->n++] = run.value;
	}
}

/*
 * Rounds: every selected workload runs once per round, in turn, so slow drift on a shared
 * machine (another tenant, the host moving our vCPUs) falls on all of them alike and the
 * ratios compare like with like. Round 0 is the warm-up and is discarded.
 */
static void
run_rounds(struct settings *s, const struct nsb_workload *const *chosen, int count)
{
	struct slot *slots = calloc((size_t)count, sizeof(*slots));
	char name[96];
	if (slots == NULL)
		return;
	for (int i = 0; i < count; i++)
		if (open_slot(&slots[i], chosen[i]) != 0)
			slots[i].failed = true;
	/* On a terminal one line rewritten in place; in a log, one line per round. */
	const bool tty = isatty(STDERR_FILENO) != 0;
	for (int r = 0; r <= s->runs; r++) {
		if (!tty && r == 0)
			fprintf(stderr, "ns-bench: warm-up round\n");
		else if (!tty)
			fprintf(stderr, "ns-bench: round %d/%d\n", r, s->runs);
		for (int i = 0; i < count; i++) {
			full_name(chosen[i], name, sizeof(name));
			if (tty && r == 0)
				fprintf(stderr, "\r[warm-up %d/%d] %-32s   ", i + 1, count, name);
			else if (tty)
				fprintf(stderr, "\r[round %d/%d, %d/%d] %-32s   ", r, s->runs,
					i + 1, count, name);
			fflush(stderr);
			run_once(s, &slots[i], r > 0);
		}
	}
	for (int i = 0; i < count; i++) {
		for (int k = 0; k < slots[i].nf && slots[i].f[k] != NULL; k++)
			settle(slots[i].f[k]);
		if (slots[i].total != NULL && s->hist_dir != NULL && !slots[i].failed) {
			full_name(chosen[i], name, sizeof(name));
			write_hgrm(s, name, slots[i].total);
		}
		free(slots[i].total);
	}
	free(slots);
}

/* --- ratios and targets ------------------------------------------------------------------- */

struct ratio {
	const char *num, *den;
};

static const struct ratio ratios[] = {
	{ "ring.p1c1.b1", "peer.mutex.p1c1.b1" },
	{ "ring.p1c1.b1", "peer.ck.p1c1.b1" },
	{ "ring.p1c1.b1", "peer.rte.p1c1.b1" },
	{ "ring.p1c1.b64", "peer.mutex.p1c1.b64" },
	{ "ring.p1c1.b64", "peer.rte.p1c1.b64" },
	{ "ring.p1c1.b64", "floor.handoff.b64" },
	{ "ring.p1c1.b1", "floor.handoff.b64" },
	{ "ring.pingpong.rtt.p50", "floor.c2c2.rtt.p50" },
	{ "ring.pingpong.rtt.p99", "floor.c2c2.rtt.p50" },
	{ "ring.pingpong.rtt.p50", "floor.c2c1.rtt.p50" },
	{ "ring.pingpong.rtt.p50.slotseq", "floor.c2c2.rtt.p50" },
	{ "ring.pingpong.rtt.p99.slotseq", "floor.c2c2.rtt.p50" },
	{ "ring.pingpong.rtt.p50.slotseq", "ring.pingpong.rtt.p50" },
	{ "ring.p1c1.b1.slotseq", "ring.p1c1.b1" },
	{ "ring.pingpong.rtt.p50", "peer.ck.pingpong.rtt.p50" },
	{ "ring.pingpong.rtt.p50", "peer.rte.pingpong.rtt.p50" },
	{ "ring.pingpong.rtt.p50.block", "peer.mutex.pingpong.rtt.p50" },
	{ "ring.pingpong.rtt.p99.block", "peer.mutex.pingpong.rtt.p99" },
	{ "ring.p2c1", "peer.ck.p2c1" },
	{ "ring.p2c1", "peer.rte.p2c1" },
	{ "ring.p2c1", "peer.mutex.p2c1" },
	{ "ring.p2c1.yield", "peer.ck.p2c1.yield" },
	{ "ring.p2c1.yield", "peer.rte.p2c1.yield" },
	{ "ring.p2c1.yield", "peer.mutex.p2c1" },
	{ "ring.p1c1.b1.cxx", "ring.p1c1.b1" },
	{ "ring.pingpong.rtt.p50.cxx", "ring.pingpong.rtt.p50" },
	{ "ring.pingpong.rtt.p99.cxx", "ring.pingpong.rtt.p99" },
	{ "ipc.rtt.32.p50", "floor.c2c2.rtt.p50" },
	{ "ipc.rtt.32.p99", "floor.c2c2.rtt.p50" },
	{ "ipc.rtt.32.p50", "ring.pingpong.rtt.p50" },
	{ "ipc.p1s1.32", "ring.p1c1.b1" },
	{ "ipc.p1s1.32.excl", "ring.p1c1.b1" },
	{ "ipc.p1s1.32.excl", "ipc.p1s1.32" },
	{ "udp.rtt.32.p50", "floor.udp.rtt.p50" },
	{ "udp.rtt.32.p50", "floor.udp.rtt.p50.block" },
	{ "udp.rtt.32.p50.ll", "floor.udp.rtt.p50" },
	{ "udp.rtt.32.p99.ll", "floor.udp.rtt.p50" },
	{ "udp.mc.p1s3.32", "udp.mc.p1s1.32" },
	{ "udp.mdc.p1s3.32", "udp.mc.p1s1.32" },
	{ "udp.mc.p1s1.32", "udp.p1s1.32" },
	{ "udp.mc.rtt.32.p50", "udp.rtt.32.p50" },
	{ "udp.mc.p1s3.32.cpu", "udp.mc.p1s1.32.cpu" },
};

struct target {
	char name[96];
	double value, limit;
	bool met, known;
	char detail[160];
};

static struct target targets[48];
static int ntargets;

static void
target(const char *name, const struct figure *f, double value, bool ge, double limit,
       const char *detail)
{
	struct target *t = &targets[ntargets++];
	snprintf(t->name, sizeof(t->name), "%s", name);
	t->known = f != NULL;
	t->value = value;
	t->limit = limit;
	t->met = t->known && (ge ? value >= limit : value <= limit);
	snprintf(t->detail, sizeof(t->detail), "%s", detail);
}

/* @num >= (@ge) or <= @limit x @den, both figures of this run. */
static void
ratio_target(const char *num, const char *den, bool ge, double limit)
{
	const struct figure *n = find(num), *d = find(den);
	char name[96], detail[160];
	snprintf(name, sizeof(name), "%s %s %g x %s", num, ge ? ">=" : "<=", limit, den);
	snprintf(detail, sizeof(detail), "%s / %s", num, den);
	target(name, d ? n : NULL, n && d ? n->median / d->median : 0, ge, limit, detail);
}

/* ring.pingpong.rtt.<pct><sfx> <= limit_tenths / 10 x floor.c2c2.rtt.p50 */
static void
pingpong_target(const char *pct, const char *sfx, int limit_tenths)
{
	char fig[48], name[96], detail[160];
	double limit = limit_tenths / 10.0;
	snprintf(fig, sizeof(fig), "ring.pingpong.rtt.%.3s%.12s", pct, sfx);
	snprintf(name, sizeof(name), "%s <= %d.%d x floor.c2c2.rtt.p50", fig, limit_tenths / 10,
		 limit_tenths % 10);
	snprintf(detail, sizeof(detail), "%s / floor.c2c2.rtt.p50", fig);
	const struct figure *c2 = find("floor.c2c2.rtt.p50"), *pp = find(fig);
	target(name, c2 ? pp : NULL, pp && c2 ? pp->median / c2->median : 0, false, limit, detail);
}

/*
 * @fig against the best of @peers (NULL-ended) in the same run: >= 1.0 x for rates (@higher),
 * <= 1.0 x for latencies.
 */
static void
pull_target(const char *fig, bool higher, const char *const *peers)
{
	const struct figure *f = find(fig), *best = NULL;
	char name[96], detail[160];

	for (size_t i = 0; peers[i] != NULL; i++) {
		const struct figure *p = find(peers[i]);
		if (p != NULL && (best == NULL ||
				  (higher ? p->median > best->median : p->median < best->median)))
			best = p;
	}
	snprintf(name, sizeof(name), "%s %s 1.0 x the best queue peer", fig, higher ? ">=" : "<=");
	snprintf(detail, sizeof(detail), "%s / %s", fig, best ? best->name : "no peer measured");
	target(name, best ? f : NULL, f && best ? f->median / best->median : 0, higher, 1.0,
	       detail);
}

static void
check_targets(void)
{
	const struct figure *b1 = find("ring.p1c1.b1");
	const char *peers[] = { "peer.mutex.p1c1.b1", "peer.ck.p1c1.b1", "peer.rte.p1c1.b1" };
	double best = 0;
	const char *best_name = "none";
	char d[160];

	for (size_t i = 0; i < 3; i++) {
		const struct figure *p = find(peers[i]);
		if (p != NULL && p->median > best)
			best = p->median, best_name = peers[i];
	}
	snprintf(d, sizeof(d), "ring.p1c1.b1 / best peer (%s)", best_name);
	target("ring.p1c1.b1 >= 1.2 x best peer", best > 0 ? b1 : NULL,
	       b1 && best > 0 ? b1->median / best : 0, true, 1.2, d);
	ratio_target("ring.p1c1.b1", "peer.mutex.p1c1.b1", true, 5.0);
	ratio_target("ring.p1c1.b64", "floor.handoff.b64", true, 0.8);
	pingpong_target("p50", "", 12);
	pingpong_target("p99", "", 20);
	pingpong_target("p50", ".slotseq", 12); /* the latency layout, NS_RING_F_SEQ_IN_SLOT */
	pingpong_target("p99", ".slotseq", 20);
	/* Issue 20: the C++ wrapper costs nothing: within 5 % of the C figures of the same run. */
	ratio_target("ring.p1c1.b1.cxx", "ring.p1c1.b1", true, 0.95);
	ratio_target("ring.pingpong.rtt.p50.cxx", "ring.pingpong.rtt.p50", false, 1.05);
	const struct figure *blk = find("ring.pingpong.rtt.p50.block");
	target("ring.pingpong.rtt.p50.block <= 15 us", blk, blk ? blk->median : 0, false, 15000,
	       "ns");
	const struct figure *st64 = find("ring.st.b64"), *st1 = find("ring.st.b1");
	target("ring.st.b64 < 1 ns/event", st64, st64 ? st64->median : 0, false, 1.0, "ns/event");
	target("ring.st.b1 < 5 ns/event", st1, st1 ? st1->median : 0, false, 5.0, "ns/event");
	const struct figure *p2 = find("ring.p2c1");
	target("ring.p2c1 >= 5 M events/s", p2, p2 ? p2->median / 1e6 : 0, true, 5.0, "M ev/s");
	target("ring.p2c1 no collapse (slowest run >= median / 4)", p2,
	       p2 ? p2->min / p2->median : 0, true, 0.25, "slowest run / median");
	/*
	 * Issue 18: 2 producers -> 1 consumer against the best peer that keeps order (rte_ring
	 * MP/SC, ck_ring MPMC, the mutex queue) in the same run, and the LMAX Disruptor 3.4.4's
	 * 23.8 M ev/s yielding on this machine class.
	 */
	const struct figure *mp_best = NULL;
	const char *const mp_peers[] = { "peer.rte.p2c1", "peer.ck.p2c1", "peer.mutex.p2c1" };
	for (size_t i = 0; i < sizeof(mp_peers) / sizeof(mp_peers[0]); i++) {
		const struct figure *f = find(mp_peers[i]);
		if (f != NULL && (mp_best == NULL || f->median > mp_best->median))
			mp_best = f;
	}
	target("ring.p2c1 >= 15 M events/s", p2, p2 ? p2->median / 1e6 : 0, true, 15.0, "M ev/s");
	target("ring.p2c1 >= 2 x the best order-keeping peer", mp_best ? p2 : NULL,
	       p2 && mp_best ? p2->median / mp_best->median : 0, true, 2.0,
	       "ring.p2c1 / best of peer.{rte,ck,mutex}.p2c1");
	const struct figure *p2y = find("ring.p2c1.yield");
	target("ring.p2c1.yield > 24 M events/s", p2y, p2y ? p2y->median / 1e6 : 0, true, 24.0,
	       "M ev/s");
	/*
	 * Issue 18, the pull family: each ring.pull.* figure against the best queue peer of the
	 * same run that keeps a producer's order, driven the same way (push 1 / pop 1, batches of
	 * 64, 2 producers / pop 1, ping-pong); atomic_queue's MPMC reorders, so it is left out.
	 */
	pull_target("ring.pull.p1c1.b1", true,
		    (const char *const[]){ "peer.spsc.pull.p1c1.b1", "peer.boost.pull.p1c1.b1",
					   "peer.aq.pull.p1c1.b1", "peer.ck.pull.p1c1.b1",
					   "peer.rte.pull.p1c1.b1", NULL });
	pull_target("ring.pull.p1c1.b64", true,
		    (const char *const[]){ "peer.spsc.pull.p1c1.b64", "peer.boost.pull.p1c1.b64",
					   "peer.aq.pull.p1c1.b64", "peer.ck.pull.p1c1.b64",
					   "peer.rte.pull.p1c1.b64", NULL });
	pull_target("ring.pull.p2c1", true,
		    (const char *const[]){ "peer.rte.pull.p2c1", "peer.ck.pull.p2c1",
					   "peer.mutex.pull.p2c1", NULL });
	for (int k = 0; k < 2; k++) {
		const char *pct = k == 0 ? "p50" : "p99";
		char fig[48], peer[5][48];
		const char *names[6] = { NULL };
		const char *q[5] = { "spsc", "boost", "aq", "ck", "rte" };
		snprintf(fig, sizeof(fig), "ring.pull.pingpong.rtt.%s", pct);
		for (int i = 0; i < 5; i++) {
			snprintf(peer[i], sizeof(peer[i]), "peer.%s.pingpong.rtt.%s", q[i], pct);
			names[i] = peer[i];
		}
		pull_target(fig, false, names);
	}
	/* IPC (issue 7): absolute figures on the 2-core VM class; Aeron 1.48's C driver measured
	 * 21.5 M msg/s (32 B), 22 M (256 B), round trip p50 0.60 us, p99 25 us on this class. */
	const struct figure *i32 = find("ipc.p1s1.32"), *ix = find("ipc.p1s1.32.excl");
	const struct figure *r50 = find("ipc.rtt.32.p50"), *r99 = find("ipc.rtt.32.p99");
	target("ipc.p1s1.32 >= 30 M msg/s", i32, i32 ? i32->median / 1e6 : 0, true, 30.0,
	       "M msg/s");
	target("ipc.p1s1.32.excl >= 40 M msg/s", ix, ix ? ix->median / 1e6 : 0, true, 40.0,
	       "M msg/s");
	target("ipc.rtt.32.p50 <= 700 ns", r50, r50 ? r50->median : 0, false, 700, "ns");
	target("ipc.rtt.32.p99 <= 2000 ns", r99, r99 ? r99->median : 0, false, 2000, "ns");
	/*
	 * UDP (issue 17), two processes on loopback, each with its own driver. Aeron 1.48's C
	 * driver measured 1.07 M msg/s of 32 bytes with defaults and 6.0 M tuned on this class.
	 */
	const struct figure *ub = find("floor.udp.bytes"), *u32 = find("udp.p1s1.32");
	ratio_target("udp.rtt.32.p50.ll", "floor.udp.rtt.p50", false, 1.3);
	ratio_target("udp.rtt.32.p50", "floor.udp.rtt.p50", false, 2.0);
	target("udp.p1s1.32 >= 0.5 x floor.udp.bytes / 64", ub ? u32 : NULL,
	       u32 && ub ? u32->median / (ub->median / 64) : 0, true, 0.5,
	       "udp.p1s1.32 / (floor.udp.bytes / 64-byte frames)");
	target("udp.p1s1.32 >= 6.0 M msg/s (Aeron tuned)", u32, u32 ? u32->median / 1e6 : 0, true,
	       6.0, "M msg/s");
	/* Fan-out (issue 19): three receivers of a group against one, same run. */
	const struct figure *m1 = find("udp.mc.p1s1.32"), *m3 = find("udp.mc.p1s3.32");
	target("udp.mc.p1s3.32 >= 0.8 x udp.mc.p1s1.32", m1 ? m3 : NULL,
	       m1 && m3 ? m3->median / m1->median : 0, true, 0.8,
	       "udp.mc.p1s3.32 / udp.mc.p1s1.32");
}

/* --- output ------------------------------------------------------------------------------- */

static void
print_value(FILE *out, double v, const char *unit)
{
	/* 12 columns: a rate in millions, a time in the unit that reads best. */
	if (strcmp(unit, "ev/s") == 0)
		fprintf(out, "%10.2f M", v / 1e6);
	else if (strcmp(unit, "ns") != 0)
		fprintf(out, "%12.3f", v);
	else if (v >= 1e6)
		fprintf(out, "%9.2f ms", v / 1e6);
	else if (v >= 1e4)
		fprintf(out, "%9.2f us", v / 1e3);
	else
		fprintf(out, "%9.1f ns", v);
}

static void
print_table(const struct settings *s)
{
	printf("%-40s %12s %12s %12s  %s\n", "figure", "median", "min", "max", "unit");
	/* Times carry their own unit (ns, us, ms); the last column names the others. */
	for (int i = 0; i < nfigures; i++) {
		const struct figure *f = &figures[i];
		printf("%-40s ", f->name);
		if (f->error != NULL || f->n == 0) {
			printf("%12s %12s %12s  %s\n", "failed", "-", "-", f->unit);
			continue;
		}
		print_value(stdout, f->median, f->unit);
		putchar(' ');
		print_value(stdout, f->min, f->unit);
		putchar(' ');
		print_value(stdout, f->max, f->unit);
		if (strcmp(f->unit, "ns") != 0)
			printf("  %s", f->unit);
		putchar('\n');
	}
	printf("\nratios (same run; events/s: higher is better for ours, ns: lower is)\n");
	for (size_t i = 0; i < sizeof(ratios) / sizeof(ratios[0]); i++) {
		const struct figure *a = find(ratios[i].num), *b = find(ratios[i].den);
		if (a != NULL && b != NULL)
			printf("  %-32s / %-30s %8.3f\n", ratios[i].num, ratios[i].den,
			       a->median / b->median);
	}
	int unmeasured = 0;
	printf("\ntargets\n");
	for (int i = 0; i < ntargets; i++) {
		const struct target *t = &targets[i];
		if (!t->known)
			unmeasured++;
		else
			printf("  %-52s %10.3f  %s  (%s)\n", t->name, t->value,
			       t->met ? "met   " : "MISSED", t->detail);
	}
	if (unmeasured > 0)
		printf("  (%d of %d targets need workloads this run left out)\n", unmeasured,
		       ntargets);
	for (int i = 0; i < s->nwarnings; i++)
		printf("warning: %s\n", s->warnings[i]);
}

static void
print_tsv(void)
{
	for (int i = 0; i < nfigures; i++) {
		const struct figure *f = &figures[i];
		if (f->error == NULL && f->n > 0)
			printf("%s\t%.6g\t%s\n", f->name, f->median, f->unit);
	}
	for (size_t i = 0; i < sizeof(ratios) / sizeof(ratios[0]); i++) {
		const struct figure *a = find(ratios[i].num), *b = find(ratios[i].den);
		if (a != NULL && b != NULL)
			printf("%s/%s\t%.4f\tratio\n", ratios[i].num, ratios[i].den,
			       a->median / b->median);
	}
}

static void
json_string(const char *s)
{
	putchar('"');
	for (; *s; s++) {
		if (*s == '"' || *s == '\\')
			printf("\\%c", *s);
		else if ((unsigned char)*s < 0x20)
			printf("\\u%04x", *s);
		else
			putchar(*s);
	}
	putchar('"');
}

static void
cpu_model(char *buf, size_t size)
{
	FILE *f = fopen("/proc/cpuinfo", "r");
	char line[512];
	snprintf(buf, size, "unknown");
	if (f == NULL)
		return;
	while (fgets(line, sizeof(line), f) != NULL) {
		if (strncmp(line, "model name", 10) == 0) {
			char *p = strchr(line, ':');
			if (p != NULL) {
				p++;
				while (isspace((unsigned char)*p))
					p++;
				p[strcspn(p, "\n")] = '\0';
				snprintf(buf, size, "%s", p);
			}
			break;
		}
	}
	fclose(f);
}

static void
print_json(const struct settings *s)
{
	char model[256];
	struct utsname u;
	uname(&u);
	cpu_model(model, sizeof(model));
	printf("{\n  \"machine\": {\"cpu\": ");
	json_string(model);
	printf(", \"cores\": %ld, \"kernel\": ", sysconf(_SC_NPROCESSORS_ONLN));
	json_string(u.release);
	printf("},\n  \"build\": {\"compiler\": ");
	json_string(__VERSION__);
	printf(", \"flags\": ");
	json_string(NSB_BUILD_FLAGS);
	printf(", \"library\": ");
	json_string(ns_version());
	printf("},\n  \"settings\": {\"runs\": %d, \"seconds\": %g, \"cpus\": [", s->runs,
	       s->env.seconds);
	for (int i = 0; i < s->env.ncpus; i++)
		printf("%s%d", i ? ", " : "", s->env.cpus[i]);
	printf("]},\n  \"figures\": [");
	for (int i = 0; i < nfigures; i++) {
		const struct figure *f = &figures[i];
		printf("%s\n    {\"name\": ", i ? "," : "");
		json_string(f->name);
		printf(", \"unit\": ");
		json_string(f->unit);
		if (f->error != NULL || f->n == 0) {
			printf(", \"error\": \"failed\"}");
			continue;
		}
		printf(", \"median\": %.6g, \"min\": %.6g, \"max\": %.6g, \"runs\": [", f->median,
		       f->min, f->max);
		for (int r = 0; r < f->n; r++)
			printf("%s%.6g", r ? ", " : "", f->runs[r]);
		printf("]}");
	}
	printf("\n  ],\n  \"ratios\": [");
	int first = 1;
	for (size_t i = 0; i < sizeof(ratios) / sizeof(ratios[0]); i++) {
		const struct figure *a = find(ratios[i].num), *b = find(ratios[i].den);
		if (a == NULL || b == NULL)
			continue;
		printf("%s\n    {\"name\": \"%s/%s\", \"value\": %.4f}", first ? "" : ",",
		       ratios[i].num, ratios[i].den, a->median / b->median);
		first = 0;
	}
	printf("\n  ],\n  \"targets\": [");
	for (int i = 0; i < ntargets; i++) {
		const struct target *t = &targets[i];
		printf("%s\n    {\"name\": ", i ? "," : "");
		json_string(t->name);
		if (t->known)
			printf(", \"value\": %.4f, \"limit\": %g, \"met\": %s}", t->value, t->limit,
			       t->met ? "true" : "false");
		else
			printf(", \"measured\": false}");
	}
	printf("\n  ],\n  \"warnings\": [");
	for (int i = 0; i < s->nwarnings; i++) {
		printf("%s\n    ", i ? "," : "");
		json_string(s->warnings[i]);
	}
	printf("\n  ]\n}\n");
}

/* --- command line ------------------------------------------------------------------------- */

static int
usage(void)
{
	fprintf(stderr,
		"usage: ns-bench list\n"
		"       ns-bench run [NAME...] [--runs N] [--seconds S] [--format table|tsv|json]\n"
		"                    [--cpus A,B,...] [--hist DIR] [--placement close|far]\n"
		"       ns-bench --help\n");
	return 2;
}

static int
help(void)
{
	printf("ns-bench: nanostream's workloads against peers and the machine's floor, in one "
	       "run.\n"
	       "\n"
	       "  ns-bench list                 every workload: name, unit, busy threads, what it "
	       "is\n"
	       "  ns-bench run [NAME...]        run them (all when no NAME) and print the figures\n"
	       "\n"
	       "NAME is a workload's full name (runs only that one: ring.p1c1.b1) or a prefix "
	       "(runs\n"
	       "every workload that starts with it: ring.p1c1 runs fourteen, ipc the IPC ones).\n"
	       "\n"
	       "Options of run:\n"
	       "  --runs N                      measured runs per figure, after one discarded\n"
	       "                                warm-up (5); each figure is their median, with "
	       "min\n"
	       "                                and max; the workloads take turns, one run a "
	       "round\n"
	       "  --seconds S                   length of one run (0.2; at most 60)\n"
	       "  --format table|tsv|json       a table for people (default), one "
	       "\"figure<TAB>value\n"
	       "                                <TAB>unit\" line per figure, or JSON with the "
	       "runs\n"
	       "  --cpus A,B,...                CPUs to pin threads to, in turn (every online "
	       "CPU)\n"
	       "  --hist DIR                    write each latency distribution (.hgrm) to DIR\n"
	       "  --placement close|far         keep only runs made with the first two CPUs close\n"
	       "                                (a one-line round trip under 200 ns) or far,\n"
	       "                                probed before and after each run; waits up to\n"
	       "                                120 s per run for it, else leaves the run out\n"
	       "\n"
	       "Exit status: 0 done; 1 a workload failed its checks or could not run; 2 usage.\n"
	       "The manual page ns-bench(1) has the figures, the peers and the targets.\n");
	return 0;
}

static int
parse_cpus(struct nsb_env *env, const char *arg)
{
	char *copy = strdup(arg), *save = NULL;
	env->ncpus = 0;
	for (char *t = strtok_r(copy, ",", &save); t != NULL; t = strtok_r(NULL, ",", &save)) {
		char *end;
		long c = strtol(t, &end, 10);
		if (*end != '\0' || c < 0 || c >= CPU_SETSIZE || env->ncpus == NSB_MAX_CPUS) {
			free(copy);
			return -1;
		}
		env->cpus[env->ncpus++] = (int)c;
	}
	free(copy);
	return env->ncpus > 0 ? 0 : -1;
}

static void
default_cpus(struct nsb_env *env)
{
	cpu_set_t set;
	env->ncpus = 0;
	if (sched_getaffinity(0, sizeof(set), &set) == 0)
		for (int c = 0; c < CPU_SETSIZE && env->ncpus < NSB_MAX_CPUS; c++)
			if (CPU_ISSET(c, &set))
				env->cpus[env->ncpus++] = c;
	if (env->ncpus == 0)
		env->cpus[env->ncpus++] = 0;
}

static bool
selected(const struct nsb_workload *w, char **names, const bool *exact, int nnames)
{
	char name[96];
	if (nnames == 0)
		return true;
	full_name(w, name, sizeof(name));
	for (int i = 0; i < nnames; i++)
		if (exact[i] ? strcmp(name, names[i]) == 0
			     : strncmp(name, names[i], strlen(names[i])) == 0)
			return true;
	return false;
}

int
main(int argc, char **argv)
{
	static const struct nsb_workload *all[256];
	static struct settings s;
	char *names[64];
	int nnames = 0, n = all_workloads(all, 256);
	char name[96];

	if (argc < 2)
		return usage();
	if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
	    strcmp(argv[1], "help") == 0)
		return help();
	if (strcmp(argv[1], "ipc-peer") == 0)
		return nsb_ipc_peer_main(argc, argv);
	if (strcmp(argv[1], "udp-peer") == 0)
		return nsb_udp_peer_main(argc, argv);
	if (strcmp(argv[1], "list") == 0) {
		int width = 0;
		for (int i = 0; i < n; i++) {
			full_name(all[i], name, sizeof(name));
			if ((int)strlen(name) > width)
				width = (int)strlen(name);
		}
		for (int i = 0; i < n; i++) {
			full_name(all[i], name, sizeof(name));
			printf("%-*s  %-5s %d thr  %s\n", width, name, unit_of(all[i]->kind),
			       all[i]->threads, all[i]->about);
		}
		return 0;
	}
	if (strcmp(argv[1], "run") != 0)
		return usage();

	s.runs = 5;
	s.env.seconds = 0.2;
	s.placement_ns = 200;
	s.placement_wait = 120;
	s.format = "table";
	default_cpus(&s.env);
	for (int i = 2; i < argc; i++) {
		const char *a = argv[i];
		const char *v = i + 1 < argc ? argv[i + 1] : NULL;
		if (strcmp(a, "--runs") == 0 && v != NULL) {
			s.runs = atoi(v), i++;
		} else if (strcmp(a, "--seconds") == 0 && v != NULL) {
			s.env.seconds = atof(v), i++;
		} else if (strcmp(a, "--format") == 0 && v != NULL) {
			s.format = v, i++;
		} else if (strcmp(a, "--cpus") == 0 && v != NULL) {
			if (parse_cpus(&s.env, v) != 0)
				return usage();
			i++;
		} else if (strcmp(a, "--hist") == 0 && v != NULL) {
			s.hist_dir = v, i++;
		} else if (strcmp(a, "--placement") == 0 && v != NULL) {
			s.placement = strcmp(v, "close") == 0 ? 1 : strcmp(v, "far") == 0 ? 2 : -1;
			if (s.placement < 0)
				return usage();
			i++;
		} else if (a[0] == '-') {
			return usage();
		} else if (nnames < 64) {
			names[nnames++] = argv[i];
		}
	}
	if (s.runs < 1 || s.runs > MAX_RUNS - 1 || !(s.env.seconds > 0 && s.env.seconds <= 60) ||
	    (strcmp(s.format, "table") && strcmp(s.format, "tsv") && strcmp(s.format, "json")))
		return usage();
	if (s.hist_dir != NULL && mkdir(s.hist_dir, 0755) != 0 && errno != EEXIST) {
		fprintf(stderr, "ns-bench: cannot create %s: %s\n", s.hist_dir, strerror(errno));
		return 1;
	}

	const struct nsb_workload *chosen[256];
	int count = 0;
	/* A workload's full name selects only it; any other name is a prefix. */
	bool exact[64] = { false };
	for (int k = 0; k < nnames; k++)
		for (int i = 0; i < n && !exact[k]; i++) {
			full_name(all[i], name, sizeof(name));
			exact[k] = strcmp(name, names[k]) == 0;
		}
	for (int i = 0; i < n; i++)
		if (selected(all[i], names, exact, nnames))
			chosen[count++] = all[i];
	if (count == 0) {
		fprintf(stderr, "ns-bench: no workload matches; see `ns-bench list`\n");
		return 2;
	}
	for (int i = 0; i < count; i++) {
		if (chosen[i]->threads > s.env.ncpus) {
			full_name(chosen[i], name, sizeof(name));
			warn(&s, "%s runs %d busy threads on %d CPUs", name, chosen[i]->threads,
			     s.env.ncpus);
		}
	}
	int64_t t0 = nsb_now();
	run_rounds(&s, chosen, count);
	fprintf(stderr, "%sns-bench: %d workloads, %d runs each, in %.1f s\n",
		isatty(STDERR_FILENO) ? "\r\033[K" : "", count, s.runs,
		(double)(nsb_now() - t0) / 1e9);
	if (s.placement != 0) {
		warn(&s,
		     "placement %s (probe %s 200 ns; probes saw %lld-%lld ns): %d runs redone, "
		     "%d left out",
		     placement_names[s.placement], s.placement == 1 ? "under" : "over",
		     (long long)s.probe_min, (long long)s.probe_max, s.discarded, s.skipped);
	}
	check_targets();
	if (strcmp(s.format, "tsv") == 0)
		print_tsv();
	else if (strcmp(s.format, "json") == 0)
		print_json(&s);
	else
		print_table(&s);
	/* A workload that failed its checks (order, count) makes the run fail. */
	for (int i = 0; i < nfigures; i++)
		if (figures[i].error != NULL)
			return 1;
	return 0;
}

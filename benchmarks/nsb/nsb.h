/* SPDX-License-Identifier: MIT */
#ifndef NSB_H
#define NSB_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "hist.h"

/*
 * ns-bench's pieces: workloads (floor.c, ours.c, peers*.c, ipc.c) register here; main.c runs
 * them, takes medians and prints; harness.c has the helpers below, so workloads never need
 * main.c. A workload runs once per call, for about env->seconds, checks
 * what it moved (count, order) and reports one value or a latency histogram.
 */

#define NSB_MAX_CPUS 64

enum nsb_kind {
	NSB_RATE,    /* events per second (higher is better) */
	NSB_COST,    /* nanoseconds per event (lower is better) */
	NSB_LATENCY, /* round-trip histogram in ns: figures .p50 .p90 .p99 .p999 .max */
};

struct nsb_env {
	double seconds;		/* how long one run lasts */
	int cpus[NSB_MAX_CPUS]; /* CPUs to pin threads to, in order */
	int ncpus;
};

struct nsb_run {
	double value;	       /* NSB_RATE and NSB_COST */
	struct nsb_hist *hist; /* NSB_LATENCY: reset by the runner, filled by the workload */
	char error[160];       /* set when the run moved the wrong events: the run is void */
};

/* Parameters a workload family reads; the meaning of each is the family's. */
struct nsb_params {
	uint32_t wait;	    /* enum ns_wait_kind, or NSB_PEER_* for peers */
	uint32_t batch;	    /* events per claim / enqueue */
	uint32_t slot_size; /* bytes per event */
	uint32_t producers;
	uint32_t shape;	   /* family-specific: which topology */
	const void *ops;   /* peers: their struct nsb_queue_ops */
	uint32_t flags;	   /* NSB_F_* */
	uint32_t pull_max; /* NSB_F_POLL: events per pull at most; peers: per pop (0: 64) */
};

#define NSB_F_RUNS	  1u /* ours: consumers take runs of events (on_events), not one per call */
#define NSB_F_NO_COALESCE 2u /* ours: consumers with NS_CONSUMER_F_NO_COALESCE */
#define NSB_F_SEQ_IN_SLOT 4u /* ours: rings with NS_RING_F_SEQ_IN_SLOT (the latency layout) */
#define NSB_F_POLL	  8u /* ours: the consumer is a poller, pulled by a thread of ours */
#define NSB_F_UNORDERED                                                                            \
	16u /* peers: a queue that may reorder a producer's values: only the
				 totals are checked, and it is no order-keeping peer in targets */

struct nsb_workload;
typedef int (*nsb_run_fn)(const struct nsb_workload *w, const struct nsb_env *env,
			  struct nsb_run *run);

struct nsb_workload {
	const char *base;   /* figure name before the percentile, e.g. "ring.pingpong.rtt" */
	const char *suffix; /* after it, e.g. ".block"; "" for none */
	enum nsb_kind kind;
	int threads; /* threads that spin or run flat out: warn when above the CPU count */
	nsb_run_fn run;
	struct nsb_params p;
	const char *about; /* one line for `ns-bench list` */
};

/* Peers' waiting modes (nsb_params.wait). */
enum { NSB_PEER_SPIN = 100, NSB_PEER_YIELD = 101 };

/*
 * A peer queue of 64-bit values, driven by the shared harness in peers.c. Non-blocking
 * queues return false / 0 when full / empty and the harness spins or yields; a blocking one
 * (the mutex queue) waits inside and returns false / 0 only once closed.
 */
struct nsb_queue_ops {
	void *(*create)(uint32_t capacity, uint32_t producers);
	void (*destroy)(void *q);
	bool (*push)(void *q, uint64_t v);
	bool (*push_n)(void *q, const uint64_t *v, uint32_t n); /* all or none; NULL: no batch */
	uint32_t (*pop)(void *q, uint64_t *out, uint32_t max);
	void (*close)(void *q); /* blocking queues: wake waiters, pops drain then return 0 */
	bool blocking;
};

/* Workload runners for any peer queue (peers.c). */
/* Producers (w->p.producers, batch w->p.batch) -> 1 consumer, for env->seconds. */
int nsb_peer_flow(const struct nsb_workload *w, const struct nsb_env *env, struct nsb_run *run);
int nsb_peer_pingpong(const struct nsb_workload *w, const struct nsb_env *env, struct nsb_run *run);

/* Registries, each terminated by an entry with base == NULL. */
extern const struct nsb_workload nsb_floor_workloads[];
extern const struct nsb_workload nsb_ours_workloads[];
extern const struct nsb_workload nsb_mutex_workloads[];
extern const struct nsb_workload nsb_ck_workloads[];  /* empty without Concurrency Kit */
extern const struct nsb_workload nsb_rte_workloads[]; /* empty without DPDK */
/* Which optional peers this build has (benchmarks/meson.build sets the macros it needs). */
#ifndef NSB_NO_CK
#define NSB_NO_CK 0
#endif
#ifndef NSB_NO_RTE
#define NSB_NO_RTE 0
#endif
#ifndef NSB_HAVE_BOOST
#define NSB_HAVE_BOOST 0
#endif
#ifndef NSB_HAVE_AQ
#define NSB_HAVE_AQ 0
#endif

/* Queue peers for the pull family (peers.c): the hand-written SPSC ring, boost, atomic_queue,
 * ck_ring and rte_ring, each as a queue's user drives it. */
extern const struct nsb_workload nsb_queue_workloads[];
extern const struct nsb_queue_ops nsb_spsc_ops;	      /* peer_spsc.c */
extern const struct nsb_queue_ops nsb_boost_ops;      /* peer_boost.cpp, with NSB_HAVE_BOOST */
extern const struct nsb_queue_ops nsb_aq_ops;	      /* peer_aq.cpp, with NSB_HAVE_AQ */
extern const struct nsb_queue_ops nsb_ck_ops;	      /* peer_ck.c, unless NSB_NO_CK */
extern const struct nsb_queue_ops nsb_rte_ops;	      /* peer_rte.c, unless NSB_NO_RTE */
extern const struct nsb_workload nsb_ipc_workloads[]; /* ipc.c: processes, shared memory */
extern const struct nsb_workload nsb_udp_workloads[]; /* udp.c: processes, loopback UDP */
/* The C++ wrapper on ring.p1c1.b1 and ring.pingpong.rtt (cxx.cpp; empty without C++). */
extern const struct nsb_workload nsb_cxx_workloads[];

/* The other process of an IPC workload: `ns-bench ipc-peer MODE DIR CPU`. */
int nsb_ipc_peer_main(int argc, char **argv);
/* The other process of a UDP workload: `ns-bench udp-peer MODE DIR CPU IN OUT LL SECONDS`. */
int nsb_udp_peer_main(int argc, char **argv);

/* --- helpers shared by the workloads (harness.c) ------------------------------------- */

int64_t nsb_now(void);
/* Median one-line round trip between the first two CPUs, ns (floor.c): tells the placement. */
int64_t nsb_probe_rtt(const struct nsb_env *env);
void nsb_pin(const struct nsb_env *env, int index);
/* Start a thread pinned to env->cpus[index % ncpus]. Returns 0 or an errno. */
int nsb_thread(pthread_t *t, const struct nsb_env *env, int index, void *(*fn)(void *), void *arg);
void nsb_fail(struct nsb_run *run, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Remove a private driver directory after its driver stopped: its lock file, then it. */
void nsb_rmdir_driver(const char *dir);

static inline void
nsb_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#elif defined(__aarch64__)
	__asm__ __volatile__("yield" ::: "memory");
#endif
}

/* One spinning thread per line, 128 bytes apart (adjacent-line prefetch pairs lines). */
#define NSB_LINE 128

#endif /* NSB_H */

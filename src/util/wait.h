/* SPDX-License-Identifier: MIT */
#ifndef NSI_UTIL_WAIT_H
#define NSI_UTIL_WAIT_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "util/atomic.h"
#include "util/compiler.h"

/*
 * Wait strategies. A waiter repeatedly evaluates a probe (the cursor, the slowest consumer,
 * a slot's availability) until it reaches a target; the strategy decides what to do between
 * evaluations: pause, yield, sleep, or block on a signal that the other side raises after it
 * moves the probed value.
 *
 * The blocking kinds share one handshake, so a wake-up is never lost:
 *
 *   waiter                               notifier
 *   waiters += 1 (seq_cst RMW)  [W1]     store the probed value (release)   [N1]
 *   fence seq_cst               [W2]     fence seq_cst                      [N2]
 *   e = epoch (acquire)         [W3]     if waiters > 0 (relaxed)           [N3]
 *   re-probe; done if reached   [W4]         epoch += 1 (release); wake all [N4]
 *   sleep while epoch == e      [W5]
 *
 * W2 and N2 are both in the single total order of seq_cst fences: if N3 misses W1 then N2
 * precedes W2, so W4 sees N1. If N3 sees W1, then either W3 read the epoch after N4 (it
 * acquires N4, and so sees N1 at W4) or the futex/condvar sleep at W5 sees the changed epoch
 * or receives the wake. A notifier with no sleeper pays one fence and one load.
 */

struct nsi_wait_cfg {
	uint32_t kind; /* enum ns_wait_kind */
	uint32_t spin_tries;
	uint32_t yield_tries;
	uint64_t sleep_ns;
	uint64_t timeout_ns;
	uint64_t phase_spin_ns;
	uint64_t phase_yield_ns;
	/* BLOCKING, LITE_BLOCKING, TIMEOUT_BLOCKING: spin this long before the first sleep. */
	uint64_t block_spin_ns;
};

/*
 * How long the sleeping kinds spin before their first sleep (0: sleep at once, the ring's
 * NS_RING_F_NO_SPIN). A futex wake-up costs ~17 us on our 2-vCPU VMs (a third of it the
 * sleeping vCPU's halt exit), two per request/response round trip; an answer within 5 us is
 * taken while spinning (docs/core-design.md, "Wait strategies").
 */
#define NSI_BLOCK_SPIN_NS 5000

/* A place where threads sleep until another thread moves a value they wait on. */
struct nsi_signal {
	uint32_t epoch;	  /* futex word; bumped by every wake */
	uint32_t waiters; /* threads past W1 and not yet back */
	bool use_cv;	  /* NS_WAIT_BLOCKING: sleep on mu/cv instead of the futex */
	pthread_mutex_t mu;

	pthread_cond_t cv;
} NS_SHARED_ALIGNED;

/*
 * Returns the probed value; the wait ends when it is >= the request's target. A probe returns
 * NSI_PROBE_BROKEN when the value can never reach the target (a consumer it follows stopped
 * for good); the wait then returns -EPIPE.
 */
typedef int64_t (*nsi_probe_fn)(const void *arg);
#define NSI_PROBE_BROKEN INT64_MIN

struct nsi_wait_req {
	nsi_probe_fn probe;
	const void *arg;
	int64_t target;
	const uint32_t *halted; /* non-zero -> -ESHUTDOWN */
	const uint32_t *cancel; /* optional; non-zero -> -ECANCELED */
	int64_t deadline_ns;	/* CLOCK_MONOTONIC; 0 for none -> -ETIMEDOUT */
	bool strategy_timeout;	/* TIMEOUT_BLOCKING's timeout applies -> -ETIMEDOUT */
};

void nsi_wait_cfg_defaults(struct nsi_wait_cfg *cfg);
bool nsi_wait_kind_is_valid(uint32_t kind);
/* Whether the kind sleeps on a signal, so movers must call nsi_signal_notify(). */
bool nsi_wait_kind_blocks(uint32_t kind);

int nsi_signal_init(struct nsi_signal *sig, uint32_t kind);
void nsi_signal_destroy(struct nsi_signal *sig);

/*
 * Wait until req->probe(req->arg) >= req->target. Returns the probed value, or -ESHUTDOWN,
 * -ECANCELED, -ETIMEDOUT as the request allows, or -EPIPE for a broken probe. Checks the probe
 * before anything else, so a satisfied wait on a halted object still succeeds.
 */
int64_t nsi_wait(const struct nsi_wait_cfg *cfg, struct nsi_signal *sig,
		 const struct nsi_wait_req *req);

/* Wake every sleeper unconditionally (halt, cancel). Cold path. */
void nsi_signal_wake_all(struct nsi_signal *sig);

void nsi_signal_wake_slow(struct nsi_signal *sig);

/*
 * Call after storing a value that sleepers may wait on (N2..N4 above). Costs a fence and a
 * load when nobody sleeps.
 */
NS_INLINE void
nsi_signal_notify(struct nsi_signal *sig)
{
	nsi_fence_seq_cst(); /* N2: pairs with W2 */
	if (NS_UNLIKELY(nsi_load_relaxed_u32(&sig->waiters) != 0))
		nsi_signal_wake_slow(sig);
}

/* Number of threads asleep (or about to sleep) on the signal; for tests. */
NS_INLINE uint32_t
nsi_signal_waiters(const struct nsi_signal *sig)
{
	return nsi_load_acquire_u32(&sig->waiters);
}

#endif /* NSI_UTIL_WAIT_H */

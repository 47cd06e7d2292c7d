/* SPDX-License-Identifier: MIT */
#include "config.h"

#include <errno.h>
#include <limits.h>
#include <linux/futex.h>
#include <sched.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <nanostream/ring.h>

#include "util/wait.h"
#include "util/cpu.h"

/*
 * BUSY_SPIN: after this many pauses (~0.1 ms) of one wait, a sched_yield() every
 * NSI_SPIN_YIELD_EVERY pauses (docs/core-design.md, "Wait strategies").
 */
#define NSI_SPIN_BEFORE_YIELD 4096u
#define NSI_SPIN_YIELD_EVERY  64u

/* How many pauses between clock reads while spinning against a deadline. */
#define SPINS_PER_CLOCK_READ 64u

void
nsi_wait_cfg_defaults(struct nsi_wait_cfg *cfg)
{
	if (cfg->spin_tries == 0)
		cfg->spin_tries = 100;
	if (cfg->yield_tries == 0)
		cfg->yield_tries = 100;
	if (cfg->sleep_ns == 0)
		cfg->sleep_ns = 100000;
	if (cfg->timeout_ns == 0)
		cfg->timeout_ns = 1000000;
	if (cfg->phase_spin_ns == 0)
		cfg->phase_spin_ns = 10000;
	if (cfg->phase_yield_ns == 0)
		cfg->phase_yield_ns = 100000;
	if (cfg->block_spin_ns == 0)
		cfg->block_spin_ns = NSI_BLOCK_SPIN_NS;
}

bool
nsi_wait_kind_is_valid(uint32_t kind)
{
	return kind <= NS_WAIT_PHASED;
}

bool
nsi_wait_kind_blocks(uint32_t kind)
{
	return kind == NS_WAIT_BLOCKING || kind == NS_WAIT_LITE_BLOCKING ||
	       kind == NS_WAIT_TIMEOUT_BLOCKING || kind == NS_WAIT_PHASED;
}

int
nsi_signal_init(struct nsi_signal *sig, uint32_t kind)
{
	pthread_condattr_t attr;
	int rc;

	sig->epoch = 0;
	sig->waiters = 0;
	sig->use_cv = kind == NS_WAIT_BLOCKING;
	rc = pthread_mutex_init(&sig->mu, NULL);
	if (rc != 0)
		return -rc;
	rc = pthread_condattr_init(&attr);
	if (rc != 0)
		goto err_mutex;
	/* Deadlines are CLOCK_MONOTONIC, so the condition variable must time out on it too. */
	rc = pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
	if (rc == 0)
		rc = pthread_cond_init(&sig->cv, &attr);
	pthread_condattr_destroy(&attr);
	if (rc != 0)
		goto err_mutex;
	return 0;

err_mutex:
	pthread_mutex_destroy(&sig->mu);
	return -rc;
}

void
nsi_signal_destroy(struct nsi_signal *sig)
{
	pthread_cond_destroy(&sig->cv);
	pthread_mutex_destroy(&sig->mu);
}

static void
ns_to_timespec(int64_t ns, struct timespec *ts)
{
	ts->tv_sec = (time_t)(ns / 1000000000);
	ts->tv_nsec = (long)(ns % 1000000000);
}

static void
futex_wake_all(uint32_t *word)
{
	syscall(SYS_futex, word, FUTEX_WAKE_PRIVATE, INT_MAX, NULL, NULL, 0);
}

/* Sleeps while *word == expected, until @deadline_ns (absolute, 0 = none). */
static void
futex_wait_until(uint32_t *word, uint32_t expected, int64_t deadline_ns)
{
	struct timespec ts;

	if (deadline_ns != 0)
		ns_to_timespec(deadline_ns, &ts);
	/* FUTEX_WAIT_BITSET takes an absolute CLOCK_MONOTONIC time, which suits deadlines. */
	syscall(SYS_futex, word, FUTEX_WAIT_BITSET_PRIVATE, expected, deadline_ns != 0 ? &ts : NULL,
		NULL, FUTEX_BITSET_MATCH_ANY);
}

void
nsi_signal_wake_slow(struct nsi_signal *sig)
{
	if (!sig->use_cv) {
		nsi_add_fetch_release_u32(&sig->epoch, 1); /* N4: acquired by W3 */
		futex_wake_all(&sig->epoch);
		return;
	}
	/*
	 * Condition-variable sleepers hold the mutex from W1 until they sleep, so taking it here
	 * means each one is either asleep (and gets the broadcast) or has not yet re-probed.
	 */
	pthread_mutex_lock(&sig->mu);
	pthread_cond_broadcast(&sig->cv);
	pthread_mutex_unlock(&sig->mu);
}

void
nsi_signal_wake_all(struct nsi_signal *sig)
{
	nsi_fence_seq_cst(); /* orders the halt/cancel flag store before the wake, as N2 */
	nsi_signal_wake_slow(sig);
}

static int64_t
check_alerts(const struct nsi_wait_req *req)
{
	if (NS_UNLIKELY(nsi_load_acquire_u32(req->halted) != 0))
		return -ESHUTDOWN;
	if (req->cancel != NULL && NS_UNLIKELY(nsi_load_acquire_u32(req->cancel) != 0))
		return -ECANCELED;
	return 0;
}

/* Earliest of the caller's deadline and the strategy's own timeout, 0 for none. */
static int64_t
effective_deadline(const struct nsi_wait_cfg *cfg, const struct nsi_wait_req *req, int64_t start)
{
	int64_t d = req->deadline_ns;

	if (req->strategy_timeout && cfg->kind == NS_WAIT_TIMEOUT_BLOCKING) {
		int64_t t = start + (int64_t)cfg->timeout_ns;
		if (d == 0 || t < d)
			d = t;
	}
	return d;
}

/*
 * One sleep on the signal. Returns the probed value if it reached the target while
 * registering (W4), else -EAGAIN after waking (the caller re-probes).
 */
static int64_t
sleep_on_signal(struct nsi_signal *sig, const struct nsi_wait_req *req, int64_t deadline_ns)
{
	int64_t v;

	if (sig->use_cv) {
		struct timespec ts;

		pthread_mutex_lock(&sig->mu);
		nsi_add_fetch_seq_cst_u32(&sig->waiters, 1); /* W1 */
		nsi_fence_seq_cst();			     /* W2: pairs with N2 */
		v = req->probe(req->arg);		     /* W4 */
		if (v >= req->target || v == NSI_PROBE_BROKEN || check_alerts(req) != 0) {
			nsi_sub_fetch_release_u32(&sig->waiters, 1);
			pthread_mutex_unlock(&sig->mu);
			return v >= req->target ? v : -EAGAIN;
		}
		if (deadline_ns != 0) {
			ns_to_timespec(deadline_ns, &ts);
			pthread_cond_timedwait(&sig->cv, &sig->mu, &ts);
		} else {
			pthread_cond_wait(&sig->cv, &sig->mu);
		}
		nsi_sub_fetch_release_u32(&sig->waiters, 1);
		pthread_mutex_unlock(&sig->mu);
		return -EAGAIN;
	}

	nsi_add_fetch_seq_cst_u32(&sig->waiters, 1);	    /* W1 */
	nsi_fence_seq_cst();				    /* W2: pairs with N2 */
	uint32_t epoch = nsi_load_acquire_u32(&sig->epoch); /* W3: pairs with N4 */
	v = req->probe(req->arg);			    /* W4 */
	if (v < req->target && v != NSI_PROBE_BROKEN && check_alerts(req) == 0)
		futex_wait_until(&sig->epoch, epoch, deadline_ns); /* W5 */
	nsi_sub_fetch_release_u32(&sig->waiters, 1);
	return v >= req->target ? v : -EAGAIN;
}

int64_t
nsi_wait(const struct nsi_wait_cfg *cfg, struct nsi_signal *sig, const struct nsi_wait_req *req)
{
	uint32_t spins = 0;
	uint32_t yields = 0;
	bool spun = false; /* sleeping kinds: the spin before the first sleep is over */
	int64_t start = 0;
	int64_t deadline = req->deadline_ns;

	for (;;) {
		int64_t v = req->probe(req->arg);
		if (v >= req->target)
			return v;
		if (NS_UNLIKELY(v == NSI_PROBE_BROKEN))
			return -EPIPE;
		int64_t alert = check_alerts(req);
		if (alert != 0)
			return alert;

		switch (cfg->kind) {
		case NS_WAIT_BUSY_SPIN:
			nsi_cpu_relax();
			/*
			 * A wait this long on a busy ring means the thread that must move is not
			 * running (more busy threads than cores): let it have the core now and
			 * then. With a core per thread the yield returns at once (~0.6 us here).
			 */
			++spins;
			if (NS_UNLIKELY(spins > NSI_SPIN_BEFORE_YIELD) &&
			    (spins % NSI_SPIN_YIELD_EVERY) == 0)
				sched_yield();
			if (deadline != 0 && (spins % SPINS_PER_CLOCK_READ) == 0 &&
			    nsi_clock_ns() >= deadline)
				return -ETIMEDOUT;
			break;

		case NS_WAIT_YIELD:
		case NS_WAIT_SLEEP:
			if (spins < cfg->spin_tries) {
				spins++;
				nsi_cpu_relax();
				if (deadline == 0 || (spins % SPINS_PER_CLOCK_READ) != 0)
					break;
			} else if (cfg->kind == NS_WAIT_YIELD || yields < cfg->yield_tries) {
				yields++;
				sched_yield();
			} else {
				int64_t nap = (int64_t)cfg->sleep_ns;
				if (deadline != 0) {
					int64_t left = deadline - nsi_clock_ns();
					if (left <= 0)
						return -ETIMEDOUT;
					if (left < nap)
						nap = left;
				}
				struct timespec ts;
				ns_to_timespec(nap, &ts);
				nanosleep(&ts, NULL);
			}
			if (deadline != 0 && nsi_clock_ns() >= deadline)
				return -ETIMEDOUT;
			break;

		case NS_WAIT_PHASED: {
			int64_t now;

			if ((spins++ % SPINS_PER_CLOCK_READ) != 0) {
				nsi_cpu_relax();
				break;
			}
			now = nsi_clock_ns();
			if (start == 0)
				start = now;
			if (deadline != 0 && now >= deadline)
				return -ETIMEDOUT;
			if (now - start < (int64_t)cfg->phase_spin_ns) {
				nsi_cpu_relax();
			} else if (now - start <
				   (int64_t)(cfg->phase_spin_ns + cfg->phase_yield_ns)) {
				spins = 0; /* read the clock after every yield */
				sched_yield();
			} else {
				spins = 0;
				v = sleep_on_signal(sig, req, deadline);
				if (v >= 0)
					return v;
			}
			break;
		}

		default: /* BLOCKING, LITE_BLOCKING, TIMEOUT_BLOCKING */
			if (start == 0) {
				start = nsi_clock_ns();
				deadline = effective_deadline(cfg, req, start);
			}
			if (cfg->block_spin_ns != 0 && !spun) {
				/* The spin before the first sleep: look again between pauses. */
				if ((++spins % SPINS_PER_CLOCK_READ) != 0) {
					nsi_cpu_relax();
					break;
				}
				int64_t now = nsi_clock_ns();
				if (now - start < (int64_t)cfg->block_spin_ns &&
				    (deadline == 0 || now < deadline)) {
					nsi_cpu_relax();
					break;
				}
				spun = true; /* from now on, sleep */
			}
			if (deadline != 0 && nsi_clock_ns() >= deadline)
				return -ETIMEDOUT;
			v = sleep_on_signal(sig, req, deadline);
			if (v >= 0)
				return v;
			break;
		}
	}
}

/* SPDX-License-Identifier: MIT */
#include "config.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "mem/guard.h"

enum { SLOT_FREE = 0, SLOT_CLAIMED = 1, SLOT_ACTIVE = 2, SLOT_DEAD = 3 };

/*
 * Every field is read by the signal handler, which may run on any thread at any moment: all
 * accesses are atomic, sequentially consistent where the handler and nsi_guard_remove() meet
 * (the handler raises inflight then checks state; remove lowers state then waits for inflight
 * to drain: one of them sees the other).
 */
struct slot {
	uint32_t state;
	uint32_t inflight;
	uintptr_t base;
	size_t bytes;
	uint32_t *broken;
};

static struct slot slots[NSI_GUARD_MAX];
static uint32_t used_max; /* slots at or past it were never used: the handler stops there */
/*
 * The handler that was in place before ours, published by index so the signal handler always
 * reads a whole one: install() fills the spare buffer, then flips the index.
 */
static struct sigaction previous[2];
static uint32_t previous_at;
static pthread_mutex_t install_lock = PTHREAD_MUTEX_INITIALIZER;

/* Hand the fault to whoever had SIGBUS before us. */
static void
chain(int sig, siginfo_t *si, void *uc)
{
	const struct sigaction *prev = &previous[__atomic_load_n(&previous_at, __ATOMIC_ACQUIRE)];
	if (prev->sa_flags & SA_SIGINFO) {
		if (prev->sa_sigaction != NULL) {
			prev->sa_sigaction(sig, si, uc);
			return;
		}
	} else if (prev->sa_handler != SIG_DFL && prev->sa_handler != SIG_IGN) {
		prev->sa_handler(sig);
		return;
	}
	/* Default (or ignored, which a real fault cannot be): die as we would have. */
	struct sigaction dfl;
	memset(&dfl, 0, sizeof(dfl));
	dfl.sa_handler = SIG_DFL;
	sigaction(SIGBUS, &dfl, NULL); /* the faulting instruction runs again and kills us */
}

static void
on_sigbus(int sig, siginfo_t *si, void *uc)
{
	uintptr_t addr = (uintptr_t)si->si_addr;
	uint32_t n = __atomic_load_n(&used_max, __ATOMIC_ACQUIRE);
	for (uint32_t i = 0; i < n; i++) {
		struct slot *s = &slots[i];
		__atomic_add_fetch(&s->inflight, 1, __ATOMIC_SEQ_CST);
		if (__atomic_load_n(&s->state, __ATOMIC_SEQ_CST) == SLOT_ACTIVE) {
			uintptr_t base = __atomic_load_n(&s->base, __ATOMIC_RELAXED);
			size_t bytes = __atomic_load_n(&s->bytes, __ATOMIC_RELAXED);
			if (addr >= base && addr - base < bytes) {
				/*
				 * Zero-filled private memory in its place (mmap is a plain system call,
				 * safe here): the instruction that faulted reads zeros when it runs
				 * again, and every later access works. The owner learns it from its
				 * flag.
				 */
				void *p = mmap((void *)base, bytes, PROT_READ | PROT_WRITE,
					       MAP_FIXED | MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
				__atomic_store_n(__atomic_load_n(&s->broken, __ATOMIC_RELAXED), 1,
						 __ATOMIC_RELEASE);
				__atomic_sub_fetch(&s->inflight, 1, __ATOMIC_SEQ_CST);
				if (p == MAP_FAILED)
					chain(sig, si, uc);
				return;
			}
		}
		__atomic_sub_fetch(&s->inflight, 1, __ATOMIC_SEQ_CST);
	}
	chain(sig, si, uc);
}

bool
nsi_guard_enabled(void)
{
	const char *off = getenv("NANOSTREAM_NO_SIGBUS_GUARD");
	return off == NULL || off[0] == '\0' || strcmp(off, "0") == 0;
}

/*
 * Put our handler in place unless it is: at the first guarded mapping, and again at each later
 * one if the application (or a test framework) installed its own meanwhile; the one we
 * replace becomes the one we chain to. Returns 0, or -ENOSYS (guarding off, or refused).
 */
static int
install(void)
{
	if (!nsi_guard_enabled())
		return -ENOSYS;
	pthread_mutex_lock(&install_lock);
	struct sigaction cur;
	int rc = sigaction(SIGBUS, NULL, &cur) == 0 ? 0 : -ENOSYS;
	if (rc == 0 && !((cur.sa_flags & SA_SIGINFO) && cur.sa_sigaction == on_sigbus)) {
		struct sigaction sa;
		memset(&sa, 0, sizeof(sa));
		sa.sa_sigaction = on_sigbus;
		sa.sa_flags = SA_SIGINFO | SA_NODEFER;
		sigemptyset(&sa.sa_mask);
		uint32_t spare = __atomic_load_n(&previous_at, __ATOMIC_RELAXED) ^ 1u;
		previous[spare] = cur;
		__atomic_store_n(&previous_at, spare, __ATOMIC_RELEASE);
		if (sigaction(SIGBUS, &sa, NULL) != 0)
			rc = -ENOSYS;
	}
	pthread_mutex_unlock(&install_lock);
	return rc;
}

int
nsi_guard_add(void *base, size_t bytes, uint32_t *broken)
{
	if (base == NULL || bytes == 0 || broken == NULL)
		return -EINVAL;
	int rc = install();
	if (rc != 0)
		return rc;
	for (uint32_t i = 0; i < NSI_GUARD_MAX; i++) {
		struct slot *s = &slots[i];
		uint32_t free_state = SLOT_FREE;
		if (!__atomic_compare_exchange_n(&s->state, &free_state, SLOT_CLAIMED, false,
						 __ATOMIC_ACQ_REL, __ATOMIC_RELAXED))
			continue;
		__atomic_store_n(&s->base, (uintptr_t)base, __ATOMIC_RELAXED);
		__atomic_store_n(&s->bytes, bytes, __ATOMIC_RELAXED);
		__atomic_store_n(&s->broken, broken, __ATOMIC_RELAXED);
		uint32_t seen = __atomic_load_n(&used_max, __ATOMIC_RELAXED);
		while (seen < i + 1 &&
		       !__atomic_compare_exchange_n(&used_max, &seen, i + 1, false,
						    __ATOMIC_ACQ_REL, __ATOMIC_RELAXED))
			;
		/* Pairs with the handler's load: it sees the fields once it sees ACTIVE. */
		__atomic_store_n(&s->state, SLOT_ACTIVE, __ATOMIC_SEQ_CST);
		return (int)i;
	}
	return -ENOSPC;
}

void
nsi_guard_remove(int slot)
{
	if (slot < 0 || slot >= NSI_GUARD_MAX)
		return;
	struct slot *s = &slots[slot];
	__atomic_store_n(&s->state, SLOT_DEAD, __ATOMIC_SEQ_CST);
	/* A handler that saw ACTIVE finishes first (it runs for microseconds). */
	while (__atomic_load_n(&s->inflight, __ATOMIC_SEQ_CST) != 0)
		;
	__atomic_store_n(&s->state, SLOT_FREE, __ATOMIC_RELEASE);
}

/* SPDX-License-Identifier: MIT */
/*
 * Forged and racing shared memory (docs/testing.md I8): another process of the same user may
 * write any word of a log or of cnc.dat at any time. Each case forges or races one word the
 * way such a process would and checks the outcome the docs promise: an error or a clean
 * stop, never a crash, a hang past a deadline, or a wrong message delivered.
 */
#include <dirent.h>
#include <errno.h>
#include <sched.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include <nanostream/nanostream.h>

#include "client/client.h"
#include "util/atomic.h"
#include "testutil.h"

#define SEC  (1000LL * 1000 * 1000)
#define TERM (64 * 1024)

static char dir[64];

/* A fresh directory per case: a case that fails leaves its driver behind, not in the next. */
static int
setup(void **state)
{
	(void)state;
	snprintf(dir, sizeof(dir), "/tmp/ns-forgedtest-XXXXXX");
	return mkdtemp(dir) != NULL ? 0 : -1;
}

static int
teardown(void **state)
{
	(void)state;
	return tu_rm_rf(dir);
}

/* ---- a log in memory, read as a subscription reads an image ---- */

struct memlog {
	uint8_t *mem;
	size_t bytes;
	struct nsi_log log;
	struct nsi_log_reader rd;
};

static void
memlog_open(struct memlog *m, int32_t mtu)
{
	m->bytes = nsi_log_bytes(TERM);
	m->mem = aligned_alloc(4096, m->bytes);
	assert_non_null(m->mem);
	memset(m->mem, 0, m->bytes);
	struct nsi_log_params p = { .term_length = TERM,
				    .mtu = mtu,
				    .initial_term_id = 77,
				    .session_id = 5,
				    .stream_id = 6 };
	assert_int_equal(nsi_log_init(&m->log, m->mem, m->bytes, &p), 0);
	assert_int_equal(nsi_log_reader_init(&m->rd, &m->log, 0, NULL), 0);
}

static void
memlog_close(struct memlog *m)
{
	nsi_log_reader_free(&m->rd);
	free(m->mem);
}

struct seen {
	int64_t messages;
	int64_t bad_lengths;
	size_t max_len;
	size_t limit;
};

static void
on_message(void *ctx, const void *buf, size_t len, const struct ns_header *h)
{
	struct seen *s = ctx;
	(void)h;
	if (len > s->limit) {
		s->bad_lengths++;
		return;
	}
	/* Read it all: ASan checks the bounds the length claims. */
	const volatile uint8_t *b = buf;
	for (size_t i = 0; i < len; i++)
		(void)b[i];
	if (len > s->max_len)
		s->max_len = len;
	s->messages++;
}

/* The reader every subscription image runs: up to 16 fragments. */
static int
read_log(struct nsi_log_reader *rd, struct seen *s)
{
	bool stop = false;
	return nsi_log_read(rd, on_message, NULL, s, 16, &stop);
}

struct flipper {
	uint64_t *word;
	uint64_t a, b;
	uint32_t stop;
	uint64_t flips;
};

static void *
flip(void *arg)
{
	struct flipper *f = arg;
	while (!__atomic_load_n(&f->stop, __ATOMIC_ACQUIRE)) {
		__atomic_store_n(f->word, f->a, __ATOMIC_RELEASE);
		__atomic_store_n(f->word, f->b, __ATOMIC_RELEASE);
		f->flips++;
	}
	return NULL;
}

/*
 * Issue 14.3: a writer flips the length of the first frame between its value and 0 (and
 * another length) while the image is read. The reader used to check the length and then
 * read it again: a negative-size copy in fragment assembly, or a handler called with
 * len = SIZE_MAX - 31. Now every header word is read once; whatever the reader sees, a
 * handler never gets more than the log's largest message, and nothing is read out of bounds.
 */
static void
racing_frame_length_never_reaches_a_handler(void **state)
{
	(void)state;
	struct memlog m;
	memlog_open(&m, 128); /* 96-byte payloads: a 300-byte message is 4 fragments */
	uint8_t msg[300];
	memset(msg, 0x5a, sizeof(msg));
	assert_true(nsi_log_append(&m.log, false, msg, sizeof(msg)) > 0);
	assert_true(nsi_log_append(&m.log, false, msg, 40) > 0);
	uint64_t *first = (uint64_t *)(void *)m.log.terms[0];
	uint64_t real = __atomic_load_n(first, __ATOMIC_ACQUIRE);
	/* The same first word with length 64 (shorter than the real 128) and with length 0. */
	struct flipper f = { .word = first,
			     .a = (real & ~UINT64_C(0xffffffff)) | 64,
			     .b = real & ~UINT64_C(0xffffffff) };
	pthread_t t;
	assert_int_equal(pthread_create(&t, NULL, flip, &f), 0);
	struct seen s = { .limit = (size_t)m.log.max_message };
	int64_t empty = 0, read = 0, corrupt = 0;
	/*
	 * At least @min rounds, and on until the reader has seen both states of the word 100
	 * times each (a loaded machine may run the flipper late): 10 s at most.
	 */
	uint64_t min = tu_scaled(200000), rounds = 0;
	int64_t give_up = ns_clock_ns() + 10 * SEC;
	for (; rounds < min || ((empty < 100 || read + corrupt < 100) &&
				(rounds % 1024 != 0 || ns_clock_ns() < give_up));
	     rounds++) {
		m.rd.position = 0;
		m.rd.corrupt = false;
		m.rd.assembling = false;
		int n = read_log(&m.rd, &s);
		if (m.rd.corrupt)
			corrupt++;
		else if (n == 0)
			empty++;
		else
			read++;
	}
	__atomic_store_n(&f.stop, 1, __ATOMIC_RELEASE);
	pthread_join(t, NULL);
	print_message("# %llu rounds against %llu flips: %lld saw no frame, %lld read frames, "
		      "%lld found the log corrupt; %lld messages, longest %zu bytes\n",
		      (unsigned long long)rounds, (unsigned long long)f.flips, (long long)empty,
		      (long long)read, (long long)corrupt, (long long)s.messages, s.max_len);
	assert_int_equal(s.bad_lengths, 0);
	assert_true(s.max_len <= sizeof(msg));
	/* The race really happened: the reader saw both states of the word. */
	assert_true(empty >= 100);
	assert_true(read + corrupt >= 100);
	memlog_close(&m);
}

/*
 * A double-fetch detector, deterministic: the first page of the term is mapped PROT_NONE, and
 * every access to it traps; the handler gives the frame's first word another value (the real
 * word, length 0, length 64 or length -32, never the one it had), lets that one instruction
 * run, and protects the page again (x86 single-step). So two reads of the same word never
 * agree, and a reader that checks a length and reads it again uses a value it never checked:
 * before the fix, that was a negative-size copy (SIGSEGV) or a handler called with
 * len = SIZE_MAX - 31.
 * (x86-64 only, and not built under sanitizers, which own SIGSEGV: the other builds run it.)
 */
#if defined(__x86_64__) && !defined(__SANITIZE_ADDRESS__) && !defined(__SANITIZE_THREAD__)
#define HAVE_TRAP 1
#include <signal.h>
#include <sys/mman.h>
#include <ucontext.h>

static struct {
	uint8_t *view;	    /* what the reader sees: PROT_NONE between accesses */
	uint8_t *raw;	    /* the same memory, always writable */
	uint64_t values[4]; /* the first word takes one of these at every access */
	uint64_t accesses;
	uint64_t rng;
	uint32_t last;
} trap;

static void
on_segv(int sig, siginfo_t *si, void *ucv)
{
	(void)sig;
	ucontext_t *uc = ucv;
	uint8_t *a = si->si_addr;
	if (a < trap.view || a >= trap.view + 4096) {
		signal(SIGSEGV, SIG_DFL); /* a real fault: crash as usual when it repeats */
		return;
	}
	/* A value other than the last one, picked at random (a fixed cycle can match a loop). */
	trap.rng ^= trap.rng << 13;
	trap.rng ^= trap.rng >> 7;
	trap.rng ^= trap.rng << 17;
	trap.last = (trap.last + 1 + (uint32_t)(trap.rng % 3)) % 4;
	trap.accesses++;
	__atomic_store_n((uint64_t *)(void *)trap.raw, trap.values[trap.last], __ATOMIC_RELAXED);
	mprotect(trap.view, 4096, PROT_READ | PROT_WRITE);
	uc->uc_mcontext.gregs[REG_EFL] |= 0x100; /* trap after this one instruction */
}

static void
on_step(int sig, siginfo_t *si, void *ucv)
{
	(void)sig;
	(void)si;
	ucontext_t *uc = ucv;
	mprotect(trap.view, 4096, PROT_NONE);
	uc->uc_mcontext.gregs[REG_EFL] &= ~0x100;
}
#endif

#ifdef HAVE_TRAP
static void
every_read_of_a_frame_word_is_single(void **state)
{
	(void)state;
	size_t bytes = nsi_log_bytes(TERM);
	int fd = memfd_create("ns-trap", MFD_CLOEXEC);
	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, (off_t)bytes), 0);
	trap.raw = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	trap.view = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	assert_true(trap.raw != MAP_FAILED && trap.view != MAP_FAILED);
	close(fd);
	struct sigaction sa = { .sa_sigaction = on_segv, .sa_flags = SA_SIGINFO | SA_NODEFER };
	struct sigaction st = { .sa_sigaction = on_step, .sa_flags = SA_SIGINFO };
	struct sigaction old_segv, old_trap;
	assert_int_equal(sigaction(SIGSEGV, &sa, &old_segv), 0);
	assert_int_equal(sigaction(SIGTRAP, &st, &old_trap), 0);
	/* Two cases: an unfragmented message, and the first fragment of a longer one. */
	for (int fragmented = 0; fragmented < 2; fragmented++) {
		struct nsi_log_params p = { .term_length = TERM,
					    .mtu = 128,
					    .initial_term_id = 9,
					    .session_id = 1,
					    .stream_id = 2 };
		struct nsi_log wlog;
		memset(trap.raw, 0, bytes);
		assert_int_equal(nsi_log_init(&wlog, trap.raw, bytes, &p), 0);
		uint8_t msg[300];
		memset(msg, 0x11, sizeof(msg));
		assert_true(nsi_log_append(&wlog, false, msg, fragmented ? 300 : 90) > 0);
		uint64_t real = *(uint64_t *)(void *)trap.raw, hi = real & ~UINT64_C(0xffffffff);
		trap.values[0] = real;
		trap.values[1] = hi;
		trap.values[2] = hi | 64;
		trap.values[3] = hi | (uint32_t)-32;
		trap.rng = 0x9e3779b97f4a7c15u;
		struct nsi_log log;
		struct nsi_log_reader rd;
		assert_int_equal(nsi_log_attach(&log, trap.view, bytes), 0);
		assert_int_equal(nsi_log_reader_init(&rd, &log, 0, NULL), 0);
		struct seen s = { .limit = (size_t)log.max_message };
		trap.accesses = 0;
		assert_int_equal(mprotect(trap.view, 4096, PROT_NONE), 0);
		for (int round = 0; round < 400; round++) {
			rd.position = 0;
			rd.corrupt = false;
			rd.assembling = false;
			(void)read_log(&rd, &s);
		}
		assert_int_equal(mprotect(trap.view, 4096, PROT_READ | PROT_WRITE), 0);
		print_message(
			"# %s: 400 reads, %llu trapped accesses, %lld messages, longest %zu\n",
			fragmented ? "fragmented" : "unfragmented",
			(unsigned long long)trap.accesses, (long long)s.messages, s.max_len);
		assert_true(trap.accesses >= 400);
		assert_int_equal(s.bad_lengths, 0);
		nsi_log_reader_free(&rd);
	}
	assert_int_equal(sigaction(SIGSEGV, &old_segv, NULL), 0);
	assert_int_equal(sigaction(SIGTRAP, &old_trap, NULL), 0);
	munmap(trap.raw, bytes);
	munmap(trap.view, bytes);
}
#endif

/* A frame left from three terms ago (its term id is not this term's) is not delivered. */
static void
stale_term_frame_is_corrupt(void **state)
{
	(void)state;
	struct memlog m;
	memlog_open(&m, 1024);
	uint8_t msg[40] = { 1 };
	assert_true(nsi_log_append(&m.log, false, msg, sizeof(msg)) > 0);
	struct nsi_data_header *h = (struct nsi_data_header *)(void *)m.log.terms[0];
	h->term_id -= 3;
	struct seen s = { .limit = (size_t)m.log.max_message };
	assert_int_equal(read_log(&m.rd, &s), 0);
	assert_true(m.rd.corrupt);
	assert_int_equal(s.messages, 0);
	memlog_close(&m);
}

/*
 * Issue 14.15: a tail whose offset is not a multiple of 32 (forged) is refused before any
 * store: the publisher would otherwise write 8-byte atomics at a misaligned address.
 */
static void
unaligned_tail_is_refused(void **state)
{
	(void)state;
	for (int exclusive = 0; exclusive < 2; exclusive++) {
		struct memlog m;
		memlog_open(&m, 1024);
		int64_t *tail = &m.log.meta->tail[0];
		*tail += 12;
		uint8_t msg[40] = { 0 };
		int64_t before = *tail;
		assert_int_equal(nsi_log_append(&m.log, exclusive, msg, sizeof(msg)),
				 NSI_LOG_CORRUPT);
		struct nsi_log_claim c;
		assert_int_equal(nsi_log_claim(&m.log, exclusive, 8, &c), NSI_LOG_CORRUPT);
		if (exclusive)
			assert_int_equal(*tail, before);
		memlog_close(&m);
	}
}

/* ---- the same through the public API: a client with its embedded driver ---- */

struct stream {
	ns_client *c;
	ns_publication *p;
	ns_subscription *s;
	struct seen seen;
};

static void
stream_open(struct stream *st, uint32_t pub_flags)
{
	struct ns_client_opts o = NS_CLIENT_OPTS_INIT;
	o.dir = dir;
	o.term_length = TERM;
	o.mtu = 1024;
	assert_int_equal(ns_client_create(&st->c, &o), 0);
	assert_int_equal(ns_subscription_add(st->c, "ns:ipc", 3, NULL, &st->s), 0);
	assert_int_equal(ns_publication_add(st->c, "ns:ipc", 3, pub_flags, &st->p), 0);
	assert_int_equal(ns_publication_wait_connected(st->p, ns_clock_ns() + 10 * SEC), 0);
	assert_int_equal(ns_subscription_wait_connected(st->s, ns_clock_ns() + 10 * SEC), 0);
	st->seen = (struct seen){ .limit = (size_t)ns_publication_max_message(st->p) };
}

static void
stream_close(struct stream *st)
{
	assert_int_equal(ns_publication_close(st->p), 0);
	assert_int_equal(ns_subscription_close(st->s), 0);
	assert_int_equal(ns_client_close(st->c), 0);
}

/* Offer and poll until @n messages went through (10 s at most). */
static void
pump(struct stream *st, int n)
{
	uint8_t msg[200];
	memset(msg, 7, sizeof(msg));
	int64_t deadline = ns_clock_ns() + 10 * SEC;
	for (int sent = 0; sent < n;) {
		int64_t r = ns_offer(st->p, msg, sizeof(msg));
		if (r > 0)
			sent++;
		else
			assert_true(r == NS_BACK_PRESSURED || r == NS_ADMIN_ACTION);
		(void)ns_subscription_poll(st->s, on_message, &st->seen, 64);
		assert_true(ns_clock_ns() < deadline);
	}
	while (ns_subscription_poll(st->s, on_message, &st->seen, 64) > 0)
		;
}

/*
 * Issue 14.4: clean_position = INT64_MIN in the log's metadata made the publisher's cleaning
 * overflow and zero ~2^63 bytes, wiping neighbouring mappings. Now it is bounded: the stream
 * goes on, and cnc.dat (mapped next to the log) is intact.
 */
static void
forged_clean_position_is_bounded(void **state)
{
	(void)state;
	/* Values no publisher writes: cleaning restarts 1.5 terms back and the stream goes on. */
	static const int64_t forged[] = { INT64_MIN, INT64_MAX, -1, 1LL << 62 };
	for (size_t i = 0; i < sizeof(forged) / sizeof(forged[0]); i++) {
		struct stream st;
		stream_open(&st, 0);
		pump(&st, 100);
		__atomic_store_n(&st.p->log.meta->clean_position, forged[i], __ATOMIC_RELEASE);
		pump(&st, 2000); /* several limit refreshes and term rotations */
		assert_int_equal(st.seen.messages, 2100);
		assert_int_equal(st.seen.bad_lengths, 0);
		assert_int_equal(st.c->cnc.hdr->magic, NSI_CNC_MAGIC);
		assert_true(ns_client_do_work(st.c) >= 0);
		stream_close(&st);
	}
}

/*
 * Issue 14.6: a forged active term count makes every offer say NS_ADMIN_ACTION (retry at
 * once); ns_offer_wait() used to retry past its deadline for ever. Now it keeps it. (The
 * count is raised after two rotations, so the tail it points at is an old term's and lies
 * below the limit: every offer then reports a rotation under way.)
 */
static void
offer_wait_keeps_its_deadline(void **state)
{
	(void)state;
	struct stream st;
	stream_open(&st, 0);
	pump(&st, 600);
	assert_true(nsi_log_active_term_count(&st.p->log) >= 2);
	int32_t *count = &st.p->log.meta->active_term_count;
	__atomic_store_n(count, __atomic_load_n(count, __ATOMIC_ACQUIRE) + 1, __ATOMIC_RELEASE);
	uint8_t msg[32] = { 0 };
	int64_t start = ns_clock_ns();
	int64_t r = ns_offer_wait(st.p, msg, sizeof(msg), NS_WAIT_BUSY_SPIN, start + SEC / 5);
	int64_t took = ns_clock_ns() - start;
	print_message("# ns_offer_wait with a 200 ms deadline: %s after %lld ms\n",
		      ns_strerror((int)r), (long long)(took / 1000000));
	assert_int_equal(r, -ETIMEDOUT);
	assert_true(took >= SEC / 5);
	assert_true(took < 2 * SEC);
	stream_close(&st);
}

/*
 * Issue 14.15 through the API: an unaligned tail gives NS_LOG_CORRUPT from every offer
 * (not retryable: ns_offer_wait returns it at once), and the publication still closes.
 */
static void
unaligned_tail_gives_log_corrupt(void **state)
{
	(void)state;
	for (uint32_t flags = 0; flags <= NS_PUBLICATION_EXCLUSIVE; flags++) {
		struct stream st;
		stream_open(&st, flags);
		pump(&st, 10);
		int32_t count =
			__atomic_load_n(&st.p->log.meta->active_term_count, __ATOMIC_ACQUIRE);
		int64_t *tail = &st.p->log.meta->tail[nsi_log_partition(count)];
		__atomic_add_fetch(tail, 4, __ATOMIC_ACQ_REL);
		uint8_t msg[32] = { 0 };
		assert_int_equal(ns_offer(st.p, msg, sizeof(msg)), NS_LOG_CORRUPT);
		assert_int_equal(ns_offer_wait(st.p, msg, sizeof(msg), NS_WAIT_YIELD,
					       ns_clock_ns() + 10 * SEC),
				 NS_LOG_CORRUPT);
		struct ns_claim c;
		assert_int_equal(ns_try_claim(st.p, 8, &c), NS_LOG_CORRUPT);
		stream_close(&st);
	}
}

/*
 * Issue 14.7: a tail forged 2^30 terms ahead, then the publication closed: the driver walked
 * the whole forged distance (~9 s, its heartbeat stale for every client). Now its walk is at
 * most two terms: the duty cycle stays short and the subscriber sees the stream end.
 */
static void
forged_tail_then_close_is_bounded_work(void **state)
{
	(void)state;
	struct stream st;
	stream_open(&st, 0);
	pump(&st, 10);
	int32_t count = __atomic_load_n(&st.p->log.meta->active_term_count, __ATOMIC_ACQUIRE);
	int64_t *tail = &st.p->log.meta->tail[nsi_log_partition(count)];
	__atomic_add_fetch(tail, (int64_t)1 << 62, __ATOMIC_ACQ_REL); /* term id + 2^30 */
	int64_t start = ns_clock_ns();
	assert_int_equal(ns_publication_close(st.p), 0);
	int64_t took = ns_clock_ns() - start;
	int64_t cycle = *nsi_counter_addr(&st.c->cnc.counters, NSI_SYS_CYCLE_MAX_NS);
	print_message("# close after a forged tail: %lld us; longest duty cycle %lld us\n",
		      (long long)(took / 1000), (long long)(cycle / 1000));
	assert_true(took < SEC);
	assert_true(cycle < SEC / 2);
	/* The subscriber's image ends (at the last real frame), it does not wait for ever. */
	int64_t deadline = ns_clock_ns() + 10 * SEC;
	while (ns_subscription_image_count(st.s) > 0) {
		(void)ns_subscription_poll(st.s, on_message, &st.seen, 64);
		assert_true(ns_clock_ns() < deadline);
	}
	assert_int_equal(st.seen.messages, 10);
	assert_int_equal(ns_subscription_close(st.s), 0);
	assert_int_equal(ns_client_close(st.c), 0);
}

/* A second client of @st's driver adds and closes a publication within its timeout. */
static void
another_client_works(struct stream *st)
{
	struct ns_client_opts o = NS_CLIENT_OPTS_INIT;
	o.dir = dir;
	o.flags = NS_CLIENT_NO_EMBEDDED;
	o.timeout_ns = 2 * SEC;
	ns_client *b = NULL;
	int64_t start = ns_clock_ns();
	assert_int_equal(ns_client_create(&b, &o), 0);
	ns_publication *p = NULL;
	assert_int_equal(ns_publication_add(b, "ns:ipc", 4, 0, &p), 0);
	assert_int_equal(ns_publication_close(p), 0);
	assert_int_equal(ns_client_close(b), 0);
	assert_true(ns_clock_ns() - start < 4 * SEC);
	(void)st;
}

/* Polls and client work return at once (100 of each within a second). */
static void
calls_return(struct stream *st)
{
	int64_t start = ns_clock_ns();
	for (int i = 0; i < 100; i++) {
		assert_true(ns_subscription_poll(st->s, on_message, &st->seen, 64) >= 0);
		assert_true(ns_client_do_work(st->c) >= 0);
	}
	assert_true(ns_clock_ns() - start < SEC);
}

/*
 * Issue 14.5 through the API: the broadcast tail raised by 1 MiB made a client hand out the
 * same notice for ever (ns_poll never returned, closes blocked); random records made every new
 * client hang in create or add. Now polls return, other clients are served, closes finish.
 */
static void
forged_broadcast_is_survived(void **state)
{
	(void)state;
	struct stream st;
	stream_open(&st, 0);
	pump(&st, 10);
	struct nsi_bcast *b = &st.c->cnc.to_clients;
	nsi_store_release_i64(&b->trailer->tail, b->trailer->tail + (1 << 20));
	calls_return(&st);
	another_client_works(&st);
	calls_return(&st);
	/* Random records over the whole buffer, and random trailer words. */
	uint64_t x = 0x9e3779b97f4a7c15u;
	for (int round = 0; round < 4; round++) {
		for (int64_t i = 0; i < b->capacity + NSI_BCAST_TRAILER; i += 8) {
			x ^= x << 13;
			x ^= x >> 7;
			x ^= x << 17;
			uint64_t w = (round & 1) ? x : (x & 0x0000006f000001f8ULL);
			__atomic_store_n((uint64_t *)(void *)(b->buf + i), w, __ATOMIC_RELAXED);
		}
		calls_return(&st);
		another_client_works(&st);
	}
	pump(&st, 10);
	assert_int_equal(st.seen.bad_lengths, 0);
	stream_close(&st);
}

/*
 * Issue 14.16: a driver pid of 0 forged in cnc.dat made clients declare a live driver dead,
 * and the takeover logic would have deleted its files. Liveness now comes from the
 * directory's lock (and the heartbeat), never from a pid read from shared memory.
 */
static void
forged_driver_pid_changes_nothing(void **state)
{
	(void)state;
	struct stream st;
	stream_open(&st, 0);
	pump(&st, 10);
	static const int64_t pids[] = { 0, -1, 1, INT64_MAX };
	for (size_t i = 0; i < sizeof(pids) / sizeof(pids[0]); i++) {
		st.c->cnc.hdr->pid = pids[i];
		another_client_works(&st);
		struct nsi_driver *second = NULL;
		struct nsi_driver_opts o = { .dir = dir };
		assert_int_equal(nsi_driver_create(&second, &o), -EADDRINUSE);
		char path[128];
		snprintf(path, sizeof(path), "%s/cnc.dat", dir);
		assert_int_equal(access(path, F_OK), 0);
		calls_return(&st);
	}
	pump(&st, 10);
	stream_close(&st);
}

/* The path of the first log file in the directory. */
static void
first_log(char *path, size_t len)
{
	DIR *dp = opendir(dir);
	assert_non_null(dp);
	path[0] = '\0';
	for (struct dirent *e; (e = readdir(dp)) != NULL;)
		if (strncmp(e->d_name, "pub-", 4) == 0) {
			snprintf(path, len, "%s/%.255s", dir, e->d_name);
			break;
		}
	closedir(dp);
	assert_true(path[0] != '\0');
}

/*
 * Issue 14.10: ftruncate of a log file (to 0 or to half) killed the driver, the publisher and
 * the subscriber with SIGBUS. Now the mapping that faults is replaced by zeros and flagged:
 * the publisher gets NS_LOG_CORRUPT, the subscriber's image leaves, the driver closes the
 * publication, and another stream of the same driver keeps flowing.
 */
static void
truncated_log_is_an_error_not_a_crash(void **state)
{
	(void)state;
	static const int64_t cut[] = { 0, TERM * 3 / 2 };
	for (int k = 0; k < 2; k++) {
		struct stream st;
		stream_open(&st, 0);
		pump(&st, 10);
		char path[512];
		first_log(path, sizeof(path));
		/* A second stream of the same driver, opened after, with its own log. */
		ns_publication *p2 = NULL;
		ns_subscription *s2 = NULL;
		assert_int_equal(ns_subscription_add(st.c, "ns:ipc", 9, NULL, &s2), 0);
		assert_int_equal(ns_publication_add(st.c, "ns:ipc", 9, 0, &p2), 0);
		assert_int_equal(ns_subscription_wait_connected(s2, ns_clock_ns() + 10 * SEC), 0);
		assert_int_equal(truncate(path, cut[k]), 0);
		uint8_t msg[200] = { 0 };
		int64_t deadline = ns_clock_ns() + 5 * SEC, r;
		while ((r = ns_offer(st.p, msg, sizeof(msg))) != NS_LOG_CORRUPT) {
			(void)ns_subscription_poll(st.s, on_message, &st.seen, 64);
			assert_true(ns_clock_ns() < deadline);
		}
		while (ns_subscription_image_count(st.s) > 0) {
			(void)ns_subscription_poll(st.s, on_message, &st.seen, 64);
			assert_true(ns_clock_ns() < deadline);
		}
		assert_int_equal(st.seen.bad_lengths, 0);
		/* The driver lives, and the other stream flows. */
		assert_true(ns_client_do_work(st.c) >= 0);
		int got = 0;
		for (int i = 0; i < 100; i++)
			assert_true(ns_offer_wait(p2, msg, 8, NS_WAIT_YIELD, deadline) > 0);
		struct seen s2seen = { .limit = 1 << 20 };
		while (s2seen.messages < 100) {
			(void)ns_subscription_poll(s2, on_message, &s2seen, 64);
			assert_true(ns_clock_ns() < deadline);
		}
		(void)got;
		print_message("# log cut to %lld bytes: NS_LOG_CORRUPT, image gone, the driver and "
			      "the other stream went on\n",
			      (long long)cut[k]);
		assert_int_equal(ns_publication_close(p2), 0);
		assert_int_equal(ns_subscription_close(s2), 0);
		stream_close(&st);
	}
}

/*
 * Issue 14.10: cnc.dat truncated under a running driver. Its driver stops (it can trust
 * nothing there any more) and its clients get NS_EDRIVER_TIMEOUT; nobody crashes, and a new
 * client starts a new driver in the directory.
 */
static void
truncated_cnc_stops_the_driver_not_the_process(void **state)
{
	(void)state;
	for (int k = 0; k < 2; k++) {
		struct stream st;
		stream_open(&st, 0);
		pump(&st, 10);
		char path[160];
		snprintf(path, sizeof(path), "%s/cnc.dat", dir);
		assert_int_equal(truncate(path, k == 0 ? 0 : 4096 * 3), 0);
		int64_t deadline = ns_clock_ns() + 5 * SEC;
		while (ns_client_do_work(st.c) != NS_EDRIVER_TIMEOUT) {
			nsi_driver_wake(
				st.c->driver); /* let its thread fault now, not at its beat */
			assert_true(ns_clock_ns() < deadline);
			sched_yield();
		}
		uint8_t msg[200] = { 0 };
		for (int i = 0; i < 1000; i++) {
			int64_t r = ns_offer(st.p, msg, sizeof(msg));
			assert_true(r > 0 || r == NS_BACK_PRESSURED || r == NS_ADMIN_ACTION ||
				    r == NS_EDRIVER_TIMEOUT);
			(void)ns_subscription_poll(st.s, on_message, &st.seen, 64);
		}
		stream_close(&st);
		/* The directory is free: a new client starts a new driver. */
		struct stream again;
		stream_open(&again, 0);
		pump(&again, 10);
		stream_close(&again);
	}
	print_message("# cnc.dat cut to 0 and to 12 KiB: NS_EDRIVER_TIMEOUT, no SIGBUS, a new "
		      "driver started after\n");
}

/* Every case gets a fresh directory. */
#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)

int
main(void)
{
	const struct CMUnitTest tests[] = {
		T(racing_frame_length_never_reaches_a_handler),
#ifdef HAVE_TRAP
		T(every_read_of_a_frame_word_is_single),
#endif
		T(stale_term_frame_is_corrupt),
		T(unaligned_tail_is_refused),
		T(forged_clean_position_is_bounded),
		T(offer_wait_keeps_its_deadline),
		T(unaligned_tail_gives_log_corrupt),
		T(forged_tail_then_close_is_bounded_work),
		T(forged_broadcast_is_survived),
		T(forged_driver_pid_changes_nothing),
		T(truncated_log_is_an_error_not_a_crash),
		T(truncated_cnc_stops_the_driver_not_the_process),
	};
	return cmocka_run_group_tests_name("forged", tests, NULL, NULL);
}

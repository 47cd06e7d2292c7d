/* SPDX-License-Identifier: MIT */
/*
 * One end of a UDP stream, for tools/interop (and by hand): the other end may be another
 * Nano-Stream process or a program of another implementation of the same wire protocol.
 * Each mode runs a client of its own (an embedded driver in NANOSTREAM_DIR unless one runs).
 *
 *   udp_peer sub CHANNEL STREAM COUNT     receive COUNT messages whose first 8 bytes are
 *                                         0, 1, 2, ... (little-endian) and whose other bytes
 *                                         are zero; prints what came and exits 0 if all of it
 *                                         came, in order, intact; stops early (exit 1) if the
 *                                         image ends, and says so ("image ended"); messages
 *                                         of a later image (a rejoin) are counted apart;
 *                                         UDP_PEER_SLOW_MS=N: sleeps N ms after each poll of
 *                                         at most 64 messages (a slow receiver)
 *   udp_peer pub CHANNEL STREAM COUNT LEN send COUNT text messages "nanostream N" padded
 *                                         with '.' to LEN bytes, then stay (the driver keeps
 *                                         serving NAKs) until SIGTERM or 60 s
 *   udp_peer stream CHANNEL STREAM COUNT LEN
 *                                         the same with the messages "sub" checks: the
 *                                         sequence number in the first 8 bytes, zeros after
 *   udp_peer pong CHANNEL STREAM CHANNEL STREAM
 *                                         echo every message of the first stream on the
 *                                         second until SIGTERM or 120 s
 *   udp_peer ping CHANNEL STREAM CHANNEL STREAM COUNT
 *                                         send COUNT messages of 32 bytes on the first,
 *                                         each after the echo of the one before came back on
 *                                         the second; prints the round trip's percentiles
 *
 * Every wait is bounded: a mode that has not finished in 60 s (pong: 120 s) exits 1.
 */
#include <inttypes.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <nanostream/nanostream.h>

#define SEC (1000LL * 1000 * 1000)

static volatile sig_atomic_t stop;
static ns_client *invoker; /* NS_CLIENT_NO_THREAD: this thread runs the driver's cycles */

static bool yielding; /* UDP_PEER_YIELD=1: give the CPU away between looks */

static void
duty(void)
{
	if (invoker != NULL)
		(void)ns_client_do_work(invoker);
	else if (yielding)
		sched_yield();
}

static void
client_opts(struct ns_client_opts *o)
{
	const char *v = getenv("UDP_PEER_NO_THREAD");
	if (v != NULL && strcmp(v, "1") == 0)
		o->flags |= NS_CLIENT_NO_THREAD;
	v = getenv("UDP_PEER_YIELD");
	yielding = v != NULL && strcmp(v, "1") == 0;
}

static void
client_made(ns_client *c, const struct ns_client_opts *o)
{
	if (o->flags & NS_CLIENT_NO_THREAD)
		invoker = c;
}

static void
on_term(int sig)
{
	(void)sig;
	stop = 1;
}

struct sub_state {
	uint64_t next, bad, bytes, later;
	int ended;
	const ns_image *image; /* the first image: a later one (a rejoin) is counted apart */
};

static void
on_gone(void *ctx, const ns_image *img)
{
	struct sub_state *s = ctx;
	if (s->image == NULL || img == s->image)
		s->ended++;
}

static void
on_seq(void *ctx, const void *buf, size_t len, const struct ns_header *h)
{
	struct sub_state *s = ctx;
	const unsigned char *b = buf;
	uint64_t seq = 0;
	if (s->image == NULL)
		s->image = h->image;
	if (h->image != s->image) {
		s->later++;
		return;
	}
	s->bytes += len;
	if (len < 8) {
		s->bad++;
		return;
	}
	for (int i = 7; i >= 0; i--)
		seq = seq << 8 | b[i];
	bool zero = true;
	for (size_t i = 8; i < len; i++)
		zero &= b[i] == 0;
	if (seq != s->next || !zero)
		s->bad++;
	s->next = seq + 1;
}

struct pong_state {
	ns_publication *back;
	uint64_t echoed;
};

static void
on_ping(void *ctx, const void *buf, size_t len, const struct ns_header *h)
{
	struct pong_state *p = ctx;
	(void)h;
	int64_t deadline = ns_clock_ns() + 5 * SEC;
	while (ns_offer(p->back, buf, len) < 0 && !stop && ns_clock_ns() < deadline)
		duty();
	duty();
	p->echoed++;
}

static int
fail(const char *what)
{
	fprintf(stderr, "udp_peer: %s: %s\n", what, ns_errmsg());
	return 1;
}

static void
on_echo(void *ctx, const void *buf, size_t len, const struct ns_header *h)
{
	uint64_t seq = 0;
	(void)h;
	if (len >= 8)
		memcpy(&seq, buf, 8);
	*(uint64_t *)ctx = seq + 1;
}

static int
cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
	return x < y ? -1 : x > y;
}

static int
run_ping(char **argv)
{
	int64_t count = strtoll(argv[6], NULL, 10);
	if (count < 1 || count > 100000000)
		return 2;
	int64_t *rtt = calloc((size_t)count, sizeof(*rtt));
	struct ns_client_opts o = NS_CLIENT_OPTS_INIT;
	ns_client *c = NULL;
	ns_publication *p = NULL;
	ns_subscription *s = NULL;
	client_opts(&o);
	if (rtt == NULL || ns_client_create(&c, &o) != 0)
		return fail("client");
	client_made(c, &o);
	if (ns_publication_add(c, argv[2], (int32_t)strtol(argv[3], NULL, 10), 0, &p) != 0 ||
	    ns_subscription_add(c, argv[4], (int32_t)strtol(argv[5], NULL, 10), NULL, &s) != 0)
		return fail("add");
	int64_t deadline = ns_clock_ns() + 60 * SEC;
	if (ns_publication_wait_connected(p, deadline) != 0 ||
	    ns_subscription_wait_connected(s, deadline) != 0)
		return fail("waiting for the other end");
	char msg[32] = { 0 };
	int64_t done = 0;
	for (; done < count && !stop && ns_clock_ns() < deadline; done++) {
		uint64_t seq = (uint64_t)done, back = 0;
		memcpy(msg, &seq, 8);
		int64_t t0 = ns_clock_ns();
		while (ns_offer(p, msg, sizeof(msg)) < 0 && ns_clock_ns() < deadline)
			duty();
		duty();
		while (back != seq + 1 && ns_clock_ns() < deadline) {
			(void)ns_subscription_poll(s, on_echo, &back, 1);
			duty();
		}
		rtt[done] = ns_clock_ns() - t0;
	}
	qsort(rtt, (size_t)done, sizeof(*rtt), cmp_i64);
	if (done > 0)
		printf("udp_peer: %lld round trips of 32 bytes: p50 %.1f us, p99 %.1f us, "
		       "p99.9 %.1f us, max %.1f us\n",
		       (long long)done, (double)rtt[done / 2] / 1e3,
		       (double)rtt[done * 99 / 100] / 1e3, (double)rtt[done * 999 / 1000] / 1e3,
		       (double)rtt[done - 1] / 1e3);
	free(rtt);
	ns_subscription_close(s);
	ns_publication_close(p);
	ns_client_close(c);
	return done == count ? 0 : 1;
}

int
main(int argc, char **argv)
{
	bool sub = argc == 5 && strcmp(argv[1], "sub") == 0;
	bool seq_format = argc == 6 && strcmp(argv[1], "stream") == 0;
	bool pub = argc == 6 && (strcmp(argv[1], "pub") == 0 || seq_format);
	bool pong = argc == 6 && strcmp(argv[1], "pong") == 0;
	bool ping = argc == 7 && strcmp(argv[1], "ping") == 0;
	if (ping)
		return run_ping(argv);
	if (!sub && !pub && !pong) {
		fprintf(stderr, "usage: udp_peer sub CHANNEL STREAM COUNT\n"
				"       udp_peer pub|stream CHANNEL STREAM COUNT LEN\n"
				"       udp_peer pong CHANNEL STREAM CHANNEL STREAM\n"
				"       udp_peer ping CHANNEL STREAM CHANNEL STREAM COUNT\n");
		return 2;
	}
	signal(SIGTERM, on_term);
	signal(SIGINT, on_term);
	struct ns_client_opts o = NS_CLIENT_OPTS_INIT;
	ns_client *c = NULL;
	client_opts(&o);
	if (ns_client_create(&c, &o) != 0)
		return fail("client");
	client_made(c, &o);
	int32_t stream = (int32_t)strtol(argv[3], NULL, 10);
	int64_t deadline = ns_clock_ns() + (pong ? 120 : 60) * SEC;
	int rc = 1;
	if (sub) {
		uint64_t count = strtoull(argv[4], NULL, 10);
		ns_subscription *s = NULL;
		struct sub_state st = { 0 };
		struct ns_subscription_opts so = NS_SUBSCRIPTION_OPTS_INIT;
		so.on_unavailable = on_gone;
		so.ctx = &st;
		if (ns_subscription_add(c, argv[2], stream, &so, &s) != 0)
			return fail("subscription");
		printf("udp_peer: subscribed to %s stream %d\n", argv[2], (int)stream);
		fflush(stdout);
		const char *slow = getenv("UDP_PEER_SLOW_MS");
		long slow_ms = slow != NULL ? strtol(slow, NULL, 10) : 0;
		while (st.next < count && st.ended == 0 && !stop && ns_clock_ns() < deadline) {
			(void)ns_subscription_poll_wait(s, on_seq, &st, 64, NS_WAIT_YIELD,
							ns_clock_ns() + SEC / 100);
			if (slow_ms > 0)
				nanosleep(&(struct timespec){ .tv_nsec = slow_ms * 1000000 }, NULL);
		}
		printf("udp_peer: received %" PRIu64 " of %" PRIu64 " messages (%" PRIu64
		       " bytes), %" PRIu64 " out of order or damaged%s\n",
		       st.next, count, st.bytes, st.bad, st.ended ? "; image ended" : "");
		rc = st.next == count && st.bad == 0 ? 0 : 1;
		/* UDP_PEER_STAT=path/to/ns-stat: this driver's counters and errors, for diagnosis. */
		const char *stat = getenv("UDP_PEER_STAT"), *dir = getenv("NANOSTREAM_DIR");
		if (stat != NULL && dir != NULL) {
			char cmd[1024];
			snprintf(cmd, sizeof(cmd),
				 "%s -d %s | grep -E 'udp|rcv' | grep -v ' 0  udp'; %s -e -d %s",
				 stat, dir, stat, dir);
			if (system(cmd) != 0)
				fprintf(stderr, "udp_peer: %s failed\n", stat);
		}
		ns_subscription_close(s);
	} else if (pub) {
		uint64_t count = strtoull(argv[4], NULL, 10);
		size_t len = strtoul(argv[5], NULL, 10);
		static char msg[65536];
		if (len < 24 || len > sizeof(msg)) {
			fprintf(stderr, "udp_peer: LEN 24 .. 65536\n");
			return 2;
		}
		ns_publication *p = NULL;
		if (ns_publication_add(c, argv[2], stream, 0, &p) != 0)
			return fail("publication");
		if (ns_publication_wait_connected(p, deadline) != 0)
			return fail("waiting for a subscriber");
		uint64_t sent = 0;
		while (sent < count && !stop && ns_clock_ns() < deadline) {
			if (seq_format) {
				memset(msg, 0, len);
				for (int i = 0; i < 8; i++)
					msg[i] = (char)(sent >> (8 * i));
			} else {
				memset(msg, '.', len);
				int n = snprintf(msg, len, "nanostream %" PRIu64, sent);
				msg[n] = '.';
			}
			if (ns_offer(p, msg, len) > 0)
				sent++;
		}
		printf("udp_peer: sent %" PRIu64 " of %" PRIu64 " messages of %zu bytes to %s "
		       "stream %d session %d\n",
		       sent, count, len, argv[2], (int)stream, (int)ns_publication_session_id(p));
		fflush(stdout);
		while (!stop && ns_clock_ns() < deadline)
			nanosleep(&(struct timespec){ .tv_nsec = 10000000 }, NULL);
		rc = sent == count ? 0 : 1;
		ns_publication_close(p);
	} else {
		struct pong_state st = { 0 };
		ns_subscription *s = NULL;
		if (ns_subscription_add(c, argv[2], stream, NULL, &s) != 0)
			return fail("subscription");
		if (ns_publication_add(c, argv[4], (int32_t)strtol(argv[5], NULL, 10), 0,
				       &st.back) != 0)
			return fail("publication");
		while (!stop && ns_clock_ns() < deadline) {
			(void)ns_subscription_poll(s, on_ping, &st, 16);
			duty();
		}
		printf("udp_peer: echoed %" PRIu64 " messages\n", st.echoed);
		rc = 0;
		ns_publication_close(st.back);
		ns_subscription_close(s);
	}
	ns_client_close(c);
	return rc;
}

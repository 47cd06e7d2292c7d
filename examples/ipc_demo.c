/* SPDX-License-Identifier: MIT */
/*
 * Two processes exchanging messages through the embedded media driver.
 *
 * This process starts the driver inside itself (ns_client_create() finds none running), then
 * runs a second process (this program again, as "pong"), which connects to the same driver.
 * First a stream: N messages of 32 bytes, each carrying its sequence number and a checksum
 * the other process verifies. Then a ping-pong: round trips of one 32-byte message.
 *
 *   ipc_demo [messages]          (default 10000000)
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <nanostream/nanostream.h>

#define SEC	    (1000LL * 1000 * 1000)
#define MSG	    32
#define PINGS	    100000
#define END	    UINT64_MAX
#define STREAM_TO   1 /* ping -> pong */
#define STREAM_BACK 2

struct msg {
	uint64_t seq;
	uint64_t check; /* a function of seq the receiver recomputes */
	uint64_t pad[2];
};

static uint64_t
check_of(uint64_t seq)
{
	uint64_t x = seq * 0x9e3779b97f4a7c15u;
	return x ^ (x >> 29);
}

static int
fail(const char *what, int rc)
{
	fprintf(stderr, "%s: %s\n", what, ns_strerror(rc));
	return 1;
}

/* ---- the second process ---- */

struct pong {
	ns_publication *back;
	uint64_t received, errors, next;
	int phase; /* 0: stream, 1: ping-pong, 2: done */
};

static void
send_back(struct pong *p, const void *buf, size_t len)
{
	while (ns_offer(p->back, buf, len) < 0)
		; /* back pressure or a term rotation: retry */
}

static void
on_message(void *ctx, const void *buf, size_t len, const struct ns_header *h)
{
	struct pong *p = ctx;
	struct msg m;
	(void)h;
	if (len != MSG) {
		p->errors++;
		return;
	}
	memcpy(&m, buf, sizeof(m));
	if (m.seq == END) {
		/* End of a phase: answer with what was received. */
		struct msg r = { .seq = END, .check = p->received, .pad = { p->errors } };
		send_back(p, &r, sizeof(r));
		p->phase++;
		p->received = p->errors = p->next = 0;
		return;
	}
	if (m.seq != p->next || m.check != check_of(m.seq))
		p->errors++;
	p->next = m.seq + 1;
	p->received++;
	if (p->phase == 1)
		send_back(p, buf, len); /* ping-pong: echo */
}

static int
run_pong(void)
{
	struct ns_client_opts o = NS_CLIENT_OPTS_INIT;
	o.flags = NS_CLIENT_NO_EMBEDDED; /* the first process's driver */
	ns_client *c;
	ns_subscription *s;
	struct pong p = { 0 };
	int rc = ns_client_create(&c, &o);
	if (rc != 0)
		return fail("pong: client", rc);
	if ((rc = ns_subscription_add(c, "ns:ipc", STREAM_TO, NULL, &s)) != 0 ||
	    (rc = ns_publication_add(c, "ns:ipc", STREAM_BACK, NS_PUBLICATION_EXCLUSIVE,
				     &p.back)) != 0)
		return fail("pong: add", rc);
	while (p.phase < 2)
		if (ns_subscription_poll(s, on_message, &p, 64) < 0)
			return 1;
	ns_publication_close(p.back);
	ns_subscription_close(s);
	ns_client_close(c);
	return 0;
}

/* ---- the first process ---- */

struct reply {
	bool got;
	struct msg m;
};

static void
on_reply(void *ctx, const void *buf, size_t len, const struct ns_header *h)
{
	struct reply *r = ctx;
	(void)h;
	if (len == MSG)
		memcpy(&r->m, buf, sizeof(r->m));
	r->got = true;
}

static void
wait_reply(ns_subscription *s, struct reply *r)
{
	r->got = false;
	while (!r->got)
		(void)ns_subscription_poll(s, on_reply, r, 1);
}

static int
cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

int
main(int argc, char **argv)
{
	if (argc == 2 && strcmp(argv[1], "pong") == 0)
		return run_pong();
	uint64_t n = argc > 1 ? strtoull(argv[1], NULL, 10) : 10000000;
	if (n == 0) {
		fprintf(stderr, "usage: %s [messages]\n", argv[0]);
		return 2;
	}
	struct ns_client_opts o = NS_CLIENT_OPTS_INIT;
	ns_client *c;
	ns_publication *pub;
	ns_subscription *sub;
	int rc = ns_client_create(&c, &o);
	if (rc != 0)
		return fail("client", rc);
	if ((rc = ns_publication_add(c, "ns:ipc", STREAM_TO, NS_PUBLICATION_EXCLUSIVE, &pub)) !=
		    0 ||
	    (rc = ns_subscription_add(c, "ns:ipc", STREAM_BACK, NULL, &sub)) != 0)
		return fail("add", rc);
	pid_t child = fork();
	if (child == 0) {
		execl("/proc/self/exe", argv[0], "pong", (char *)NULL);
		_exit(127);
	}
	if ((rc = ns_publication_wait_connected(pub, ns_clock_ns() + 10 * SEC)) != 0 ||
	    (rc = ns_subscription_wait_connected(sub, ns_clock_ns() + 10 * SEC)) != 0)
		return fail("waiting for the other process", rc);
	printf("nanostream %s IPC demo: pid %d -> pid %d through the %s driver\n", ns_version(),
	       (int)getpid(), (int)child, ns_client_is_embedded(c) ? "embedded" : "running");

	/* The stream. */
	struct msg m = { 0 };
	int64_t t0 = ns_clock_ns();
	for (uint64_t i = 0; i < n; i++) {
		m.seq = i;
		m.check = check_of(i);
		while (ns_offer(pub, &m, sizeof(m)) < 0)
			; /* back pressure: the subscriber is a window behind */
	}
	m.seq = END;
	while (ns_offer(pub, &m, sizeof(m)) < 0)
		;
	struct reply r;
	wait_reply(sub, &r);
	int64_t elapsed = ns_clock_ns() - t0;
	printf("stream      %" PRIu64 " messages of %d bytes sent, %" PRIu64
	       " received in order, %" PRIu64 " errors\n",
	       n, MSG, r.m.check, r.m.pad[0]);
	printf("rate        %.1f M messages/s (%.1f ns/message)\n",
	       (double)n * 1e3 / (double)elapsed, (double)elapsed / (double)n);
	bool ok = r.m.check == n && r.m.pad[0] == 0;

	/* The ping-pong. */
	uint64_t *rtt = malloc(PINGS * sizeof(*rtt));
	if (rtt == NULL)
		return 1;
	for (uint64_t i = 0; i < PINGS; i++) {
		m.seq = i;
		m.check = check_of(i);
		int64_t start = ns_clock_ns();
		while (ns_offer(pub, &m, sizeof(m)) < 0)
			;
		wait_reply(sub, &r);
		rtt[i] = (uint64_t)(ns_clock_ns() - start);
		ok &= r.m.seq == i;
	}
	m.seq = END;
	while (ns_offer(pub, &m, sizeof(m)) < 0)
		;
	wait_reply(sub, &r);
	ok &= r.m.check == PINGS && r.m.pad[0] == 0;
	qsort(rtt, PINGS, sizeof(*rtt), cmp_u64);
	printf("round trip  %d pings: p50 %.2f us, p99 %.2f us, p99.9 %.2f us\n", PINGS,
	       (double)rtt[PINGS / 2] / 1e3, (double)rtt[PINGS * 99 / 100] / 1e3,
	       (double)rtt[PINGS * 999 / 1000] / 1e3);
	free(rtt);
	int st = 0;
	waitpid(child, &st, 0);
	ok &= WIFEXITED(st) && WEXITSTATUS(st) == 0;
	printf("result      %s\n", ok ? "OK" : "FAILED");
	ns_publication_close(pub);
	ns_subscription_close(sub);
	ns_client_close(c);
	return ok ? 0 : 1;
}

/* SPDX-License-Identifier: MIT */
/*
 * Two processes exchanging messages over UDP on loopback, each with its own media driver.
 *
 * This process starts an embedded driver in a directory of its own, then runs a second process
 * (this program again, as "pong") with another directory, so the two drivers share nothing
 * but the network: the stream goes over ns:udp to 127.0.0.1, in Aeron's wire format, with
 * loss recovery. First a stream of N messages of 32 bytes, each carrying its sequence number
 * and a checksum the other process verifies; then round trips of one 32-byte message.
 *
 *   udp_demo [messages]          (default 1000000)
 *
 * Both processes wait politely (sched_yield) rather than spin: on a machine with few cores
 * the drivers' network threads need the CPU too (docs/udp.md, "Latency").
 */
#include <inttypes.h>
#include <netinet/in.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <nanostream/nanostream.h>

#define SEC	    (1000LL * 1000 * 1000)
#define MSG	    32
#define PINGS	    20000
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
	fprintf(stderr, "%s: %s (%s)\n", what, ns_strerror(rc), ns_errmsg());
	return 1;
}

/* A driver directory of our own: the two processes must not share one. */
static int
client_in(const char *dir, ns_client **c)
{
	mkdir(dir, 0700);
	struct ns_client_opts o = NS_CLIENT_OPTS_INIT;
	o.dir = dir;
	return ns_client_create(c, &o);
}

static void
send_msg(ns_publication *p, const void *buf, size_t len)
{
	int64_t deadline = ns_clock_ns() + 10 * SEC;
	while (ns_offer(p, buf, len) < 0 && ns_clock_ns() < deadline)
		sched_yield(); /* back pressure: the receiver is a window behind */
}

/* ---- the second process ---- */

struct pong {
	ns_publication *back;
	uint64_t received, errors, next;
	int phase; /* 0: stream, 1: ping-pong, 2: done */
};

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
		struct msg r = { .seq = END, .check = p->received, .pad = { p->errors } };
		send_msg(p->back, &r, sizeof(r));
		p->phase++;
		p->received = p->errors = p->next = 0;
		return;
	}
	if (m.seq != p->next || m.check != check_of(m.seq))
		p->errors++;
	p->next = m.seq + 1;
	p->received++;
	if (p->phase == 1)
		send_msg(p->back, buf, len); /* ping-pong: echo */
}

static int
run_pong(const char *dir, const char *to, const char *back)
{
	ns_client *c;
	ns_subscription *s;
	struct pong p = { 0 };
	int rc = client_in(dir, &c);
	if (rc != 0)
		return fail("pong: client", rc);
	if ((rc = ns_subscription_add(c, to, STREAM_TO, NULL, &s)) != 0 ||
	    (rc = ns_publication_add(c, back, STREAM_BACK, NS_PUBLICATION_EXCLUSIVE, &p.back)) != 0)
		return fail("pong: add", rc);
	int64_t deadline = ns_clock_ns() + 120 * SEC;
	while (p.phase < 2 && ns_clock_ns() < deadline)
		if (ns_subscription_poll(s, on_message, &p, 64) == 0)
			sched_yield();
	ns_publication_close(p.back);
	ns_subscription_close(s);
	ns_client_close(c);
	return p.phase == 2 ? 0 : 1;
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

static bool
wait_reply(ns_subscription *s, struct reply *r)
{
	int64_t deadline = ns_clock_ns() + 10 * SEC;
	r->got = false;
	while (!r->got && ns_clock_ns() < deadline)
		if (ns_subscription_poll(s, on_reply, r, 1) == 0)
			sched_yield();
	return r->got;
}

static int
cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

/* A stopped driver leaves only its lock file (docs/ipc.md): remove it and the directory. */
static void
remove_dir(const char *dir)
{
	char lock[128];
	snprintf(lock, sizeof(lock), "%s/driver.lock", dir);
	unlink(lock);
	rmdir(dir);
}

/* A loopback UDP port nobody uses now. */
static int
free_port(void)
{
	int fd = socket(AF_INET, SOCK_DGRAM, 0);
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t l = sizeof(a);
	int port = -1;
	if (fd >= 0 && bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0 &&
	    getsockname(fd, (struct sockaddr *)&a, &l) == 0)
		port = ntohs(a.sin_port);
	if (fd >= 0)
		close(fd);
	return port;
}

int
main(int argc, char **argv)
{
	if (argc == 5 && strcmp(argv[1], "pong") == 0)
		return run_pong(argv[2], argv[3], argv[4]);
	uint64_t n = argc > 1 ? strtoull(argv[1], NULL, 10) : 1000000;
	if (n == 0) {
		fprintf(stderr, "usage: %s [messages]\n", argv[0]);
		return 2;
	}
	char dir[64], peer_dir[80], to[64], back[64];
	snprintf(dir, sizeof(dir), "/tmp/nanostream-udp-demo-%d", (int)getpid());
	snprintf(peer_dir, sizeof(peer_dir), "%s-pong", dir);
	int p1 = free_port(), p2 = free_port();
	snprintf(to, sizeof(to), "ns:udp?endpoint=127.0.0.1:%d", p1);
	snprintf(back, sizeof(back), "ns:udp?endpoint=127.0.0.1:%d", p2 != p1 ? p2 : p1 + 1);
	ns_client *c;
	ns_publication *pub;
	ns_subscription *sub;
	int rc = client_in(dir, &c);
	if (rc != 0)
		return fail("client", rc);
	if ((rc = ns_publication_add(c, to, STREAM_TO, NS_PUBLICATION_EXCLUSIVE, &pub)) != 0 ||
	    (rc = ns_subscription_add(c, back, STREAM_BACK, NULL, &sub)) != 0)
		return fail("add", rc);
	pid_t child = fork();
	if (child == 0) {
		execl("/proc/self/exe", argv[0], "pong", peer_dir, to, back, (char *)NULL);
		_exit(127);
	}
	if ((rc = ns_publication_wait_connected(pub, ns_clock_ns() + 10 * SEC)) != 0 ||
	    (rc = ns_subscription_wait_connected(sub, ns_clock_ns() + 10 * SEC)) != 0)
		return fail("waiting for the other process", rc);
	printf("nanostream %s UDP demo: pid %d -> pid %d over %s, each with its own driver\n",
	       ns_version(), (int)getpid(), (int)child, to);

	/* The stream. */
	struct msg m = { 0 };
	int64_t t0 = ns_clock_ns();
	for (uint64_t i = 0; i < n; i++) {
		m.seq = i;
		m.check = check_of(i);
		send_msg(pub, &m, sizeof(m));
	}
	m.seq = END;
	send_msg(pub, &m, sizeof(m));
	struct reply r;
	bool ok = wait_reply(sub, &r);
	int64_t elapsed = ns_clock_ns() - t0;
	printf("stream      %" PRIu64 " messages of %d bytes sent, %" PRIu64
	       " received in order, %" PRIu64 " errors\n",
	       n, MSG, r.m.check, r.m.pad[0]);
	printf("rate        %.2f M messages/s (%.1f ns/message)\n",
	       (double)n * 1e3 / (double)elapsed, (double)elapsed / (double)n);
	ok &= r.m.check == n && r.m.pad[0] == 0;

	/* The ping-pong. */
	uint64_t *rtt = malloc(PINGS * sizeof(*rtt));
	if (rtt == NULL)
		return 1;
	uint64_t done = 0;
	for (; done < PINGS && ok; done++) {
		m.seq = done;
		m.check = check_of(done);
		int64_t start = ns_clock_ns();
		send_msg(pub, &m, sizeof(m));
		ok &= wait_reply(sub, &r) && r.m.seq == done;
		rtt[done] = (uint64_t)(ns_clock_ns() - start);
	}
	m.seq = END;
	send_msg(pub, &m, sizeof(m));
	ok &= wait_reply(sub, &r) && r.m.check == PINGS && r.m.pad[0] == 0;
	if (done > 0) {
		qsort(rtt, done, sizeof(*rtt), cmp_u64);
		printf("round trip  %" PRIu64 " pings: p50 %.1f us, p99 %.1f us, p99.9 %.1f us\n",
		       done, (double)rtt[done / 2] / 1e3, (double)rtt[done * 99 / 100] / 1e3,
		       (double)rtt[done * 999 / 1000] / 1e3);
	}
	free(rtt);
	int st = 0;
	waitpid(child, &st, 0);
	ok &= WIFEXITED(st) && WEXITSTATUS(st) == 0;
	printf("result      %s\n", ok ? "OK" : "FAILED");
	ns_publication_close(pub);
	ns_subscription_close(sub);
	ns_client_close(c);
	remove_dir(peer_dir);
	remove_dir(dir);
	return ok ? 0 : 1;
}

/* SPDX-License-Identifier: MIT */
/*
 * UDP workloads (issue 17): two processes on loopback, each with its own embedded driver
 * (this one, and ns-bench run again as "ns-bench udp-peer ..."), joined only by ns:udp. Each
 * message carries a sequence number the other process checks. And in the same run, the
 * kernel's floors with the same socket options:
 *
 *   udp.p1s1.32 / .1k      messages/s, default settings (the network threads sleep when idle;
 *                          both applications yield while they wait)
 *   udp.rtt.32             ping-pong of 32-byte messages, default settings
 *   udp.rtt.32.ll          the same in the low-latency mode: NS_CLIENT_NO_THREAD, each
 *                          application thread runs its driver's cycles while it waits
 *   floor.udp.rtt          raw UDP ping-pong of 64-byte datagrams (a 32-byte message and its
 *                          header), spinning on non-blocking receives
 *   floor.udp.rtt.block    the same with blocking receives (each side sleeps: the like of
 *                          the default mode)
 *   floor.udp.bytes        raw sendmmsg (UDP GSO where the kernel has it) of 4096-byte
 *                          datagrams, our default MTU, to recvmmsg: the kernel's byte rate
 *
 * One publisher, several receivers (issue 19), each receiver a process with its own driver,
 * fc=min (every receiver gets every message; the rate is the slowest's):
 *
 *   udp.mc.p1s1.32 / .p1s3.32   32-byte messages to 1 / 3 receivers on a multicast group
 *   udp.mdc.p1s3.32             the same to 3 receivers by dynamic multi-destination-cast
 *   udp.mc.rtt.32               ping-pong over two multicast groups, one receiver echoing
 *   udp.mc.p1s1.32.cpu / .p1s3.32.cpu   the publishing process's CPU (its thread and its
 *                               driver's) per message: on two cores the receivers' CPU sets
 *                               the rate; this says what fan-out costs the publisher
 *
 * Multicast needs a route: the first multicast workload moves ns-bench into a network
 * namespace of its own whose loopback carries multicast (as root, or in an unprivileged user
 * namespace), so no datagram leaves the machine; the workloads after it run there too.
 */
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <nanostream/nanostream.h>

#include "nsb.h"

#ifndef UDP_SEGMENT
#define UDP_SEGMENT 103
#endif
#ifndef SOL_UDP
#define SOL_UDP 17
#endif

#define END_SEQ	  UINT64_MAX
#define SEC	  (1000LL * 1000 * 1000)
#define RCVBUF	  (2 << 20) /* what our endpoints ask for */
#define FLOOR_DG  4096
#define FLOOR_GSO 15 /* datagrams per GSO send (at most 64 KiB in all) */

static bool ll; /* this process: NS_CLIENT_NO_THREAD, its thread runs the duty cycles */
static ns_client *duty_client;

/* Waiting for the other side: run the driver (low latency), else give the CPU away. */
static void
idle(void)
{
	if (ll)
		(void)ns_client_do_work(duty_client);
	else
		sched_yield();
}

static int
client_for(const char *dir, ns_client **c)
{
	struct ns_client_opts o = NS_CLIENT_OPTS_INIT;
	o.dir = dir;
	if (ll)
		o.flags |= NS_CLIENT_NO_THREAD;
	int rc = ns_client_create(c, &o);
	duty_client = rc == 0 ? *c : NULL;
	return rc;
}

static void
channel(char *buf, size_t len, int port)
{
	snprintf(buf, len, "ns:udp?endpoint=127.0.0.1:%d", port);
}

#define GROUP "239.255.90.1"

/*
 * The channel a peer in @mode subscribes to (in) or publishes to (out): unicast, a multicast
 * group (mc-*), or a receiver's endpoint with the MDC publication's control address (mdc-*:
 * @in its endpoint, @out the control port).
 */
static void
peer_channel(char *buf, size_t len, const char *mode, int in, int out, bool sub)
{
	if (strncmp(mode, "mc-", 3) == 0)
		snprintf(buf, len, "ns:udp?endpoint=" GROUP ":%d|interface=127.0.0.1",
			 sub ? in : out);
	else if (strncmp(mode, "mdc-", 4) == 0 && sub)
		snprintf(buf, len, "ns:udp?endpoint=127.0.0.1:%d|control=127.0.0.1:%d", in, out);
	else
		channel(buf, len, sub ? in : out);
}

/* Once per process: a network namespace of our own whose loopback carries multicast. */
static int
private_net(void)
{
	static int done = 0;
	if (done != 0)
		return done > 0 ? 0 : -1;
	done = -1;
	uid_t uid = getuid();
	gid_t gid = getgid();
	if (unshare(CLONE_NEWNET | (uid != 0 ? CLONE_NEWUSER : 0)) != 0)
		return -1;
	if (uid != 0) {
		char map[64];
		FILE *f = fopen("/proc/self/setgroups", "w");
		if (f != NULL) {
			fputs("deny", f);
			fclose(f);
		}
		snprintf(map, sizeof(map), "0 %u 1", (unsigned)uid);
		if ((f = fopen("/proc/self/uid_map", "w")) == NULL || fputs(map, f) < 0 ||
		    fclose(f) != 0)
			return -1;
		snprintf(map, sizeof(map), "0 %u 1", (unsigned)gid);
		if ((f = fopen("/proc/self/gid_map", "w")) == NULL || fputs(map, f) < 0 ||
		    fclose(f) != 0)
			return -1;
	}
	if (system("ip link set lo up && ip link set lo multicast on && "
		   "ip route add 224.0.0.0/4 dev lo") != 0)
		return -1;
	done = 1;
	return 0;
}

/* ---- the other process ---- */

struct sink {
	uint64_t next, bad;
	bool done;
	ns_publication *echo;
};

static void
on_sink(void *ctx, const void *buf, size_t len, const struct ns_header *h)
{
	struct sink *k = ctx;
	uint64_t seq;
	(void)h;
	if (len < 8) {
		k->bad++;
		return;
	}
	memcpy(&seq, buf, 8);
	if (seq == END_SEQ) {
		k->done = true;
		return;
	}
	if (seq != k->next)
		k->bad++;
	k->next = seq + 1;
}

static void
on_echo(void *ctx, const void *buf, size_t len, const struct ns_header *h)
{
	struct sink *k = ctx;
	on_sink(ctx, buf, len, h);
	while (ns_offer(k->echo, buf, len) < 0)
		idle();
	if (ll)
		(void)ns_client_do_work(duty_client); /* send it now */
}

/* The floor's other side: echo (spinning or blocking) or count bytes for @secs. */
static int
floor_peer(const char *mode, int in, int out, double secs)
{
	int fd = socket(AF_INET, SOCK_DGRAM, 0);
	int rcvbuf = RCVBUF;
	(void)setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	a.sin_port = htons((uint16_t)in);
	if (bind(fd, (struct sockaddr *)&a, sizeof(a)) != 0)
		return 3;
	a.sin_port = htons((uint16_t)out);
	if (connect(fd, (struct sockaddr *)&a, sizeof(a)) != 0)
		return 3;
	printf("ready\n");
	fflush(stdout);
	static uint8_t buf[FLOOR_GSO][FLOOR_DG];
	if (strcmp(mode, "bytes") == 0) {
		struct mmsghdr m[FLOOR_GSO];
		struct iovec iov[FLOOR_GSO];
		for (int i = 0; i < FLOOR_GSO; i++) {
			iov[i] = (struct iovec){ buf[i], FLOOR_DG };
			m[i] = (struct mmsghdr){ .msg_hdr = { .msg_iov = &iov[i],
							      .msg_iovlen = 1 } };
		}
		uint64_t bytes = 0;
		int64_t start = 0, now = 0;
		struct timeval tv = { 0, 200000 };
		(void)setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
		for (;;) {
			int n = recvmmsg(fd, m, FLOOR_GSO, MSG_WAITFORONE, NULL);
			now = nsb_now();
			if (n <= 0) {
				if (start != 0)
					break; /* the sender stopped */
				continue;
			}
			if (start == 0)
				start = now; /* from the first datagram */
			else
				for (int i = 0; i < n; i++)
					bytes += m[i].msg_len;
			if (now - start >= (int64_t)(secs * 1e9))
				break;
		}
		printf("%llu %lld\n", (unsigned long long)bytes, (long long)(now - start));
		fflush(stdout);
		return 0;
	}
	int flags = strcmp(mode, "spin") == 0 ? MSG_DONTWAIT : 0;
	int64_t last = nsb_now();
	for (;;) {
		ssize_t n = recv(fd, buf[0], FLOOR_DG, flags);
		if (n < 0) {
			if (nsb_now() - last > 5 * SEC)
				return 5; /* the parent is gone */
			continue;
		}
		last = nsb_now();
		if (n == 1)
			return 0; /* the end */
		(void)send(fd, buf[0], (size_t)n, 0);
	}
}

/* ns-bench udp-peer MODE DIR CPU PORT_IN PORT_OUT LL SECONDS */
int
nsb_udp_peer_main(int argc, char **argv)
{
	if (argc != 9)
		return 2;
	const char *mode = argv[2], *dir = argv[3];
	cpu_set_t set;
	CPU_ZERO(&set);
	CPU_SET(atoi(argv[4]), &set);
	int in = atoi(argv[5]), out = atoi(argv[6]);
	ll = atoi(argv[7]) != 0;
	if (strncmp(mode, "floor-", 6) == 0) {
		sched_setaffinity(0, sizeof(set), &set);
		return floor_peer(mode + 6, in, out, atof(argv[8]));
	}
	ns_client *c = NULL;
	ns_subscription *s = NULL;
	struct sink k = { 0 };
	bool echo = strcmp(mode, "echo") == 0 || strcmp(mode, "mc-echo") == 0;
	char ch_in[128], ch_out[128];
	peer_channel(ch_in, sizeof(ch_in), mode, in, out, true);
	peer_channel(ch_out, sizeof(ch_out), mode, in, out, false);
	if (client_for(dir, &c) != 0 || ns_subscription_add(c, ch_in, 1, NULL, &s) != 0)
		return 3;
	if (echo && ns_publication_add(c, ch_out, 2, NS_PUBLICATION_EXCLUSIVE, &k.echo) != 0)
		return 3;
	/* This thread only: the driver's threads (started above) go where the scheduler wants. */
	sched_setaffinity(0, sizeof(set), &set);
	printf("ready\n");
	fflush(stdout);
	int64_t last = ns_clock_ns();
	uint32_t quiet = 0;
	while (!k.done) {
		if (ns_subscription_poll(s, echo ? on_echo : on_sink, &k, 64) > 0) {
			quiet = 0;
			continue;
		}
		idle();
		if (++quiet % 4096 == 0 && ns_clock_ns() - last > 5 * SEC) {
			last = ns_clock_ns();
			if (getppid() == 1)
				return 5;
		}
	}
	printf("%llu %llu\n", (unsigned long long)k.next, (unsigned long long)k.bad);
	fflush(stdout);
	/* Linger so the end's status message and our echoes reach the other side. */
	int64_t until = ns_clock_ns() + SEC / 5;
	while (ns_clock_ns() < until)
		idle();
	if (k.echo != NULL)
		ns_publication_close(k.echo);
	ns_subscription_close(s);
	ns_client_close(c);
	return 0;
}

/* ---- this process ---- */

#define PEERS 3

struct session {
	char dir[64], peer_dir[64];
	ns_client *client;
	ns_publication *pub;
	ns_subscription *sub;
	pid_t child;
	FILE *from_child;
	/* The receivers beyond the first (group workloads). */
	int npeers;
	struct {
		char dir[64];
		pid_t child;
		FILE *from_child;
	} more[PEERS - 1];
};

/* A loopback port nobody uses now. */
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

static int start_one(pid_t *child, FILE **from, const char *dir, const struct nsb_env *env,
		     const char *mode, int in, int out, bool peer_ll);

static int
start_peer(struct session *x, const struct nsb_env *env, const char *mode, int in, int out,
	   bool peer_ll)
{
	return start_one(&x->child, &x->from_child, x->peer_dir, env, mode, in, out, peer_ll);
}

static int
start_one(pid_t *child, FILE **from, const char *dir, const struct nsb_env *env, const char *mode,
	  int in, int out, bool peer_ll)
{
	int fds[2];
	char cpu[16], pin[16], pout[16], secs[32];
	snprintf(cpu, sizeof(cpu), "%d", env->cpus[1 % env->ncpus]);
	snprintf(pin, sizeof(pin), "%d", in);
	snprintf(pout, sizeof(pout), "%d", out);
	snprintf(secs, sizeof(secs), "%g", env->seconds);
	if (pipe(fds) != 0)
		return -errno;
	*child = fork();
	if (*child < 0)
		return -errno;
	if (*child == 0) {
		dup2(fds[1], 1);
		close(fds[0]);
		close(fds[1]);
		execl("/proc/self/exe", "ns-bench", "udp-peer", mode, dir, cpu, pin, pout,
		      peer_ll ? "1" : "0", secs, (char *)NULL);
		_exit(127);
	}
	close(fds[1]);
	*from = fdopen(fds[0], "r");
	char line[32];
	if (*from == NULL || fgets(line, sizeof(line), *from) == NULL ||
	    strcmp(line, "ready\n") != 0)
		return -EPROTO;
	return 0;
}

static int
open_session(struct session *x, const struct nsb_env *env, const char *mode, struct nsb_run *run)
{
	memset(x, 0, sizeof(*x));
	snprintf(x->dir, sizeof(x->dir), "/dev/shm/nsb-udp-XXXXXX");
	snprintf(x->peer_dir, sizeof(x->peer_dir), "/dev/shm/nsb-udp-XXXXXX");
	if (mkdtemp(x->dir) == NULL || mkdtemp(x->peer_dir) == NULL) {
		nsb_fail(run, "mkdtemp: %s", strerror(errno));
		return -1;
	}
	int to = free_port(), back = free_port();
	char ch_to[128], ch_back[128];
	peer_channel(ch_to, sizeof(ch_to), mode, 0, to, false);
	peer_channel(ch_back, sizeof(ch_back), mode, back, 0, true);
	int rc = client_for(x->dir, &x->client);
	if (rc == 0)
		rc = ns_publication_add(x->client, ch_to, 1, NS_PUBLICATION_EXCLUSIVE, &x->pub);
	if (rc == 0 && strstr(mode, "echo") != NULL)
		rc = ns_subscription_add(x->client, ch_back, 2, NULL, &x->sub);
	if (rc == 0) /* the other process's driver has a directory of its own */
		rc = start_peer(x, env, mode, to, back, ll);
	/* These run the driver's cycles themselves when it has no thread. */
	if (rc == 0)
		rc = ns_publication_wait_connected(x->pub, ns_clock_ns() + 10 * SEC);
	if (rc == 0 && x->sub != NULL)
		rc = ns_subscription_wait_connected(x->sub, ns_clock_ns() + 10 * SEC);
	if (rc != 0)
		nsb_fail(run, "setting up: %s (publication connected %d, images %d)",
			 ns_strerror(rc), x->pub ? ns_publication_is_connected(x->pub) : -1,
			 x->sub ? ns_subscription_image_count(x->sub) : -1);
	return rc;
}

/* The count one receiver process printed at the end (-1: none), and the process reaped. */
static int64_t
reap(FILE *from_child, pid_t child, struct nsb_run *run)
{
	int64_t count = -1;
	unsigned long long n = 0, bad = 0;
	if (from_child != NULL) {
		/* Keep the driver going (low latency: ours runs only in our calls) meanwhile. */
		int fd = fileno(from_child);
		int64_t deadline = ns_clock_ns() + 20 * SEC;
		struct pollfd p = { .fd = fd, .events = POLLIN };
		while (ns_clock_ns() < deadline && poll(&p, 1, 0) == 0)
			idle();
		if (fscanf(from_child, "%llu %llu", &n, &bad) == 2) {
			count = (int64_t)n;
			if (bad != 0)
				nsb_fail(run, "subscriber saw %llu messages out of order", bad);
		} else {
			nsb_fail(run, "no count from the subscriber process");
		}
		fclose(from_child);
	}
	if (child > 0) {
		int st;
		int64_t deadline = ns_clock_ns() + 5 * SEC;
		while (waitpid(child, &st, WNOHANG) == 0) {
			if (ns_clock_ns() > deadline) {
				kill(child, SIGKILL);
				waitpid(child, &st, 0);
				break;
			}
			idle();
		}
	}
	return count;
}

/* Ends the session; returns the smallest count the receivers printed (-1: one had none). */
static int64_t
close_session(struct session *x, struct nsb_run *run)
{
	if (x->pub != NULL && x->child > 0) {
		uint64_t end = END_SEQ;
		uint8_t msg[32] = { 0 };
		memcpy(msg, &end, 8);
		int64_t deadline = ns_clock_ns() + 10 * SEC;
		while (ns_offer(x->pub, msg, sizeof(msg)) < 0 && ns_clock_ns() < deadline)
			idle();
	}
	int64_t count = reap(x->from_child, x->child, run);
	for (int i = 0; i < x->npeers - 1; i++) {
		int64_t c = reap(x->more[i].from_child, x->more[i].child, run);
		if (c < count || count < 0)
			count = c < 0 ? -1 : c;
		nsb_rmdir_driver(x->more[i].dir);
	}
	if (x->sub != NULL)
		ns_subscription_close(x->sub);
	if (x->pub != NULL)
		ns_publication_close(x->pub);
	if (x->client != NULL)
		ns_client_close(x->client);
	nsb_rmdir_driver(x->peer_dir);
	nsb_rmdir_driver(x->dir);
	return count;
}

static int
run_flow(const struct nsb_workload *w, const struct nsb_env *env, struct nsb_run *run)
{
	ll = w->p.flags != 0;
	struct session x;
	if (open_session(&x, env, "sink", run) != 0) {
		close_session(&x, run);
		return -1;
	}
	nsb_pin(env, 0);
	static uint8_t msg[4096];
	size_t len = w->p.slot_size;
	uint64_t seq = 0;
	int64_t start = nsb_now(), end = start + (int64_t)(env->seconds * 1e9), now = start;
	while (now < end) {
		for (int i = 0; i < 256; i++) {
			memcpy(msg, &seq, 8);
			while (ns_offer(x.pub, msg, len) < 0)
				idle();
			seq++;
		}
		if (ll)
			(void)ns_client_do_work(duty_client);
		now = nsb_now();
	}
	int64_t got = close_session(&x, run);
	if (got != (int64_t)seq)
		nsb_fail(run, "sent %llu, the subscriber counted %lld", (unsigned long long)seq,
			 (long long)got);
	run->value = (double)seq / ((double)(now - start) / 1e9);
	return 0;
}

struct pong {
	uint64_t seq;
	bool got;
};

static void
on_pong(void *ctx, const void *buf, size_t len, const struct ns_header *h)
{
	struct pong *p = ctx;
	(void)h;
	if (len >= 8)
		memcpy(&p->seq, buf, 8);
	p->got = true;
}

/* Ping-pong: unicast both ways, or (shape 1) over two multicast groups. */
static int
run_rtt(const struct nsb_workload *w, const struct nsb_env *env, struct nsb_run *run)
{
	ll = w->p.flags != 0;
	if (w->p.shape == 1 && private_net() != 0) {
		nsb_fail(run, "no network namespace of our own for multicast");
		return -1;
	}
	struct session x;
	if (open_session(&x, env, w->p.shape == 1 ? "mc-echo" : "echo", run) != 0) {
		close_session(&x, run);
		return -1;
	}
	nsb_pin(env, 0);
	uint8_t msg[64] = { 0 };
	uint64_t seq = 0;
	int64_t end = nsb_now() + (int64_t)(env->seconds * 1e9);
	for (;;) {
		int64_t t0 = nsb_now();
		if (t0 >= end)
			break;
		memcpy(msg, &seq, 8);
		while (ns_offer(x.pub, msg, w->p.slot_size) < 0)
			idle();
		if (ll)
			(void)ns_client_do_work(duty_client); /* send it now */
		struct pong p = { 0 };
		int64_t give_up = t0 + 5 * SEC;
		while (!p.got && nsb_now() < give_up)
			if (ns_subscription_poll(x.sub, on_pong, &p, 1) == 0)
				idle();
		nsb_hist_record(run->hist, (uint64_t)(nsb_now() - t0));
		if (!p.got || p.seq != seq) {
			nsb_fail(run, "echo %llu for %llu", (unsigned long long)p.seq,
				 (unsigned long long)seq);
			break;
		}
		seq++;
	}
	int64_t got = close_session(&x, run);
	if (got != (int64_t)seq && run->error[0] == '\0')
		nsb_fail(run, "echoed %lld of %llu", (long long)got, (unsigned long long)seq);
	return 0;
}

/* ---- one publisher, several receivers ---- */

/*
 * @kind "mc" (a multicast group) or "mdc" (dynamic multi-destination-cast): a publication with
 * fc=min waiting for all @n receivers (g:/n), and @n receiver processes.
 */
static int
open_group(struct session *x, const struct nsb_env *env, const char *kind, int n,
	   struct nsb_run *run)
{
	memset(x, 0, sizeof(*x));
	ll = false;
	bool mc = strcmp(kind, "mc") == 0;
	if (mc && private_net() != 0) {
		nsb_fail(run, "no network namespace of our own for multicast (needs root, or "
			      "unprivileged user namespaces)");
		return -1;
	}
	snprintf(x->dir, sizeof(x->dir), "/dev/shm/nsb-udp-XXXXXX");
	snprintf(x->peer_dir, sizeof(x->peer_dir), "/dev/shm/nsb-udp-XXXXXX");
	if (mkdtemp(x->dir) == NULL || mkdtemp(x->peer_dir) == NULL) {
		nsb_fail(run, "mkdtemp: %s", strerror(errno));
		return -1;
	}
	for (int i = 0; i < n - 1; i++) {
		snprintf(x->more[i].dir, sizeof(x->more[i].dir), "/dev/shm/nsb-udp-XXXXXX");
		if (mkdtemp(x->more[i].dir) == NULL) {
			nsb_fail(run, "mkdtemp: %s", strerror(errno));
			return -1;
		}
	}
	x->npeers = n;
	int port = free_port(), control = free_port();
	char ch[160];
	if (mc)
		snprintf(ch, sizeof(ch),
			 "ns:udp?endpoint=" GROUP ":%d|interface=127.0.0.1|fc=min,g:/%d", port, n);
	else
		snprintf(ch, sizeof(ch),
			 "ns:udp?control=127.0.0.1:%d|control-mode=dynamic|fc=min,g:/%d", control,
			 n);
	int rc = client_for(x->dir, &x->client);
	if (rc == 0)
		rc = ns_publication_add(x->client, ch, 1, NS_PUBLICATION_EXCLUSIVE, &x->pub);
	const char *mode = mc ? "mc-sink" : "mdc-sink";
	for (int i = 0; rc == 0 && i < n; i++) {
		int in = mc ? port : free_port();
		rc = i == 0 ? start_peer(x, env, mode, in, control, false)
			    : start_one(&x->more[i - 1].child, &x->more[i - 1].from_child,
					x->more[i - 1].dir, env, mode, in, control, false);
	}
	if (rc == 0)
		rc = ns_publication_wait_connected(x->pub, ns_clock_ns() + 10 * SEC);
	if (rc != 0)
		nsb_fail(run, "setting up %s: %s (%s)", ch, ns_strerror(rc), ns_errmsg());
	return rc;
}

static int
run_group_flow(const struct nsb_workload *w, const struct nsb_env *env, struct nsb_run *run)
{
	struct session x;
	if (open_group(&x, env, w->p.flags ? "mdc" : "mc", w->p.producers, run) != 0) {
		close_session(&x, run);
		return -1;
	}
	nsb_pin(env, 0);
	static uint8_t msg[4096];
	size_t len = w->p.slot_size;
	uint64_t seq = 0;
	struct rusage r0, r1;
	getrusage(RUSAGE_SELF, &r0);
	int64_t start = nsb_now(), end = start + (int64_t)(env->seconds * 1e9), now = start;
	while (now < end) {
		for (int i = 0; i < 256; i++) {
			memcpy(msg, &seq, 8);
			while (ns_offer(x.pub, msg, len) < 0)
				idle();
			seq++;
		}
		now = nsb_now();
	}
	getrusage(RUSAGE_SELF, &r1);
	int64_t got = close_session(&x, run);
	if (got != (int64_t)seq)
		nsb_fail(run, "sent %llu, the slowest receiver counted %lld",
			 (unsigned long long)seq, (long long)got);
	if (w->kind == NSB_COST) {
		/* The publishing process's CPU (its thread and its driver's) per message. */
		double cpu = (double)(r1.ru_utime.tv_sec - r0.ru_utime.tv_sec + r1.ru_stime.tv_sec -
				      r0.ru_stime.tv_sec) *
				     1e9 +
			     (double)(r1.ru_utime.tv_usec - r0.ru_utime.tv_usec +
				      r1.ru_stime.tv_usec - r0.ru_stime.tv_usec) *
				     1e3;
		run->value = seq > 0 ? cpu / (double)seq : 0;
	} else {
		run->value = (double)seq / ((double)(now - start) / 1e9);
	}
	return 0;
}

/* ---- the floors ---- */

static int
floor_socket(int in, int out)
{
	int fd = socket(AF_INET, SOCK_DGRAM, 0);
	int rcvbuf = RCVBUF;
	(void)setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	a.sin_port = htons((uint16_t)in);
	if (bind(fd, (struct sockaddr *)&a, sizeof(a)) != 0) {
		close(fd);
		return -1;
	}
	a.sin_port = htons((uint16_t)out);
	if (connect(fd, (struct sockaddr *)&a, sizeof(a)) != 0) {
		close(fd);
		return -1;
	}
	return fd;
}

static int
floor_start(struct session *x, const struct nsb_env *env, const char *mode, int *fd,
	    struct nsb_run *run)
{
	memset(x, 0, sizeof(*x));
	snprintf(x->peer_dir, sizeof(x->peer_dir), "-");
	int mine = free_port(), theirs = free_port();
	*fd = floor_socket(mine, theirs);
	if (*fd < 0 || start_peer(x, env, mode, theirs, mine, false) != 0) {
		nsb_fail(run, "floor: sockets or the other process");
		return -1;
	}
	nsb_pin(env, 0);
	return 0;
}

static void
floor_end(struct session *x, int fd)
{
	uint8_t one = 0;
	for (int i = 0; i < 3; i++)
		(void)send(fd, &one, 1, 0);
	if (x->from_child != NULL)
		fclose(x->from_child);
	if (x->child > 0) {
		int st;
		waitpid(x->child, &st, 0);
	}
	close(fd);
}

static int
run_floor_rtt(const struct nsb_workload *w, const struct nsb_env *env, struct nsb_run *run)
{
	bool block = w->p.flags != 0;
	struct session x;
	int fd;
	if (floor_start(&x, env, block ? "floor-block" : "floor-spin", &fd, run) != 0)
		return -1;
	uint8_t buf[64] = { 0 };
	uint64_t seq = 0;
	int64_t end = nsb_now() + (int64_t)(env->seconds * 1e9);
	for (;;) {
		int64_t t0 = nsb_now();
		if (t0 >= end)
			break;
		memcpy(buf, &seq, 8);
		(void)send(fd, buf, sizeof(buf), 0);
		uint64_t back = ~0ull;
		while (nsb_now() - t0 < SEC) {
			if (recv(fd, buf, sizeof(buf), block ? 0 : MSG_DONTWAIT) == sizeof(buf)) {
				memcpy(&back, buf, 8);
				break;
			}
		}
		nsb_hist_record(run->hist, (uint64_t)(nsb_now() - t0));
		if (back != seq) {
			nsb_fail(run, "floor: echo %llu for %llu", (unsigned long long)back,
				 (unsigned long long)seq);
			break;
		}
		seq++;
	}
	floor_end(&x, fd);
	return 0;
}

static int
run_floor_bytes(const struct nsb_workload *w, const struct nsb_env *env, struct nsb_run *run)
{
	(void)w;
	struct session x;
	int fd;
	if (floor_start(&x, env, "floor-bytes", &fd, run) != 0)
		return -1;
	int seg = FLOOR_DG;
	bool gso = setsockopt(fd, SOL_UDP, UDP_SEGMENT, &seg, sizeof(seg)) == 0;
	static uint8_t buf[FLOOR_GSO * FLOOR_DG];
	struct iovec one = { buf, gso ? sizeof(buf) : FLOOR_DG };
	struct mmsghdr m[FLOOR_GSO];
	struct iovec iov[FLOOR_GSO];
	for (int i = 0; i < FLOOR_GSO; i++) {
		iov[i] = (struct iovec){ buf + (size_t)i * FLOOR_DG, FLOOR_DG };
		m[i] = (struct mmsghdr){ .msg_hdr = { .msg_iov = &iov[i], .msg_iovlen = 1 } };
	}
	int res = fileno(x.from_child);
	struct pollfd p = { .fd = res, .events = POLLIN };
	int64_t give_up = nsb_now() + (int64_t)(env->seconds * 1e9) + 10 * SEC;
	while (poll(&p, 1, 0) == 0 && nsb_now() < give_up) {
		if (gso)
			(void)sendmsg(fd, &(struct msghdr){ .msg_iov = &one, .msg_iovlen = 1 }, 0);
		else
			(void)sendmmsg(fd, m, FLOOR_GSO, 0);
	}
	unsigned long long bytes = 0;
	long long ns = 0;
	if (fscanf(x.from_child, "%llu %lld", &bytes, &ns) != 2 || ns <= 0)
		nsb_fail(run, "floor: no byte count from the receiver");
	else
		run->value = (double)bytes / ((double)ns / 1e9);
	floor_end(&x, fd);
	return 0;
}

/* clang-format off */
const struct nsb_workload nsb_udp_workloads[] = {
	{ "floor.udp.rtt", "", NSB_LATENCY, 2, run_floor_rtt, { 0 },
	  "floor: raw UDP ping-pong of 64-byte datagrams on loopback, spinning receives" },
	{ "floor.udp.rtt", ".block", NSB_LATENCY, 2, run_floor_rtt, { .flags = 1 },
	  "floor: raw UDP ping-pong of 64-byte datagrams on loopback, blocking receives" },
	{ "floor.udp.bytes", "", NSB_RATE, 2, run_floor_bytes, { 0 },
	  "floor: raw sendmmsg/GSO of 4096-byte datagrams to recvmmsg on loopback, bytes/s" },
	{ "udp.p1s1.32", "", NSB_RATE, 2, run_flow, { .slot_size = 32 },
	  "UDP: 32-byte messages to a subscriber in another process (its own driver), loopback" },
	{ "udp.p1s1.32", ".ll", NSB_RATE, 2, run_flow, { .slot_size = 32, .flags = 1 },
	  "UDP: 32-byte messages, low latency mode (each app runs its driver's cycles)" },
	{ "udp.p1s1.1k", "", NSB_RATE, 2, run_flow, { .slot_size = 1024 },
	  "UDP: 1 KiB messages to a subscriber in another process (its own driver), loopback" },
	{ "udp.rtt.32", "", NSB_LATENCY, 2, run_rtt, { .slot_size = 32 },
	  "UDP: 32-byte ping-pong between two processes, default mode (drivers sleep)" },
	{ "udp.rtt.32", ".ll", NSB_LATENCY, 2, run_rtt, { .slot_size = 32, .flags = 1 },
	  "UDP: 32-byte ping-pong, low latency (NS_CLIENT_NO_THREAD: apps run the drivers)" },
	{ "udp.mc.p1s1.32", "", NSB_RATE, 2, run_group_flow, { .slot_size = 32, .producers = 1 },
	  "UDP multicast: 32-byte messages to 1 receiver process on a group (fc=min)" },
	{ "udp.mc.p1s3.32", "", NSB_RATE, 4, run_group_flow, { .slot_size = 32, .producers = 3 },
	  "UDP multicast: 32-byte messages to 3 receiver processes on a group (fc=min)" },
	{ "udp.mc.p1s1.32", ".cpu", NSB_COST, 2, run_group_flow, { .slot_size = 32, .producers = 1 },
	  "UDP multicast to 1 receiver: the publishing process's CPU time per message" },
	{ "udp.mc.p1s3.32", ".cpu", NSB_COST, 4, run_group_flow, { .slot_size = 32, .producers = 3 },
	  "UDP multicast to 3 receivers: the publishing process's CPU time per message" },
	{ "udp.mdc.p1s3.32", "", NSB_RATE, 4, run_group_flow,
	  { .slot_size = 32, .producers = 3, .flags = 1 },
	  "UDP multi-destination-cast (dynamic): 32-byte messages to 3 receivers (fc=min)" },
	{ "udp.mc.rtt.32", "", NSB_LATENCY, 2, run_rtt, { .slot_size = 32, .shape = 1 },
	  "UDP multicast: 32-byte ping-pong over two groups, one receiver echoing" },
	{ NULL, NULL, 0, 0, NULL, { 0 }, NULL },
};
/* clang-format on */

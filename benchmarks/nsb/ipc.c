/* SPDX-License-Identifier: MIT */
/*
 * IPC workloads: a publisher in this process, which starts the embedded driver (the default
 * mode: its thread sleeps), and a subscriber in another process: ns-bench run again as
 * "ns-bench ipc-peer ...". Each message carries a sequence number the subscriber checks.
 *
 *   ipc.p1s1.32 / .256     one shared publication -> one subscriber process, messages/s
 *   ipc.p1s1.32.excl       the same with an exclusive publication
 *   ipc.rtt.32             ping-pong between two processes (exclusive publications both ways)
 */
#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <nanostream/nanostream.h>

#include "nsb.h"

#define END_SEQ UINT64_MAX
#define SEC	(1000LL * 1000 * 1000)

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
		nsb_relax();
}

/* ns-bench ipc-peer sink|echo DIR CPU */
int
nsb_ipc_peer_main(int argc, char **argv)
{
	if (argc != 5)
		return 2;
	const char *mode = argv[2], *dir = argv[3];
	cpu_set_t set;
	CPU_ZERO(&set);
	CPU_SET(atoi(argv[4]), &set);
	sched_setaffinity(0, sizeof(set), &set);
	struct ns_client_opts o = NS_CLIENT_OPTS_INIT;
	o.dir = dir;
	o.flags = NS_CLIENT_NO_EMBEDDED;
	ns_client *c = NULL;
	ns_subscription *s = NULL;
	struct sink k = { 0 };
	bool echo = strcmp(mode, "echo") == 0;
	if (ns_client_create(&c, &o) != 0 || ns_subscription_add(c, "ns:ipc", 1, NULL, &s) != 0)
		return 3;
	if (echo && ns_publication_add(c, "ns:ipc", 2, NS_PUBLICATION_EXCLUSIVE, &k.echo) != 0)
		return 3;
	if (echo && ns_publication_wait_connected(k.echo, ns_clock_ns() + 10 * SEC) != 0)
		return 4;
	if (ns_subscription_wait_connected(s, ns_clock_ns() + 10 * SEC) != 0)
		return 4;
	printf("ready\n");
	fflush(stdout);
	int64_t last = ns_clock_ns();
	uint32_t idle = 0;
	while (!k.done) {
		if (ns_subscription_poll(s, echo ? on_echo : on_sink, &k, 64) > 0) {
			idle = 0;
			continue;
		}
		nsb_relax();
		/* Give up only when the parent is gone (checked now and then). */
		if (++idle % 4096 == 0 && ns_clock_ns() - last > 5 * SEC) {
			last = ns_clock_ns();
			if (getppid() == 1)
				return 5;
		}
	}
	printf("%llu %llu\n", (unsigned long long)k.next, (unsigned long long)k.bad);
	fflush(stdout);
	if (k.echo != NULL)
		ns_publication_close(k.echo);
	ns_subscription_close(s);
	ns_client_close(c);
	return 0;
}

/* ---- this process ---- */

struct session {
	char dir[64];
	ns_client *client;
	ns_publication *pub;
	ns_subscription *sub;
	pid_t child;
	FILE *from_child;
};

static int
start_peer(struct session *x, const struct nsb_env *env, const char *mode)
{
	int fds[2];
	char cpu[16];
	snprintf(cpu, sizeof(cpu), "%d", env->cpus[1 % env->ncpus]);
	if (pipe(fds) != 0)
		return -errno;
	x->child = fork();
	if (x->child < 0)
		return -errno;
	if (x->child == 0) {
		dup2(fds[1], 1);
		close(fds[0]);
		close(fds[1]);
		execl("/proc/self/exe", "ns-bench", "ipc-peer", mode, x->dir, cpu, (char *)NULL);
		_exit(127);
	}
	close(fds[1]);
	x->from_child = fdopen(fds[0], "r");
	char line[32];
	if (x->from_child == NULL || fgets(line, sizeof(line), x->from_child) == NULL ||
	    strcmp(line, "ready\n") != 0)
		return -EPROTO;
	return 0;
}

/* The channel of the throughput workloads: ns:ipc, or NSB_IPC_CHANNEL (for experiments). */
static const char *
ipc_channel(void)
{
	const char *c = getenv("NSB_IPC_CHANNEL");
	return c != NULL && c[0] != '\0' ? c : "ns:ipc";
}

static int
open_session(struct session *x, const struct nsb_env *env, uint32_t pub_flags, const char *mode,
	     struct nsb_run *run)
{
	memset(x, 0, sizeof(*x));
	snprintf(x->dir, sizeof(x->dir), "/dev/shm/nsb-ipc-XXXXXX");
	if (mkdtemp(x->dir) == NULL) {
		nsb_fail(run, "mkdtemp: %s", strerror(errno));
		return -1;
	}
	struct ns_client_opts o = NS_CLIENT_OPTS_INIT;
	o.dir = x->dir;
	int rc = ns_client_create(&x->client, &o);
	if (rc == 0)
		rc = ns_publication_add(x->client, ipc_channel(), 1, pub_flags, &x->pub);
	if (rc == 0 && strcmp(mode, "echo") == 0)
		rc = ns_subscription_add(x->client, "ns:ipc", 2, NULL, &x->sub);
	if (rc == 0)
		rc = start_peer(x, env, mode);
	if (rc == 0)
		rc = ns_publication_wait_connected(x->pub, ns_clock_ns() + 10 * SEC);
	if (rc == 0 && x->sub != NULL)
		rc = ns_subscription_wait_connected(x->sub, ns_clock_ns() + 10 * SEC);
	if (rc != 0)
		nsb_fail(run, "setting up: %s", ns_strerror(rc));
	return rc;
}

/* Send the end message, read the child's count, tear down. Returns the count or -1. */
static int64_t
close_session(struct session *x, struct nsb_run *run)
{
	int64_t count = -1;
	if (x->pub != NULL && x->child > 0) {
		uint64_t end = END_SEQ;
		uint8_t msg[32] = { 0 };
		memcpy(msg, &end, 8);
		if (ns_offer_wait(x->pub, msg, sizeof(msg), NS_WAIT_YIELD,
				  ns_clock_ns() + 10 * SEC) < 0) {
			nsb_fail(run, "end message not taken");
			kill(x->child, SIGKILL);
		}
	}
	unsigned long long n = 0, bad = 0;
	if (x->from_child != NULL) {
		if (fscanf(x->from_child, "%llu %llu", &n, &bad) == 2) {
			count = (int64_t)n;
			if (bad != 0)
				nsb_fail(run, "subscriber saw %llu messages out of order", bad);
		} else {
			nsb_fail(run, "no count from the subscriber process");
		}
		fclose(x->from_child);
	}
	if (x->child > 0) {
		int st;
		waitpid(x->child, &st, 0);
	}
	if (x->sub != NULL)
		ns_subscription_close(x->sub);
	if (x->pub != NULL)
		ns_publication_close(x->pub);
	if (x->client != NULL)
		ns_client_close(x->client);
	nsb_rmdir_driver(x->dir);
	return count;
}

static int
run_flow(const struct nsb_workload *w, const struct nsb_env *env, struct nsb_run *run)
{
	struct session x;
	if (open_session(&x, env, w->p.flags, "sink", run) != 0) {
		close_session(&x, run);
		return -1;
	}
	nsb_pin(env, 0);
	uint8_t msg[4096] = { 0 };
	size_t len = w->p.slot_size;
	uint64_t seq = 0;
	int64_t start = nsb_now(), end = start + (int64_t)(env->seconds * 1e9), now = start;
	while (now < end) {
		for (int i = 0; i < 256; i++) {
			memcpy(msg, &seq, 8);
			while (ns_offer(x.pub, msg, len) < 0)
				nsb_relax();
			seq++;
		}
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

static int
run_rtt(const struct nsb_workload *w, const struct nsb_env *env, struct nsb_run *run)
{
	struct session x;
	if (open_session(&x, env, NS_PUBLICATION_EXCLUSIVE, "echo", run) != 0) {
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
			nsb_relax();
		struct pong p = { 0 };
		while (!p.got)
			if (ns_subscription_poll(x.sub, on_pong, &p, 1) == 0)
				nsb_relax();
		nsb_hist_record(run->hist, (uint64_t)(nsb_now() - t0));
		if (p.seq != seq) {
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

/* clang-format off */
const struct nsb_workload nsb_ipc_workloads[] = {
	{ "ipc.p1s1.32", "", NSB_RATE, 2, run_flow, { .slot_size = 32 },
	  "IPC: 32-byte messages, shared publication -> subscriber in another process" },
	{ "ipc.p1s1.256", "", NSB_RATE, 2, run_flow, { .slot_size = 256 },
	  "IPC: 256-byte messages, shared publication -> subscriber in another process" },
	{ "ipc.p1s1.32", ".excl", NSB_RATE, 2, run_flow,
	  { .slot_size = 32, .flags = NS_PUBLICATION_EXCLUSIVE },
	  "IPC: 32-byte messages, exclusive publication -> subscriber in another process" },
	{ "ipc.rtt.32", "", NSB_LATENCY, 2, run_rtt, { .slot_size = 32 },
	  "IPC: 32-byte ping-pong between two processes (exclusive publications)" },
	{ NULL, NULL, 0, 0, NULL, { 0 }, NULL },
};
/* clang-format on */

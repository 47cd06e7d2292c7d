/* SPDX-License-Identifier: MIT */
/*
 * nanostreamd, the standalone driver, as a user runs it: clients work with it as with the
 * embedded one; a second daemon on the same directory refuses (exit 3); a killed one's
 * directory is taken over; SIGTERM stops it cleanly (exit 0, files gone); usage errors exit
 * 2 and an unusable directory 4.
 *
 * ns-stat reads the running daemon's counters and error log from another process.
 *
 *   test_nanostreamd PATH-TO-NANOSTREAMD PATH-TO-NS-STAT
 */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

#include <nanostream/nanostream.h>

#include "proc.h"
#include "testutil.h"

#define MS  (1000LL * 1000)
#define SEC (1000LL * 1000 * 1000)

static const char *daemon_path, *stat_path;
static char self_path[4096];

/* Run ns-stat with @args; its stdout (and stderr) into @out. Returns its exit status. */
static int
run_stat(const char *const *args, char *out, size_t len)
{
	int fds[2];
	if (pipe(fds) != 0)
		return -1;
	pid_t pid = tu_run(stat_path, args, fds[1], fds[1]);
	close(fds[1]);
	int fd = fds[0];
	if (pid < 0)
		return -1;
	size_t used = 0;
	ssize_t r;
	while (used + 1 < len && (r = read(fd, out + used, len - 1 - used)) > 0)
		used += (size_t)r;
	out[used] = '\0';
	close(fd);
	return tu_exit_of(pid);
}
static char dir[64];

/* Run nanostreamd with @args (NULL-terminated), stderr to @err_fd (or /dev/null). */
static pid_t
start(const char *const *args, int err_fd)
{
	return tu_run(daemon_path, args, -1, err_fd);
}

/* Connect to the daemon once it is up (NS_CLIENT_NO_EMBEDDED: never start our own). */
static ns_client *
connect_client(void)
{
	ns_client *c = NULL;
	assert_int_equal(tu_connect(dir, &c), 0);
	assert_int_equal(ns_client_is_embedded(c), 0);
	return c;
}

struct got {
	uint32_t next;
	uint32_t bad;
};

static void
on_msg(void *ctx, const void *buf, size_t len, const struct ns_header *h)
{
	struct got *g = ctx;
	uint32_t seq, crc;
	(void)h;
	memcpy(&seq, buf, 4);
	memcpy(&crc, (const uint8_t *)buf + 4, 4);
	if (seq != g->next || crc != tu_crc32c(seq, (const uint8_t *)buf + 8, len - 8))
		g->bad++;
	g->next = seq + 1;
}

/* The value ns-stat printed on the line labelled @label, or -1. */
static long long
stat_value(const char *out, const char *label)
{
	const char *l = strstr(out, label);
	if (l == NULL)
		return -1;
	while (l > out && l[-1] != '\n')
		l--;
	long long v = -1;
	if (sscanf(l, "%*d %*s %lld", &v) != 1)
		return -1;
	return v;
}

static void
clients_use_the_daemon(void **state)
{
	(void)state;
	int pipefd[2];
	assert_int_equal(pipe(pipefd), 0);
	const char *args[] = { "--dir", dir, "--heartbeat-ms", "20", "--term-length", "64k", NULL };
	pid_t d = start(args, pipefd[1]);
	close(pipefd[1]);
	ns_client *c = connect_client();
	ns_subscription *s = NULL;
	ns_publication *p = NULL;
	assert_int_equal(ns_subscription_add(c, "ns:ipc", 5, NULL, &s), 0);
	assert_int_equal(ns_publication_add(c, "ns:ipc", 5, 0, &p), 0);
	assert_int_equal(ns_publication_wait_connected(p, ns_clock_ns() + 10 * SEC), 0);
	assert_int_equal(ns_publication_max_message(p), 8192); /* the daemon's 64k terms */
	struct got g = { 0 };
	uint8_t buf[3000];
	for (uint32_t i = 0; i < 20000; i++) {
		size_t len = 8 + (size_t)(tu_mix64(i) % 2900);
		for (size_t k = 8; k < len; k++)
			buf[k] = (uint8_t)(i + k);
		uint32_t crc = tu_crc32c(i, buf + 8, len - 8);
		memcpy(buf, &i, 4);
		memcpy(buf + 4, &crc, 4);
		while (ns_offer(p, buf, len) < 0)
			(void)ns_subscription_poll(s, on_msg, &g, 64);
	}
	while (g.next < 20000)
		assert_true(ns_subscription_poll_wait(s, on_msg, &g, 64, NS_WAIT_YIELD,
						      ns_clock_ns() + 10 * SEC) > 0);
	assert_int_equal(g.bad, 0);

	/* ns-stat, from another process: system counters, this stream's positions and limit. */
	static char out[8192];
	const char *st[] = { "--dir", dir, NULL };
	assert_int_equal(run_stat(st, out, sizeof(out)), 0);
	assert_non_null(strstr(out, "(running)"));
	assert_non_null(strstr(out, "commands handled"));
	assert_non_null(strstr(out, "back-pressure events"));
	assert_non_null(strstr(out, "bytes published"));
	/* The totals: every message delivered, every byte of the log (refreshed each cycle). */
	int64_t t0 = ns_clock_ns();
	for (;;) {
		assert_int_equal(run_stat(st, out, sizeof(out)), 0);
		if (stat_value(out, "messages delivered") == 20000 &&
		    stat_value(out, "bytes published") == ns_publication_position(p))
			break;
		assert_true(ns_clock_ns() - t0 < 5 * SEC); /* a few driver cycles at most */
	}
	assert_non_null(strstr(out, "pub-pos"));
	assert_non_null(strstr(out, "pub-lim"));
	assert_non_null(strstr(out, "sub-pos"));
	assert_non_null(strstr(out, "stream 5"));
	/* Labels name their owners; the note says which values are copies and how old. */
	assert_non_null(strstr(out, "publication "));
	assert_non_null(strstr(out, "subscription "));
	assert_non_null(strstr(out, " (client "));
	assert_non_null(strstr(out, "copies the driver refreshes every heartbeat, the last "));
	assert_non_null(strstr(out, "sub-pos is live"));
	const char *ste[] = { "--dir", dir, "--errors", NULL };
	assert_int_equal(run_stat(ste, out, sizeof(out)), 0);
	assert_non_null(strstr(out, "no errors"));
	const char *stw[] = { "-d", dir, "--watch", "--count", "2", NULL };
	assert_int_equal(run_stat(stw, out, sizeof(out)), 0);
	assert_non_null(strstr(strstr(out, "commands handled") + 1, "commands handled"));
	const char *stn[] = { "--dir", "/tmp/ns-no-such-driver-dir", NULL };
	assert_int_equal(run_stat(stn, out, sizeof(out)), 1);
	const char *stb[] = { "--count", "2", NULL };
	assert_int_equal(run_stat(stb, out, sizeof(out)), 2); /* --count without --watch */

	/* A second daemon on the directory refuses, saying why. */
	int errfd[2];
	assert_int_equal(pipe(errfd), 0);
	const char *args2[] = { "--dir", dir, NULL };
	pid_t d2 = start(args2, errfd[1]);
	close(errfd[1]);
	assert_int_equal(tu_exit_of(d2), 3);
	char msg[256] = "";
	assert_true(read(errfd[0], msg, sizeof(msg) - 1) > 0);
	close(errfd[0]);
	assert_non_null(strstr(msg, "another driver runs in"));

	assert_int_equal(ns_publication_close(p), 0);
	assert_int_equal(ns_subscription_close(s), 0);
	assert_int_equal(ns_client_close(c), 0);

	/* SIGTERM: a clean stop, files removed. */
	assert_int_equal(kill(d, SIGTERM), 0);
	assert_int_equal(tu_exit_of(d), 0);
	char cnc[128];
	memset(out, 0, 512);
	snprintf(cnc, sizeof(cnc), "%s/cnc.dat", dir);
	assert_int_equal(access(cnc, F_OK), -1);
	assert_true(read(pipefd[0], out, 511) > 0);
	close(pipefd[0]);
	assert_non_null(strstr(out, "driving"));
	/* After a clean stop ns-stat says no driver runs (not that none ever ran). */
	assert_int_equal(run_stat(st, out, sizeof(out)), 1);
	assert_non_null(strstr(out, "no driver runs in"));
	assert_null(strstr(out, "has run"));
	assert_int_equal(run_stat(stn, out, sizeof(out)), 1);
	assert_non_null(strstr(out, "no driver has run in /tmp/ns-no-such-driver-dir"));
}

/*
 * ns:udp through the daemon (issue 17), with its network thread spinning (--idle spin, the
 * low-latency mode): a stream over loopback, then ns-stat's udp counters, the per-stream
 * sender and receiver positions, and an empty loss report.
 */
static void
udp_through_the_daemon(void **state)
{
	(void)state;
	const char *args[] = { "--dir", dir, "--heartbeat-ms", "20", "--idle", "spin", NULL };
	pid_t d = start(args, -1);
	ns_client *c = connect_client();
	char uri[96];
	snprintf(uri, sizeof(uri), "ns:udp?endpoint=127.0.0.1:%d", tu_free_udp_port());
	ns_subscription *s = NULL;
	ns_publication *p = NULL;
	assert_int_equal(ns_subscription_add(c, uri, 6, NULL, &s), 0);
	assert_int_equal(ns_publication_add(c, uri, 6, 0, &p), 0);
	assert_int_equal(ns_publication_wait_connected(p, ns_clock_ns() + 10 * SEC), 0);
	struct got g = { 0 };
	uint8_t buf[1100];
	for (uint32_t i = 0; i < 5000; i++) {
		size_t len = 8 + (size_t)(tu_mix64(i) % 1000);
		for (size_t k = 8; k < len; k++)
			buf[k] = (uint8_t)(i + k);
		uint32_t crc = tu_crc32c(i, buf + 8, len - 8);
		memcpy(buf, &i, 4);
		memcpy(buf + 4, &crc, 4);
		while (ns_offer(p, buf, len) < 0)
			(void)ns_subscription_poll(s, on_msg, &g, 64);
	}
	while (g.next < 5000)
		assert_true(ns_subscription_poll_wait(s, on_msg, &g, 64, NS_WAIT_YIELD,
						      ns_clock_ns() + 10 * SEC) > 0);
	assert_int_equal(g.bad, 0);
	static char out[16384];
	const char *st[] = { "--dir", dir, NULL };
	int64_t t0 = ns_clock_ns();
	do {
		assert_int_equal(run_stat(st, out, sizeof(out)), 0);
		assert_true(ns_clock_ns() - t0 < 5 * SEC);
	} while (stat_value(out, "snd-pos") != ns_publication_position(p) ||
		 stat_value(out, "rcv-pos") != ns_publication_position(p));
	assert_true(stat_value(out, "udp data datagrams sent") > 0);
	assert_true(stat_value(out, "udp datagrams received") > 0);
	assert_true(stat_value(out, "udp bytes received") > 0);
	assert_non_null(strstr(out, "snd-lim"));
	assert_non_null(strstr(out, "rcv-hwm"));
	const char *stl[] = { "--dir", dir, "--loss", NULL };
	assert_int_equal(run_stat(stl, out, sizeof(out)), 0);
	assert_non_null(strstr(out, "no loss observed"));
	const char *stb[] = { "--dir", dir, "--loss", "--errors", NULL };
	assert_int_equal(run_stat(stb, out, sizeof(out)), 2);
	assert_int_equal(ns_publication_close(p), 0);
	assert_int_equal(ns_subscription_close(s), 0);
	assert_int_equal(ns_client_close(c), 0);
	assert_int_equal(kill(d, SIGTERM), 0);
	assert_int_equal(tu_exit_of(d), 0);
}

static void
a_killed_daemon_is_replaced(void **state)
{
	(void)state;
	const char *args[] = { "--dir", dir, "--heartbeat-ms", "20", NULL };
	pid_t d = start(args, -1);
	ns_client *c = connect_client(); /* it is up */
	assert_int_equal(ns_client_close(c), 0);
	assert_int_equal(kill(d, SIGKILL), 0);
	assert_int_equal(tu_exit_of(d), 128 + SIGKILL);
	/* Its cnc.dat is left behind; the next daemon takes the directory over. */
	char cnc[128];
	snprintf(cnc, sizeof(cnc), "%s/cnc.dat", dir);
	assert_int_equal(access(cnc, F_OK), 0);
	d = start(args, -1);
	c = connect_client();
	ns_publication *p = NULL;
	assert_int_equal(ns_publication_add(c, "ns:ipc", 1, 0, &p), 0);
	assert_int_equal(ns_publication_close(p), 0);
	assert_int_equal(ns_client_close(c), 0);
	assert_int_equal(kill(d, SIGINT), 0);
	assert_int_equal(tu_exit_of(d), 0);
}

/* A client that gives its driver 300 ms of silence before calling it gone. */
static ns_client *
short_timeout_client(void)
{
	struct ns_client_opts o = NS_CLIENT_OPTS_INIT;
	o.dir = dir;
	o.flags = NS_CLIENT_NO_EMBEDDED;
	o.driver_timeout_ns = 300 * 1000 * 1000;
	ns_client *c = NULL;
	assert_int_equal(ns_client_create(&c, &o), 0);
	return c;
}

/* A client of a driver that was killed gets NS_EDRIVER_TIMEOUT, never a hang, and a new
 * client works with the next driver. */
static void
a_dead_driver_is_reported(void **state)
{
	(void)state;
	const char *args[] = { "--dir", dir, "--heartbeat-ms", "20", NULL };
	pid_t d = start(args, -1);
	ns_client *probe = connect_client();
	assert_int_equal(ns_client_close(probe), 0);
	ns_client *c = short_timeout_client();
	ns_publication *p = NULL;
	ns_subscription *s = NULL;
	assert_int_equal(ns_publication_add(c, "ns:ipc", 3, 0, &p), 0);
	assert_int_equal(ns_subscription_add(c, "ns:ipc", 4, NULL, &s), 0);
	assert_int_equal(kill(d, SIGKILL), 0);
	assert_int_equal(tu_exit_of(d), 128 + SIGKILL);
	/* Waiting calls notice within the driver timeout (plus a keepalive period). */
	int64_t t0 = ns_clock_ns();
	assert_int_equal(ns_subscription_wait_connected(s, ns_clock_ns() + 10 * SEC),
			 NS_EDRIVER_TIMEOUT);
	int64_t took = ns_clock_ns() - t0;
	print_message("# driver killed: NS_EDRIVER_TIMEOUT after %.0f ms (timeout 300 ms)\n",
		      (double)took / 1e6);
	/* Its lock went with it: known at the next check, well within the timeout (generous). */
	assert_true(took < 2 * SEC);
	assert_int_equal(ns_client_do_work(c), NS_EDRIVER_TIMEOUT);
	ns_publication *q = NULL;
	assert_int_equal(ns_publication_add(c, "ns:ipc", 3, 0, &q), NS_EDRIVER_TIMEOUT);
	uint8_t msg[16] = { 0 };
	int64_t r;
	while ((r = ns_offer(p, msg, sizeof(msg))) > 0)
		; /* the cached limit may let a few through */
	assert_true(r == NS_EDRIVER_TIMEOUT || r == NS_NOT_CONNECTED);
	assert_int_equal(ns_publication_close(p), 0);
	assert_int_equal(ns_subscription_close(s), 0);
	assert_int_equal(ns_client_close(c), 0);
	/* Reconnect: a new driver, a new client. */
	d = start(args, -1);
	c = connect_client();
	assert_int_equal(ns_publication_add(c, "ns:ipc", 3, 0, &p), 0);
	assert_int_equal(ns_publication_close(p), 0);
	assert_int_equal(ns_client_close(c), 0);
	assert_int_equal(kill(d, SIGTERM), 0);
	assert_int_equal(tu_exit_of(d), 0);
}

/*
 * Issue 14.10: cnc.dat truncated under a running daemon killed it with SIGBUS. Now it stops
 * with exit status 1 and a message saying why, and its clients get NS_EDRIVER_TIMEOUT.
 */
static void
a_truncated_cnc_stops_the_daemon(void **state)
{
	(void)state;
	const char *args[] = { "--dir", dir, "--heartbeat-ms", "20", NULL };
	int err[2];
	assert_int_equal(pipe(err), 0);
	pid_t d = start(args, err[1]);
	close(err[1]);
	ns_client *c = connect_client();
	char cnc[128];
	snprintf(cnc, sizeof(cnc), "%s/cnc.dat", dir);
	assert_int_equal(truncate(cnc, 0), 0);
	assert_int_equal(tu_exit_of(d), 1); /* not 128 + SIGBUS */
	char text[1024];
	ssize_t n = read(err[0], text, sizeof(text) - 1);
	text[n > 0 ? n : 0] = '\0';
	close(err[0]);
	assert_non_null(strstr(text, "truncated"));
	int64_t deadline = ns_clock_ns() + 5 * SEC;
	while (ns_client_do_work(c) != NS_EDRIVER_TIMEOUT)
		assert_true(ns_clock_ns() < deadline);
	assert_int_equal(ns_client_close(c), 0);
	print_message("# cnc.dat truncated under nanostreamd: exit 1, its client got "
		      "NS_EDRIVER_TIMEOUT\n");
}

/* A driver that hangs (stopped, its process alive) is found out by its stale heartbeat. */
static void
a_hung_driver_times_out(void **state)
{
	(void)state;
	const char *args[] = { "--dir", dir, "--heartbeat-ms", "20", NULL };
	pid_t d = start(args, -1);
	ns_client *probe = connect_client();
	assert_int_equal(ns_client_close(probe), 0);
	ns_client *c = short_timeout_client();
	ns_subscription *s = NULL;
	assert_int_equal(ns_subscription_add(c, "ns:ipc", 4, NULL, &s), 0);
	assert_int_equal(kill(d, SIGSTOP), 0);
	int64_t t0 = ns_clock_ns();
	assert_int_equal(ns_subscription_wait_connected(s, ns_clock_ns() + 10 * SEC),
			 NS_EDRIVER_TIMEOUT);
	int64_t took = ns_clock_ns() - t0;
	print_message("# driver stopped (SIGSTOP): NS_EDRIVER_TIMEOUT after %.0f ms (driver "
		      "timeout 300 ms)\n",
		      (double)took / 1e6);
	/*
	 * Not before its heartbeat is 300 ms old (it was fresh when stopped, so at least 300 ms
	 * less one heartbeat after the stop), and not much after (2 s: generous).
	 */
	assert_true(took >= 300 * MS - 20 * MS);
	assert_true(took < 2 * SEC);
	assert_int_equal(ns_client_do_work(c), NS_EDRIVER_TIMEOUT);
	assert_int_equal(ns_subscription_close(s), 0); /* without waiting for the driver */
	assert_int_equal(ns_client_close(c), 0);
	assert_int_equal(kill(d, SIGKILL), 0);
	assert_int_equal(tu_exit_of(d), 128 + SIGKILL);
	char cnc[128];
	snprintf(cnc, sizeof(cnc), "%s/cnc.dat", dir);
	assert_int_equal(unlink(cnc), 0);
}

/* A subscriber process killed with -9 no longer holds the publisher back. */
static void
a_killed_subscriber_releases_the_publisher(void **state)
{
	(void)state;
	const char *env = getenv("NS_KILL_ITERATIONS");
	int iterations = env != NULL ? atoi(env) / 4 : 50;
	if (iterations < 1)
		iterations = 1;
	const char *args[] = { "--dir", dir, "--heartbeat-ms", "20", "--term-length", "64k", NULL };
	pid_t d = start(args, -1);
	ns_client *c = connect_client();
	ns_publication *p = NULL;
	assert_int_equal(ns_publication_add(c, "ns:ipc", 9, 0, &p), 0);
	int64_t worst = 0;
	for (int it = 0; it < iterations; it++) {
		int fd = -1;
		const char *sa[] = { "hold-sub", dir, NULL };
		pid_t sub = tu_run_piped(self_path, sa, &fd, -1);
		assert_true(sub > 0);
		char line[16] = "";
		assert_true(read(fd, line, sizeof(line) - 1) > 0);
		close(fd);
		assert_int_equal(ns_publication_wait_connected(p, ns_clock_ns() + 5 * SEC), 0);
		uint8_t msg[64] = { 0 };
		int64_t r;
		while ((r = ns_offer(p, msg, sizeof(msg))) > 0 || r == NS_ADMIN_ACTION)
			;
		assert_int_equal(r, NS_BACK_PRESSURED); /* the subscriber never reads */
		assert_int_equal(kill(sub, SIGKILL), 0);
		assert_int_equal(tu_exit_of(sub), 128 + SIGKILL);
		/* Released: back pressure gives way to "not connected" (a 5 s watchdog). */
		int64_t t0 = ns_clock_ns();
		while ((r = ns_offer(p, msg, sizeof(msg))) == NS_BACK_PRESSURED ||
		       r == NS_ADMIN_ACTION)
			assert_true(ns_clock_ns() - t0 < 5 * SEC);
		assert_int_equal(r, NS_NOT_CONNECTED);
		if (ns_clock_ns() - t0 > worst)
			worst = ns_clock_ns() - t0;
	}
	print_message("# %d subscribers killed while holding the publisher back: released after "
		      "at most %.0f ms (heartbeat 20 ms), 0 hangs\n",
		      iterations, (double)worst / 1e6);
	assert_int_equal(ns_publication_close(p), 0);
	assert_int_equal(ns_client_close(c), 0);
	assert_int_equal(kill(d, SIGTERM), 0);
	assert_int_equal(tu_exit_of(d), 0);
}

static int
run_hold_sub(const char *d)
{
	struct ns_client_opts o = NS_CLIENT_OPTS_INIT;
	o.dir = d;
	o.flags = NS_CLIENT_NO_EMBEDDED;
	ns_client *c = NULL;
	ns_subscription *s = NULL;
	if (ns_client_create(&c, &o) != 0 || ns_subscription_add(c, "ns:ipc", 9, NULL, &s) != 0)
		return 3;
	if (write(1, "ready\n", 6) != 6)
		return 4;
	for (;;)
		pause(); /* subscribed, never polling, until killed */
}

static void
usage_and_directory_errors(void **state)
{
	(void)state;
	const char *help[] = { "--help", NULL };
	assert_int_equal(tu_exit_of(start(help, -1)), 0);
	const char *bad1[] = { "--mtu", "100", "--dir", dir, NULL };
	assert_int_equal(tu_exit_of(start(bad1, -1)), 2);
	const char *bad2[] = { "--frobnicate", NULL };
	assert_int_equal(tu_exit_of(start(bad2, -1)), 2);
	const char *bad3[] = { "--huge", "always", "--dir", dir, NULL };
	assert_int_equal(tu_exit_of(start(bad3, -1)), 2);
	const char *bad4[] = { "--term-length", "100k", "--dir", dir, NULL };
	assert_int_equal(tu_exit_of(start(bad4, -1)), 2);
	const char *extra[] = { "--dir", dir, "stray", NULL };
	assert_int_equal(tu_exit_of(start(extra, -1)), 2);
	/* A directory others may enter, and a file where the directory should be. */
	char open_dir[96], file[96];
	snprintf(open_dir, sizeof(open_dir), "%s/open", dir);
	assert_int_equal(mkdir(open_dir, 0755), 0);
	assert_int_equal(chmod(open_dir, 0755), 0);
	const char *bad5[] = { "--dir", open_dir, NULL };
	assert_int_equal(tu_exit_of(start(bad5, -1)), 4);
	assert_int_equal(rmdir(open_dir), 0);
	snprintf(file, sizeof(file), "%s/file", dir);
	FILE *f = fopen(file, "w");
	assert_non_null(f);
	fclose(f);
	const char *bad6[] = { "--dir", file, NULL };
	assert_int_equal(tu_exit_of(start(bad6, -1)), 4);
	assert_int_equal(unlink(file), 0);
	/* The environment configures it too: a bad value there is a usage error as well. */
	setenv("NANOSTREAM_HEARTBEAT_MS", "soon", 1);
	const char *envd[] = { "--dir", dir, NULL };
	assert_int_equal(tu_exit_of(start(envd, -1)), 2);
	unsetenv("NANOSTREAM_HEARTBEAT_MS");
}

static int
setup(void **state)
{
	(void)state;
	snprintf(dir, sizeof(dir), "/tmp/ns-daemontest-XXXXXX");
	return mkdtemp(dir) != NULL ? 0 : -1;
}

static int
teardown(void **state)
{
	(void)state;
	tu_reap_all(); /* what a failed case left running (or stopped) */
	return tu_rmdir_driver(dir);
}

int
main(int argc, char **argv)
{
	if (argc == 3 && strcmp(argv[1], "hold-sub") == 0)
		return run_hold_sub(argv[2]);
	if (tu_self_path(self_path, sizeof(self_path)) != 0)
		return 1;
	if (argc != 3) {
		fprintf(stderr, "usage: %s PATH-TO-NANOSTREAMD PATH-TO-NS-STAT\n", argv[0]);
		return 2;
	}
	daemon_path = argv[1];
	stat_path = argv[2];
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(clients_use_the_daemon),
		cmocka_unit_test(udp_through_the_daemon),
		cmocka_unit_test(a_killed_daemon_is_replaced),
		cmocka_unit_test(a_dead_driver_is_reported),
		cmocka_unit_test(a_hung_driver_times_out),
		cmocka_unit_test(a_truncated_cnc_stops_the_daemon),
		cmocka_unit_test(a_killed_subscriber_releases_the_publisher),
		cmocka_unit_test(usage_and_directory_errors),
	};
	return cmocka_run_group_tests_name("nanostreamd", tests, setup, teardown);
}

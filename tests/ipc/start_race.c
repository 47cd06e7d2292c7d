/* SPDX-License-Identifier: MIT */
/*
 * Start races (issue 14.2, docs/testing.md I9): exactly one driver per directory, decided by a
 * lock that dies with its process; nobody removes a file that is not theirs.
 *
 * - two nanostreamd started together on a fresh directory: one runs, the other exits 3 (before
 *   the fix both stayed running in 9 of 30 runs);
 * - two applications started together, each creating a client (the first starts the embedded
 *   driver, the other uses it): both succeed (before: both failed in 17 of 40 runs, one
 *   deleting the other's half-made cnc.dat as broken);
 * - a stopped (SIGSTOP) driver keeps its directory: a second daemon is refused with "hung",
 *   clients get NS_EDRIVER_TIMEOUT, and once resumed it serves again with its files intact.
 *
 *   start_race PATH-TO-NANOSTREAMD
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

#include <nanostream/nanostream.h>

#include "proc.h"
#include "testutil.h"

#define SEC (1000LL * 1000 * 1000)
#define MS  (1000LL * 1000)

static const char *daemon_path;
static char self_path[4096];
static char dir[64];

static int
setup(void **state)
{
	(void)state;
	snprintf(dir, sizeof(dir), "/tmp/ns-startrace-XXXXXX");
	return mkdtemp(dir) != NULL ? 0 : -1;
}

static int
teardown(void **state)
{
	(void)state;
	tu_reap_all(); /* what a failed case left running (or stopped) */
	return tu_rm_rf(dir);
}

/* A fresh driver directory for one round (made by the first starter, as users do). */
static void
round_dir(char *out, size_t len, int round)
{
	snprintf(out, len, "%s/r%d", dir, round);
}

static pid_t
start_daemon(const char *d, int err_fd)
{
	const char *args[] = { "--dir", d,   "--heartbeat-ms", "10", "--driver-timeout-ms",
			       "300",	NULL };
	return tu_run(daemon_path, args, -1, err_fd);
}

/* Whether @pid has exited; its status in *status. Waits up to @wait_ns. */
static bool
exited_within(pid_t pid, int64_t wait_ns, int *status)
{
	int64_t deadline = ns_clock_ns() + wait_ns;
	for (;;) {
		int st;
		pid_t r = waitpid(pid, &st, WNOHANG);
		if (r == pid) {
			*status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
			return true;
		}
		if (ns_clock_ns() >= deadline)
			return false;
		usleep(1000); /* another process's exit: a readiness poll, not thread ordering */
	}
}

/* A client of @d adds and closes a publication. Returns 0 or the failing call's code. */
static int
use_driver(const char *d)
{
	ns_client *c = NULL;
	int rc = tu_connect(d, &c);
	if (rc != 0)
		return rc;
	ns_publication *p = NULL;
	rc = ns_publication_add(c, "ns:ipc?term-length=64k", 1, 0, &p);
	if (rc == 0)
		rc = ns_publication_close(p);
	int crc = ns_client_close(c);
	return rc != 0 ? rc : crc;
}

static void
two_daemons_at_once(void **state)
{
	(void)state;
	const int rounds = 30;
	for (int r = 0; r < rounds; r++) {
		char d[96];
		round_dir(d, sizeof(d), r);
		pid_t a = start_daemon(d, -1), b = start_daemon(d, -1);
		assert_true(a > 0 && b > 0);
		/* Exactly one of them gives up (exit 3: another driver runs there). */
		int st = -1;
		pid_t loser = 0, winner = 0;
		int64_t deadline = ns_clock_ns() + 10 * SEC;
		while (loser == 0 && ns_clock_ns() < deadline) {
			if (exited_within(a, 0, &st))
				loser = a, winner = b;
			else if (exited_within(b, 0, &st))
				loser = b, winner = a;
			else
				usleep(1000);
		}
		if (loser == 0)
			fail_msg("round %d: both daemons still run after 10 s", r);
		assert_int_equal(st, 3);
		/* The other serves, and stays (it did not exit as well). */
		assert_int_equal(use_driver(d), 0);
		assert_false(exited_within(winner, 0, &st));
		assert_int_equal(kill(winner, SIGTERM), 0);
		assert_int_equal(tu_exit_of(winner), 0);
		char cnc[128];
		snprintf(cnc, sizeof(cnc), "%s/cnc.dat", d);
		assert_int_equal(access(cnc, F_OK), -1);
	}
	print_message("# %d rounds of two nanostreamd started at once: one ran, one exited 3 in "
		      "each\n",
		      rounds);
}

/* embed DIR: wait for a byte on stdin, create a client, use it, report, wait for another. */
static int
run_embed(const char *d)
{
	char b;
	if (read(0, &b, 1) != 1)
		return 2;
	struct ns_client_opts o = NS_CLIENT_OPTS_INIT;
	o.dir = d;
	ns_client *c = NULL;
	int rc = ns_client_create(&c, &o);
	ns_publication *p = NULL;
	if (rc == 0)
		rc = ns_publication_add(c, "ns:ipc?term-length=64k", 1, 0, &p);
	char line[48];
	int n = snprintf(line, sizeof(line), "%d %d\n", rc,
			 rc == 0 ? ns_client_is_embedded(c) : -1);
	if (write(1, line, (size_t)n) != n)
		return 3;
	if (read(0, &b, 1) != 1)
		return 4;
	if (rc == 0) {
		(void)ns_publication_close(p);
		(void)ns_client_close(c);
	}
	return 0;
}

struct app {
	pid_t pid;
	int in, out;
	int rc, embedded;
};

static void
app_start(struct app *a, const char *d)
{
	int in[2], out[2];
	/* Close-on-exec: another application's child must not hold this one's pipe ends. */
	assert_int_equal(pipe2(in, O_CLOEXEC), 0);
	assert_int_equal(pipe2(out, O_CLOEXEC), 0);
	a->pid = fork();
	if (a->pid > 0)
		tu_remember(a->pid);
	if (a->pid == 0) {
		dup2(in[0], 0);
		dup2(out[1], 1);
		close(in[1]);
		close(out[0]);
		execl(self_path, self_path, "embed", d, (char *)NULL);
		_exit(127);
	}
	close(in[0]);
	close(out[1]);
	a->in = in[1];
	a->out = out[0];
}

static void
app_report(struct app *a)
{
	char line[48];
	size_t used = 0;
	while (used + 1 < sizeof(line)) {
		ssize_t r = read(a->out, line + used, 1);
		if (r != 1)
			fail_msg("an application process ended early");
		if (line[used++] == '\n')
			break;
	}
	line[used] = '\0';
	assert_int_equal(sscanf(line, "%d %d", &a->rc, &a->embedded), 2);
}

static void
app_finish(struct app *a)
{
	assert_int_equal(write(a->in, "q", 1), 1);
	assert_int_equal(tu_exit_of(a->pid), 0);
	close(a->in);
	close(a->out);
}

static void
two_embedded_at_once(void **state)
{
	(void)state;
	const int rounds = 40;
	for (int r = 0; r < rounds; r++) {
		char d[96];
		round_dir(d, sizeof(d), 100 + r);
		struct app x, y;
		app_start(&x, d);
		app_start(&y, d);
		/* Both go at the same moment: two writes back to back. */
		assert_int_equal(write(x.in, "g", 1), 1);
		assert_int_equal(write(y.in, "g", 1), 1);
		app_report(&x);
		app_report(&y);
		if (x.rc != 0 || y.rc != 0)
			fail_msg("round %d: ns_client_create/ns_publication_add gave %d and %d", r,
				 x.rc, y.rc);
		assert_int_equal(x.embedded + y.embedded, 1); /* one driver, the other uses it */
		/* The one using the other's driver finishes first. */
		app_finish(x.embedded ? &y : &x);
		app_finish(x.embedded ? &x : &y);
	}
	print_message("# %d rounds of two applications started at once: both connected, one "
		      "embedded driver each time\n",
		      rounds);
}

static void
stopped_driver_keeps_its_directory(void **state)
{
	(void)state;
	char d[96], cnc[128];
	round_dir(d, sizeof(d), 999);
	snprintf(cnc, sizeof(cnc), "%s/cnc.dat", d);
	pid_t a = start_daemon(d, -1);
	assert_int_equal(use_driver(d), 0);
	struct stat before, after;
	assert_int_equal(stat(cnc, &before), 0);
	assert_int_equal(kill(a, SIGSTOP), 0);
	/* Past its 300 ms driver timeout, a second daemon is refused and says why. */
	int64_t stopped = ns_clock_ns();
	int err[2];
	assert_int_equal(pipe(err), 0);
	pid_t b = -1;
	char text[512] = "";
	for (;;) {
		if (b > 0) {
			int st = tu_exit_of(b);
			assert_int_equal(st, 3);
			ssize_t n = read(err[0], text, sizeof(text) - 1);
			text[n > 0 ? n : 0] = '\0';
			if (strstr(text, "hung") != NULL)
				break;
		}
		assert_true(ns_clock_ns() - stopped < 5 * SEC);
		usleep(50000);
		b = start_daemon(d, err[1]);
	}
	close(err[0]);
	close(err[1]);
	print_message("# a second daemon while the first is stopped: %s", text);
	/* Clients learn it at once: the directory is held by a driver that does not answer. */
	struct ns_client_opts o = NS_CLIENT_OPTS_INIT;
	o.dir = d;
	o.driver_timeout_ns = 300 * MS;
	ns_client *c = NULL;
	int64_t t0 = ns_clock_ns();
	assert_int_equal(ns_client_create(&c, &o), NS_EDRIVER_TIMEOUT);
	assert_true(ns_clock_ns() - t0 < SEC);
	/* Resumed: its files are its own still, and it serves. */
	assert_int_equal(kill(a, SIGCONT), 0);
	assert_int_equal(stat(cnc, &after), 0);
	assert_int_equal(after.st_ino, before.st_ino);
	assert_int_equal(use_driver(d), 0);
	assert_int_equal(kill(a, SIGTERM), 0);
	assert_int_equal(tu_exit_of(a), 0);
	assert_int_equal(access(cnc, F_OK), -1);
}

int
main(int argc, char **argv)
{
	if (argc == 3 && strcmp(argv[1], "embed") == 0)
		return run_embed(argv[2]);
	if (argc != 2) {
		fprintf(stderr, "usage: %s PATH-TO-NANOSTREAMD\n", argv[0]);
		return 2;
	}
	daemon_path = argv[1];
	if (tu_self_path(self_path, sizeof(self_path)) != 0)
		return 1;
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(two_daemons_at_once, setup, teardown),
		cmocka_unit_test_setup_teardown(two_embedded_at_once, setup, teardown),
		cmocka_unit_test_setup_teardown(stopped_driver_keeps_its_directory, setup,
						teardown),
	};
	return cmocka_run_group_tests_name("start-race", tests, NULL, NULL);
}

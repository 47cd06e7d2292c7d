/* SPDX-License-Identifier: MIT */
/*
 * kill -9 of clients in the middle of a command (issue 14.1, docs/testing.md I9) against
 * nanostreamd with heartbeat 10 ms, client liveness 100 ms and so a command timeout of
 * 100 ms (ten heartbeats):
 *
 * - parked: a client process claims a record on the command ring and stops there (the
 *   header written with its length negated, or nothing written at all), then is killed. The
 *   driver must skip the record after the command timeout (not before: a live writer could
 *   still commit), count it, and go on serving every other client.
 * - churn: client processes add and close publications in a loop and are killed at random
 *   (0 to 20 ms in). After every kill a request of the test's own client must be answered.
 *
 * Before the fix the driver stopped reading commands at the first such record, for ever.
 *
 *   kill_client PATH-TO-NANOSTREAMD
 *   NS_KILL_ITERATIONS: kills in the churn case (default 200; the nightly tier: 2000)
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
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

#include <nanostream/nanostream.h>

#include "client/client.h"
#include "proc.h"
#include "testutil.h"
#include "util/atomic.h"

#define SEC	(1000LL * 1000 * 1000)
#define MS	(1000LL * 1000)
#define COMMAND (100 * MS) /* the driver's command timeout here: 10 x 10 ms */

static const char *daemon_path;
static char self_path[4096];
static char dir[64];
static pid_t driver_pid;

/* ---- the client processes ---- */

/* claim DIR BEGUN: claim an add-publication record, write its header or not, stop there. */
static int
run_claim(const char *d, int begun)
{
	ns_client *c;
	if (tu_connect(d, &c) != 0)
		return 3;
	struct nsi_mpsc *ring = &c->cnc.to_driver;
	int64_t index;
	if (begun) {
		index = nsi_mpsc_claim(ring, NSI_CMD_ADD_PUBLICATION, 40);
	} else {
		/* Claimed and nothing written: the tail moved, the record stays zero. */
		index = __atomic_fetch_add(&ring->trailer->tail, 48, __ATOMIC_ACQ_REL);
	}
	if (index < 0)
		return 4;
	if (write(1, "claimed\n", 8) != 8)
		return 5;
	for (;;)
		pause();
}

/* churn DIR: add and close publications until killed. */
static int
run_churn(const char *d)
{
	ns_client *c;
	if (tu_connect(d, &c) != 0)
		return 3;
	if (write(1, "ready\n", 6) != 6)
		return 5;
	for (int32_t stream = 1;; stream++) {
		ns_publication *p;
		if (ns_publication_add(c, "ns:ipc?term-length=64k", stream % 7, 0, &p) == 0)
			(void)ns_publication_close(p);
	}
}

/* ---- the test ---- */

static int
setup(void **state)
{
	(void)state;
	snprintf(dir, sizeof(dir), "/tmp/ns-killclient-XXXXXX");
	if (mkdtemp(dir) == NULL)
		return -1;
	driver_pid = fork();
	if (driver_pid == 0) {
		int null = open("/dev/null", O_WRONLY);
		dup2(null, 2);
		execl(daemon_path, daemon_path, "--dir", dir, "--heartbeat-ms", "10",
		      "--client-timeout-ms", "100", "--term-length", "64k", (char *)NULL);
		_exit(127);
	}
	return driver_pid > 0 ? 0 : -1;
}

static int
teardown(void **state)
{
	(void)state;
	kill(driver_pid, SIGTERM);
	int rc = tu_exit_of(driver_pid);
	tu_reap_all(); /* what a failed case left running */
	return rc == 0 ? tu_rmdir_driver(dir) : -1;
}

/* Add and close a publication; returns how long the add took. Fails the test on an error. */
static int64_t
request(ns_client *c, int32_t stream)
{
	int64_t start = ns_clock_ns();
	ns_publication *p = NULL;
	int rc = ns_publication_add(c, "ns:ipc?term-length=64k", stream, 0, &p);
	if (rc != 0)
		fail_msg("add after a kill: %s", ns_strerror(rc));
	int64_t took = ns_clock_ns() - start;
	assert_int_equal(ns_publication_close(p), 0);
	return took;
}

static int64_t
skipped_commands(ns_client *c)
{
	return nsi_load_acquire_i64(nsi_counter_addr(&c->cnc.counters, NSI_SYS_COMMANDS_SKIPPED));
}

static void
parked_writers_are_skipped(void **state)
{
	(void)state;
	ns_client *c = NULL;
	assert_int_equal(tu_connect(dir, &c), 0);
	int64_t earliest = INT64_MAX, latest = 0;
	const int rounds = 40;
	for (int it = 0; it < rounds; it++) {
		const char *args[] = { "claim", dir, it % 2 ? "1" : "0", NULL };
		int fd = -1;
		pid_t child = tu_run_piped(self_path, args, &fd, -1);
		assert_true(child > 0);
		char line[32];
		tu_read_line(fd, line, sizeof(line));
		assert_string_equal(line, "claimed\n");
		close(fd);
		int64_t claimed = ns_clock_ns();
		assert_int_equal(kill(child, SIGKILL), 0);
		assert_int_equal(tu_exit_of(child), 128 + SIGKILL);
		/* Our request waits behind the dead record until the driver skips it. */
		(void)request(c, 100 + it);
		int64_t served = ns_clock_ns() - claimed;
		if (served < earliest)
			earliest = served;
		if (served > latest)
			latest = served;
	}
	print_message("# %d clients killed after claiming a command (half with its header "
		      "written): served after %.1f to %.1f ms (command timeout 100 ms); %lld "
		      "skipped\n",
		      rounds, (double)earliest / 1e6, (double)latest / 1e6,
		      (long long)skipped_commands(c));
	/* Not before the timeout (a live writer could still commit), and not much after. */
	assert_true(earliest >= COMMAND);
	assert_true(latest < 2 * SEC);
	assert_int_equal(skipped_commands(c), rounds);
	assert_int_equal(ns_client_close(c), 0);
}

static void
churning_clients_killed(void **state)
{
	(void)state;
	const char *env = getenv("NS_KILL_ITERATIONS");
	int iterations = env != NULL ? atoi(env) : 200;
	ns_client *c = NULL;
	assert_int_equal(tu_connect(dir, &c), 0);
	int64_t worst = 0;
	for (int it = 0; it < iterations; it++) {
		const char *args[] = { "churn", dir, NULL };
		int fd = -1;
		pid_t child = tu_run_piped(self_path, args, &fd, -1);
		assert_true(child > 0);
		char line[32];
		tu_read_line(fd, line, sizeof(line));
		close(fd);
		/* A random kill point: 0 to 20 ms into its adds and closes. */
		int64_t until = ns_clock_ns() + (int64_t)(tu_mix64((uint64_t)it) % 20) * MS;
		while (ns_clock_ns() < until)
			;
		assert_int_equal(kill(child, SIGKILL), 0);
		assert_int_equal(tu_exit_of(child), 128 + SIGKILL);
		int64_t took = request(c, 1000 + it % 50);
		if (took > worst)
			worst = took;
	}
	print_message("# %d clients killed while adding and closing publications: every "
		      "request after a kill answered, slowest in %.1f ms; %lld commands skipped\n",
		      iterations, (double)worst / 1e6, (long long)skipped_commands(c));
	assert_true(worst < 2 * SEC);
	assert_int_equal(ns_client_close(c), 0);
}

int
main(int argc, char **argv)
{
	if (argc == 4 && strcmp(argv[1], "claim") == 0)
		return run_claim(argv[2], atoi(argv[3]));
	if (argc == 3 && strcmp(argv[1], "churn") == 0)
		return run_churn(argv[2]);
	if (argc != 2) {
		fprintf(stderr, "usage: %s PATH-TO-NANOSTREAMD\n", argv[0]);
		return 2;
	}
	daemon_path = argv[1];
	if (tu_self_path(self_path, sizeof(self_path)) != 0)
		return 1;
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(parked_writers_are_skipped, setup, teardown),
		cmocka_unit_test_setup_teardown(churning_clients_killed, setup, teardown),
	};
	return cmocka_run_group_tests_name("kill-client", tests, NULL, NULL);
}

/* SPDX-License-Identifier: MIT */
/*
 * The driver's conductor (src/driver/driver) driven by hand with an injected clock: commands
 * and their answers, malformed commands (reported in the error log, nothing else changes),
 * clients heard from, and who owns a directory (the driver that holds its lock: a live or
 * hung one refuses a second one; a dead one's files are taken over).
 */
#include <errno.h>
#include <poll.h>
#include <setjmp.h>
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

#include "driver/driver.h"
#include "ipc/proto.h"
#include "testutil.h"

static char dir[64];
static int64_t fake_now = 1000000000;

static int64_t
fake_clock(void *ctx)
{
	return *(int64_t *)ctx;
}

static struct nsi_driver *
driver(void)
{
	struct nsi_driver_opts o = {
		.dir = dir,
		.clock = fake_clock,
		.clock_ctx = &fake_now,
		.heartbeat_ns = 100000000,
		/* Distinct values: one mistaken for the other fails a check. */
		.client_liveness_ns = 1000000000,
		.driver_timeout_ns = 3000000000,
		.term_length = 64 * 1024,
		.mtu = 1024,
		.counters = 64
	};
	struct nsi_driver *d = NULL;
	assert_int_equal(nsi_driver_create(&d, &o), 0);
	return d;
}

/* Send ADD_* with @uri; returns the answer's type and copies it out. */
static int32_t
add(struct nsi_driver *d, struct nsi_bcast_receiver *rx, int32_t type, int64_t client,
    int64_t correlation, const char *uri, uint8_t *out, int32_t *out_len)
{
	struct nsi_cnc *cnc = nsi_driver_cnc(d);
	uint8_t buf[sizeof(struct nsi_cmd_add) + 256];
	struct nsi_cmd_add m = { .client_id = client,
				 .correlation_id = correlation,
				 .stream_id = 7,
				 .uri_length = (int32_t)strlen(uri) };
	memcpy(buf, &m, sizeof(m));
	memcpy(buf + sizeof(m), uri, strlen(uri));
	assert_int_equal(
		nsi_mpsc_write(&cnc->to_driver, type, buf, (int32_t)(sizeof(m) + strlen(uri))), 0);
	assert_int_equal(nsi_driver_do_work(d), 1);
	int32_t rtype = 0;
	for (;;) {
		int32_t t, len;
		int rc = nsi_bcast_receive(rx, &t, out, 512, &len);
		assert_true(rc >= 0);
		if (rc == 0)
			break;
		int64_t corr;
		memcpy(&corr, out, 8);
		if (corr == correlation &&
		    (t == NSI_RSP_PUBLICATION_READY || t == NSI_RSP_SUBSCRIPTION_READY ||
		     t == NSI_RSP_ERROR)) {
			rtype = t;
			*out_len = len;
			break;
		}
	}
	return rtype;
}

struct errs {
	int n;
	char last[256];
};

static void
collect(void *ctx, int32_t count, int64_t first_ns, int64_t last_ns, const char *text,
	int32_t length)
{
	struct errs *e = ctx;
	(void)count;
	(void)first_ns;
	(void)last_ns;
	(void)length;
	e->n++;
	snprintf(e->last, sizeof(e->last), "%s", text);
}

static void
commands_answers_and_malformed_input(void **state)
{
	(void)state;
	struct nsi_driver *d = driver();
	struct nsi_cnc *cnc = nsi_driver_cnc(d);
	struct nsi_bcast_receiver rx;
	nsi_bcast_receiver_init(&rx, &cnc->to_clients);
	uint8_t out[512];
	int32_t len;

	/* A bad URI: an error answer naming it. */
	assert_int_equal(add(d, &rx, NSI_CMD_ADD_PUBLICATION, 1, 100, "ns:ipc?mtu=3", out, &len),
			 NSI_RSP_ERROR);
	struct nsi_rsp_error e;
	memcpy(&e, out, sizeof(e));
	assert_int_equal(e.code, -EINVAL);
	assert_non_null(strstr((char *)out + sizeof(e), "mtu \"3\""));

	/* A publication, then a subscription that links to it (an image notice follows). */
	assert_int_equal(add(d, &rx, NSI_CMD_ADD_PUBLICATION, 1, 101, "ns:ipc", out, &len),
			 NSI_RSP_PUBLICATION_READY);
	struct nsi_rsp_publication p;
	memcpy(&p, out, sizeof(p));
	assert_int_equal(p.stream_id, 7);
	assert_int_equal(p.name_length, len - (int32_t)sizeof(p));
	char path[256];
	snprintf(path, sizeof(path), "%s/%.*s", dir, (int)p.name_length, (char *)out + sizeof(p));
	assert_int_equal(access(path, F_OK), 0);
	struct nsi_bcast_receiver rx2 = rx;
	assert_int_equal(add(d, &rx, NSI_CMD_ADD_SUBSCRIPTION, 2, 102, "ns:ipc", out, &len),
			 NSI_RSP_SUBSCRIPTION_READY);
	int32_t t;
	int found = 0;
	while (nsi_bcast_receive(&rx2, &t, out, 512, &len) == 1)
		found += t == NSI_RSP_IMAGE_AVAILABLE;
	assert_int_equal(found, 1);
	assert_int_equal(nsi_driver_client_count(d), 2);

	/* Malformed commands: reported, nothing else happens, the driver carries on. */
	uint8_t junk[64];
	memset(junk, 0xab, sizeof(junk));
	assert_int_equal(nsi_mpsc_write(&cnc->to_driver, 99, junk, 20), 0);
	assert_int_equal(nsi_mpsc_write(&cnc->to_driver, NSI_CMD_ADD_PUBLICATION, junk, 4), 0);
	assert_int_equal(nsi_mpsc_write(&cnc->to_driver, NSI_CMD_REMOVE_PUBLICATION, junk, 9), 0);
	struct nsi_cmd_add bad = { .client_id = 3, .correlation_id = 103, .uri_length = 5000 };
	assert_int_equal(
		nsi_mpsc_write(&cnc->to_driver, NSI_CMD_ADD_SUBSCRIPTION, &bad, sizeof(bad)), 0);
	assert_int_equal(nsi_driver_do_work(d), 4);
	struct errs er = { 0 };
	assert_true(nsi_errlog_read(&cnc->errors, collect, &er) >= 1);
	assert_non_null(strstr(er.last, "malformed command"));
	/* Removing what does not exist is an error answer, not a change. */
	struct nsi_cmd_remove rm = { .client_id = 1,
				     .correlation_id = 104,
				     .registration_id = 999 };
	assert_int_equal(
		nsi_mpsc_write(&cnc->to_driver, NSI_CMD_REMOVE_PUBLICATION, &rm, sizeof(rm)), 0);
	assert_int_equal(nsi_driver_do_work(d), 1);
	assert_int_equal(access(path, F_OK), 0);
	/* The owner closes: its publication and its log file go. */
	rm = (struct nsi_cmd_remove){ .client_id = 1, .correlation_id = 105 };
	assert_int_equal(nsi_mpsc_write(&cnc->to_driver, NSI_CMD_CLIENT_CLOSE, &rm, sizeof(rm)), 0);
	assert_int_equal(nsi_driver_do_work(d), 1);
	assert_int_equal(nsi_driver_client_count(d), 1); /* client 2; malformed ones count not */
	/* The file lingers a client liveness period for subscribers yet to map it. */
	assert_int_equal(access(path, F_OK), 0);
	fake_now += 1100000000;
	(void)nsi_driver_do_work(d);
	assert_int_equal(access(path, F_OK), -1);
	nsi_driver_destroy(d);
}

static void
keepalive(struct nsi_driver *d, int64_t client, int64_t pid)
{
	struct nsi_cmd_remove m = { .client_id = client, .registration_id = pid };
	assert_int_equal(
		nsi_mpsc_write(&nsi_driver_cnc(d)->to_driver, NSI_CMD_KEEPALIVE, &m, sizeof(m)), 0);
}

/* Clients whose process died, or that went silent, are released (injected clock, no sleeps). */
static void
clients_time_out(void **state)
{
	(void)state;
	struct nsi_driver *d = driver();
	struct nsi_cnc *cnc = nsi_driver_cnc(d);
	struct nsi_bcast_receiver rx;
	nsi_bcast_receiver_init(&rx, &cnc->to_clients);
	uint8_t out[512];
	int32_t len;
	pid_t child = fork();
	if (child == 0)
		_exit(0);
	int st;
	assert_int_equal(waitpid(child, &st, 0), child);
	/* The first cycle runs the liveness check; the next one is due a heartbeat later. */
	assert_int_equal(nsi_driver_do_work(d), 0);
	/* Client 7: a dead process holding a publication; 8: alive elsewhere; 9: this process. */
	keepalive(d, 7, child);
	keepalive(d, 8, getppid());
	keepalive(d, 9, getpid());
	assert_int_equal(nsi_driver_do_work(d), 3);
	assert_int_equal(nsi_driver_client_count(d), 3);
	assert_int_equal(add(d, &rx, NSI_CMD_ADD_PUBLICATION, 7, 200, "ns:ipc", out, &len),
			 NSI_RSP_PUBLICATION_READY);
	struct nsi_rsp_publication p;
	memcpy(&p, out, sizeof(p));
	char path[256];
	snprintf(path, sizeof(path), "%s/%.*s", dir, (int)p.name_length, (char *)out + sizeof(p));
	assert_int_equal(access(path, F_OK), 0);
	fake_now += 200000000; /* a heartbeat: the liveness check runs */
	(void)nsi_driver_do_work(d);
	assert_int_equal(nsi_driver_client_count(d), 2); /* released with its client */
	assert_int_equal(nsi_driver_client_count(d), 2);
	assert_int_equal(*nsi_counter_addr(&cnc->counters, NSI_SYS_CLIENT_TIMEOUTS), 1);
	struct errs er = { 0 };
	assert_true(nsi_errlog_read(&cnc->errors, collect, &er) >= 1);
	assert_non_null(strstr(er.last, "its process is gone"));
	/*
	 * The liveness timeout (1 s here; the driver timeout is 3 s) on both sides, and a
	 * keepalive that extends it: 8 keeps alive at K, is still there at K + 0.9 s, keeps
	 * alive again, is there at K + 1.8 s (0.9 s after its last), gone at K + 3 s. 9 shares the
	 * driver's process: never silent.
	 */
	keepalive(d, 8, getppid());
	(void)nsi_driver_do_work(d);
	fake_now += 900000000;
	(void)nsi_driver_do_work(d);
	assert_int_equal(nsi_driver_client_count(d), 2);
	keepalive(d, 8, getppid());
	(void)nsi_driver_do_work(d);
	fake_now += 900000000;
	(void)nsi_driver_do_work(d);
	assert_int_equal(nsi_driver_client_count(d), 2);
	assert_int_equal(*nsi_counter_addr(&cnc->counters, NSI_SYS_CLIENT_TIMEOUTS), 1);
	fake_now += 300000000; /* 1.2 s after its last keepalive */
	(void)nsi_driver_do_work(d);
	assert_int_equal(access(path, F_OK), -1); /* its log's file, after lingering */
	assert_int_equal(nsi_driver_client_count(d), 1);
	assert_int_equal(*nsi_counter_addr(&cnc->counters, NSI_SYS_CLIENT_TIMEOUTS), 2);
	memset(&er, 0, sizeof(er));
	assert_true(nsi_errlog_read(&cnc->errors, collect, &er) >= 2);
	assert_non_null(strstr(er.last, "silent too long"));
	nsi_driver_destroy(d);
}

/*
 * A driver made in a child process that then ends without destroying it, as a crash would:
 * its files stay, its lock goes with the process.
 */
static void
driver_of_a_dead_process(void)
{
	pid_t child = fork();
	if (child == 0) {
		struct nsi_driver_opts o = { .dir = dir, .heartbeat_ns = 100000000 };
		struct nsi_driver *d = NULL;
		_exit(nsi_driver_create(&d, &o) == 0 ? 0 : 1);
	}
	int st;
	assert_int_equal(waitpid(child, &st, 0), child);
	assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
}

static void
one_driver_per_directory(void **state)
{
	(void)state;
	struct nsi_driver *d = driver(), *e = NULL;
	struct nsi_driver_opts o = { .dir = dir,
				     .clock = fake_clock,
				     .clock_ctx = &fake_now,
				     .heartbeat_ns = 100000000,
				     .driver_timeout_ns = 1000000000 };
	char path[128];
	snprintf(path, sizeof(path), "%s/cnc.dat", dir);
	struct stat before, after;
	assert_int_equal(stat(path, &before), 0);
	/* Alive: refused, and its file is untouched. */
	assert_int_equal(nsi_driver_create(&e, &o), -EADDRINUSE);
	assert_int_equal(nsi_driver_do_work(d), 0);
	/*
	 * Its heartbeat goes stale (the clock moves past the timeout) but it holds the lock: a
	 * hung driver is not replaced (two drivers would serve one directory once it resumes).
	 */
	fake_now += 2000000000;
	assert_int_equal(nsi_driver_create(&e, &o), -EADDRINUSE);
	/* Its process forges its own pid to 0 in the file: still refused (the lock decides). */
	nsi_driver_cnc(d)->hdr->pid = 0;
	assert_int_equal(nsi_driver_create(&e, &o), -EADDRINUSE);
	assert_int_equal(stat(path, &after), 0);
	assert_int_equal(after.st_ino, before.st_ino);
	nsi_driver_destroy(d);
	assert_int_equal(access(path, F_OK), -1); /* its own file, removed */

	/* A driver whose process died: its lock went with it; its files are taken over. */
	driver_of_a_dead_process();
	assert_int_equal(access(path, F_OK), 0);
	assert_int_equal(nsi_driver_create(&e, &o), 0);
	nsi_driver_destroy(e);

	/*
	 * Files left with the lock free but looking alive (a live pid, a fresh heartbeat: a
	 * driver without the lock, of an older version): refused until the heartbeat is stale.
	 */
	driver_of_a_dead_process();
	struct nsi_cnc c;
	assert_int_equal(nsi_cnc_open(&c, path), 0);
	c.hdr->pid = getpid();
	nsi_cnc_beat(&c, fake_now);
	assert_int_equal(nsi_driver_create(&e, &o), -EADDRINUSE);
	fake_now += 2000000000;
	assert_int_equal(nsi_driver_create(&e, &o), 0);
	nsi_cnc_close(&c);

	/* Whoever replaced its cnc.dat meanwhile: the driver leaves that file alone. */
	char other[128];
	snprintf(other, sizeof(other), "%s/other", dir);
	FILE *f = fopen(other, "w");
	assert_non_null(f);
	fclose(f);
	assert_int_equal(rename(other, path), 0);
	nsi_driver_destroy(e);
	assert_int_equal(access(path, F_OK), 0);
	assert_int_equal(unlink(path), 0);

	/* A foreign file in its place: replaced (the directory is ours and private). */
	f = fopen(path, "w");
	assert_non_null(f);
	fputs("not a cnc file, long enough to be read as one? no.", f);
	fclose(f);
	assert_int_equal(truncate(path, 1 << 20), 0);
	assert_int_equal(nsi_driver_create(&e, &o), 0);
	nsi_driver_destroy(e);
	assert_int_equal(nsi_driver_create(NULL, &o), -EINVAL);
	assert_int_equal(nsi_driver_create(&e, NULL), -EINVAL);
}

/*
 * The lock does not outlive its driver through a child the application forked: the child
 * closes its copy at once (a fork handler), so when the driver's process ends the directory is
 * free even while the child lives on. The child says when it runs (its fork handler has run by
 * then), and waits at most 10 s for the test to let it go.
 */
static void
forked_child_does_not_keep_the_lock(void **state)
{
	(void)state;
	int go[2], started[2];
	assert_int_equal(pipe(go), 0);
	assert_int_equal(pipe(started), 0);
	pid_t holder = fork();
	if (holder == 0) {
		close(go[1]);
		close(started[0]);
		struct nsi_driver_opts o = { .dir = dir, .heartbeat_ns = 100000000 };
		struct nsi_driver *d = NULL;
		if (nsi_driver_create(&d, &o) != 0)
			_exit(1);
		pid_t grandchild = fork();
		if (grandchild == 0) {
			(void)write(started[1], "x", 1);
			close(started[1]);
			struct pollfd p = { .fd = go[0], .events = POLLIN };
			(void)poll(&p, 1, 10000); /* lives on until the test says (10 s at most) */
			_exit(0);
		}
		close(started[1]);
		close(go[0]);
		_exit(grandchild > 0 ? 0 : 1); /* the driver's process ends, its child does not */
	}
	close(go[0]);
	close(started[1]);
	char b;
	assert_int_equal(read(started[0], &b, 1), 1); /* the grandchild runs */
	int st;
	assert_int_equal(waitpid(holder, &st, 0), holder);
	assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	struct nsi_driver *e = NULL;
	struct nsi_driver_opts o = { .dir = dir, .heartbeat_ns = 100000000 };
	int rc = nsi_driver_create(&e, &o);
	assert_int_equal(write(go[1], "x", 1), 1);
	close(go[1]);
	close(started[0]);
	assert_int_equal(rc, 0);
	nsi_driver_destroy(e);
}

/*
 * A driver died and a new one has taken the lock but not yet put its cnc.dat in place: a
 * client must not map the dead driver's file (its heartbeat still looks fresh). The lock's
 * holder names its cnc.dat in the lock file; until it has, no file is the driver's.
 */
static void
client_never_maps_a_dead_drivers_file(void **state)
{
	(void)state;
	driver_of_a_dead_process();
	int lock = nsi_driver_lock_take(dir); /* the next driver, half way through starting */
	assert_true(lock >= 0);
	struct ns_client_opts o = NS_CLIENT_OPTS_INIT;
	o.dir = dir;
	o.flags = NS_CLIENT_NO_EMBEDDED | NS_CLIENT_NO_THREAD;
	o.timeout_ns = 100000000; /* the close asks a driver nobody runs here: do not wait long */
	ns_client *c = NULL;
	/* Not named yet: no file is the driver's. */
	assert_int_equal(ns_client_create(&c, &o), -ECONNREFUSED);
	/* Named its new file (made, not yet renamed into place): still not the one we map. */
	assert_int_equal(nsi_driver_lock_name(lock, 1, 2), 0);
	assert_int_equal(ns_client_create(&c, &o), -ECONNREFUSED);
	assert_null(c);
	nsi_driver_lock_release(lock);
	struct nsi_driver *e = NULL;
	struct nsi_driver_opts d = { .dir = dir, .heartbeat_ns = 100000000 };
	assert_int_equal(nsi_driver_create(&e, &d), 0);
	assert_int_equal(ns_client_create(&c, &o), 0); /* its own file, named: connects */
	assert_int_equal(ns_client_close(c), 0);
	nsi_driver_destroy(e);
}

static int
setup(void **state)
{
	(void)state;
	snprintf(dir, sizeof(dir), "/tmp/ns-drivertest-XXXXXX");
	return mkdtemp(dir) != NULL ? 0 : -1;
}

static int
teardown(void **state)
{
	(void)state;
	return tu_rmdir_driver(dir);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(commands_answers_and_malformed_input),
		cmocka_unit_test(clients_time_out),
		cmocka_unit_test(one_driver_per_directory),
		cmocka_unit_test(forked_child_does_not_keep_the_lock),
		cmocka_unit_test(client_never_maps_a_dead_drivers_file),
	};
	return cmocka_run_group_tests_name("driver", tests, setup, teardown);
}

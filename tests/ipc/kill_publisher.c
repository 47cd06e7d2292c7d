/* SPDX-License-Identifier: MIT */
/*
 * kill -9 of publishers (docs/testing.md I2) against nanostreamd with the test configuration
 * (heartbeat 10 ms, client liveness 100 ms, unblock 200 ms):
 *
 * - exclusive: a publisher process streams, then is killed at a random point, or parks
 *   between try-claim and commit (half its payload written) and is killed there. The
 *   subscriber must get no torn message (every one passes its CRC), everything committed
 *   before the kill (exactly, for a parked publisher), in order, and the image must leave.
 * - shared: two publisher processes share a log; one parks between claim and commit and is
 *   killed, the other carries on; the subscriber is stuck at the hole until the unblock
 *   timeout pads it, then reads on.
 *
 * Latencies are measured and printed against docs/testing.md's targets (image unavailable
 * <= 120 ms, unblocked <= 220 ms) and asserted with generous upper bounds (2 s: a 2-core VM's
 * scheduler), and the unblocking also from below: never before the unblock timeout after the
 * dying publisher's last progress (padding sooner could pad over a live publisher's frame).
 *
 *   kill_publisher PATH-TO-NANOSTREAMD
 *   NS_KILL_ITERATIONS: iterations of the exclusive case (default 200)
 */
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include <nanostream/nanostream.h>

#include "proc.h"
#include "testutil.h"

#define SEC	 (1000LL * 1000 * 1000)
#define MS	 (1000LL * 1000)
#define URI	 "ns:ipc?term-length=64k"
#define HANG_NS	 (5 * SEC)
#define MAX_SEEN 8192 /* two entries per killed publisher; the nightly tier kills 2000 */

static const char *daemon_path;
static char self_path[4096];
static char dir[64];

/* ---- the publisher processes ---- */

static size_t
make(uint8_t *buf, uint32_t id, uint32_t seq)
{
	size_t len = 12 + (size_t)(tu_mix64(((uint64_t)id << 32) | seq) % 400);
	for (size_t i = 12; i < len; i++)
		buf[i] = (uint8_t)(seq * 31 + i);
	uint32_t crc = tu_crc32c(seq ^ id, buf + 12, len - 12);
	memcpy(buf, &id, 4);
	memcpy(buf + 4, &seq, 4);
	memcpy(buf + 8, &crc, 4);
	return len;
}

/* pub DIR ID EXCLUSIVE PARK_AFTER (0: stream until killed) */
static int
run_pub(const char *d, uint32_t id, int exclusive, uint32_t park_after)
{
	struct ns_client_opts o = NS_CLIENT_OPTS_INIT;
	o.dir = d;
	o.flags = NS_CLIENT_NO_EMBEDDED;
	ns_client *c;
	ns_publication *p;
	if (ns_client_create(&c, &o) != 0 ||
	    ns_publication_add(c, URI, 21, exclusive ? NS_PUBLICATION_EXCLUSIVE : 0, &p) != 0 ||
	    ns_publication_wait_connected(p, ns_clock_ns() + 10 * SEC) != 0)
		return 3;
	char line[80];
	int n = snprintf(line, sizeof(line), "ready %d\n", (int)ns_publication_session_id(p));
	if (write(1, line, (size_t)n) != n)
		return 4;
	uint8_t buf[512];
	for (uint32_t seq = 0;; seq++) {
		if (park_after > 0 && seq == park_after) {
			struct ns_claim cl;
			int64_t r, before;
			/*
			 * The time is read before each attempt, so the one kept is no later than
			 * the claim that succeeded: this publisher's last progress (CLOCK_MONOTONIC,
			 * the same in every process). Read after, a descheduled child would report
			 * it late and the parent's lower bound would not hold.
			 */
			while ((before = ns_clock_ns(), r = ns_try_claim(p, 64, &cl)) < 0) {
				if (r != NS_BACK_PRESSURED && r != NS_ADMIN_ACTION)
					return 5;
				sched_yield();
			}
			memset(cl.data, 0xee, 32); /* half a message: never to be seen */
			n = snprintf(line, sizeof(line), "parked %u %lld %lld\n", seq,
				     (long long)cl.position, (long long)before);
			if (write(1, line, (size_t)n) != n)
				return 4;
			for (;;)
				pause(); /* between claim and commit, until killed */
		}
		size_t len = make(buf, id, seq);
		int64_t r;
		while ((r = ns_offer(p, buf, len)) < 0) {
			if (r != NS_BACK_PRESSURED && r != NS_ADMIN_ACTION &&
			    r != NS_NOT_CONNECTED) {
				fprintf(stderr, "pub %u: offer: %s\n", id, ns_strerror((int)r));
				return 6;
			}
			/*
			 * Yield while held back: a publisher spinning on 2 cores would starve its
			 * own keepalive thread past the 100 ms client liveness of this test.
			 */
			sched_yield();
		}
	}
}

/* ---- the test (the subscriber) ---- */

struct seen {
	int32_t session;
	uint32_t id;
	uint32_t next;
	bool gone;
	int64_t gone_at;
};

struct sub_state {
	struct seen s[MAX_SEEN];
	int n;
	uint64_t bad;
	uint32_t watch_id;    /* the publisher whose messages the shared-log case watches */
	int64_t max_position; /* the furthest position a message of watch_id was read at */
};

static struct seen *
find(struct sub_state *st, int32_t session)
{
	for (int i = 0; i < st->n; i++)
		if (st->s[i].session == session)
			return &st->s[i];
	assert_true(st->n < MAX_SEEN);
	st->s[st->n] = (struct seen){ .session = session, .id = UINT32_MAX };
	return &st->s[st->n++];
}

static void
on_msg(void *ctx, const void *buf, size_t len, const struct ns_header *h)
{
	struct sub_state *st = ctx;
	uint32_t id, seq, crc;
	if (len < 12) {
		st->bad++;
		return;
	}
	memcpy(&id, buf, 4);
	memcpy(&seq, (const uint8_t *)buf + 4, 4);
	memcpy(&crc, (const uint8_t *)buf + 8, 4);
	/* Per publisher: shared logs carry two publishers in one session. */
	struct seen *s = find(st, h->session_id ^ (int32_t)(id * 0x9e3779b1u));
	if (crc != tu_crc32c(seq ^ id, (const uint8_t *)buf + 12, len - 12) || seq != s->next) {
		st->bad++;
		return;
	}
	s->id = id;
	s->next++;
	/* Per publisher: another round's log starts again from position 0. */
	if (id == st->watch_id && h->position > st->max_position)
		st->max_position = h->position;
}

static void
on_gone(void *ctx, const ns_image *img)
{
	struct sub_state *st = ctx;
	struct seen *s = find(st, ns_image_session_id(img));
	s->gone = true;
	s->gone_at = ns_clock_ns();
}

/* Read a line while polling @sub, so a publisher is never held back waiting for us. */
static void
read_line_polling(int fd, char *line, size_t len, ns_subscription *sub, struct sub_state *st)
{
	int fl = fcntl(fd, F_GETFL);
	fcntl(fd, F_SETFL, fl | O_NONBLOCK);
	size_t used = 0;
	int64_t start = ns_clock_ns();
	while (used + 1 < len) {
		ssize_t r = read(fd, line + used, 1);
		if (r == 1) {
			if (line[used++] == '\n')
				break;
			continue;
		}
		if (r == 0 || (r < 0 && errno != EAGAIN))
			fail_msg("a publisher process ended early (read %zd, errno %d)", r, errno);
		(void)ns_subscription_poll(sub, on_msg, st, 256);
		if (ns_clock_ns() - start > HANG_NS)
			fail_msg("no line from a publisher process in 5 s (images %d)",
				 ns_subscription_image_count(sub));
	}
	line[used] = '\0';
	fcntl(fd, F_SETFL, fl);
}

static pid_t driver_pid;

static int
setup(void **state)
{
	(void)state;
	snprintf(dir, sizeof(dir), "/tmp/ns-killtest-XXXXXX");
	if (mkdtemp(dir) == NULL)
		return -1;
	driver_pid = fork();
	if (driver_pid == 0) {
		int null = open("/dev/null", O_WRONLY);
		dup2(null, 2);
		execl(daemon_path, daemon_path, "--dir", dir, "--heartbeat-ms", "10",
		      "--client-timeout-ms", "100", "--unblock-timeout-ms", "200", "--term-length",
		      "64k", (char *)NULL);
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

static ns_client *
connect_client(void)
{
	ns_client *c = NULL;
	assert_int_equal(tu_connect(dir, &c), 0);
	return c;
}

static int
cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
	return x < y ? -1 : x > y;
}

static void
exclusive_publishers_killed(void **state)
{
	(void)state;
	const char *env = getenv("NS_KILL_ITERATIONS");
	int iterations = env != NULL ? atoi(env) : 200;
	ns_client *c = connect_client();
	static struct sub_state st;
	memset(&st, 0, sizeof(st));
	struct ns_subscription_opts so = NS_SUBSCRIPTION_OPTS_INIT;
	so.on_unavailable = on_gone;
	so.ctx = &st;
	ns_subscription *sub;
	assert_int_equal(ns_subscription_add(c, URI, 21, &so, &sub), 0);
	int64_t *gone_ms = calloc((size_t)iterations, sizeof(int64_t));
	uint64_t parked = 0, delivered = 0;
	for (int it = 0; it < iterations; it++) {
		bool park = it % 2 == 1;
		char id[16], after[16], line[64];
		snprintf(id, sizeof(id), "%d", it);
		snprintf(after, sizeof(after), "%u",
			 park ? 1 + (unsigned)(tu_mix64((uint64_t)it) % 3000) : 0);
		const char *args[] = { "pub", dir, id, "1", after, NULL };
		int fd = -1;
		pid_t pub = tu_run_piped(self_path, args, &fd, -1);
		assert_true(pub > 0);
		tu_read_line(fd, line, sizeof(line));
		int session = 0;
		assert_int_equal(sscanf(line, "ready %d", &session), 1);
		uint32_t committed = UINT32_MAX;
		if (park) {
			read_line_polling(fd, line, sizeof(line), sub, &st);
			assert_int_equal(sscanf(line, "parked %u", &committed), 1);
		} else {
			/* A random kill point: 0 to 50 ms into the stream. */
			int64_t until = ns_clock_ns() + (int64_t)(tu_mix64((uint64_t)it) % 50) * MS;
			while (ns_clock_ns() < until)
				(void)ns_subscription_poll(sub, on_msg, &st, 256);
		}
		close(fd);
		assert_int_equal(kill(pub, SIGKILL), 0);
		int64_t killed_at = ns_clock_ns();
		assert_int_equal(tu_exit_of(pub), 128 + SIGKILL);
		struct seen *s = NULL;
		for (;;) {
			(void)ns_subscription_poll(sub, on_msg, &st, 256);
			s = find(&st, session ^ (int32_t)((uint32_t)it * 0x9e3779b1u));
			struct seen *img = find(&st, session);
			if (img->gone)
				break;
			assert_true(ns_clock_ns() - killed_at < HANG_NS);
		}
		gone_ms[it] = find(&st, session)->gone_at - killed_at;
		if (park) {
			assert_int_equal(s->next,
					 committed); /* all of them, not the half message */
			parked++;
		}
		delivered += s->next;
		assert_int_equal(st.bad, 0);
	}
	qsort(gone_ms, (size_t)iterations, sizeof(int64_t), cmp_i64);
	/* Target 120 ms (liveness 100 ms + 2 heartbeats); asserted generously for the VM. */
	assert_true(gone_ms[iterations - 1] <= 2 * SEC);
	print_message("# %d publishers killed (%llu between claim and commit): %llu messages "
		      "delivered, 0 torn or out of order; image unavailable after the kill: "
		      "p50 %.1f ms, p99 %.1f ms, max %.1f ms (bound: 120 ms)\n",
		      iterations, (unsigned long long)parked, (unsigned long long)delivered,
		      (double)gone_ms[iterations / 2] / 1e6,
		      (double)gone_ms[iterations * 99 / 100] / 1e6,
		      (double)gone_ms[iterations - 1] / 1e6);
	free(gone_ms);
	assert_int_equal(ns_subscription_close(sub), 0);
	assert_int_equal(ns_client_close(c), 0);
}

static void
shared_log_unblocked(void **state)
{
	(void)state;
	ns_client *c = connect_client();
	static struct sub_state st;
	memset(&st, 0, sizeof(st));
	ns_subscription *sub;
	assert_int_equal(ns_subscription_add(c, URI, 21, NULL, &sub), 0);
	int64_t worst = 0, earliest = INT64_MAX;
	const int rounds = 10;
	for (int r = 0; r < rounds; r++) {
		char line[64], id1[16], id2[16];
		int fd1 = -1, fd2 = -1;
		snprintf(id1, sizeof(id1), "%d", 1000 + 2 * r);
		snprintf(id2, sizeof(id2), "%d", 1001 + 2 * r);
		/* The survivor streams (never parks); the other parks after 500 messages. */
		st.watch_id = 1001 + 2 * (uint32_t)r;
		st.max_position = -1;
		const char *a2[] = { "pub", dir, id2, "0", "0", NULL };
		pid_t survivor = tu_run_piped(self_path, a2, &fd2, -1);
		read_line_polling(fd2, line, sizeof(line), sub, &st);
		const char *a1[] = { "pub", dir, id1, "0", "500", NULL };
		pid_t dying = tu_run_piped(self_path, a1, &fd1, -1);
		read_line_polling(fd1, line, sizeof(line), sub, &st);
		read_line_polling(fd1, line, sizeof(line), sub, &st);
		unsigned parked_seq;
		long long hole_end, claimed_at;
		assert_int_equal(
			sscanf(line, "parked %u %lld %lld", &parked_seq, &hole_end, &claimed_at),
			3);
		close(fd1);
		assert_int_equal(kill(dying, SIGKILL), 0);
		int64_t killed_at = ns_clock_ns();
		assert_int_equal(tu_exit_of(dying), 128 + SIGKILL);
		/* The survivor's messages after the hole arrive once it is padded. */
		while (st.max_position <= hole_end) {
			(void)ns_subscription_poll(sub, on_msg, &st, 256);
			assert_true(ns_clock_ns() - killed_at < HANG_NS);
		}
		int64_t resumed = ns_clock_ns();
		if (resumed - killed_at > worst)
			worst = resumed - killed_at;
		/*
		 * Not before the unblock timeout from the dying publisher's last progress (its
		 * claim): padding sooner could pad over a live publisher's frame.
		 */
		if (resumed - claimed_at < earliest)
			earliest = resumed - claimed_at;
		close(fd2);
		kill(survivor, SIGKILL);
		assert_int_equal(tu_exit_of(survivor), 128 + SIGKILL);
		assert_int_equal(st.bad, 0);
	}
	print_message("# %d shared logs with a publisher killed between claim and commit: the "
		      "subscriber carried on %.1f ms at the earliest after the claim (unblock "
		      "timeout 200 ms) and at most %.1f ms after the kill (target: 200 ms + 2 x "
		      "10 ms), 0 torn or out of order\n",
		      rounds, (double)earliest / 1e6, (double)worst / 1e6);
	assert_true(earliest >= 200 * MS);
	assert_true(worst <= 2 * SEC); /* generous: a 2-core VM's scheduler */
	assert_int_equal(ns_subscription_close(sub), 0);
	assert_int_equal(ns_client_close(c), 0);
}

int
main(int argc, char **argv)
{
	if (argc == 6 && strcmp(argv[1], "pub") == 0)
		return run_pub(argv[2], (uint32_t)atoi(argv[3]), atoi(argv[4]),
			       (uint32_t)strtoul(argv[5], NULL, 10));
	if (argc != 2) {
		fprintf(stderr, "usage: %s PATH-TO-NANOSTREAMD\n", argv[0]);
		return 2;
	}
	daemon_path = argv[1];
	if (tu_self_path(self_path, sizeof(self_path)) != 0)
		return 1;
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(exclusive_publishers_killed),
		cmocka_unit_test(shared_log_unblocked),
	};
	return cmocka_run_group_tests_name("kill-publisher", tests, setup, teardown);
}

/* SPDX-License-Identifier: MIT */
/*
 * Cross-process streams (docs/testing.md I1): this program starts an embedded driver in a
 * private directory, then runs a subscriber and 1 or 3 publishers as separate processes
 * (fork + exec of itself). Messages have random lengths from 12 bytes to the largest the
 * log takes (fragmented ones included), carry (publisher, sequence, CRC32C) and go through
 * 64 KiB terms, so the log rotates all the time. The subscriber checks that every message of
 * every publisher arrives once, in order, with its length and CRC; it exits 0 only then.
 *
 *   ipc_stream                          the test (TAP)
 *   ipc_stream sub DIR PUBS N           a subscriber expecting N messages from each of PUBS
 *   ipc_stream pub DIR ID N EXCLUSIVE   a publisher sending N messages
 *
 * NS_IPC_MESSAGES sets the total per test (default 5 M: 10 M over the two stream tests).
 */
#include <errno.h>
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

#define STREAM 1001
#define SEC    (1000LL * 1000 * 1000)
#define URI    "ns:ipc?term-length=64k&mtu=1024"

/* The length of message (id, seq): mostly small, one in 16 up to the largest. */
static size_t
msg_len(uint32_t id, uint32_t seq, size_t max)
{
	uint64_t r = tu_mix64(((uint64_t)id << 32) | seq);
	if ((r & 15) == 0)
		return 12 + (size_t)((r >> 8) % (max - 11));
	return 12 + (size_t)((r >> 8) % 120);
}

static void
fill(uint8_t *buf, uint32_t id, uint32_t seq, size_t len)
{
	uint64_t x = tu_mix64(((uint64_t)seq << 32) | id);
	for (size_t i = 12; i < len; i++) {
		buf[i] = (uint8_t)x;
		x = x >> 8 | x << 56;
		if ((i & 7) == 3)
			x = tu_mix64(x + i);
	}
	uint32_t crc = tu_crc32c(id ^ seq, buf + 12, len - 12);
	memcpy(buf, &id, 4);
	memcpy(buf + 4, &seq, 4);
	memcpy(buf + 8, &crc, 4);
}

static ns_client *
connect_client(const char *dir)
{
	struct ns_client_opts o = NS_CLIENT_OPTS_INIT;
	o.dir = dir;
	o.flags = NS_CLIENT_NO_EMBEDDED;
	ns_client *c = NULL;
	int rc = ns_client_create(&c, &o);
	if (rc != 0) {
		fprintf(stderr, "client: %s\n", ns_strerror(rc));
		exit(3);
	}
	return c;
}

static int
run_pub(const char *dir, uint32_t id, uint32_t n, int exclusive)
{
	ns_client *c = connect_client(dir);
	ns_publication *p = NULL;
	int rc = ns_publication_add(c, URI, STREAM, exclusive ? NS_PUBLICATION_EXCLUSIVE : 0, &p);
	if (rc != 0) {
		fprintf(stderr, "pub %u: %s\n", id, ns_strerror(rc));
		return 3;
	}
	size_t max = (size_t)ns_publication_max_message(p);
	uint8_t *buf = malloc(max);
	uint64_t waits = 0;
	for (uint32_t seq = 0; seq < n; seq++) {
		size_t len = msg_len(id, seq, max);
		fill(buf, id, seq, len);
		int64_t r, since = 0;
		while ((r = ns_offer(p, buf, len)) < 0) {
			if (r != NS_BACK_PRESSURED && r != NS_ADMIN_ACTION &&
			    r != NS_NOT_CONNECTED) {
				fprintf(stderr, "pub %u: offer: %s\n", id, ns_strerror((int)r));
				return 4;
			}
			/* A hang guard: held back for 60 s (the subscriber is gone or stuck). */
			if (since == 0)
				since = ns_clock_ns();
			else if (waits % 1024 == 0 && ns_clock_ns() - since > 60 * SEC) {
				fprintf(stderr, "pub %u: held back for 60 s at %u: %s\n", id, seq,
					ns_strerror((int)r));
				return 5;
			}
			waits++;
			sched_yield();
		}
	}
	fprintf(stderr, "# pub %u: %u messages, %llu waits\n", id, n, (unsigned long long)waits);
	free(buf);
	ns_publication_close(p);
	ns_client_close(c);
	return 0;
}

struct check {
	uint32_t next[3];
	uint64_t count, bytes, bad;
	size_t max;
};

static void
on_msg(void *ctx, const void *buf, size_t len, const struct ns_header *h)
{
	struct check *k = ctx;
	uint32_t id, seq, crc;
	(void)h;
	if (len < 12) {
		k->bad++;
		return;
	}
	memcpy(&id, buf, 4);
	memcpy(&seq, (const uint8_t *)buf + 4, 4);
	memcpy(&crc, (const uint8_t *)buf + 8, 4);
	if (id >= 3 || seq != k->next[id] || len != msg_len(id, seq, k->max) ||
	    crc != tu_crc32c(id ^ seq, (const uint8_t *)buf + 12, len - 12)) {
		if (k->bad++ < 5)
			fprintf(stderr, "sub: bad message: id %u seq %u (want %u) len %zu\n", id,
				seq, id < 3 ? k->next[id] : 0, len);
		return;
	}
	k->next[id]++;
	k->count++;
	k->bytes += len;
}

static int
run_sub(const char *dir, uint32_t pubs, uint32_t n)
{
	ns_client *c = connect_client(dir);
	ns_subscription *s = NULL;
	int rc = ns_subscription_add(c, URI, STREAM, NULL, &s);
	if (rc != 0) {
		fprintf(stderr, "sub: %s\n", ns_strerror(rc));
		return 3;
	}
	/* Tell the parent we are subscribed: it starts the publishers after this line. */
	printf("ready\n");
	fflush(stdout);
	struct check k = { .max = 8192 };
	uint64_t want = (uint64_t)pubs * n;
	int64_t start = ns_clock_ns(), last_progress = start;
	while (k.count + k.bad < want) {
		int got = ns_subscription_poll(s, on_msg, &k, 64);
		if (got > 0) {
			last_progress = ns_clock_ns();
			continue;
		}
		/* A hang guard, not a timing assertion: nothing at all for 60 s. */
		if (ns_clock_ns() - last_progress > 60 * SEC) {
			fprintf(stderr,
				"sub: stalled at %llu of %llu (images %d, client work %d, next "
				"%u %u %u)\n",
				(unsigned long long)k.count, (unsigned long long)want,
				ns_subscription_image_count(s), ns_client_do_work(c), k.next[0],
				k.next[1], k.next[2]);
			return 5;
		}
		sched_yield();
	}
	double secs = (double)(ns_clock_ns() - start) / 1e9;
	fprintf(stderr,
		"# sub: %llu messages (%llu bytes) from %u publishers in %.2f s, %llu bad\n",
		(unsigned long long)k.count, (unsigned long long)k.bytes, pubs, secs,
		(unsigned long long)k.bad);
	for (uint32_t i = 0; i < pubs; i++)
		if (k.next[i] != n)
			return 6;
	ns_subscription_close(s);
	ns_client_close(c);
	return k.bad == 0 ? 0 : 7;
}

static char dir[64];
static char self[4096];

static pid_t
spawn(char *const argv[], int *out_fd)
{
	int fds[2];
	if (out_fd != NULL && pipe(fds) != 0)
		return -1;
	pid_t pid = fork();
	if (pid == 0) {
		if (out_fd != NULL) {
			dup2(fds[1], 1);
			close(fds[0]);
			close(fds[1]);
		}
		execv(self, argv);
		_exit(127);
	}
	if (out_fd != NULL) {
		close(fds[1]);
		*out_fd = fds[0];
	}
	return pid;
}

static void
stream(uint32_t pubs, int exclusive)
{
	const char *env = getenv("NS_IPC_MESSAGES");
	uint64_t total = env != NULL ? strtoull(env, NULL, 10) : 5000000;
	uint32_t n = (uint32_t)(tu_scaled(total) / pubs);
	struct ns_client_opts o = NS_CLIENT_OPTS_INIT;
	o.dir = dir;
	ns_client *c = NULL;
	assert_int_equal(ns_client_create(&c, &o), 0);
	assert_int_equal(ns_client_is_embedded(c), 1);
	char npubs[16], count[16], ids[3][16], excl[4];
	snprintf(npubs, sizeof(npubs), "%u", pubs);
	snprintf(count, sizeof(count), "%u", n);
	snprintf(excl, sizeof(excl), "%d", exclusive);
	int fd = -1;
	char *sub_argv[] = { self, "sub", dir, npubs, count, NULL };
	pid_t sub = spawn(sub_argv, &fd);
	assert_true(sub > 0);
	char line[16] = "";
	FILE *f = fdopen(fd, "r");
	assert_non_null(f);
	assert_non_null(fgets(line, sizeof(line), f));
	assert_string_equal(line, "ready\n");
	fclose(f);
	pid_t pub[3];
	for (uint32_t i = 0; i < pubs; i++) {
		snprintf(ids[i], sizeof(ids[i]), "%u", i);
		char *pub_argv[] = { self, "pub", dir, ids[i], count, excl, NULL };
		pub[i] = spawn(pub_argv, NULL);
		assert_true(pub[i] > 0);
	}
	/*
	 * Wait for all of them; one that fails ends the others (a publisher held back by a
	 * subscriber that gave up would otherwise wait for ever).
	 */
	pid_t all[4];
	int left = 0, failed = 0;
	for (uint32_t i = 0; i < pubs; i++)
		all[left++] = pub[i];
	all[left++] = sub;
	while (left > 0) {
		int st;
		pid_t done = waitpid(-1, &st, 0);
		if (done < 0)
			break;
		for (int i = 0; i < left; i++)
			if (all[i] == done)
				all[i] = all[--left];
		if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
			print_message("# process %d %s %d\n", (int)done,
				      WIFEXITED(st) ? "exited" : "killed by",
				      WIFEXITED(st) ? WEXITSTATUS(st) : WTERMSIG(st));
			failed++;
			for (int i = 0; i < left; i++)
				kill(all[i], SIGKILL);
		}
	}
	assert_int_equal(failed, 0);
	print_message("# %u publisher process(es) x %u messages%s: 0 lost, duplicated, reordered "
		      "or torn\n",
		      pubs, n, exclusive ? " (exclusive)" : "");
	assert_int_equal(ns_client_close(c), 0);
}

static void
one_publisher(void **state)
{
	(void)state;
	stream(1, 0);
}

static void
three_publishers(void **state)
{
	(void)state;
	stream(3, 0);
}

static void
three_exclusive_publishers(void **state)
{
	(void)state;
	setenv("NS_IPC_MESSAGES", "300000", 0);
	stream(3, 1);
	unsetenv("NS_IPC_MESSAGES");
}

static int
setup(void **state)
{
	(void)state;
	snprintf(dir, sizeof(dir), "/tmp/ns-ipctest-XXXXXX");
	return mkdtemp(dir) != NULL ? 0 : -1;
}

static int
teardown(void **state)
{
	(void)state;
	return tu_rmdir_driver(dir);
}

int
main(int argc, char **argv)
{
	if (argc == 5 && strcmp(argv[1], "sub") == 0)
		return run_sub(argv[2], (uint32_t)atoi(argv[3]), (uint32_t)strtoul(argv[4], 0, 10));
	if (argc == 6 && strcmp(argv[1], "pub") == 0)
		return run_pub(argv[2], (uint32_t)atoi(argv[3]), (uint32_t)strtoul(argv[4], 0, 10),
			       atoi(argv[5]));
	if (tu_self_path(self, sizeof(self)) != 0)
		return 1;
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(one_publisher),
		cmocka_unit_test(three_publishers),
		cmocka_unit_test(three_exclusive_publishers),
	};
	return cmocka_run_group_tests_name("ipc-stream", tests, setup, teardown);
}

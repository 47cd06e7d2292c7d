/* SPDX-License-Identifier: MIT */
/*
 * kill -9 across ns:udp (issue 17): the other end is a process of its own (tests/net/udp_peer,
 * with its own embedded driver), killed without a word.
 *   - A killed sender: its image here goes unavailable once the image liveness timeout (10 s)
 *     has passed without a frame, not before and not never.
 *   - A killed receiver: the publication here reports not connected once the receiver's
 *     status messages stop (2 s), and connected again when a new receiver binds the endpoint,
 *     without the publication being recreated.
 * usage: test_udp_kill UDP_PEER
 */
#include <errno.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include <nanostream/nanostream.h>

#include "proc.h"
#include "testutil.h"

#define SEC (1000LL * 1000 * 1000)

static const char *peer;
static char dir[64], peer_dir[64], peer_dir2[64];

static int
setup(void **state)
{
	(void)state;
	snprintf(dir, sizeof(dir), "/tmp/ns-udpkill-XXXXXX");
	snprintf(peer_dir, sizeof(peer_dir), "/tmp/ns-udpkill-peer-XXXXXX");
	snprintf(peer_dir2, sizeof(peer_dir2), "/tmp/ns-udpkill-peer2-XXXXXX");
	return mkdtemp(dir) && mkdtemp(peer_dir) && mkdtemp(peer_dir2) ? 0 : -1;
}

static int
teardown(void **state)
{
	(void)state;
	tu_reap_all();
	int rc = tu_rmdir_driver(dir);
	/* The killed drivers' files stay behind them: that is what a killed process leaves. */
	(void)tu_rmdir_driver(peer_dir);
	(void)tu_rmdir_driver(peer_dir2);
	return rc;
}

static pid_t
start_peer(const char *pdir, const char *const *args, int *out)
{
	setenv("NANOSTREAM_DIR", pdir, 1);
	pid_t pid = tu_run_piped(peer, args, out, -1);
	unsetenv("NANOSTREAM_DIR");
	assert_true(pid > 0);
	return pid;
}

struct seen {
	int messages, unavailable;
};

static void
on_msg(void *ctx, const void *buf, size_t len, const struct ns_header *h)
{
	(void)buf, (void)len, (void)h;
	((struct seen *)ctx)->messages++;
}

static void
on_unavailable(void *ctx, const ns_image *img)
{
	(void)img;
	((struct seen *)ctx)->unavailable++;
}

static void
a_killed_sender_ends_its_image(void **state)
{
	(void)state;
	struct ns_client_opts o = NS_CLIENT_OPTS_INIT;
	o.dir = dir;
	ns_client *c = NULL;
	assert_int_equal(ns_client_create(&c, &o), 0);
	char ch[96];
	snprintf(ch, sizeof(ch), "ns:udp?endpoint=127.0.0.1:%d", tu_free_udp_port());
	struct seen seen = { 0 };
	struct ns_subscription_opts so = NS_SUBSCRIPTION_OPTS_INIT;
	so.on_unavailable = on_unavailable;
	so.ctx = &seen;
	ns_subscription *s = NULL;
	assert_int_equal(ns_subscription_add(c, ch, 5, &so, &s), 0);
	int out = -1;
	const char *args[] = { "pub", ch, "5", "100", "64", NULL };
	pid_t pid = start_peer(peer_dir, args, &out);
	int64_t deadline = ns_clock_ns() + 20 * SEC;
	while (seen.messages < 100 && ns_clock_ns() < deadline)
		(void)ns_subscription_poll(s, on_msg, &seen, 16);
	assert_int_equal(seen.messages, 100);
	assert_int_equal(ns_subscription_image_count(s), 1);

	assert_int_equal(kill(pid, SIGKILL), 0);
	assert_int_equal(tu_exit_of(pid), 128 + SIGKILL);
	close(out);
	int64_t t0 = ns_clock_ns();
	deadline = t0 + 30 * SEC;
	while (seen.unavailable == 0 && ns_clock_ns() < deadline)
		(void)ns_subscription_poll_wait(s, on_msg, &seen, 16, NS_WAIT_SLEEP,
						ns_clock_ns() + SEC / 100);
	int64_t took = ns_clock_ns() - t0;
	print_message("# sender killed: its image unavailable after %.2f s (liveness 10 s)\n",
		      (double)took / 1e9);
	assert_int_equal(seen.unavailable, 1);
	assert_int_equal(ns_subscription_image_count(s), 0);
	/* The liveness timeout ended it: not an end of stream (a killed sender sends none). */
	assert_true(took >= 8 * SEC && took <= 13 * SEC);
	assert_int_equal(ns_subscription_close(s), 0);
	assert_int_equal(ns_client_close(c), 0);
}

static void
a_killed_receiver_disconnects_and_a_new_one_reconnects(void **state)
{
	(void)state;
	struct ns_client_opts o = NS_CLIENT_OPTS_INIT;
	o.dir = dir;
	ns_client *c = NULL;
	assert_int_equal(ns_client_create(&c, &o), 0);
	char ch[96];
	snprintf(ch, sizeof(ch), "ns:udp?endpoint=127.0.0.1:%d", tu_free_udp_port());
	ns_publication *p = NULL;
	assert_int_equal(ns_publication_add(c, ch, 6, 0, &p), 0);
	int out = -1;
	const char *args[] = { "sub", ch, "6", "1000000000", NULL };
	pid_t pid = start_peer(peer_dir, args, &out);
	assert_int_equal(ns_publication_wait_connected(p, ns_clock_ns() + 10 * SEC), 0);
	uint8_t msg[64] = { 0 };
	for (int i = 0; i < 100; i++)
		while (ns_offer(p, msg, sizeof(msg)) < 0)
			; /* back-pressure for a moment: the receiver is there */

	assert_int_equal(kill(pid, SIGKILL), 0);
	assert_int_equal(tu_exit_of(pid), 128 + SIGKILL);
	close(out);
	int64_t t0 = ns_clock_ns(), deadline = t0 + 10 * SEC;
	while (ns_publication_is_connected(p) == 1 && ns_clock_ns() < deadline)
		nanosleep(&(struct timespec){ .tv_nsec = 1000000 }, NULL); /* polling a flag */
	int64_t took = ns_clock_ns() - t0;
	print_message("# receiver killed: publication not connected after %.2f s "
		      "(receiver timeout 2 s)\n",
		      (double)took / 1e9);
	assert_int_equal(ns_publication_is_connected(p), 0);
	assert_true(took <= 4 * SEC);
	assert_int_equal(ns_offer(p, msg, sizeof(msg)), NS_NOT_CONNECTED);

	/* A new receiver on the same endpoint: the same publication connects again. */
	const char *args2[] = { "sub", ch, "6", "1000000000", NULL };
	pid = start_peer(peer_dir2, args2, &out);
	t0 = ns_clock_ns();
	assert_int_equal(ns_publication_wait_connected(p, ns_clock_ns() + 10 * SEC), 0);
	print_message("# a new receiver: connected again after %.2f s\n",
		      (double)(ns_clock_ns() - t0) / 1e9);
	deadline = ns_clock_ns() + 10 * SEC;
	int64_t r;
	while ((r = ns_offer(p, msg, sizeof(msg))) < 0 && ns_clock_ns() < deadline)
		;
	assert_true(r > 0);
	assert_int_equal(kill(pid, SIGKILL), 0);
	assert_int_equal(tu_exit_of(pid), 128 + SIGKILL);
	close(out);
	assert_int_equal(ns_publication_close(p), 0);
	assert_int_equal(ns_client_close(c), 0);
}

int
main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: test_udp_kill UDP_PEER\n");
		return 2;
	}
	peer = argv[1];
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(a_killed_sender_ends_its_image, setup, teardown),
		cmocka_unit_test_setup_teardown(
			a_killed_receiver_disconnects_and_a_new_one_reconnects, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

/* SPDX-License-Identifier: MIT */
/*
 * A real ns:udp stream on loopback for tests/net/wire-tshark.py to capture: a subscription
 * binds 127.0.0.1:PORT, a publication sends 200 messages to it (some fragmented), the
 * subscriber reads them all, the publication closes (end of stream), the image goes.
 * Prints "session S stream 7 messages 200" and exits 0 when all of it happened.
 * usage: udp_send PORT DIR
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <nanostream/nanostream.h>

#define SEC (1000LL * 1000 * 1000)

static void
on_msg(void *ctx, const void *buf, size_t len, const struct ns_header *h)
{
	(void)buf, (void)len, (void)h;
	(*(int *)ctx)++;
}

static void
on_gone(void *ctx, const ns_image *img)
{
	(void)img;
	*(int *)ctx = 1;
}

int
main(int argc, char **argv)
{
	if (argc != 3)
		return 2;
	struct ns_client_opts o = NS_CLIENT_OPTS_INIT;
	o.dir = argv[2];
	ns_client *c = NULL;
	if (ns_client_create(&c, &o) != 0)
		return 1;
	char uri[96];
	snprintf(uri, sizeof(uri), "ns:udp?endpoint=127.0.0.1:%s|term-length=64k|mtu=1408",
		 argv[1]);
	int got = 0, gone = 0;
	struct ns_subscription_opts so = NS_SUBSCRIPTION_OPTS_INIT;
	so.on_unavailable = on_gone;
	so.ctx = &gone;
	ns_subscription *s = NULL;
	ns_publication *p = NULL;
	if (ns_subscription_add(c, uri, 7, &so, &s) != 0 ||
	    ns_publication_add(c, uri, 7, 0, &p) != 0 ||
	    ns_publication_wait_connected(p, ns_clock_ns() + 10 * SEC) != 0) {
		fprintf(stderr, "udp_send: %s\n", ns_errmsg());
		return 1;
	}
	int32_t session = ns_publication_session_id(p);
	static char buf[3000];
	memset(buf, 'x', sizeof(buf));
	int64_t deadline = ns_clock_ns() + 10 * SEC;
	for (int i = 0; i < 200 && ns_clock_ns() < deadline;) {
		if (ns_offer(p, buf, i % 10 == 0 ? 3000 : 100) > 0)
			i++;
		(void)ns_subscription_poll(s, on_msg, &got, 64);
	}
	while (got < 200 && ns_clock_ns() < deadline)
		(void)ns_subscription_poll(s, on_msg, &got, 64);
	(void)ns_publication_close(p);
	while (!gone && ns_clock_ns() < deadline)
		(void)ns_subscription_poll(s, on_msg, &got, 64);
	(void)ns_subscription_close(s);
	(void)ns_client_close(c);
	printf("session %d stream 7 messages %d ended %d\n", (int)session, got, gone);
	return got == 200 && gone ? 0 : 1;
}

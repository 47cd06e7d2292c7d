/* SPDX-License-Identifier: MIT */
/*
 * Limits and reuse (issue 14.9, 14.12 to 14.14, docs/testing.md I10): a limit is an error at
 * the call that meets it, never a silent 0 followed by nothing; freed resources come back as
 * soon as nothing can still use them (not after a 10 s timeout); a closed log's file goes as
 * soon as nobody may still need to map it; an image found corrupt comes back.
 */
#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include <nanostream/nanostream.h>

#include "client/client.h"
#include "testutil.h"
#include "util/atomic.h"

#define SEC (1000LL * 1000 * 1000)

static char dir[64];

static int
setup(void **state)
{
	(void)state;
	snprintf(dir, sizeof(dir), "/tmp/ns-limitstest-XXXXXX");
	return mkdtemp(dir) != NULL ? 0 : -1;
}

static int
teardown(void **state)
{
	(void)state;
	return tu_rm_rf(dir);
}

/* Log files in the directory now. */
static int
log_files(void)
{
	int n = 0;
	DIR *dp = opendir(dir);
	assert_non_null(dp);
	for (struct dirent *e; (e = readdir(dp)) != NULL;)
		n += strncmp(e->d_name, "pub-", 4) == 0;
	closedir(dp);
	return n;
}

static ns_client *
client(void)
{
	struct ns_client_opts o = NS_CLIENT_OPTS_INIT;
	o.dir = dir;
	o.term_length = 64 * 1024;
	ns_client *c = NULL;
	assert_int_equal(ns_client_create(&c, &o), 0);
	return c;
}

/* A driver of our own with @counters counters, run by a thread (its clients: NO_EMBEDDED). */
struct small_driver {
	struct nsi_driver *d;
	pthread_t t;
	bool stop;
};

static void *
run_driver(void *arg)
{
	struct small_driver *s = arg;
	nsi_driver_run(s->d, &s->stop);
	return NULL;
}

static void
small_driver_start(struct small_driver *s, int32_t counters)
{
	struct nsi_driver_opts o = { .dir = dir,
				     .heartbeat_ns = SEC / 100,
				     .term_length = 64 * 1024,
				     .mtu = 1024,
				     .counters = counters };
	s->stop = false;
	assert_int_equal(nsi_driver_create(&s->d, &o), 0);
	assert_int_equal(pthread_create(&s->t, NULL, run_driver, s), 0);
}

static void
small_driver_stop(struct small_driver *s)
{
	__atomic_store_n(&s->stop, true, __ATOMIC_RELEASE);
	nsi_driver_wake(s->d);
	assert_int_equal(pthread_join(s->t, NULL), 0);
	nsi_driver_destroy(s->d);
}

static ns_client *
client_of(void)
{
	struct ns_client_opts o = NS_CLIENT_OPTS_INIT;
	o.dir = dir;
	o.flags = NS_CLIENT_NO_EMBEDDED;
	ns_client *c = NULL;
	assert_int_equal(ns_client_create(&c, &o), 0);
	return c;
}

static void
count(void *ctx, const void *buf, size_t len, const struct ns_header *h)
{
	(void)buf;
	(void)len;
	(void)h;
	(*(int *)ctx)++;
}

/*
 * Issue 14.9: 10,000 subscriptions each returned 0 but only 64 ever received. Now a stream
 * takes at most 64 subscriptions (a log lists 64 subscribers) and the 65th gets -EMLINK;
 * every one of the 64 receives.
 */
static void
subscriptions_per_stream_are_capped_at_the_call(void **state)
{
	(void)state;
	ns_client *c = client();
	ns_subscription *s[NSI_LOG_MAX_SUBSCRIBERS + 1];
	for (int i = 0; i < NSI_LOG_MAX_SUBSCRIBERS; i++)
		assert_int_equal(ns_subscription_add(c, "ns:ipc", 5, NULL, &s[i]), 0);
	assert_int_equal(ns_subscription_add(c, "ns:ipc", 5, NULL, &s[NSI_LOG_MAX_SUBSCRIBERS]),
			 -EMLINK);
	assert_string_equal(ns_errmsg(),
			    "stream 5 has 64 subscriptions: the most one stream serves");
	/* Another stream is not affected. */
	ns_subscription *other = NULL;
	assert_int_equal(ns_subscription_add(c, "ns:ipc", 6, NULL, &other), 0);
	ns_publication *p = NULL;
	assert_int_equal(ns_publication_add(c, "ns:ipc", 5, 0, &p), 0);
	for (int i = 0; i < NSI_LOG_MAX_SUBSCRIBERS; i++)
		assert_int_equal(ns_subscription_wait_connected(s[i], ns_clock_ns() + 10 * SEC), 0);
	assert_true(ns_offer_wait(p, "hello", 5, NS_WAIT_YIELD, ns_clock_ns() + 10 * SEC) > 0);
	for (int i = 0; i < NSI_LOG_MAX_SUBSCRIBERS; i++) {
		int got = 0;
		assert_int_equal(ns_subscription_poll_wait(s[i], count, &got, 10, NS_WAIT_YIELD,
							   ns_clock_ns() + 10 * SEC),
				 1);
		assert_int_equal(got, 1);
	}
	assert_int_equal(ns_publication_close(p), 0);
	for (int i = 0; i < NSI_LOG_MAX_SUBSCRIBERS; i++)
		assert_int_equal(ns_subscription_close(s[i]), 0);
	assert_int_equal(ns_subscription_close(other), 0);
	assert_int_equal(ns_client_close(c), 0);
}

/*
 * Issue 14.9: with the counters gone, a new subscription returned 0 and never connected. Now
 * a publication (2 counters and one per subscription it serves) or a subscription (one per
 * log it joins) that cannot have them gets -ENOSPC at the call, and nothing is left behind.
 */
static void
counters_run_out_at_the_call(void **state)
{
	(void)state;
	struct small_driver sd;
	small_driver_start(&sd, NSI_SYS_COUNT + 4); /* 4 counters for the streams */
	ns_client *c = client_of();
	ns_publication *p1 = NULL, *p2 = NULL;
	ns_subscription *s1 = NULL, *s2 = NULL;
	assert_int_equal(ns_publication_add(c, "ns:ipc", 1, 0, &p1), 0);     /* 2 left */
	assert_int_equal(ns_subscription_add(c, "ns:ipc", 1, NULL, &s1), 0); /* 1 left */
	assert_int_equal(ns_publication_add(c, "ns:ipc", 2, 0, &p2), -ENOSPC);
	assert_null(p2);
	assert_int_equal(log_files(), 1); /* nothing left behind */
	assert_int_equal(ns_subscription_add(c, "ns:ipc", 2, NULL, &s2), 0);   /* no log: none */
	assert_int_equal(ns_publication_add(c, "ns:ipc", 2, 0, &p2), -ENOSPC); /* needs 3 */
	assert_int_equal(ns_subscription_close(s2), 0);
	assert_int_equal(ns_publication_add(c, "ns:ipc", 2, 0, &p2), -ENOSPC); /* needs 2, 1 */
	assert_int_equal(ns_publication_close(p1), 0);			       /* gives back 3 */
	assert_int_equal(ns_publication_add(c, "ns:ipc", 2, 0, &p2), 0);
	assert_int_equal(ns_publication_close(p2), 0);
	assert_int_equal(ns_subscription_close(s1), 0);
	assert_int_equal(ns_client_close(c), 0);
	small_driver_stop(&sd);
}

/*
 * Issue 14.9: plain churn (~340 add/close pairs within 10 s) exhausted the counters, since a
 * freed one waited 10 s. Now publishers' counters come back at once, and a subscriber's as
 * soon as it says it let it go: 1000 pairs with a live subscriber through 4 counters.
 */
static void
churn_reuses_counters_at_once(void **state)
{
	(void)state;
	struct small_driver sd;
	small_driver_start(&sd, NSI_SYS_COUNT + 4);
	ns_client *c = client_of();
	ns_subscription *s = NULL;
	assert_int_equal(ns_subscription_add(c, "ns:ipc", 1, NULL, &s), 0);
	int64_t start = ns_clock_ns();
	int got = 0;
	for (int i = 0; i < 1000; i++) {
		ns_publication *p = NULL;
		int rc;
		/* The subscriber's ack of the previous round may still be on its way: a moment. */
		for (int tries = 0;
		     (rc = ns_publication_add(c, "ns:ipc", 1, 0, &p)) == -ENOSPC && tries < 1000;
		     tries++)
			(void)ns_subscription_poll(s, count, &got, 10);
		if (rc != 0)
			fail_msg("pair %d: %s", i, ns_strerror(rc));
		assert_int_equal(ns_subscription_wait_connected(s, ns_clock_ns() + 10 * SEC), 0);
		assert_true(ns_offer_wait(p, "m", 1, NS_WAIT_YIELD, ns_clock_ns() + 10 * SEC) > 0);
		assert_int_equal(ns_publication_close(p), 0);
		while (ns_subscription_image_count(s) > 0)
			(void)ns_subscription_poll(s, count, &got, 10);
	}
	int64_t took = ns_clock_ns() - start;
	print_message("# 1000 publications added and closed with a subscriber, 4 counters: %.2f "
		      "s, %d messages\n",
		      (double)took / 1e9, got);
	assert_int_equal(got, 1000);
	assert_int_equal(ns_subscription_close(s), 0);
	assert_int_equal(ns_client_close(c), 0);
	small_driver_stop(&sd);
}

/*
 * Issue 14.13: closed logs lingered 10 s (10,000 closed publications left ~2 GB in /dev/shm,
 * and a full file system stayed full). Now a log nobody was told of goes at once, and one
 * whose subscribers mapped it goes as soon as they did.
 */
static void
closed_logs_go_when_nobody_needs_them(void **state)
{
	(void)state;
	ns_client *c = client();
	for (int i = 0; i < 200; i++) {
		ns_publication *p = NULL;
		assert_int_equal(ns_publication_add(c, "ns:ipc", 1, 0, &p), 0);
		assert_int_equal(ns_publication_close(p), 0);
		assert_int_equal(log_files(), 0);
	}
	ns_subscription *s = NULL;
	assert_int_equal(ns_subscription_add(c, "ns:ipc", 1, NULL, &s), 0);
	ns_publication *p = NULL;
	assert_int_equal(ns_publication_add(c, "ns:ipc", 1, 0, &p), 0);
	assert_int_equal(ns_subscription_wait_connected(s, ns_clock_ns() + 10 * SEC), 0);
	assert_int_equal(log_files(), 1);
	assert_int_equal(ns_publication_close(p), 0); /* the subscriber mapped it: no linger */
	assert_int_equal(log_files(), 0);
	assert_int_equal(ns_subscription_close(s), 0);
	assert_int_equal(ns_client_close(c), 0);
}

/* Issue 14.14: an explicit mtu above term-length / 8 is refused, not silently clamped. */
static void
explicit_mtu_over_the_limit_is_refused(void **state)
{
	(void)state;
	ns_client *c = client(); /* 64 KiB terms: mtu at most 8192 */
	ns_publication *p = NULL;
	assert_int_equal(ns_publication_add(c, "ns:ipc?mtu=16384", 1, 0, &p), -EINVAL);
	assert_int_equal(ns_publication_add(c, "ns:ipc?mtu=8192", 1, 0, &p), 0);
	assert_int_equal(ns_publication_max_payload(p), 8192 - 32);
	assert_int_equal(ns_publication_close(p), 0);
	assert_int_equal(ns_client_close(c), 0);
}

struct seen {
	int n;
	uint32_t seqs[64];
	int available, unavailable;
};

static void
on_seq(void *ctx, const void *buf, size_t len, const struct ns_header *h)
{
	struct seen *s = ctx;
	(void)h;
	if (len == 4 && s->n < 64)
		memcpy(&s->seqs[s->n++], buf, 4);
}

static void
on_available(void *ctx, const ns_image *img)
{
	(void)img;
	((struct seen *)ctx)->available++;
}

static void
on_unavailable(void *ctx, const ns_image *img)
{
	(void)img;
	((struct seen *)ctx)->unavailable++;
}

/*
 * Issue 14.12: a corrupt image was closed only in the subscriber; the driver kept the link,
 * so the publisher was held back for ever and the stream never came back. Now the subscriber
 * tells the driver, which drops the link and joins the subscription again at the tail.
 */
static void
corrupt_image_comes_back(void **state)
{
	(void)state;
	ns_client *c = client();
	struct seen seen = { 0 };
	struct ns_subscription_opts so = NS_SUBSCRIPTION_OPTS_INIT;
	so.on_available = on_available;
	so.on_unavailable = on_unavailable;
	so.ctx = &seen;
	ns_subscription *s = NULL;
	assert_int_equal(ns_subscription_add(c, "ns:ipc", 1, &so, &s), 0);
	ns_publication *p = NULL;
	assert_int_equal(ns_publication_add(c, "ns:ipc", 1, 0, &p), 0);
	assert_int_equal(ns_subscription_wait_connected(s, ns_clock_ns() + 10 * SEC), 0);
	(void)ns_subscription_poll(s, on_seq, &seen, 10);
	/* Ten messages (64-byte frames), then the sixth one's header forged: type 9. */
	int64_t first = ns_publication_position(p);
	for (uint32_t i = 0; i < 10; i++)
		assert_true(ns_offer(p, &i, 4) > 0);
	uint8_t *frame = p->log.terms[0] + first + 5 * 64;
	__atomic_store_n((uint16_t *)(void *)(frame + 6), 9, __ATOMIC_RELEASE);
	while (seen.unavailable == 0)
		(void)ns_subscription_poll(s, on_seq, &seen, 10);
	assert_int_equal(seen.n, 5); /* 0..4, never the forged frame or what follows */
	/* The publisher is not held back by the dead image, and the stream comes back. */
	int64_t deadline = ns_clock_ns() + 10 * SEC;
	while (seen.available < 2) {
		(void)ns_subscription_poll(s, on_seq, &seen, 10);
		assert_true(ns_clock_ns() < deadline);
	}
	for (uint32_t i = 100; i < 110; i++)
		assert_true(ns_offer_wait(p, &i, 4, NS_WAIT_YIELD, ns_clock_ns() + 10 * SEC) > 0);
	while (seen.n < 15) {
		(void)ns_subscription_poll(s, on_seq, &seen, 10);
		assert_true(ns_clock_ns() < deadline);
	}
	for (uint32_t i = 0; i < 5; i++)
		assert_int_equal(seen.seqs[i], i);
	for (uint32_t i = 0; i < 10; i++)
		assert_int_equal(seen.seqs[5 + i], 100 + i);
	print_message("# a corrupt frame at the sixth message: 5 delivered, image gone, joined "
		      "again at the tail, the next 10 delivered\n");
	assert_int_equal(ns_publication_close(p), 0);
	assert_int_equal(ns_subscription_close(s), 0);
	assert_int_equal(ns_client_close(c), 0);
}

static void *
errmsg_of_another_thread(void *arg)
{
	(void)arg;
	return (void *)ns_errmsg();
}

/*
 * Issue 15.4: the driver logged why it refused ("stream 7 already has a publication with
 * term-length ...") but the caller only got -EINVAL. ns_errmsg() now carries the reason, per
 * thread, cleared by the next client call.
 */
static void
the_drivers_reason_reaches_the_caller(void **state)
{
	(void)state;
	ns_client *c = client();
	ns_publication *p = NULL, *q = NULL;
	assert_int_equal(ns_publication_add(c, "ns:ipc?term-length=64k", 7, 0, &p), 0);
	assert_string_equal(ns_errmsg(), "");
	assert_int_equal(ns_publication_add(c, "ns:ipc?term-length=128k", 7, 0, &q), -EINVAL);
	assert_null(q);
	print_message("# ns_errmsg(): %s\n", ns_errmsg());
	assert_string_equal(ns_errmsg(), "stream 7 already has a publication with term-length "
					 "65536, mtu 4096, max-message 8192");
	/* Another thread has its own text: empty. */
	pthread_t t;
	void *other = NULL;
	assert_int_equal(pthread_create(&t, NULL, errmsg_of_another_thread, NULL), 0);
	assert_int_equal(pthread_join(t, &other), 0);
	assert_string_equal((const char *)other, "");
	assert_string_not_equal(ns_errmsg(), "");

	/* A bad URI names its bad part; the next success clears the text. */
	ns_subscription *s = NULL;
	assert_int_equal(ns_subscription_add(c, "ns:ipc?mtu=100", 7, NULL, &s), -EINVAL);
	print_message("# ns_errmsg(): %s\n", ns_errmsg());
	assert_string_equal(ns_errmsg(), "URI: mtu \"100\": 64 to 65504, a multiple of 32");
	assert_int_equal(ns_subscription_add(c, "ns:ipc", 7, NULL, &s), 0);
	assert_string_equal(ns_errmsg(), "");
	assert_int_equal(ns_publication_add(c, "ns:ipc", 7, 0x80, &q), -EINVAL);
	assert_string_equal(ns_errmsg(), "unknown flags 0x80");
	/* A bad UDP URI names its part; a name that does not resolve says so. */
	assert_int_equal(ns_publication_add(c, "ns:udp?endpoint=127.0.0.1:0", 7, 0, &q), -EINVAL);
	assert_string_equal(ns_errmsg(), "URI: endpoint \"127.0.0.1:0\": the port is not a number "
					 "from 1 to 65535");
	assert_int_equal(
		ns_publication_add(c, "ns:udp?endpoint=no-such-host.invalid:40123", 7, 0, &q),
		-EHOSTUNREACH);
	assert_null(q);
	assert_non_null(strstr(ns_errmsg(), "cannot resolve \"no-such-host.invalid\""));
	assert_int_equal(ns_subscription_close(s), 0);
	assert_int_equal(ns_publication_close(p), 0);
	assert_int_equal(ns_client_close(c), 0);

	/* No driver, and the caller said not to start one. */
	char empty[80];
	snprintf(empty, sizeof(empty), "%s/none", dir);
	struct ns_client_opts o = NS_CLIENT_OPTS_INIT;
	o.dir = empty;
	o.flags = NS_CLIENT_NO_EMBEDDED;
	c = NULL;
	assert_int_equal(ns_client_create(&c, &o), -ECONNREFUSED);
	char want[160];
	snprintf(want, sizeof(want), "no driver runs in %s, and NS_CLIENT_NO_EMBEDDED is set",
		 empty);
	assert_string_equal(ns_errmsg(), want);
	/* Bad options say which. */
	o.flags = 0x100;
	assert_int_equal(ns_client_create(&c, &o), -EINVAL);
	assert_string_equal(ns_errmsg(), "options: unknown flags 0x100");

	/* Text from the driver is made printable and bounded, whatever it holds. */
	char raw[600];
	memset(raw, 'x', sizeof(raw));
	raw[0] = '\n';
	raw[1] = (char)0xff;
	raw[2] = '\0';
	assert_int_equal(nsi_errmsg_text(-EINVAL, "", raw, sizeof(raw)), -EINVAL);
	assert_int_equal(strlen(ns_errmsg()), NS_ERRMSG_MAX);
	assert_memory_equal(ns_errmsg(), "???xxx", 6);
}

#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)

int
main(void)
{
	const struct CMUnitTest tests[] = {
		T(subscriptions_per_stream_are_capped_at_the_call),
		T(counters_run_out_at_the_call),
		T(churn_reuses_counters_at_once),
		T(closed_logs_go_when_nobody_needs_them),
		T(explicit_mtu_over_the_limit_is_refused),
		T(corrupt_image_comes_back),
		T(the_drivers_reason_reaches_the_caller),
	};
	return cmocka_run_group_tests_name("limits", tests, NULL, NULL);
}

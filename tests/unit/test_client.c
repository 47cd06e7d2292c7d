/* SPDX-License-Identifier: MIT */
/*
 * Client API over the embedded driver, in one process: publications and subscriptions,
 * fragments, try-claim, gathered offers, controlled polls, back pressure, not connected,
 * images arriving and leaving, exclusive publications, the no-thread mode, bad arguments;
 * monitoring (nanostream/stat.h) of a live driver and of forged files.
 */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
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

#include "client/client.h"
#include "ipc/cnc.h"
#include "testutil.h"

#define SEC (1000LL * 1000 * 1000)

static char dir[64];

static int
setup(void **state)
{
	(void)state;
	snprintf(dir, sizeof(dir), "/tmp/ns-clienttest-XXXXXX");
	if (mkdtemp(dir) == NULL)
		return -1;
	return 0;
}

static int
teardown(void **state)
{
	(void)state;
	return tu_rmdir_driver(dir);
}

static ns_client *
client(uint32_t flags)
{
	struct ns_client_opts o = NS_CLIENT_OPTS_INIT;
	o.dir = dir;
	o.flags = flags;
	o.term_length = 64 * 1024;
	o.mtu = 1024;
	ns_client *c = NULL;
	assert_int_equal(ns_client_create(&c, &o), 0);
	return c;
}

struct got {
	int n;
	size_t bytes;
	uint32_t next[4];
	int bad;
	int available, unavailable;
	int32_t last_session;
	int64_t last_position;
	uint8_t last[8192];
	size_t last_len;
};

/* Messages: u32 publisher, u32 seq, u32 crc of the rest, then bytes. */
static size_t
make_msg(uint8_t *buf, uint32_t pubid, uint32_t seq, size_t len)
{
	if (len < 12)
		len = 12;
	for (size_t i = 12; i < len; i++)
		buf[i] = (uint8_t)tu_mix64(((uint64_t)pubid << 40) ^ ((uint64_t)seq << 12) ^ i);
	uint32_t crc = tu_crc32c(seq, buf + 12, len - 12);
	memcpy(buf, &pubid, 4);
	memcpy(buf + 4, &seq, 4);
	memcpy(buf + 8, &crc, 4);
	return len;
}

static void
check_msg(void *ctx, const void *buf, size_t len, const struct ns_header *h)
{
	struct got *g = ctx;
	const uint8_t *b = buf;
	uint32_t pubid, seq, crc;
	g->last_session = h->session_id;
	g->last_position = h->position;
	g->last_len = len < sizeof(g->last) ? len : sizeof(g->last);
	memcpy(g->last, buf, g->last_len);
	if (len < 12) {
		g->bad++;
		return;
	}
	memcpy(&pubid, b, 4);
	memcpy(&seq, b + 4, 4);
	memcpy(&crc, b + 8, 4);
	if (pubid >= 4 || seq != g->next[pubid] || crc != tu_crc32c(seq, b + 12, len - 12) ||
	    h->flags != 0xC0 || h->image == NULL) {
		g->bad++;
		return;
	}
	g->next[pubid]++;
	g->n++;
	g->bytes += len;
}

static void
on_available(void *ctx, const ns_image *img)
{
	struct got *g = ctx;
	g->available++;
	g->last_session = ns_image_session_id(img);
}

static void
on_unavailable(void *ctx, const ns_image *img)
{
	struct got *g = ctx;
	g->unavailable++;
	assert_int_equal(ns_image_is_end_of_stream(img), 1);
}

static ns_subscription *
subscribe(ns_client *c, const char *uri, struct got *g)
{
	struct ns_subscription_opts so = NS_SUBSCRIPTION_OPTS_INIT;
	so.on_available = on_available;
	so.on_unavailable = on_unavailable;
	so.ctx = g;
	ns_subscription *s = NULL;
	assert_int_equal(ns_subscription_add(c, uri, 10, &so, &s), 0);
	return s;
}

static int64_t
offer_retry(ns_publication *p, const void *buf, size_t len)
{
	int64_t r = ns_offer_wait(p, buf, len, NS_WAIT_YIELD, ns_clock_ns() + 10 * SEC);
	if (r <= 0)
		print_message("# offer: %lld (%s)\n", (long long)r, ns_strerror((int)r));
	assert_true(r > 0);
	return r;
}

static void
drain(ns_subscription *s, struct got *g, int want)
{
	int64_t deadline = ns_clock_ns() + 10 * SEC;
	while (g->n + g->bad < want) {
		int rc = ns_subscription_poll_wait(s, check_msg, g, 100, NS_WAIT_YIELD, deadline);
		assert_true(rc > 0);
	}
}

static void
publish_and_receive(void **state)
{
	(void)state;
	ns_client *c = client(0);
	assert_int_equal(ns_client_is_embedded(c), 1);
	struct got g = { 0 };
	ns_publication *p = NULL;
	assert_int_equal(ns_publication_add(c, "ns:ipc", 10, 0, &p), 0);
	uint8_t buf[8192];
	/* No subscriber yet: not connected, nothing sent. */
	assert_int_equal(ns_publication_is_connected(p), 0);
	assert_int_equal(ns_offer(p, buf, 16), NS_NOT_CONNECTED);
	assert_int_equal(ns_publication_position(p), 0);
	ns_subscription *s = subscribe(c, "ns:ipc", &g);
	assert_int_equal(ns_publication_wait_connected(p, ns_clock_ns() + 10 * SEC), 0);
	assert_int_equal(ns_subscription_wait_connected(s, ns_clock_ns() + 10 * SEC), 0);
	assert_int_equal(g.available, 1);
	assert_int_equal(g.last_session, ns_publication_session_id(p));
	assert_int_equal(ns_subscription_image_count(s), 1);
	assert_int_equal(ns_publication_max_message(p), 8192);
	assert_int_equal(ns_publication_max_payload(p), 1024 - 32);

	/* Sizes from 12 bytes to the largest message: fragmented ones too, many rotations. */
	uint32_t seq = 0;
	for (int i = 0; i < 3000; i++) {
		size_t len = make_msg(buf, 0, seq++, (size_t)(tu_mix64((uint64_t)i) % 8193));
		int64_t r;
		while ((r = ns_offer(p, buf, len)) < 0) {
			assert_true(r == NS_BACK_PRESSURED || r == NS_ADMIN_ACTION);
			(void)ns_subscription_poll(s, check_msg, &g, 10);
		}
	}
	drain(s, &g, 3000);
	assert_int_equal(g.bad, 0);
	assert_int_equal(g.n, 3000);
	assert_int_equal(ns_image_position(NULL), -EINVAL);

	/* Gathered offers and try-claim. */
	size_t len = make_msg(buf, 0, seq++, 300);
	struct iovec iov[3] = { { buf, 5 }, { buf + 5, 0 }, { buf + 5, len - 5 } };
	int64_t pos = ns_offerv(p, iov, 3);
	assert_true(pos > 0);
	struct ns_claim cl;
	len = make_msg(buf, 0, seq++, 100);
	assert_true(ns_try_claim(p, len, &cl) > pos);
	memcpy(cl.data, buf, len);
	assert_int_equal(ns_claim_commit(&cl), 0);
	assert_int_equal(ns_claim_commit(&cl), -EINVAL); /* twice */
	assert_true(ns_try_claim(p, 50, &cl) > 0);
	assert_int_equal(ns_claim_abort(&cl), 0);
	assert_int_equal(ns_try_claim(p, 1024, &cl), -EMSGSIZE);
	assert_int_equal(ns_offer(p, buf, 8193), -EMSGSIZE);
	drain(s, &g, 3002);
	assert_int_equal(g.bad, 0);
	assert_int_equal(ns_subscription_poll(s, check_msg, &g, 10),
			 0); /* the aborted claim is skipped */

	/* The stream ends for the subscriber after its last message. */
	len = make_msg(buf, 0, seq++, 64);
	offer_retry(p, buf, len);
	assert_int_equal(ns_publication_close(p), 0);
	int64_t deadline = ns_clock_ns() + 10 * SEC;
	while (g.unavailable == 0) {
		(void)ns_subscription_poll(s, check_msg, &g, 10);
		assert_true(ns_clock_ns() < deadline);
		(void)ns_client_do_work(c);
	}
	assert_int_equal(g.n, 3003);
	assert_int_equal(g.bad, 0);
	assert_int_equal(ns_subscription_image_count(s), 0);
	assert_int_equal(ns_client_close(c), -EBUSY); /* the subscription is open */
	assert_int_equal(ns_subscription_close(s), 0);
	assert_int_equal(ns_client_close(c), 0);
}

struct ctl {
	int calls;
	int abort_at;
	int break_at;
	struct got *g;
};

static enum ns_controlled_action
ctl_fn(void *ctx, const void *b, size_t len, const struct ns_header *h)
{
	struct ctl *x = ctx;
	x->calls++;
	if (x->calls == x->abort_at)
		return NS_CONTROLLED_ABORT;
	check_msg(x->g, b, len, h);
	if (x->calls == x->break_at)
		return NS_CONTROLLED_BREAK;
	return x->calls % 2 ? NS_CONTROLLED_COMMIT : NS_CONTROLLED_CONTINUE;
}

static void
back_pressure_and_controlled_poll(void **state)
{
	(void)state;
	ns_client *c = client(NS_CLIENT_NO_THREAD);
	struct got g = { 0 };
	ns_subscription *s = subscribe(c, "ns:ipc", &g);
	ns_publication *p = NULL;
	assert_int_equal(
		ns_publication_add(c, "ns:ipc?term-length=64k", 10, NS_PUBLICATION_EXCLUSIVE, &p),
		0);
	assert_int_equal(ns_subscription_wait_connected(s, ns_clock_ns() + 10 * SEC), 0);
	uint8_t buf[256];
	/* Without a poll the publisher stops half a term (the window) ahead. */
	uint32_t seq = 0;
	int64_t r;
	while ((r = ns_offer(p, buf, make_msg(buf, 0, seq, 100))) > 0)
		seq++;
	assert_int_equal(r, NS_BACK_PRESSURED);
	assert_true(ns_publication_position(p) >= 32 * 1024);
	assert_true(ns_publication_position(p) < 32 * 1024 + 256);

	/* Controlled: abort leaves the message for next time; break stops after it. */
	struct ctl ctl = { 0, 3, 5, &g };
	assert_int_equal(ns_subscription_controlled_poll(s, ctl_fn, &ctl, 100), 2);
	assert_int_equal(g.n, 2);
	assert_int_equal(ns_subscription_controlled_poll(s, ctl_fn, &ctl, 100),
			 2); /* 3 again, 4; 5 breaks */
	assert_int_equal(g.n, 4);
	ctl.abort_at = ctl.break_at = -1;
	while ((uint32_t)g.n < seq) {
		int n = ns_subscription_controlled_poll(s, ctl_fn, &ctl, 7);
		assert_true(n > 0);
	}
	assert_int_equal(g.bad, 0);
	/* The window moves on: offers succeed again. */
	assert_true(ns_offer(p, buf, make_msg(buf, 0, seq++, 100)) > 0);
	assert_int_equal(ns_publication_close(p), 0);
	assert_int_equal(ns_subscription_close(s), 0);
	assert_int_equal(ns_client_close(c), 0);
}

/*
 * The 0.2 names (deprecated in 0.3, removed in 0.4) still work: ns_poll, ns_poll_wait and
 * ns_controlled_poll with an int handler answering NS_POLL_* actions behave as the new calls.
 */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
static int
legacy_ctl_fn(void *ctx, const void *b, size_t len, const struct ns_header *h)
{
	struct ctl *x = ctx;
	x->calls++;
	if (x->calls == x->abort_at)
		return NS_POLL_ABORT;
	check_msg(x->g, b, len, h);
	if (x->calls == x->break_at)
		return NS_POLL_BREAK;
	return x->calls % 2 ? NS_POLL_COMMIT : NS_POLL_CONTINUE;
}

static void
deprecated_names_still_work(void **state)
{
	(void)state;
	assert_int_equal(NS_POLL_IDLE, NS_POLLER_IDLE);
	assert_int_equal(NS_POLL_PROCESSING, NS_POLLER_PROCESSING);
	assert_int_equal(NS_POLL_GATING, NS_POLLER_GATING);
	ns_client *c = client(NS_CLIENT_NO_THREAD);
	struct got g = { 0 };
	ns_subscription *s = subscribe(c, "ns:ipc", &g);
	ns_publication *p = NULL;
	assert_int_equal(ns_publication_add(c, "ns:ipc", 10, NS_PUBLICATION_EXCLUSIVE, &p), 0);
	assert_int_equal(ns_subscription_wait_connected(s, ns_clock_ns() + 10 * SEC), 0);
	uint8_t buf[256];
	for (uint32_t seq = 0; seq < 10; seq++)
		assert_true(ns_offer(p, buf, make_msg(buf, 0, seq, 100)) > 0);
	struct ctl ctl = { 0, 3, 5, &g };
	assert_int_equal(ns_controlled_poll(s, legacy_ctl_fn, &ctl, 100), 2);
	assert_int_equal(g.n, 2);
	assert_int_equal(ns_controlled_poll(s, legacy_ctl_fn, &ctl, 100),
			 2); /* 3 again, 4; 5 breaks */
	assert_int_equal(g.n, 4);
	assert_int_equal(ns_controlled_poll(NULL, legacy_ctl_fn, &ctl, 1), -EINVAL);
	assert_int_equal(ns_controlled_poll(s, NULL, &ctl, 1), -EINVAL);
	assert_int_equal(ns_poll(s, check_msg, &g, 3), 3);
	assert_int_equal(
		ns_poll_wait(s, check_msg, &g, 100, NS_WAIT_YIELD, ns_clock_ns() + 10 * SEC), 3);
	assert_int_equal(g.n, 10);
	assert_int_equal(g.bad, 0);
	assert_int_equal(ns_poll(NULL, check_msg, NULL, 1), -EINVAL);
	assert_int_equal(ns_poll_wait(s, check_msg, &g, 1, NS_WAIT_YIELD, 0), -ETIMEDOUT);
	assert_int_equal(ns_publication_close(p), 0);
	assert_int_equal(ns_subscription_close(s), 0);
	assert_int_equal(ns_client_close(c), 0);
}
#pragma GCC diagnostic pop

/* Three threads share one publication; two subscriptions each see every message. */
struct pubarg {
	ns_publication *p;
	uint32_t id;
	uint32_t n;
};

static void *
pub_thread(void *arg)
{
	struct pubarg *a = arg;
	uint8_t buf[3000];
	for (uint32_t seq = 0; seq < a->n; seq++) {
		size_t len = make_msg(buf, a->id, seq, (size_t)(tu_mix64(seq * 3 + a->id) % 3000));
		int64_t r;
		do
			r = ns_offer_wait(a->p, buf, len, NS_WAIT_YIELD, ns_clock_ns() + 30 * SEC);
		while (r == NS_ADMIN_ACTION);
		if (r <= 0)
			return (void *)(intptr_t)r;
	}
	return NULL;
}

static void
threads_share_a_publication(void **state)
{
	(void)state;
	ns_client *c = client(0);
	struct got g1 = { 0 }, g2 = { 0 };
	ns_subscription *s1 = subscribe(c, "ns:ipc", &g1);
	ns_subscription *s2 = subscribe(c, "ns:ipc", &g2);
	ns_publication *p[3];
	for (int i = 0; i < 3; i++)
		assert_int_equal(ns_publication_add(c, "ns:ipc", 10, 0, &p[i]), 0);
	/* Shared: one log, one session. */
	assert_int_equal(ns_publication_session_id(p[0]), ns_publication_session_id(p[2]));
	assert_int_equal(ns_subscription_wait_connected(s1, ns_clock_ns() + 10 * SEC), 0);
	assert_int_equal(ns_subscription_wait_connected(s2, ns_clock_ns() + 10 * SEC), 0);
	uint32_t n = (uint32_t)tu_scaled(20000);
	pthread_t t[3];
	struct pubarg a[3];
	for (uint32_t i = 0; i < 3; i++) {
		a[i] = (struct pubarg){ p[i], i, n };
		assert_int_equal(pthread_create(&t[i], NULL, pub_thread, &a[i]), 0);
	}
	/* A hang guard, not a timing assertion: nothing at all arrives for 60 s. */
	int64_t last = ns_clock_ns();
	while ((uint32_t)(g1.n + g1.bad) < 3 * n || (uint32_t)(g2.n + g2.bad) < 3 * n) {
		int a1 = ns_subscription_poll(s1, check_msg, &g1, 50),
		    a2 = ns_subscription_poll(s2, check_msg, &g2, 50);
		if (a1 == 0 && a2 == 0) {
			assert_true(ns_clock_ns() - last < 60 * SEC);
			sched_yield(); /* 4 threads on 2 cores */
		} else {
			last = ns_clock_ns();
		}
	}
	for (int i = 0; i < 3; i++) {
		void *rv;
		assert_int_equal(pthread_join(t[i], &rv), 0);
		assert_null(rv);
	}
	assert_int_equal(g1.bad, 0);
	assert_int_equal(g2.bad, 0);
	for (int i = 0; i < 3; i++) {
		assert_int_equal(g1.next[i], n);
		assert_int_equal(g2.next[i], n);
	}
	print_message("# 3 threads x %u messages, 2 subscriptions, 0 lost, reordered or torn\n", n);
	for (int i = 0; i < 3; i++)
		assert_int_equal(ns_publication_close(p[i]), 0);
	assert_int_equal(ns_subscription_close(s1), 0);
	assert_int_equal(ns_subscription_close(s2), 0);
	assert_int_equal(ns_client_close(c), 0);
}

static void
bad_arguments_change_nothing(void **state)
{
	(void)state;
	struct ns_client_opts o = NS_CLIENT_OPTS_INIT;
	ns_client *c = NULL;
	assert_int_equal(ns_client_create(NULL, &o), -EINVAL);
	assert_int_equal(ns_client_create(&c, NULL), -EINVAL);
	o.size = 4;
	assert_int_equal(ns_client_create(&c, &o), -EINVAL);
	o = (struct ns_client_opts)NS_CLIENT_OPTS_INIT;
	o.flags = 0x80;
	assert_int_equal(ns_client_create(&c, &o), -EINVAL);
	o.flags = 0;
	o.reserved[1] = 1;
	assert_int_equal(ns_client_create(&c, &o), -EINVAL);
	o.reserved[1] = 0;
	o.mem_policy = 3;
	assert_int_equal(ns_client_create(&c, &o), -EINVAL);
	o.mem_policy = 0;
	o.term_length = 1000;
	assert_int_equal(ns_client_create(&c, &o), -EINVAL);
	o.term_length = 0;
	o.dir = dir;
	o.flags = NS_CLIENT_NO_EMBEDDED;
	assert_int_equal(ns_client_create(&c, &o), -ECONNREFUSED);
	o.dir = "/proc/no/such/dir";
	o.flags = 0;
	assert_true(ns_client_create(&c, &o) < 0);
	assert_null(c);

	c = client(0);
	ns_publication *p = NULL;
	ns_subscription *s = NULL;
	char msg[128];
	assert_int_equal(ns_publication_add(NULL, "ns:ipc", 1, 0, &p), -EINVAL);
	assert_int_equal(ns_publication_add(c, NULL, 1, 0, &p), -EINVAL);
	assert_int_equal(ns_publication_add(c, "ns:ipc", 1, 0, NULL), -EINVAL);
	assert_int_equal(ns_publication_add(c, "ns:ipc", 1, 0x10, &p), -EINVAL);
	assert_int_equal(ns_publication_add(c, "ns:udp", 1, 0, &p), -EINVAL);
	assert_int_equal(ns_uri_check("ns:ipc?mtu=7", msg, sizeof(msg)), -EINVAL);
	assert_non_null(strstr(msg, "mtu \"7\""));
	assert_int_equal(ns_uri_check("ns:ipc", msg, sizeof(msg)), 0);
	assert_int_equal(ns_uri_check(NULL, NULL, 0), -EINVAL);
	assert_null(p);
	/* A second shared publication with other parameters is refused. */
	assert_int_equal(ns_publication_add(c, "ns:ipc?term-length=128k", 1, 0, &p), 0);
	ns_publication *q = NULL;
	assert_int_equal(ns_publication_add(c, "ns:ipc?term-length=256k", 1, 0, &q), -EINVAL);
	assert_null(q);
	/* max-message: at most term-length / 8; offers above it are refused. */
	assert_int_equal(ns_publication_add(c, "ns:ipc?max-message=9000", 2, 0, &q), -EINVAL);
	assert_int_equal(ns_publication_add(c, "ns:ipc?max-message=1000", 2, 0, &q), 0);
	assert_int_equal(ns_publication_max_message(q), 1000);
	uint8_t big[1001] = { 0 };
	assert_int_equal(ns_offer(q, big, 1001), -EMSGSIZE);
	assert_int_equal(ns_publication_close(q), 0);
	assert_int_equal(ns_subscription_add(NULL, "ns:ipc", 1, NULL, &s), -EINVAL);
	assert_int_equal(ns_subscription_add(c, "ns:ipx", 1, NULL, &s), -EINVAL);
	assert_int_equal(ns_subscription_add(c, "ns:ipc", 1, NULL, NULL), -EINVAL);
	struct ns_subscription_opts so = NS_SUBSCRIPTION_OPTS_INIT;
	so.flags = 1;
	assert_int_equal(ns_subscription_add(c, "ns:ipc", 1, &so, &s), -EINVAL);
	so.flags = 0;
	so.size = 3;
	assert_int_equal(ns_subscription_add(c, "ns:ipc", 1, &so, &s), -EINVAL);
	assert_int_equal(ns_subscription_add(c, "ns:ipc", 1, NULL, &s), 0);

	uint8_t buf[16];
	struct ns_claim cl = { 0 };
	struct iovec iov[1] = { { NULL, 5 } };
	assert_int_equal(ns_offer(NULL, buf, 1), -EINVAL);
	assert_int_equal(ns_offer(p, NULL, 1), -EINVAL);
	/* Destinations: NULLs, bad URIs, and a publication that is not control-mode=manual. */
	assert_int_equal(ns_publication_add_destination(NULL, "ns:udp?endpoint=h:1"), -EINVAL);
	assert_int_equal(ns_publication_add_destination(p, NULL), -EINVAL);
	assert_int_equal(ns_publication_add_destination(p, "ns:udp?endpoint=h"), -EINVAL);
	assert_int_equal(ns_publication_add_destination(p, "ns:ipc"), -EINVAL);
	assert_int_equal(ns_publication_add_destination(p, "ns:udp?endpoint=127.0.0.1:9"), -EINVAL);
	assert_non_null(strstr(ns_errmsg(), "control-mode=manual only"));
	assert_int_equal(ns_publication_remove_destination(NULL, "ns:udp?endpoint=h:1"), -EINVAL);
	assert_int_equal(ns_publication_remove_destination(p, NULL), -EINVAL);
	assert_int_equal(ns_publication_remove_destination(p, "ns:udp?endpoint=127.0.0.1:9"),
			 -EINVAL);
	assert_int_equal(ns_offerv(NULL, iov, 1), -EINVAL);
	assert_int_equal(ns_offerv(p, iov, 1), -EINVAL);
	assert_int_equal(ns_offerv(p, iov, -1), -EINVAL);
	assert_int_equal(ns_try_claim(NULL, 8, &cl), -EINVAL);
	assert_int_equal(ns_try_claim(p, 8, NULL), -EINVAL);
	assert_int_equal(ns_claim_commit(NULL), -EINVAL);
	assert_int_equal(ns_claim_commit(&cl), -EINVAL);
	assert_int_equal(ns_claim_abort(NULL), -EINVAL);
	assert_int_equal(ns_claim_abort(&cl), -EINVAL);
	assert_int_equal(ns_offer_wait(NULL, buf, 1, NS_WAIT_YIELD, 0), -EINVAL);
	assert_int_equal(ns_offer_wait(p, buf, 1, NS_WAIT_BLOCKING, 0), -EINVAL);
	assert_int_equal(ns_offer_wait(p, buf, 1, 99, 0), -EINVAL);
	assert_int_equal(ns_publication_wait_connected(NULL, 0), -EINVAL);
	assert_int_equal(ns_publication_is_connected(NULL), -EINVAL);
	assert_int_equal(ns_publication_position(NULL), -EINVAL);
	assert_int_equal(ns_publication_session_id(NULL), -EINVAL);
	assert_int_equal(ns_publication_max_message(NULL), -EINVAL);
	assert_int_equal(ns_publication_max_payload(NULL), -EINVAL);
	assert_int_equal(ns_subscription_poll(NULL, check_msg, NULL, 1), -EINVAL);
	assert_int_equal(ns_subscription_poll(s, NULL, NULL, 1), -EINVAL);
	assert_int_equal(ns_subscription_poll(s, check_msg, NULL, 0), -EINVAL);
	assert_int_equal(ns_subscription_controlled_poll(NULL, NULL, NULL, 1), -EINVAL);
	assert_int_equal(ns_subscription_controlled_poll(s, NULL, NULL, 1), -EINVAL);
	assert_int_equal(ns_subscription_poll_wait(NULL, check_msg, NULL, 1, NS_WAIT_YIELD, 0),
			 -EINVAL);
	assert_int_equal(ns_subscription_poll_wait(s, check_msg, NULL, 1, NS_WAIT_BLOCKING, 0),
			 -EINVAL);
	assert_int_equal(ns_subscription_poll_wait(s, check_msg, NULL, 1, NS_WAIT_YIELD, 0),
			 -ETIMEDOUT);
	assert_int_equal(ns_subscription_wait_connected(NULL, 0), -EINVAL);
	assert_int_equal(ns_subscription_image_count(NULL), -EINVAL);
	assert_int_equal(ns_image_session_id(NULL), 0);
	assert_int_equal(ns_image_position(NULL), -EINVAL);
	assert_int_equal(ns_image_is_end_of_stream(NULL), -EINVAL);
	assert_int_equal(ns_client_do_work(NULL), -EINVAL);
	assert_int_equal(ns_client_is_embedded(NULL), -EINVAL);
	assert_int_equal(ns_publication_close(NULL), -EINVAL);
	assert_int_equal(ns_subscription_close(NULL), -EINVAL);
	assert_int_equal(ns_client_close(NULL), -EINVAL);
	assert_int_equal(ns_client_close(c), -EBUSY);
	assert_int_equal(ns_publication_close(p), 0);
	assert_int_equal(ns_subscription_close(s), 0);
	assert_int_equal(ns_client_close(c), 0);
}

/* Monitoring: what ns_stat_* read from a live embedded driver, and from another process's view. */
struct seen_counters {
	int n, sub_pos, pub_pos, system;
	int64_t pub_value;
	char last_label[256];
};

static void
on_stat_counter(void *ctx, const struct ns_counter *c)
{
	struct seen_counters *s = ctx;
	assert_true(c->size >= sizeof(*c));
	s->n++;
	if (strcmp(c->type_name, "sub-pos") == 0)
		s->sub_pos++;
	if (strcmp(c->type_name, "pub-pos") == 0) {
		s->pub_pos++;
		s->pub_value = c->value;
	}
	if (strcmp(c->type_name, "system") == 0)
		s->system++;
	snprintf(s->last_label, sizeof(s->last_label), "%s", c->label);
}

static void
count_error(void *ctx, const struct ns_error_record *e)
{
	int *n = ctx;
	assert_non_null(e->text);
	assert_true(e->count >= 1);
	(*n)++;
}

static void
stat_of_a_live_driver(void **state)
{
	(void)state;
	ns_client *c = client(0);
	ns_publication *p = NULL;
	assert_int_equal(ns_publication_add(c, "ns:ipc", 10, 0, &p), 0);
	struct got g = { 0 };
	ns_subscription *s = subscribe(c, "ns:ipc", &g);
	uint8_t msg[100] = { 0 };
	assert_int_equal(ns_publication_wait_connected(p, ns_clock_ns() + 5 * SEC), 0);
	for (int i = 0; i < 10; i++)
		assert_true(ns_offer(p, msg, sizeof(msg)) > 0);

	ns_stat *st = NULL;
	assert_int_equal(ns_stat_open(&st, dir), 0);
	struct ns_driver_info d = NS_DRIVER_INFO_INIT;
	assert_int_equal(ns_stat_driver(st, &d), 0);
	assert_int_equal(d.state, NS_DRIVER_RUNNING);
	assert_int_equal(d.pid, getpid());
	assert_true(d.heartbeat_age_ns >= 0 && d.heartbeat_age_ns <= d.timeout_ns);
	assert_int_equal(d.cnc_version >> 16, 1);
	/* The driver copies log tails every heartbeat: wait (bounded) for the publisher's tail. */
	int64_t tail = ns_publication_position(p);
	assert_true(tail >= 10 * (int64_t)sizeof(msg));
	struct seen_counters seen;
	int64_t deadline = ns_clock_ns() + 5 * SEC;
	do {
		memset(&seen, 0, sizeof(seen));
		assert_true(ns_stat_counters(st, on_stat_counter, &seen) > 0);
	} while (seen.pub_value < tail && ns_clock_ns() < deadline && sched_yield() == 0);
	assert_int_equal(seen.pub_value, tail);
	assert_int_equal(seen.pub_pos, 1);
	assert_int_equal(seen.sub_pos, 1);
	assert_true(seen.system >= 10);
	int errors = 0;
	assert_true(ns_stat_errors(st, count_error, &errors) >= 0);
	assert_int_equal(ns_publication_close(p), 0);
	assert_int_equal(ns_subscription_close(s), 0);
	assert_int_equal(ns_client_close(c), 0);
	/* The driver stopped: the open view says so; a new one finds no driver. */
	assert_int_equal(ns_stat_driver(st, &d), 0);
	assert_int_equal(d.state, NS_DRIVER_GONE);
	ns_stat_close(st);
	assert_int_equal(ns_stat_open(&st, dir), -ENOENT);
	assert_null(st);
}

/* A forged file: counters and errors as written, an impossible error record refused. */
static void
stat_of_a_forged_file(void **state)
{
	(void)state;
	char path[128];
	snprintf(path, sizeof(path), "%s/cnc.dat", dir);
	struct nsi_cnc cnc;
	struct nsi_cnc_params prm = {
		.to_driver_bytes = 4096,
		.to_clients_bytes = 4096,
		.counters = 16,
		.error_log_bytes = 4096,
		.client_liveness_ns = SEC,
		.driver_timeout_ns = SEC,
	};
	assert_int_equal(nsi_cnc_create(&cnc, path, &prm, ns_clock_ns()), 0);
	assert_int_equal(nsi_counters_own(&cnc.counters), 0);
	int32_t id = nsi_counter_alloc(&cnc.counters, NSI_COUNTER_PUBLISHER_POSITION, 5, 6,
				       "publication 6: forged", 1, 0);
	assert_true(id >= 0);
	*nsi_counter_addr(&cnc.counters, id) = 4242;
	assert_int_equal(nsi_errlog_record(&cnc.errors, 10, "first trouble"), 0);
	assert_int_equal(nsi_errlog_record(&cnc.errors, 20, "second trouble"), 0);
	assert_int_equal(nsi_errlog_record(&cnc.errors, 30, "first trouble"), 0);

	ns_stat *st = NULL;
	assert_int_equal(ns_stat_open(&st, dir), 0);
	struct seen_counters seen = { 0 };
	assert_int_equal(ns_stat_counters(st, on_stat_counter, &seen), 1);
	assert_int_equal(seen.pub_value, 4242);
	assert_string_equal(seen.last_label, "publication 6: forged");
	int errors = 0;
	assert_int_equal(ns_stat_errors(st, count_error, &errors), 2);
	assert_int_equal(errors, 2);
	struct ns_driver_info d = NS_DRIVER_INFO_INIT;
	assert_int_equal(ns_stat_driver(st, &d), 0);
	assert_int_equal(d.state, NS_DRIVER_GONE); /* nobody holds the directory's lock */
	/* A record whose length runs past the log: refused, after the records before it. */
	int32_t bad = 1 << 30;
	memcpy(cnc.errors.buf, &bad, sizeof(bad));
	errors = 0;
	assert_int_equal(ns_stat_errors(st, count_error, &errors), -EBADMSG);
	assert_int_equal(errors, 0);
	/* A label length out of range reads as empty, never past the label's bytes. */
	ns_stat_close(st);
	nsi_counters_disown(&cnc.counters);
	nsi_cnc_close(&cnc);
	assert_int_equal(unlink(path), 0);
}

static void
stat_bad_arguments(void **state)
{
	(void)state;
	ns_stat *st = NULL;
	struct ns_driver_info d = NS_DRIVER_INFO_INIT;
	int n = 0;
	assert_int_equal(ns_stat_open(NULL, dir), -EINVAL);
	assert_int_equal(ns_stat_open(&st, "/nonexistent/nanostream"), -ENOENT);
	assert_null(st);
	assert_int_equal(ns_stat_driver(NULL, &d), -EINVAL);
	assert_int_equal(ns_stat_counters(NULL, on_stat_counter, &n), -EINVAL);
	assert_int_equal(ns_stat_errors(NULL, count_error, &n), -EINVAL);
	ns_stat_close(NULL); /* ignored */
	ns_client *c = client(0);
	assert_int_equal(ns_stat_open(&st, dir), 0);
	assert_int_equal(ns_stat_driver(st, NULL), -EINVAL);
	d.size = 4;
	assert_int_equal(ns_stat_driver(st, &d), -EINVAL);
	assert_int_equal(ns_stat_counters(st, NULL, NULL), -EINVAL);
	assert_int_equal(ns_stat_errors(st, NULL, NULL), -EINVAL);
	ns_stat_close(st);
	assert_int_equal(ns_client_close(c), 0);
}

/* Another version's driver file is left alone; a foreign or broken one is replaced. */
static void
foreign_and_other_version_files(void **state)
{
	(void)state;
	char path[128];
	snprintf(path, sizeof(path), "%s/cnc.dat", dir);
	ns_client *c = client(0); /* makes a genuine cnc.dat */
	ns_client *peer = client(NS_CLIENT_NO_EMBEDDED);
	assert_int_equal(ns_client_close(peer), 0);
	/* Turn it into a version 2 driver's file by hand, and keep a copy of it. */
	FILE *f = fopen(path, "r+");
	assert_non_null(f);
	uint32_t v2 = 2u << 16;
	assert_int_equal(fseek(f, 8, SEEK_SET), 0);
	assert_int_equal(fwrite(&v2, 4, 1, f), 1);
	fclose(f);
	struct ns_client_opts o = NS_CLIENT_OPTS_INIT;
	o.dir = dir;
	ns_client *d = NULL;
	assert_int_equal(ns_client_create(&d, &o), -EPROTONOSUPPORT);
	assert_null(d);
	assert_int_equal(access(path, F_OK), 0); /* untouched */
	assert_int_equal(ns_client_close(c), 0); /* removes it */
	/* A file that is not a driver's at all: the embedded driver replaces it. */
	f = fopen(path, "w");
	assert_non_null(f);
	for (int i = 0; i < 100000; i++)
		fputc('x', f);
	fclose(f);
	assert_int_equal(chmod(path, 0600), 0);
	o.flags = NS_CLIENT_NO_EMBEDDED;
	assert_int_equal(ns_client_create(&d, &o), -ECONNREFUSED);
	o.flags = 0;
	assert_int_equal(ns_client_create(&d, &o), 0);
	assert_int_equal(ns_client_is_embedded(d), 1);
	assert_int_equal(ns_client_close(d), 0);
}

/*
 * The publishers' limit lock held by a process that died (killed while refreshing the limit):
 * the next publisher takes it over instead of being back-pressured for ever.
 */
static void
dead_limit_lock_holder_is_taken_over(void **state)
{
	(void)state;
	ns_client *c = client(0);
	struct got g = { 0 };
	ns_subscription *s = subscribe(c, "ns:ipc", &g);
	ns_publication *p = NULL;
	assert_int_equal(ns_publication_add(c, "ns:ipc", 10, 0, &p), 0);
	assert_int_equal(ns_publication_wait_connected(p, ns_clock_ns() + 10 * SEC), 0);
	uint8_t buf[64];
	uint32_t seq = 0;
	int64_t r;
	while ((r = ns_offer(p, buf, make_msg(buf, 0, seq, 40))) > 0 || r == NS_ADMIN_ACTION)
		seq += r > 0;
	assert_int_equal(r, NS_BACK_PRESSURED);
	pid_t child = fork();
	if (child == 0)
		_exit(0);
	int st;
	assert_int_equal(waitpid(child, &st, 0), child);
	__atomic_store_n(&p->log.meta->limit_lock, (int32_t)child, __ATOMIC_RELEASE);
	drain(s, &g, (int)seq);
	/* The subscriber moved on; the dead holder's lock does not stop the next refresh. */
	while ((r = ns_offer(p, buf, make_msg(buf, 0, seq, 40))) == NS_ADMIN_ACTION)
		;
	assert_true(r > 0);
	assert_int_equal(__atomic_load_n(&p->log.meta->limit_lock, __ATOMIC_ACQUIRE), 0);
	assert_int_equal(g.bad, 0);
	assert_int_equal(ns_publication_close(p), 0);
	assert_int_equal(ns_subscription_close(s), 0);
	assert_int_equal(ns_client_close(c), 0);
}

static int64_t fake_now;

static int64_t
fake_clock(void *ctx)
{
	return *(const int64_t *)ctx;
}

/*
 * A driver whose heartbeat stops (here: a driver made by hand on an injected clock, never run
 * again) is declared gone by its clients once the clock passes the driver timeout: no sleeps.
 */
static void
stale_heartbeat_on_an_injected_clock(void **state)
{
	(void)state;
	fake_now = 1000 * SEC;
	struct nsi_driver_opts d = { .dir = dir,
				     .clock = fake_clock,
				     .clock_ctx = &fake_now,
				     .heartbeat_ns = SEC / 10,
				     .driver_timeout_ns = SEC };
	struct nsi_driver *drv = NULL;
	assert_int_equal(nsi_driver_create(&drv, &d), 0);
	assert_int_equal(nsi_driver_do_work(drv), 0); /* a heartbeat at the fake time */
	struct ns_client_opts o = NS_CLIENT_OPTS_INIT;
	o.dir = dir;
	o.flags = NS_CLIENT_NO_EMBEDDED | NS_CLIENT_NO_THREAD;
	o.driver_timeout_ns = SEC;
	o.clock = fake_clock;
	o.clock_ctx = &fake_now;
	ns_client *c = NULL;
	assert_int_equal(ns_client_create(&c, &o), 0);
	assert_true(ns_client_do_work(c) >= 0);
	fake_now += SEC / 2;
	assert_true(ns_client_do_work(c) >= 0); /* half the timeout: still alive */
	fake_now += SEC;
	assert_int_equal(ns_client_do_work(c), NS_EDRIVER_TIMEOUT);
	ns_publication *p = NULL;
	assert_int_equal(ns_publication_add(c, "ns:ipc", 1, 0, &p), NS_EDRIVER_TIMEOUT);
	assert_int_equal(ns_client_close(c), 0);
	nsi_driver_destroy(drv);
}

static void
second_client_uses_the_running_driver(void **state)
{
	(void)state;
	ns_client *a = client(0);
	ns_client *b = client(NS_CLIENT_NO_EMBEDDED);
	assert_int_equal(ns_client_is_embedded(a), 1);
	assert_int_equal(ns_client_is_embedded(b), 0);
	struct got g = { 0 };
	ns_subscription *s = subscribe(a, "ns:ipc", &g);
	ns_publication *p = NULL;
	assert_int_equal(ns_publication_add(b, "ns:ipc", 10, 0, &p), 0);
	assert_int_equal(ns_publication_wait_connected(p, ns_clock_ns() + 10 * SEC), 0);
	uint8_t buf[64];
	for (uint32_t i = 0; i < 100; i++)
		offer_retry(p, buf, make_msg(buf, 1, i, 40));
	drain(s, &g, 100);
	assert_int_equal(g.next[1], 100);
	assert_int_equal(ns_publication_close(p), 0);
	assert_int_equal(ns_client_close(b), 0);
	assert_int_equal(ns_subscription_close(s), 0);
	assert_int_equal(ns_client_close(a), 0);
	/* The embedded driver removed its files. */
	char path[128];
	snprintf(path, sizeof(path), "%s/cnc.dat", dir);
	assert_int_equal(access(path, F_OK), -1);
}

static long
meminfo_kb(const char *key)
{
	FILE *f = fopen("/proc/meminfo", "r");
	char line[256];
	long v = -1;
	size_t n = strlen(key);
	while (f != NULL && fgets(line, sizeof(line), f) != NULL)
		if (strncmp(line, key, n) == 0 && line[n] == ':')
			v = strtol(line + n + 1, NULL, 10);
	if (f != NULL)
		fclose(f);
	return v;
}

/* NS_MEM_HUGE: refused where the directory's file system gives no huge pages; granted (and
 * checked by the driver in smaps) on a tmpfs mounted huge=always, when root can mount one. */
static void
huge_page_policy_for_logs(void **state)
{
	(void)state;
	struct ns_client_opts o = NS_CLIENT_OPTS_INIT;
	o.dir = dir;
	o.mem_policy = NS_MEM_HUGE;
	ns_client *c = NULL;
	ns_publication *p = NULL;
	assert_int_equal(ns_client_create(&c, &o), 0);
	int rc = ns_publication_add(c, "ns:ipc?term-length=4m", 10, 0, &p);
	if (rc == -ENOMEM) {
		assert_null(p);
		print_message("# NS_MEM_HUGE in %s: refused with -ENOMEM (no huge pages there)\n",
			      dir);
	} else {
		assert_int_equal(rc, 0);
		assert_int_equal(ns_publication_close(p), 0);
	}
	assert_int_equal(ns_client_close(c), 0);

	char mnt[] = "/tmp/ns-thp-XXXXXX";
	assert_non_null(mkdtemp(mnt));
	char cmd[256];
	snprintf(cmd, sizeof(cmd),
		 "mount -t tmpfs -o huge=always,size=64m,mode=0700 nsthp %s 2>/dev/null", mnt);
	if (geteuid() != 0 || system(cmd) != 0) {
		print_message("# no tmpfs with huge pages to try (needs root and mount)\n");
		rmdir(mnt);
		skip();
	}
	long before = meminfo_kb("ShmemHugePages");
	o.dir = mnt;
	assert_int_equal(ns_client_create(&c, &o), 0);
	assert_int_equal(ns_publication_add(c, "ns:ipc?term-length=4m", 10, 0, &p), 0);
	long after = meminfo_kb("ShmemHugePages");
	print_message("# NS_MEM_HUGE on tmpfs huge=always: granted; ShmemHugePages %ld -> %ld kB\n",
		      before, after);
	assert_true(after - before >= 2048);
	assert_int_equal(ns_publication_close(p), 0);
	assert_int_equal(ns_client_close(c), 0);
	snprintf(cmd, sizeof(cmd), "umount %s", mnt);
	assert_int_equal(system(cmd), 0);
	assert_int_equal(rmdir(mnt), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(publish_and_receive),
		cmocka_unit_test(back_pressure_and_controlled_poll),
		cmocka_unit_test(deprecated_names_still_work),
		cmocka_unit_test(threads_share_a_publication),
		cmocka_unit_test(bad_arguments_change_nothing),
		cmocka_unit_test(second_client_uses_the_running_driver),
		cmocka_unit_test(foreign_and_other_version_files),
		cmocka_unit_test(dead_limit_lock_holder_is_taken_over),
		cmocka_unit_test(stale_heartbeat_on_an_injected_clock),
		cmocka_unit_test(huge_page_policy_for_logs),
		cmocka_unit_test(stat_of_a_live_driver),
		cmocka_unit_test(stat_of_a_forged_file),
		cmocka_unit_test(stat_bad_arguments),
	};
	return cmocka_run_group_tests_name("client", tests, setup, teardown);
}

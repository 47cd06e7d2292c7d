/* SPDX-License-Identifier: MIT */
/*
 * ns:udp multicast (issue 19), in a network namespace of the test's own whose loopback
 * carries multicast (root, or an unprivileged user namespace: tu_private_net(); skipped when
 * the kernel allows neither). One publisher and three receivers, each with its own embedded
 * driver, as four machines would have them, on one group:
 *
 *   - fc=min: every receiver gets every message, identical and in order (a CRC per message,
 *     exact totals);
 *   - fc=min: a receiver that stops polling holds the publisher (its offers are back
 *     pressured while the other two have everything sent); when it polls again, all three
 *     get everything;
 *   - fc=max (the default): the fast two are never held back by the one that stops polling,
 *     whose image ends, with everything it delivered in order, once it fell behind what the
 *     publisher holds (and only its own: the sender's "no longer held" names it);
 *   - fc=tagged,g:5/2: the publication counts as connected only once the two receivers
 *     tagged 5 answer, and the untagged one, not polling, holds nobody.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <nanostream/nanostream.h>

#include "ipc/cnc.h"
#include "testutil.h"

#define SEC  (1000LL * 1000 * 1000)
#define MS   (1000LL * 1000)
#define RCVS 3

static bool net_ok;

struct got {
	uint32_t next, bad;
	int available, unavailable;
	bool late;	/* joined mid-stream: its first message sets where it starts */
	uint32_t first; /* the first message it got */
	uint32_t count;
};

struct group {
	char dir[RCVS + 1][64];
	ns_client *c[RCVS + 1]; /* 0: the publisher's */
	ns_publication *p;
	ns_subscription *s[RCVS];
	struct got g[RCVS];
	char uri[256];
};

struct find {
	const char *label; /* by label, or (NULL) by type: */
	int32_t type;
	int64_t value; /* the last match's */
	int count;     /* matches */
};

static void
find_counter(void *ctx, int32_t id, int32_t type, int64_t owner, int64_t key, const char *label,
	     int64_t value)
{
	(void)id, (void)owner, (void)key;
	struct find *f = ctx;
	if (f->label != NULL ? strcmp(label, f->label) == 0 : type == f->type) {
		f->value = value;
		f->count++;
	}
}

/* The counters of @type in the driver of @d: how many (-1: no driver), the last one's value. */
static int
counters_of_type(const char *d, int32_t type, int64_t *value)
{
	char path[128];
	snprintf(path, sizeof(path), "%s/cnc.dat", d);
	struct nsi_cnc cnc;
	struct find f = { NULL, type, -1, 0 };
	if (nsi_cnc_open_readonly(&cnc, path) != 0)
		return -1;
	nsi_counters_foreach(&cnc.counters, find_counter, &f);
	nsi_cnc_close(&cnc);
	if (value != NULL)
		*value = f.value;
	return f.count;
}

/* A system counter of the driver of @d by label, as ns-stat reads it (-1: absent). */
static int64_t
counter(const char *d, const char *label)
{
	char path[128];
	snprintf(path, sizeof(path), "%s/cnc.dat", d);
	struct nsi_cnc cnc;
	struct find f = { label, 0, -1, 0 };
	if (nsi_cnc_open_readonly(&cnc, path) != 0)
		return -1;
	nsi_counters_foreach(&cnc.counters, find_counter, &f);
	nsi_cnc_close(&cnc);
	return f.value;
}

static size_t
make_msg(uint8_t *buf, uint32_t seq)
{
	size_t len = 8 + (size_t)(tu_mix64(seq) % 1400);
	for (size_t k = 8; k < len; k++)
		buf[k] = (uint8_t)(seq * 7 + k);
	uint32_t crc = tu_crc32c(seq, buf + 8, len - 8);
	memcpy(buf, &seq, 4);
	memcpy(buf + 4, &crc, 4);
	return len;
}

static void
on_msg(void *ctx, const void *buf, size_t len, const struct ns_header *h)
{
	(void)h;
	struct got *g = ctx;
	uint32_t seq, crc;
	if (len < 8) {
		g->bad++;
		return;
	}
	memcpy(&seq, buf, 4);
	memcpy(&crc, (const uint8_t *)buf + 4, 4);
	if (g->count++ == 0) {
		g->first = seq;
		if (g->late)
			g->next = seq;
	}
	if (seq != g->next || crc != tu_crc32c(seq, (const uint8_t *)buf + 8, len - 8))
		g->bad++;
	g->next = seq + 1;
}

static void
on_available(void *ctx, const ns_image *img)
{
	(void)img;
	((struct got *)ctx)->available++;
}

static void
on_unavailable(void *ctx, const ns_image *img)
{
	(void)img;
	((struct got *)ctx)->unavailable++;
}

/*
 * Four drivers; receivers subscribe with @params (NULL: the publication's) plus their own
 * @tags (NULL or "" each), then the publication with @params.
 */
static void
group_open(struct group *x, const char *params, const char *const *tags)
{
	memset(x, 0, sizeof(*x));
	int port = tu_free_udp_port();
	for (int i = 0; i <= RCVS; i++) {
		snprintf(x->dir[i], sizeof(x->dir[i]), "/tmp/ns-mcast-XXXXXX");
		assert_non_null(mkdtemp(x->dir[i]));
		struct ns_client_opts o = NS_CLIENT_OPTS_INIT;
		o.dir = x->dir[i];
		assert_int_equal(ns_client_create(&x->c[i], &o), 0);
	}
	for (int i = 0; i < RCVS; i++) {
		char uri[256];
		snprintf(uri, sizeof(uri), "ns:udp?endpoint=239.255.7.1:%d|interface=127.0.0.1%s",
			 port, tags != NULL && tags[i] != NULL ? tags[i] : "");
		struct ns_subscription_opts so = NS_SUBSCRIPTION_OPTS_INIT;
		so.on_available = on_available;
		so.on_unavailable = on_unavailable;
		so.ctx = &x->g[i];
		int rc = ns_subscription_add(x->c[i + 1], uri, 9, &so, &x->s[i]);
		if (rc != 0)
			fail_msg("subscription %s: %s", uri, ns_errmsg());
	}
	snprintf(x->uri, sizeof(x->uri), "ns:udp?endpoint=239.255.7.1:%d|interface=127.0.0.1%s",
		 port, params);
	int rc = ns_publication_add(x->c[0], x->uri, 9, NS_PUBLICATION_EXCLUSIVE, &x->p);
	if (rc != 0)
		fail_msg("publication %s: %s", x->uri, ns_errmsg());
}

static void
group_close(struct group *x)
{
	assert_int_equal(ns_publication_close(x->p), 0);
	for (int i = 0; i < RCVS; i++)
		assert_int_equal(ns_subscription_close(x->s[i]), 0);
	for (int i = 0; i <= RCVS; i++) {
		assert_int_equal(ns_client_close(x->c[i]), 0);
		assert_int_equal(tu_rmdir_driver(x->dir[i]), 0);
	}
}

/* Poll every receiver whose bit is in @who. */
static void
poll_some(struct group *x, unsigned who)
{
	for (int i = 0; i < RCVS; i++)
		if (who & (1u << i))
			(void)ns_subscription_poll(x->s[i], on_msg, &x->g[i], 256);
}

/*
 * Offer up to @total messages from *@seq while polling @who, until the receivers in @who have
 * everything offered and *@seq reached @total, or @deadline_ns. Returns the offers that were
 * back pressured.
 */
static uint64_t
pump(struct group *x, uint32_t *seq, uint32_t total, unsigned who, int64_t deadline_ns)
{
	static uint8_t buf[2048];
	uint64_t pressured = 0;
	while (ns_clock_ns() < deadline_ns) {
		while (*seq < total) {
			int64_t r = ns_offer(x->p, buf, make_msg(buf, *seq));
			if (r > 0) {
				(*seq)++;
				continue;
			}
			if (r == NS_BACK_PRESSURED)
				pressured++;
			else if (r != NS_NOT_CONNECTED && r != NS_ADMIN_ACTION)
				fail_msg("offer: %lld", (long long)r);
			break;
		}
		poll_some(x, who);
		bool done = *seq == total;
		for (int i = 0; i < RCVS; i++)
			if (who & (1u << i))
				done &= x->g[i].next == *seq;
		if (done)
			break;
	}
	return pressured;
}

static void
three_receivers_get_every_byte(void **state)
{
	(void)state;
	if (!net_ok)
		skip();
	struct group x;
	group_open(&x, "|fc=min", NULL);
	assert_int_equal(ns_publication_wait_connected(x.p, ns_clock_ns() + 10 * SEC), 0);
	uint32_t seq = 0;
	const uint32_t total = 20000;
	(void)pump(&x, &seq, total, 7, ns_clock_ns() + 30 * SEC);
	for (int i = 0; i < RCVS; i++) {
		print_message("# receiver %d: %u of %u messages, %u bad\n", i, x.g[i].next, total,
			      x.g[i].bad);
		assert_int_equal(x.g[i].next, total);
		assert_int_equal(x.g[i].bad, 0);
		assert_int_equal(x.g[i].available, 1);
	}
	group_close(&x);
}

/*
 * Receiver 2 stops polling for a while. With min the publisher must stop (back pressure)
 * while the others have everything it sent; with max it must not.
 */
static void
slow_receiver(bool min)
{
	struct group x;
	group_open(&x, min ? "|fc=min|term-length=1m" : "|term-length=1m", NULL);
	assert_int_equal(ns_publication_wait_connected(x.p, ns_clock_ns() + 10 * SEC), 0);
	/* All three must have answered before the slow one stops (each status message). */
	uint32_t seq = 0;
	(void)pump(&x, &seq, 100, 7, ns_clock_ns() + 10 * SEC);
	for (int i = 0; i < RCVS; i++)
		assert_int_equal(x.g[i].next, 100);
	/* 8 MiB or so: far beyond a window and a term. */
	const uint32_t total = 12000;
	int64_t t0 = ns_clock_ns();
	uint64_t pressured = pump(&x, &seq, total, 3, t0 + (min ? 2 : 30) * SEC);
	uint32_t slow = x.g[2].next, fast = x.g[0].next < x.g[1].next ? x.g[0].next : x.g[1].next;
	print_message("# fc=%s: while receiver 2 did not poll: %u offered, the fast two have %u, "
		      "%llu offers back pressured\n",
		      min ? "min" : "max", seq, fast, (unsigned long long)pressured);
	if (min) {
		/*
		 * Held: far from the total and back pressured; the fast two went on past the
		 * slow one by no more than its window and what the log held for it.
		 */
		assert_true(seq < total / 2);
		assert_true(pressured > 0);
		assert_int_equal(slow, 100);
		assert_true(fast > slow && fast <= seq);
		/* Receiver 2 polls again: everyone gets everything. */
		(void)pump(&x, &seq, total, 7, ns_clock_ns() + 30 * SEC);
		for (int i = 0; i < RCVS; i++) {
			assert_int_equal(x.g[i].next, total);
			assert_int_equal(x.g[i].bad, 0);
		}
	} else {
		/* Never held: the fast two have everything. */
		assert_int_equal(seq, total);
		assert_int_equal(fast, total);
		assert_int_equal(x.g[0].bad + x.g[1].bad, 0);
		/* The slow one reads on: its image ends at what the sender no longer holds. */
		int64_t until = ns_clock_ns() + 20 * SEC;
		while (x.g[2].unavailable == 0 && ns_clock_ns() < until)
			poll_some(&x, 4);
		print_message("# the slow receiver read %u messages, then its image ended (%d)\n",
			      x.g[2].next, x.g[2].unavailable);
		assert_int_equal(x.g[2].unavailable, 1);
		assert_int_equal(x.g[2].bad, 0);
		assert_true(x.g[2].next < total);
		int64_t deadline = ns_clock_ns() + 5 * SEC; /* counters: every heartbeat */
		while (counter(x.dir[3], "udp images ended by unrecoverable loss") < 1 &&
		       ns_clock_ns() < deadline)
			poll_some(&x, 4);
		assert_int_equal(counter(x.dir[3], "udp images ended by unrecoverable loss"), 1);
		/* Only its own: the fast two, polling on, keep theirs. */
		until = ns_clock_ns() + 500 * MS;
		while (ns_clock_ns() < until)
			poll_some(&x, 3);
		assert_int_equal(x.g[0].unavailable + x.g[1].unavailable, 0);
	}
	group_close(&x);
}

static void
min_holds_the_publisher_for_the_slowest(void **state)
{
	(void)state;
	if (!net_ok)
		skip();
	slow_receiver(true);
}

static void
max_never_waits_for_the_slowest(void **state)
{
	(void)state;
	if (!net_ok)
		skip();
	slow_receiver(false);
}

static void
tagged_follows_its_group(void **state)
{
	(void)state;
	if (!net_ok)
		skip();
	static const char *const tags[RCVS] = { "|gtag=5", "|gtag=5", "" };
	struct group x;
	group_open(&x, "|fc=tagged,g:5/2|term-length=1m", tags);
	assert_int_equal(ns_publication_wait_connected(x.p, ns_clock_ns() + 10 * SEC), 0);
	uint32_t seq = 0;
	(void)pump(&x, &seq, 100, 7, ns_clock_ns() + 10 * SEC);
	/* The untagged receiver stops polling: it holds nobody. */
	const uint32_t total = 12000;
	uint64_t pressured = pump(&x, &seq, total, 3, ns_clock_ns() + 30 * SEC);
	print_message("# fc=tagged,g:5/2: %u offered, receivers %u %u %u, %llu back pressured\n",
		      seq, x.g[0].next, x.g[1].next, x.g[2].next, (unsigned long long)pressured);
	assert_int_equal(x.g[0].next, total);
	assert_int_equal(x.g[1].next, total);
	assert_int_equal(x.g[0].bad + x.g[1].bad, 0);
	group_close(&x);
}

/*
 * A group with no route and no interface= is refused with the reason, for subscriptions and
 * publications alike; an interface= that no local address matches names what there is.
 */
static void
a_group_without_a_route_needs_an_interface(void **state)
{
	(void)state;
	if (!net_ok)
		skip();
	char dir[64] = "/tmp/ns-mcast-XXXXXX";
	assert_non_null(mkdtemp(dir));
	struct ns_client_opts o = NS_CLIENT_OPTS_INIT;
	o.dir = dir;
	ns_client *c;
	assert_int_equal(ns_client_create(&c, &o), 0);
	ns_subscription *s = NULL;
	ns_publication *p = NULL;
	/* Our namespace routes 224.0.0.0/4 to lo; take that away for a moment. */
	assert_int_equal(system("ip route del 224.0.0.0/4 dev lo"), 0);
	int rs = ns_subscription_add(c, "ns:udp?endpoint=239.255.7.11:40999", 1, NULL, &s);
	char why_sub[256];
	snprintf(why_sub, sizeof(why_sub), "%s", ns_errmsg());
	int rp = ns_publication_add(c, "ns:udp?endpoint=239.255.7.11:40999", 1, 0, &p);
	char why_pub[256];
	snprintf(why_pub, sizeof(why_pub), "%s", ns_errmsg());
	assert_int_equal(system("ip route add 224.0.0.0/4 dev lo"), 0);
	print_message("# no route: \"%s\"\n", why_sub);
	assert_true(rs < 0 && rp < 0);
	assert_non_null(strstr(why_sub, "give interface="));
	assert_non_null(strstr(why_pub, "give interface="));
	/* With interface= it works without the route. */
	assert_int_equal(system("ip route del 224.0.0.0/4 dev lo"), 0);
	rs = ns_subscription_add(c, "ns:udp?endpoint=239.255.7.11:40999|interface=127.0.0.1", 1,
				 NULL, &s);
	assert_int_equal(system("ip route add 224.0.0.0/4 dev lo"), 0);
	assert_int_equal(rs, 0);
	assert_int_equal(ns_subscription_close(s), 0);
	/* An interface no local address matches. */
	rs = ns_subscription_add(c, "ns:udp?endpoint=239.255.7.11:40999|interface=10.9.8.0/24", 1,
				 NULL, &s);
	print_message("# no such interface: \"%s\"\n", ns_errmsg());
	assert_true(rs < 0);
	assert_non_null(strstr(ns_errmsg(), "no local interface has an address in 10.9.8.0/24"));
	assert_non_null(strstr(ns_errmsg(), "lo 127.0.0.1"));
	assert_int_equal(ns_client_close(c), 0);
	assert_int_equal(tu_rmdir_driver(dir), 0);
}

/* An IPv6 group (site-local scope): the same stream, every message, at each receiver. */
static void
an_ipv6_group(void **state)
{
	(void)state;
	if (!net_ok)
		skip();
	char dirs[2][64] = { "/tmp/ns-mcast-XXXXXX", "/tmp/ns-mcast-XXXXXX" };
	ns_client *c[2];
	for (int i = 0; i < 2; i++) {
		assert_non_null(mkdtemp(dirs[i]));
		struct ns_client_opts o = NS_CLIENT_OPTS_INIT;
		o.dir = dirs[i];
		assert_int_equal(ns_client_create(&c[i], &o), 0);
	}
	char uri[128];
	/* (IPv6 multicast does not loop on lo: the namespace's veth, fd00::1, carries it.) */
	if (system("ip -6 addr show dev nsva | grep -q fd00::1") != 0)
		skip();
	snprintf(uri, sizeof(uri), "ns:udp?endpoint=[ff05::7:1]:%d|interface=[fd00::1]|fc=min",
		 tu_free_udp_port());
	ns_subscription *s;
	ns_publication *p;
	struct got g = { 0 };
	struct ns_subscription_opts so = NS_SUBSCRIPTION_OPTS_INIT;
	so.on_available = on_available;
	so.ctx = &g;
	if (ns_subscription_add(c[1], uri, 3, &so, &s) != 0)
		fail_msg("%s: %s", uri, ns_errmsg());
	if (ns_publication_add(c[0], uri, 3, 0, &p) != 0)
		fail_msg("%s: %s", uri, ns_errmsg());
	assert_int_equal(ns_publication_wait_connected(p, ns_clock_ns() + 10 * SEC), 0);
	static uint8_t buf[2048];
	uint32_t seq = 0;
	int64_t deadline = ns_clock_ns() + 20 * SEC;
	while (g.next < 5000 && ns_clock_ns() < deadline) {
		while (seq < 5000 && ns_offer(p, buf, make_msg(buf, seq)) > 0)
			seq++;
		(void)ns_subscription_poll(s, on_msg, &g, 256);
	}
	print_message("# over %s: %u of 5000 messages, %u bad\n", uri, g.next, g.bad);
	assert_int_equal(g.next, 5000);
	assert_int_equal(g.bad, 0);
	assert_int_equal(ns_publication_close(p), 0);
	assert_int_equal(ns_subscription_close(s), 0);
	for (int i = 0; i < 2; i++) {
		assert_int_equal(ns_client_close(c[i]), 0);
		assert_int_equal(tu_rmdir_driver(dirs[i]), 0);
	}
}

/* One of the two tagged receivers missing: the publication is not connected. */
static void
tagged_needs_its_group_size(void **state)
{
	(void)state;
	if (!net_ok)
		skip();
	static const char *const tags[RCVS] = { "|gtag=5", "", "|gtag=6" };
	struct group x;
	group_open(&x, "|fc=tagged,g:5/2", tags);
	/* Receivers answer within their first status interval; give them ten. */
	int64_t until = ns_clock_ns() + 2 * SEC;
	while (ns_clock_ns() < until) {
		poll_some(&x, 7);
		assert_int_equal(ns_publication_is_connected(x.p), 0);
	}
	assert_int_equal(ns_offer(x.p, "x", 1), NS_NOT_CONNECTED);
	group_close(&x);
}

/* Messages of 4 KiB, bytes from their sequence number, with its CRC. */
static size_t
make_4k(uint8_t *buf, uint32_t seq)
{
	for (size_t b = 8; b < 4096; b++)
		buf[b] = (uint8_t)tu_mix64(seq * 4096 + b);
	uint32_t crc = tu_crc32c(seq, buf + 8, 4096 - 8);
	memcpy(buf, &seq, 4);
	memcpy(buf + 4, &crc, 4);
	return 4096;
}

/*
 * 64 MiB to three receivers whose drivers all pass every datagram they receive through the
 * test-only injector (NANOSTREAM_TEST_LOSS: 5 % dropped, 1 % duplicated, 2 % reordered, data
 * and control alike, the same pattern at each receiver: a datagram lost is lost by all), with
 * fc=min: each receiver gets all of it, identical and in order, within 60 s.
 */
static void
sixty_four_mib_to_three_through_loss(void **state)
{
	(void)state;
	if (!net_ok)
		skip();
	assert_int_equal(setenv("NANOSTREAM_TEST_LOSS", "seed=11,drop=5,dup=1,reorder=2", 1), 0);
	int64_t t0 = ns_clock_ns();
	struct group x;
	group_open(&x, "|fc=min|term-length=4m", NULL);
	assert_int_equal(unsetenv("NANOSTREAM_TEST_LOSS"), 0);
	assert_int_equal(ns_publication_wait_connected(x.p, ns_clock_ns() + 10 * SEC), 0);
	int64_t until = ns_clock_ns() + 10 * SEC;
	while ((x.g[0].available == 0 || x.g[1].available == 0 || x.g[2].available == 0) &&
	       ns_clock_ns() < until)
		poll_some(&x, 7);
	static uint8_t buf[4096];
	const uint32_t total = 64 * 1024 * 1024 / 4096;
	uint32_t seq = 0;
	int64_t deadline = t0 + 60 * SEC;
	while (ns_clock_ns() < deadline) {
		while (seq < total && ns_offer(x.p, buf, make_4k(buf, seq)) > 0)
			seq++;
		poll_some(&x, 7);
		if (x.g[0].next == total && x.g[1].next == total && x.g[2].next == total)
			break;
	}
	double secs = (double)(ns_clock_ns() - t0) / 1e9;
	int64_t naks = 0;
	for (int i = 1; i <= RCVS; i++)
		naks += counter(x.dir[i], "udp naks sent");
	print_message("# 64 MiB to 3 receivers through 5 %% loss, 1 %% duplicates, 2 %% reordering "
		      "each: %u %u %u of %u messages in %.2f s, %u bad; NAKs %lld, retransmitted "
		      "datagrams %lld\n",
		      x.g[0].next, x.g[1].next, x.g[2].next, total, secs,
		      x.g[0].bad + x.g[1].bad + x.g[2].bad, (long long)naks,
		      (long long)counter(x.dir[0], "udp retransmitted datagrams"));
	for (int i = 0; i < RCVS; i++) {
		assert_int_equal(x.g[i].next, total);
		assert_int_equal(x.g[i].bad, 0);
	}
	group_close(&x);
}

/* ---- multi-destination-cast (unicast, loopback: no namespace needed) ---- */

struct mdc {
	char dir[RCVS + 2][64];
	ns_client *c[RCVS + 2]; /* 0: the publisher's; 1..RCVS+1: receivers */
	ns_publication *p;
	ns_subscription *s[RCVS + 1];
	struct got g[RCVS + 1];
	int port[RCVS + 1];
	int control;
};

/* The publication: "ns:udp?" then control=127.0.0.1:PORT| when @control, then @params. */
static void
mdc_open(struct mdc *x, bool control, const char *params)
{
	memset(x, 0, sizeof(*x));
	for (int i = 0; i < RCVS + 2; i++) {
		snprintf(x->dir[i], sizeof(x->dir[i]), "/tmp/ns-mdc-XXXXXX");
		assert_non_null(mkdtemp(x->dir[i]));
		struct ns_client_opts o = NS_CLIENT_OPTS_INIT;
		o.dir = x->dir[i];
		assert_int_equal(ns_client_create(&x->c[i], &o), 0);
	}
	x->control = tu_free_udp_port();
	for (int i = 0; i <= RCVS; i++)
		x->port[i] = tu_free_udp_port();
	char uri[256];
	if (control)
		snprintf(uri, sizeof(uri), "ns:udp?control=127.0.0.1:%d|%s", x->control, params);
	else
		snprintf(uri, sizeof(uri), "ns:udp?%s", params);
	int rc = ns_publication_add(x->c[0], uri, 5, NS_PUBLICATION_EXCLUSIVE, &x->p);
	if (rc != 0)
		fail_msg("publication %s: %s", uri, ns_errmsg());
}

/* Receiver @i subscribes at its endpoint, with control= when @dynamic. */
static void
mdc_subscribe(struct mdc *x, int i, bool dynamic)
{
	char uri[256];
	int n = snprintf(uri, sizeof(uri), "ns:udp?endpoint=127.0.0.1:%d", x->port[i]);
	if (dynamic)
		snprintf(uri + n, sizeof(uri) - (size_t)n, "|control=127.0.0.1:%d", x->control);
	struct ns_subscription_opts so = NS_SUBSCRIPTION_OPTS_INIT;
	so.on_available = on_available;
	so.on_unavailable = on_unavailable;
	so.ctx = &x->g[i];
	int rc = ns_subscription_add(x->c[i + 1], uri, 5, &so, &x->s[i]);
	if (rc != 0)
		fail_msg("subscription %s: %s", uri, ns_errmsg());
}

static void
mdc_close(struct mdc *x)
{
	assert_int_equal(ns_publication_close(x->p), 0);
	for (int i = 0; i <= RCVS; i++)
		if (x->s[i] != NULL)
			assert_int_equal(ns_subscription_close(x->s[i]), 0);
	for (int i = 0; i < RCVS + 2; i++) {
		assert_int_equal(ns_client_close(x->c[i]), 0);
		assert_int_equal(tu_rmdir_driver(x->dir[i]), 0);
	}
}

/*
 * Offer up to @total from *@seq while polling the receivers in @who (bits), until those have
 * everything offered (counting from where each started) or @deadline_ns. Returns the offers
 * back pressured.
 */
static uint64_t
mdc_pump(struct mdc *x, uint32_t *seq, uint32_t total, unsigned who, int64_t deadline_ns)
{
	static uint8_t buf[2048];
	uint64_t pressured = 0;
	while (ns_clock_ns() < deadline_ns) {
		while (*seq < total) {
			int64_t r = ns_offer(x->p, buf, make_msg(buf, *seq));
			if (r > 0) {
				(*seq)++;
				continue;
			}
			pressured += r == NS_BACK_PRESSURED;
			break;
		}
		bool done = *seq == total;
		for (int i = 0; i <= RCVS; i++) {
			if (!(who & (1u << i)))
				continue;
			(void)ns_subscription_poll(x->s[i], on_msg, &x->g[i], 256);
			done &= x->g[i].next == *seq;
		}
		if (done)
			break;
	}
	return pressured;
}

/*
 * control-mode=dynamic: receivers announce themselves to the control address and get
 * everything (fc=min); a fourth joins mid-stream and starts at the position of the moment;
 * one leaves, and after the receiver timeout it no longer holds the publisher.
 */
static void
mdc_dynamic_join_and_leave(void **state)
{
	(void)state;
	struct mdc x;
	mdc_open(&x, true, "control-mode=dynamic|fc=min,t:500ms");
	for (int i = 0; i < RCVS; i++)
		mdc_subscribe(&x, i, true);
	/* Connected once the three answered (min, no group size: the first would do). */
	assert_int_equal(ns_publication_wait_connected(x.p, ns_clock_ns() + 10 * SEC), 0);
	int64_t until = ns_clock_ns() + 10 * SEC;
	while (ns_clock_ns() < until &&
	       (x.g[0].available == 0 || x.g[1].available == 0 || x.g[2].available == 0))
		for (int i = 0; i < RCVS; i++)
			(void)ns_subscription_poll(x.s[i], on_msg, &x.g[i], 16);
	uint32_t seq = 0;
	(void)mdc_pump(&x, &seq, 5000, 7, ns_clock_ns() + 30 * SEC);
	for (int i = 0; i < RCVS; i++) {
		assert_int_equal(x.g[i].next, 5000);
		assert_int_equal(x.g[i].bad, 0);
	}
	/* A fourth joins mid-stream. */
	x.g[RCVS].late = true;
	mdc_subscribe(&x, RCVS, true);
	until = ns_clock_ns() + 10 * SEC;
	while (x.g[RCVS].available == 0 && ns_clock_ns() < until) {
		(void)mdc_pump(&x, &seq, seq + 10, 7, ns_clock_ns() + 10 * MS);
		(void)ns_subscription_poll(x.s[RCVS], on_msg, &x.g[RCVS], 16);
	}
	assert_int_equal(x.g[RCVS].available, 1);
	(void)mdc_pump(&x, &seq, seq + 5000, 15, ns_clock_ns() + 30 * SEC);
	print_message("# dynamic MDC: a receiver joined at message %u of %u; it has %u, in "
		      "order, %u bad\n",
		      x.g[RCVS].first, seq, x.g[RCVS].count, x.g[RCVS].bad);
	/* It starts at the position of the moment: nothing from before it joined. */
	assert_true(x.g[RCVS].first >= 5000 && x.g[RCVS].first < seq);
	assert_int_equal(x.g[RCVS].count, seq - x.g[RCVS].first);
	assert_int_equal(x.g[RCVS].next, seq);
	assert_int_equal(x.g[RCVS].bad, 0);
	/* ns-stat's view: four receivers known, four destinations (every heartbeat). */
	int64_t dests = -1;
	until = ns_clock_ns() + 5 * SEC;
	while ((counters_of_type(x.dir[0], NSI_COUNTER_RECEIVER_STATUS, NULL) != 4 || dests != 4) &&
	       ns_clock_ns() < until)
		(void)counters_of_type(x.dir[0], NSI_COUNTER_DESTINATIONS, &dests);
	assert_int_equal(counters_of_type(x.dir[0], NSI_COUNTER_RECEIVER_STATUS, NULL), 4);
	assert_int_equal(counters_of_type(x.dir[0], NSI_COUNTER_RECEIVER_SILENCE, NULL), 4);
	assert_int_equal(dests, 4);
	/* Receiver 2 leaves: within the timeout (500 ms) and a status interval it stops holding. */
	assert_int_equal(ns_subscription_close(x.s[2]), 0);
	x.s[2] = NULL;
	uint32_t before = seq;
	(void)mdc_pump(&x, &seq, seq + 8000, 11, ns_clock_ns() + 30 * SEC);
	print_message("# receiver 2 left: %u more messages to the other three\n", seq - before);
	assert_int_equal(seq, before + 8000);
	for (int i = 0; i <= RCVS; i++)
		if (i != 2)
			assert_int_equal(x.g[i].next, seq);
	/* It is no longer a destination, nor a receiver the publication knows. */
	until = ns_clock_ns() + 5 * SEC;
	while ((counters_of_type(x.dir[0], NSI_COUNTER_RECEIVER_STATUS, NULL) != 3 || dests != 3) &&
	       ns_clock_ns() < until) {
		(void)counters_of_type(x.dir[0], NSI_COUNTER_DESTINATIONS, &dests);
		(void)mdc_pump(&x, &seq, seq + 1, 11, ns_clock_ns() + 10 * MS);
	}
	assert_int_equal(counters_of_type(x.dir[0], NSI_COUNTER_RECEIVER_STATUS, NULL), 3);
	assert_int_equal(dests, 3);
	mdc_close(&x);
}

/* control-mode=manual: destinations added and removed by the application; bad requests. */
static void
mdc_manual_destinations(void **state)
{
	(void)state;
	struct mdc x;
	mdc_open(&x, true, "control-mode=manual|fc=min,t:60s");
	for (int i = 0; i < 2; i++)
		mdc_subscribe(&x, i, false);
	char d0[64], d1[64];
	snprintf(d0, sizeof(d0), "ns:udp?endpoint=127.0.0.1:%d", x.port[0]);
	snprintf(d1, sizeof(d1), "ns:udp?endpoint=127.0.0.1:%d", x.port[1]);
	assert_int_equal(ns_publication_add_destination(x.p, d0), 0);
	assert_int_equal(ns_publication_add_destination(x.p, d0), -EEXIST);
	assert_non_null(strstr(ns_errmsg(), "is a destination already"));
	assert_int_equal(ns_publication_add_destination(x.p, d1), 0);
	assert_int_equal(ns_publication_add_destination(x.p, "ns:udp?endpoint=bad:"), -EINVAL);
	assert_int_equal(ns_publication_add_destination(x.p, "ns:ipc"), -EINVAL);
	assert_int_equal(ns_publication_add_destination(NULL, d0), -EINVAL);
	assert_int_equal(ns_publication_add_destination(x.p, NULL), -EINVAL);
	assert_int_equal(ns_publication_remove_destination(x.p, "ns:udp?endpoint=127.0.0.1:1"),
			 -ENOENT);
	assert_int_equal(ns_publication_wait_connected(x.p, ns_clock_ns() + 10 * SEC), 0);
	/* Both images first: a destination joins at the position of the moment. */
	int64_t until = ns_clock_ns() + 10 * SEC;
	while ((x.g[0].available == 0 || x.g[1].available == 0) && ns_clock_ns() < until)
		for (int i = 0; i < 2; i++)
			(void)ns_subscription_poll(x.s[i], on_msg, &x.g[i], 16);
	uint32_t seq = 0;
	(void)mdc_pump(&x, &seq, 5000, 3, ns_clock_ns() + 30 * SEC);
	assert_int_equal(x.g[0].next, 5000);
	assert_int_equal(x.g[1].next, 5000);
	/*
	 * Removed: receiver 1 gets nothing more, and stops holding the publisher at once (its
	 * receiver timeout, a minute here, does not come into it).
	 */
	assert_int_equal(ns_publication_remove_destination(x.p, d1), 0);
	(void)mdc_pump(&x, &seq, 13000, 1, ns_clock_ns() + 30 * SEC);
	uint32_t had = x.g[1].next;
	for (int i = 0; i < 50; i++)
		(void)ns_subscription_poll(x.s[1], on_msg, &x.g[1], 256);
	print_message("# manual MDC: after its removal receiver 1 stayed at %u of %u\n",
		      x.g[1].next, seq);
	assert_int_equal(seq, 13000);
	assert_int_equal(x.g[0].next, 13000);
	assert_true(x.g[1].next < 13000 && x.g[1].next == had);
	assert_int_equal(x.g[0].bad + x.g[1].bad, 0);
	mdc_close(&x);

	/* Not a manual publication: refused with the reason. */
	struct mdc y;
	mdc_open(&y, false, "endpoint=127.0.0.1:9");
	assert_int_equal(ns_publication_add_destination(y.p, d0), -EINVAL);
	assert_non_null(strstr(ns_errmsg(), "control-mode=manual only"));
	mdc_close(&y);
}

int
main(void)
{
	net_ok = tu_private_net() == 0;
	if (!net_ok)
		printf("# no network namespace of our own: the cases skip\n");
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(three_receivers_get_every_byte),
		cmocka_unit_test(min_holds_the_publisher_for_the_slowest),
		cmocka_unit_test(max_never_waits_for_the_slowest),
		cmocka_unit_test(tagged_follows_its_group),
		cmocka_unit_test(tagged_needs_its_group_size),
		cmocka_unit_test(a_group_without_a_route_needs_an_interface),
		cmocka_unit_test(an_ipv6_group),
		cmocka_unit_test(sixty_four_mib_to_three_through_loss),
		cmocka_unit_test(mdc_dynamic_join_and_leave),
		cmocka_unit_test(mdc_manual_destinations),
	};
	return cmocka_run_group_tests_name("udp-multicast", tests, NULL, NULL);
}

/* SPDX-License-Identifier: MIT */
/*
 * One sender (src/driver/sender.c) and ten receivers (src/driver/receiver.c) on a simulated
 * multicast group, no sockets, a virtual clock in steps of 100 us: every datagram the sender
 * sends reaches every receiver (a copy each), every control frame a receiver sends reaches
 * the sender only (the group's control address), as on a real group.
 *
 * Issue 19's NAK suppression: one data datagram lost by all ten receivers costs at most 3
 * NAKs and exactly one retransmit (receivers NAK after a random time below the spread, and
 * one whose gap the retransmit filled sends none), over 20 seeds; every receiver then has
 * every message, identical and in order. Without the spread, all ten NAK at once.
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

#include "driver/receiver.h"
#include "driver/sender.h"
#include "log/reader.h"
#include "util/atomic.h"

#define TERM	(64 * 1024)
#define MTU	1408
#define SESSION 21
#define STREAM	4
#define INITIAL 500
#define US	1000LL
#define MS	1000000LL
#define RCVS	10
#define QMAX	256

struct rcv {
	struct group *g;
	int index;
	struct nsi_receiver r;
	void *mem;
	struct nsi_log log;
	bool have_image, reading;
	struct nsi_log_reader rd;
	uint64_t next_seq, received, bad;
};

struct group {
	void *pub_mem;
	struct nsi_log pub;
	struct nsi_sender s;
	struct rcv rcv[RCVS];
	struct nsi_udp_addr src;
	int64_t now;
	/* Sender -> group, and receivers -> sender. */
	struct {
		uint8_t buf[MTU];
		size_t len;
	} down[QMAX], up[QMAX];
	int ndown, nup;
	uint64_t data_datagrams; /* counted as they go out */
	uint64_t drop_at;	 /* the data datagram lost by everyone (1-based; 0: none) */
};

static void
make_log(void **mem, struct nsi_log *log, bool driver_managed)
{
	size_t bytes = nsi_log_bytes(TERM);
	*mem = aligned_alloc(4096, bytes);
	assert_non_null(*mem);
	memset(*mem, 0, bytes);
	struct nsi_log_params p = { .term_length = TERM,
				    .mtu = MTU,
				    .initial_term_id = INITIAL,
				    .session_id = SESSION,
				    .stream_id = STREAM,
				    .page_size = 4096,
				    .driver_managed = driver_managed };
	assert_int_equal(nsi_log_init(log, *mem, bytes, &p), 0);
}

/* The sender's datagrams: one chosen data datagram is lost by all, the rest reach all. */
static int
to_group(void *ctx, const uint8_t *buf, size_t len)
{
	struct group *g = ctx;
	assert_true(len <= MTU && g->ndown < QMAX);
	size_t off = 0;
	struct nsi_frame f;
	if (nsi_wire_next(buf, len, &off, &f) == 1 && f.type == NSI_FRAME_DATA &&
	    !f.u.data.heartbeat && ++g->data_datagrams == g->drop_at)
		return (int)len;
	memcpy(g->down[g->ndown].buf, buf, len);
	g->down[g->ndown++].len = len;
	return (int)len;
}

static int
rcv_send(void *ctx, const struct nsi_udp_addr *to, const uint8_t *buf, size_t len)
{
	(void)to;
	struct group *g = ((struct rcv *)ctx)->g;
	assert_true(len <= MTU && g->nup < QMAX);
	memcpy(g->up[g->nup].buf, buf, len);
	g->up[g->nup++].len = len;
	return (int)len;
}

static struct nsi_log *
rcv_create(void *ctx, const struct nsi_frame *setup, const struct nsi_udp_addr *source,
	   void **owner)
{
	(void)source;
	struct rcv *x = ctx;
	assert_false(x->have_image);
	assert_int_equal(setup->u.setup.term_length, TERM);
	make_log(&x->mem, &x->log, false);
	x->have_image = true;
	*owner = x;
	return &x->log;
}

static int64_t
rcv_slowest(void *ctx, void *owner, int64_t rebuild)
{
	(void)owner;
	struct rcv *x = ctx;
	return x->reading ? x->rd.position : rebuild;
}

static void
rcv_ended(void *ctx, void *owner, int reason)
{
	(void)ctx, (void)owner;
	fail_msg("an image ended (%d)", reason);
}

static size_t
message(uint64_t seq, uint8_t *buf)
{
	size_t len = 8 + (size_t)((seq * 2654435761u) % 300);
	for (size_t i = 0; i < len; i++)
		buf[i] = (uint8_t)(seq + i * 13);
	return len;
}

static void
on_msg(void *ctx, const void *buf, size_t len, const struct ns_header *h)
{
	(void)h;
	struct rcv *x = ctx;
	uint8_t want[512];
	size_t n = message(x->next_seq, want);
	if (n != len || memcmp(want, buf, len) != 0)
		x->bad++;
	x->next_seq++;
	x->received++;
}

static struct group *
group_new(uint64_t seed, int64_t spread_ns)
{
	struct group *g = calloc(1, sizeof(*g));
	assert_non_null(g);
	make_log(&g->pub_mem, &g->pub, true);
	char err[64];
	assert_int_equal(nsi_udp_resolve("10.0.0.1", 40456, &g->src, err, sizeof(err)), 0);
	for (int i = 0; i < RCVS; i++) {
		struct rcv *x = &g->rcv[i];
		x->g = g;
		x->index = i;
		struct nsi_receiver_ops ops = { .send = rcv_send,
						.create = rcv_create,
						.slowest = rcv_slowest,
						.ended = rcv_ended };
		struct nsi_receiver_params rp = { .window = TERM / 2,
						  .status_ns = 5 * MS,
						  .nak_delay_ns = 0,
						  .nak_spread_ns = spread_ns,
						  .nak_retry_ns = 20 * MS,
						  .liveness_ns = 10000 * MS,
						  .receiver_id =
							  (int64_t)(seed * 100 + (uint64_t)i + 1) };
		nsi_receiver_init(&x->r, &ops, x, &rp);
	}
	struct nsi_sender_params p = {
		.heartbeat_ns = 100 * MS,
		.nak_delay_ns = 0,
		.linger_ns = 10 * MS,
		.receiver_timeout_ns = 2000 * MS,
		.fc = { .kind = NSI_FC_MIN, .timeout_ns = 2000 * MS },
	};
	assert_int_equal(nsi_sender_init(&g->s, &g->pub, to_group, g, &p, 0), 0);
	return g;
}

static void
group_free(struct group *g)
{
	for (int i = 0; i < RCVS; i++) {
		if (g->rcv[i].reading)
			nsi_log_reader_free(&g->rcv[i].rd);
		free(g->rcv[i].mem);
	}
	free(g->pub_mem);
	free(g);
}

/* One step of 100 us: control frames to the sender, its sending, every receiver's turn. */
static void
step(struct group *g)
{
	for (int i = 0; i < g->nup; i++) {
		size_t off = 0;
		struct nsi_frame f;
		while (nsi_wire_next(g->up[i].buf, g->up[i].len, &off, &f) == 1)
			nsi_sender_on_frame(&g->s, &f, g->now);
	}
	g->nup = 0;
	assert_true(nsi_sender_do_work(&g->s, g->now) >= 0);
	for (int k = 0; k < RCVS; k++) {
		struct rcv *x = &g->rcv[k];
		for (int i = 0; i < g->ndown; i++)
			nsi_receiver_on_datagram(&x->r, g->down[i].buf, g->down[i].len, &g->src,
						 g->now);
		if (x->have_image && !x->reading && x->r.nimages == 1) {
			assert_int_equal(nsi_log_reader_init(&x->rd, &x->log,
							     x->r.images[0].rx.rebuild, NULL),
					 0);
			x->reading = true;
		}
		if (x->reading) {
			bool stop = false;
			while (nsi_log_read(&x->rd, on_msg, NULL, x, 64, &stop) > 0)
				;
			assert_false(x->rd.corrupt);
		}
		assert_true(nsi_receiver_do_work(&x->r, g->now) >= 0);
	}
	g->ndown = 0;
	g->now += 100 * US;
}

/* Publish @total messages, a few per step, then run until all have them (bounded). */
static void
run(struct group *g, uint64_t total)
{
	uint8_t buf[512];
	uint64_t seq = 0;
	for (int s = 0; s < 20000; s++) {
		for (int k = 0; k < 4 && seq < total; k++) {
			size_t len = message(seq, buf);
			int64_t r = nsi_log_append(&g->pub, true, buf, (int32_t)len);
			if (r == NSI_LOG_ROTATED)
				r = nsi_log_append(&g->pub, true, buf, (int32_t)len);
			if (r <= 0 || nsi_log_tail_position(&g->pub) >
					      nsi_load_acquire_i64(&g->pub.meta->publisher_limit))
				break;
			seq++;
		}
		step(g);
		bool done = seq == total;
		for (int i = 0; i < RCVS; i++)
			done &= g->rcv[i].received == total;
		if (done)
			return;
	}
}

static uint64_t
naks(const struct group *g)
{
	uint64_t n = 0;
	for (int i = 0; i < RCVS; i++)
		n += g->rcv[i].r.stats.naks;
	return n;
}

static void
one_loss_seen_by_ten_costs_few_naks(void **state)
{
	(void)state;
	uint64_t most = 0, total_naks = 0;
	for (uint64_t seed = 1; seed <= 20; seed++) {
		struct group *g = group_new(seed, 10 * MS);
		g->drop_at = 5 + seed % 7;
		run(g, 2000);
		for (int i = 0; i < RCVS; i++) {
			assert_int_equal(g->rcv[i].received, 2000);
			assert_int_equal(g->rcv[i].bad, 0);
		}
		uint64_t n = naks(g);
		assert_true(n >= 1);
		assert_true(n <= 3);
		assert_int_equal(g->s.stats.retransmits, 1);
		most = n > most ? n : most;
		total_naks += n;
		group_free(g);
	}
	print_message("# one datagram lost by 10 receivers, 20 seeds: %llu NAKs in all, at most "
		      "%llu for one loss; 1 retransmit each\n",
		      (unsigned long long)total_naks, (unsigned long long)most);
}

/* The same without the spread: every receiver NAKs (what the spread saves). */
static void
without_the_spread_everyone_naks(void **state)
{
	(void)state;
	struct group *g = group_new(3, 0);
	g->drop_at = 6;
	run(g, 2000);
	for (int i = 0; i < RCVS; i++)
		assert_int_equal(g->rcv[i].received, 2000);
	print_message("# without the spread: %llu NAKs, %llu retransmits\n",
		      (unsigned long long)naks(g), (unsigned long long)g->s.stats.retransmits);
	assert_int_equal(naks(g), RCVS);
	assert_int_equal(g->s.stats.retransmits, 1);
	group_free(g);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(one_loss_seen_by_ten_costs_few_naks),
		cmocka_unit_test(without_the_spread_everyone_naks),
	};
	return cmocka_run_group_tests_name("group", tests, NULL, NULL);
}

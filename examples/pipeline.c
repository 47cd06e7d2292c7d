/* SPDX-License-Identifier: MIT */
/*
 * Pipeline: decode, then price, then journal. Each stage runs on its own thread and sees an
 * event only after the stage before it has finished it, so it can rely on that stage's
 * writes to the slot. Producers publish with a translator (ns_publish).
 */
#include <inttypes.h>
#include <stdio.h>

#include <nanostream/nanostream.h>

#define EVENTS 1000000

struct order {
	uint64_t raw;	   /* as received */
	uint32_t qty;	   /* decode */
	uint32_t px;	   /* decode */
	uint64_t notional; /* price */
};

static int
receive(void *slot, int64_t seq, void *arg)
{
	struct order *o = slot;

	(void)arg;
	o->raw = (uint64_t)seq << 32 | (uint64_t)(seq % 100 + 1);
	return 0;
}

static int
decode(void *ctx, void *slot, int64_t seq, bool end_of_batch)
{
	struct order *o = slot;

	(void)ctx, (void)seq, (void)end_of_batch;
	o->qty = (uint32_t)(o->raw & 0xffffffff);
	o->px = (uint32_t)(o->raw >> 32);
	return 0;
}

static int
price(void *ctx, void *slot, int64_t seq, bool end_of_batch)
{
	struct order *o = slot;

	(void)ctx, (void)seq, (void)end_of_batch;
	o->notional = (uint64_t)o->qty * o->px;
	return 0;
}

static int
journal(void *ctx, void *slot, int64_t seq, bool end_of_batch)
{
	(void)seq, (void)end_of_batch;
	*(uint64_t *)ctx += ((const struct order *)slot)->notional;
	return 0;
}

int
main(void)
{
	struct ns_ring_opts ro = NS_RING_OPTS_INIT;
	ns_event_fn stages[3] = { decode, price, journal };
	ns_consumer *c[3];
	uint64_t total = 0;
	ns_ring *ring;

	ro.capacity = 1024;
	ro.slot_size = sizeof(struct order);
	ro.wait = NS_WAIT_YIELD;
	if (ns_ring_create(&ring, &ro) < 0)
		return 1;
	for (int i = 0; i < 3; i++) {
		struct ns_consumer_opts co = NS_CONSUMER_OPTS_INIT;
		co.on_event = stages[i];
		co.ctx = &total;
		co.after = i > 0 ? &c[i - 1] : NULL; /* each stage runs after the previous one */
		co.after_count = i > 0 ? 1 : 0;
		if (ns_consumer_create(&c[i], ring, &co) < 0 ||
		    ns_consumer_start(c[i], -1, "pipeline") < 0)
			return 1;
	}

	for (int i = 0; i < EVENTS; i++)
		ns_publish(ring, receive, NULL);
	ns_ring_drain(ring, ns_clock_ns() + INT64_C(60000000000), NULL);
	for (int i = 0; i < 3; i++)
		ns_consumer_join(c[i]);

	uint64_t expected = 0;
	for (uint64_t s = 0; s < EVENTS; s++)
		expected += s * (s % 100 + 1);
	printf("journaled notional %" PRIu64 " (expected %" PRIu64 ")\n", total, expected);
	for (int i = 2; i >= 0; i--)
		ns_consumer_destroy(c[i]);
	ns_ring_destroy(ring);
	return total == expected ? 0 : 1;
}

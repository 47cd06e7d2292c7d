/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target (issue 17): datagrams from a hostile network into the receiver. The input
 * is cut into datagrams (2-byte lengths); a setup for the stream is given first so data has
 * an image to land in. Nothing may read or write out of bounds (ASan), the image's rebuild
 * position never passes its high-water mark, and gaps stay within a term of the rebuild position (what a receiver accepts past its readers).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "driver/receiver.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define TERM (64 * 1024)

static void *mem;
static struct nsi_log log_;
static bool made;

static int
f_send(void *ctx, const struct nsi_udp_addr *to, const uint8_t *buf, size_t len)
{
	(void)ctx, (void)to, (void)buf;
	return (int)len;
}

static struct nsi_log *
f_create(void *ctx, const struct nsi_frame *setup, const struct nsi_udp_addr *src, void **owner)
{
	(void)ctx, (void)src;
	if (made || setup->u.setup.term_length != TERM)
		return NULL;
	size_t bytes = nsi_log_bytes(TERM);
	memset(mem, 0, bytes);
	struct nsi_log_params p = { .term_length = TERM,
				    .mtu = 1408,
				    .initial_term_id = setup->u.setup.initial_term_id,
				    .session_id = setup->session_id,
				    .stream_id = setup->stream_id,
				    .page_size = 4096 };
	if (nsi_log_init(&log_, mem, bytes, &p) != 0)
		return NULL;
	made = true;
	*owner = &log_;
	return &log_;
}

static int64_t
f_slowest(void *ctx, void *owner, int64_t rebuild)
{
	(void)ctx, (void)owner;
	return rebuild;
}

static void
f_ended(void *ctx, void *owner, int reason)
{
	(void)ctx, (void)owner, (void)reason;
	made = false;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (mem == NULL) {
		mem = aligned_alloc(4096, nsi_log_bytes(TERM));
		if (mem == NULL)
			abort();
	}
	made = false;
	struct nsi_receiver r;
	struct nsi_receiver_ops ops = { f_send, f_create, f_slowest, f_ended, NULL };
	struct nsi_receiver_params p = { .window = TERM / 2,
					 .status_ns = 1000,
					 .nak_delay_ns = 10,
					 .nak_retry_ns = 100,
					 .liveness_ns = 1000000,
					 .receiver_id = 1 };
	nsi_receiver_init(&r, &ops, NULL, &p);
	struct nsi_udp_addr from;
	memset(&from, 0, sizeof(from));
	from.ss.ss_family = 2; /* AF_INET */
	from.len = 16;
	uint8_t setup[64];
	struct nsi_frame f = { .session_id = 1, .stream_id = 1 };
	f.u.setup.initial_term_id = 5;
	f.u.setup.active_term_id = 5;
	f.u.setup.term_length = TERM;
	f.u.setup.mtu = 1408;
	nsi_receiver_on_datagram(&r, setup, nsi_wire_put_setup(setup, sizeof(setup), &f), &from, 0);
	int64_t now = 1;
	size_t at = 0;
	static uint8_t dgram[NSI_WIRE_MAX_DGRAM + 1];
	while (at + 2 <= size) {
		size_t len = (size_t)data[at] | (size_t)data[at + 1] << 8;
		at += 2;
		if (len > size - at)
			len = size - at;
		memcpy(dgram, data + at, len); /* a buffer of exactly this size's worth */
		nsi_receiver_on_datagram(&r, dgram, len, &from, now);
		at += len;
		now += 50;
		if (nsi_receiver_do_work(&r, now) < 0)
			abort();
		for (int i = 0; i < r.nimages; i++) {
			const struct nsi_image_rx *im = &r.images[i].rx;
			/* Nothing is accepted a term or more past the slowest reader (image_rx.h). */
			if (im->rebuild > im->hwm || im->hwm - im->rebuild > TERM)
				abort();
		}
	}
	return 0;
}

/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target (docs/testing.md I5): a command-and-control image, hostile. A well-formed
 * header is laid out (so the fuzzer reaches the sections), the input overwrites it from byte
 * 0 and then the sections, the image is attached (which checks every length against the
 * image), then read the way clients, tools and the driver read it: every counter, the error
 * log, every broadcast record, every command record.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ipc/cnc.h"
#include "ipc/proto.h"
#include "util/atomic.h"

static uint64_t sink;

static void
on_counter(void *ctx, int32_t id, int32_t type_id, int64_t owner_id, int64_t key, const char *label,
	   int64_t value)
{
	(void)ctx;
	sink += (uint64_t)id + (uint64_t)type_id + (uint64_t)owner_id + (uint64_t)key +
		(uint64_t)value + strlen(label);
}

static void
on_error(void *ctx, int32_t count, int64_t first_ns, int64_t last_ns, const char *text,
	 int32_t length)
{
	(void)ctx;
	sink += (uint64_t)count + (uint64_t)first_ns + (uint64_t)last_ns + strlen(text) +
		(uint64_t)length;
}

static void
on_command(void *ctx, int32_t type, const uint8_t *msg, int32_t length)
{
	(void)ctx;
	for (int32_t i = 0; i < length; i++)
		sink += msg[i];
	sink += (uint64_t)type;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uint8_t *mem;
	static size_t bytes;
	struct nsi_cnc_params p = { .to_driver_bytes = 1024,
				    .to_clients_bytes = 1024,
				    .counters = 8,
				    .error_log_bytes = 1024 };
	if (mem == NULL) {
		bytes = nsi_cnc_bytes(&p);
		mem = aligned_alloc(4096, bytes);
	}
	memset(mem, 0, bytes);
	struct nsi_cnc_header *h = (struct nsi_cnc_header *)(void *)mem;
	h->magic = NSI_CNC_MAGIC;
	h->version = NSI_CNC_VERSION;
	h->header_bytes = NSI_CNC_HEADER_BYTES;
	h->to_driver_bytes = 1024 + NSI_MPSC_TRAILER;
	h->to_clients_bytes = 1024 + NSI_BCAST_TRAILER;
	h->counters_meta_bytes = 8 * NSI_COUNTER_META_BYTES;
	h->counters_values_bytes = 8 * NSI_COUNTER_VALUE_BYTES;
	h->error_log_bytes = 1024;
	/* The input's first byte says where it lands: on the header or on the sections. */
	size_t at = size > 0 && (data[0] & 1) ? NSI_CNC_HEADER_BYTES : 0;
	size_t n = size < bytes - at ? size : bytes - at;
	memcpy(mem + at, data, n);
	struct nsi_cnc cnc;
	if (nsi_cnc_attach(&cnc, mem, bytes) != 0)
		return 0;
	(void)nsi_counters_foreach(&cnc.counters, on_counter, NULL);
	for (int32_t id = -1; id <= 8; id++)
		(void)nsi_counter_type(&cnc.counters, id);
	(void)nsi_errlog_read(&cnc.errors, on_error, NULL);
	/*
	 * Broadcast receivers at the start, at the latest record, and at a cursor the input picks
	 * (issue 14.5): each call is bounded, and a receiver settles ("none") within a few calls.
	 * Then the transmitter (with the tail the image holds: it must not trust it) sends, and
	 * the receivers read again.
	 */
	uint8_t out[512];
	int32_t type, len;
	struct nsi_bcast_receiver rx[3] = { { .b = &cnc.to_clients, .cursor = 0 } };
	nsi_bcast_receiver_init(&rx[1], &cnc.to_clients);
	rx[2] = rx[0];
	if (size >= 16)
		memcpy(&rx[2].cursor, data + 8, 8);
	rx[2].cursor &= (INT64_C(1) << 62) - 8; /* a receiver's cursor is always a position */
	for (int k = 0; k < 3; k++) {
		int i = 0;
		while (i < 64 && nsi_bcast_receive(&rx[k], &type, out, sizeof(out), &len) != 0)
			i++;
		if (i == 64)
			__builtin_trap(); /* never settled: a receiver would spin */
	}
	cnc.to_clients.tx_tail = nsi_load_relaxed_i64(&cnc.to_clients.trailer->tail) & ~7;
	(void)nsi_bcast_transmit(&cnc.to_clients, 1, "notice", 6);
	for (int k = 0; k < 3; k++)
		for (int i = 0; i < 64 && nsi_bcast_receive(&rx[k], &type, out, sizeof(out), &len);
		     i++)
			sink += (uint64_t)len;
	/* The error log as the driver appends to it (scanning whatever records are there). */
	(void)nsi_errlog_record(&cnc.errors, 1, "an error text");
	/*
	 * The command ring's reader, its clock moving past the stall timeout between reads:
	 * stalled records are skipped, impossible ones given up (issue 14.1). Then a writer on
	 * whatever tail the image holds, and the reader once more.
	 */
	for (int i = 0; i < 8; i++)
		if (nsi_mpsc_read(&cnc.to_driver, on_command, NULL, 16, (int64_t)i * 2000000000) ==
			    0 &&
		    i > 2)
			break;
	(void)nsi_mpsc_write(&cnc.to_driver, 5, "keepalive", 9);
	(void)nsi_mpsc_read(&cnc.to_driver, on_command, NULL, 16, 20000000000);
	return 0;
}

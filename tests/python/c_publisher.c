/* SPDX-License-Identifier: MIT */
/*
 * A C publisher for the Python subscriber of tests/python/test_processes.py:
 *   c_publisher DIR STREAM COUNT
 * joins the driver of DIR (started by the test) and offers COUNT messages on ns:ipc: each an
 * u64 number, an u32 CRC-32 (zlib's) of the bytes after it, and 4 + (number % 200) payload
 * bytes derived from the number. Exit status 0 once all went, 1 on a failure.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <nanostream/nanostream.h>

static uint32_t
crc32(const uint8_t *p, size_t n)
{
	uint32_t c = 0xffffffffu;
	for (size_t i = 0; i < n; i++) {
		c ^= p[i];
		for (int k = 0; k < 8; k++)
			c = (c >> 1) ^ (0xedb88320u & (0u - (c & 1u)));
	}
	return ~c;
}

int
main(int argc, char **argv)
{
	if (argc != 4)
		return 2;
	struct ns_client_opts o = NS_CLIENT_OPTS_INIT;
	o.dir = argv[1];
	o.flags = NS_CLIENT_NO_EMBEDDED;
	int32_t stream = (int32_t)atoi(argv[2]);
	long count = atol(argv[3]);
	ns_client *c;
	ns_publication *p;
	if (ns_client_create(&c, &o) != 0 || ns_publication_add(c, "ns:ipc", stream, 0, &p) != 0) {
		fprintf(stderr, "c_publisher: %s\n", ns_errmsg());
		return 1;
	}
	uint8_t msg[8 + 4 + 204];
	for (long i = 0; i < count; i++) {
		uint64_t n = (uint64_t)i;
		size_t len = 4 + n % 200;
		memcpy(msg, &n, 8);
		for (size_t k = 0; k < len; k++)
			msg[12 + k] = (uint8_t)(n * 7 + k);
		uint32_t crc = crc32(msg + 12, len);
		memcpy(msg + 8, &crc, 4);
		int64_t r = ns_offer_wait(p, msg, 12 + len, NS_WAIT_YIELD,
					  ns_clock_ns() + 30000000000LL);
		if (r < 0) {
			fprintf(stderr, "c_publisher: offer %ld: %s\n", i, ns_strerror((int)r));
			return 1;
		}
	}
	ns_publication_close(p);
	ns_client_close(c);
	return 0;
}

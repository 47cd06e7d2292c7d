/* SPDX-License-Identifier: MIT */
/*
 * UDP sockets (src/net/udp.c), on loopback only: resolution of literals and names with clear
 * refusals, binding and the port the kernel picked, buffer sizes asked and granted, one
 * datagram, a batch cut into datagrams (GSO when the kernel has it, sendmmsg otherwise) that
 * arrives whole and in order, and a datagram longer than the receive buffer reported cut.
 */
#include <errno.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <nanostream/nanostream.h>

#include "net/udp.h"

static void
resolution(void **state)
{
	(void)state;
	struct nsi_udp_addr a;
	char err[128], s[80];
	assert_int_equal(nsi_udp_resolve("127.0.0.1", 40123, &a, err, sizeof(err)), 0);
	assert_int_equal(a.ss.ss_family, AF_INET);
	assert_int_equal(nsi_udp_addr_port(&a), 40123);
	nsi_udp_addr_str(&a, s, sizeof(s));
	assert_string_equal(s, "127.0.0.1:40123");
	assert_int_equal(nsi_udp_resolve("::1", 7, &a, err, sizeof(err)), 0);
	assert_int_equal(a.ss.ss_family, AF_INET6);
	nsi_udp_addr_str(&a, s, sizeof(s));
	assert_string_equal(s, "[::1]:7");
	assert_int_equal(nsi_udp_resolve("localhost", 9, &a, err, sizeof(err)), 0);
	assert_int_equal(a.ss.ss_family, AF_INET); /* IPv4 first */
	assert_int_equal(nsi_udp_resolve("no-such-host.invalid", 9, &a, err, sizeof(err)),
			 -EHOSTUNREACH);
	assert_non_null(strstr(err, "cannot resolve \"no-such-host.invalid\""));
	assert_int_equal(nsi_udp_resolve("127.0.0.1", 70000, &a, err, sizeof(err)), -EINVAL);
}

static void
open_socket(struct nsi_udp_socket *s, int32_t sndbuf, int32_t rcvbuf)
{
	struct nsi_udp_addr any;
	char err[128] = "";
	assert_int_equal(nsi_udp_resolve("127.0.0.1", 0, &any, err, sizeof(err)), 0);
	int rc = nsi_udp_open(s, &any, sndbuf, rcvbuf, err, sizeof(err));
	if (rc != 0)
		fail_msg("nsi_udp_open: %s", err);
}

static void
bind_and_buffers(void **state)
{
	(void)state;
	struct nsi_udp_socket s, t;
	open_socket(&s, 256 * 1024, 256 * 1024);
	struct nsi_udp_addr local;
	assert_int_equal(nsi_udp_local(&s, &local), 0);
	assert_true(nsi_udp_addr_port(&local) > 0);
	assert_int_equal(s.sndbuf_asked, 256 * 1024);
	/* The kernel grants at most its *mem_max; it says what it gave either way. */
	assert_true(s.sndbuf_granted > 0 && s.rcvbuf_granted > 0);
	print_message("# buffers: asked 256 KiB, granted send %d, receive %d; GSO %s\n",
		      s.sndbuf_granted, s.rcvbuf_granted, s.gso ? "yes" : "no");
	/* The same address again: in use, said so. */
	char err[128] = "";
	assert_int_equal(nsi_udp_open(&t, &local, 0, 0, err, sizeof(err)), -EADDRINUSE);
	assert_non_null(strstr(err, "cannot bind 127.0.0.1:"));
	assert_int_equal(t.fd, -1);
	/* An address this machine does not have. */
	struct nsi_udp_addr far;
	assert_int_equal(nsi_udp_resolve("192.0.2.1", 0, &far, err, sizeof(err)), 0);
	assert_int_equal(nsi_udp_open(&t, &far, 0, 0, err, sizeof(err)), -EADDRNOTAVAIL);
	nsi_udp_close(&s);
	nsi_udp_close(&s); /* twice is harmless */
}

/* Receive until @want datagrams arrived or 5 s passed. */
static int
receive(struct nsi_udp_socket *r, struct nsi_udp_dgram *d, int want)
{
	int got = 0;
	int64_t deadline = ns_clock_ns() + 5000000000LL;
	while (got < want && ns_clock_ns() < deadline) {
		int n = nsi_udp_recv(r, d + got, want - got);
		assert_true(n >= 0);
		got += n;
	}
	return got;
}

static void
datagrams_arrive_whole_and_in_order(void **state)
{
	(void)state;
	struct nsi_udp_socket a, b;
	open_socket(&a, 0, 0);
	open_socket(&b, 0, 1 << 20);
	struct nsi_udp_addr to;
	assert_int_equal(nsi_udp_local(&b, &to), 0);

	static uint8_t out[64 * 1408], in[64][2048];
	struct nsi_udp_dgram d[64];
	for (int i = 0; i < 64; i++)
		d[i] = (struct nsi_udp_dgram){ .buf = in[i], .cap = sizeof(in[i]) };
	for (size_t i = 0; i < sizeof(out); i++)
		out[i] = (uint8_t)(i * 7 + i / 1408);

	struct iovec iov[2] = { { out, 100 }, { out + 100, 28 } };
	assert_int_equal(nsi_udp_send(&a, &to, iov, 2), 128);
	assert_int_equal(receive(&b, d, 1), 1);
	assert_int_equal(d[0].len, 128);
	assert_memory_equal(in[0], out, 128);
	struct nsi_udp_addr from;
	assert_int_equal(nsi_udp_local(&a, &from), 0);
	assert_int_equal(nsi_udp_addr_port(&d[0].from), nsi_udp_addr_port(&from));

	/* 45 datagrams of 1408 bytes and one of 500, in one call. */
	size_t count = 45 * 1408 + 500;
	assert_int_equal(nsi_udp_send_segments(&a, &to, out, count, 1408), (int)count);
	assert_int_equal(receive(&b, d, 46), 46);
	for (int i = 0; i < 46; i++) {
		size_t want = i < 45 ? 1408 : 500;
		assert_int_equal(d[i].len, want);
		assert_memory_equal(in[i], out + (size_t)i * 1408, want);
	}
	/* Without GSO the same call falls back to sendmmsg. */
	bool had = a.gso;
	a.gso = false;
	assert_int_equal(nsi_udp_send_segments(&a, &to, out, 3 * 1408, 1408), 3 * 1408);
	assert_int_equal(receive(&b, d, 3), 3);
	assert_memory_equal(in[2], out + 2 * 1408, 1408);
	a.gso = had;
	assert_int_equal(nsi_udp_send_segments(&a, &to, out, 10, 0), -EINVAL);

	/* Longer than the receive buffer: cut, and said so. */
	assert_int_equal(nsi_udp_send(&a, &to, &(struct iovec){ out, 3000 }, 1), 3000);
	assert_int_equal(receive(&b, d, 1), 1);
	assert_int_equal(d[0].len, d[0].cap + 1);
	assert_int_equal(nsi_udp_recv(&b, d, 4), 0); /* nothing more waiting */
	nsi_udp_close(&a);
	nsi_udp_close(&b);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(resolution),
		cmocka_unit_test(bind_and_buffers),
		cmocka_unit_test(datagrams_arrive_whole_and_in_order),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

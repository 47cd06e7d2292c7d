/* SPDX-License-Identifier: MIT */
#ifndef NSI_IPC_URI_H
#define NSI_IPC_URI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * Channel URIs: "ns:ipc" or "ns:udp" (also spelled "aeron:ipc", "aeron:udp"), with optional
 * parameters after '?', separated by '|' (Aeron's way) or '&':
 * "ns:ipc?term-length=1m&mtu=1408", "ns:udp?endpoint=10.1.2.3:40123|mtu=8k".
 *
 * Both media:
 *   term-length  bytes per term: a power of two from 64k to 1g (suffixes k, m, g)
 *   mtu          bytes per frame, header included: 64 to 65504, a multiple of 32
 *   session-id   the publication's session id (a 32-bit integer); otherwise the driver picks
 *   max-message  the longest message, 1 up to term-length / 8 (at most 16m); otherwise that
 * ns:udp only:
 *   endpoint     host:port (IPv4, a host name, or [IPv6]:port), required: where a publication
 *                sends, what a subscription binds (0.0.0.0 for every local address)
 *   interface    host[:port][/prefix]: the local address to send from or bind
 *   rcv-wnd      the receiver window, 4k to 1g; so-sndbuf, so-rcvbuf: socket buffers, 4k to 1g
 *   nak-delay    0 to 1s; linger 0 to 1h (durations: a number with ns, us, ms or s)
 *   reliable     true or false (false: gaps become padding and a loss record, never a stall)
 *   ttl          0 to 255 (multicast)
 *
 * Keys may appear once. Errors name the bad part.
 */

#define NSI_URI_MAX	 512
#define NSI_URI_HOST_MAX 255

enum nsi_media { NSI_MEDIA_IPC = 1, NSI_MEDIA_UDP = 2 };

/* A host and port as written (resolved by the driver, not here). */
struct nsi_uri_addr {
	char host[NSI_URI_HOST_MAX + 1]; /* without brackets for IPv6; zero-padded */
	int32_t port;			 /* 0: none given */
	int32_t prefix;			 /* subnet prefix length, -1: none given */
	bool set;
};

struct nsi_uri {
	int media;
	int32_t term_length; /* 0: the driver's default */
	int32_t mtu;	     /* 0: the driver's default */
	int32_t session_id;
	int32_t max_message; /* 0: the log's largest */
	bool has_session_id;
	/* ns:udp */
	struct nsi_uri_addr endpoint, interface;
	int32_t rcv_wnd, so_sndbuf, so_rcvbuf; /* 0: the driver's default */
	int64_t nak_delay_ns, linger_ns;       /* -1: the driver's default */
	int32_t reliable;		       /* -1: default (true), 0, 1 */
	int32_t ttl;			       /* -1: default */
};

/* Parse @s. Returns 0, or -EINVAL with a message in @err (when not NULL). */
int nsi_uri_parse(const char *s, struct nsi_uri *u, char *err, size_t err_len);

/* Write the canonical form of @u. Returns its length, or -ENOSPC. */
int nsi_uri_print(const struct nsi_uri *u, char *buf, size_t len);

#endif /* NSI_IPC_URI_H */

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
 *   control      host:port: a publication's control address (multi-destination-cast: its
 *                receivers send status messages there), or what a subscription sends its
 *                status messages to (a dynamic MDC publication's control address)
 *   control-mode dynamic (receivers register by their status messages) or manual
 *                (destinations added by the application); then endpoint is optional
 *   fc           flow control of multicast and MDC publications: max, min or tagged, then
 *                options ",g:TAG" (tagged only: the group's tag; a 64-bit integer), "/MIN"
 *                after it or ",g:/MIN" (receivers needed to count as connected),
 *                ",t:DURATION" (a silent receiver is forgotten after it)
 *   gtag         a subscription's group tag (a 64-bit integer), sent in its status messages
 *
 * A multicast endpoint (IPv4 224.0.0.0/4 or IPv6 ff00::/8, as a literal) must end in an odd
 * byte: its control address (where receivers send status messages and NAKs) is the next
 * one, as Aeron has it. An IPv6 group of link-local scope needs interface=.
 *
 * Keys may appear once. Errors name the bad part.
 */

#define NSI_URI_MAX	    512
#define NSI_URI_HOST_MAX    255
#define NSI_URI_GROUP_MAX   1024 /* fc's /MIN */
#define NSI_URI_GROUP_MAX_S "1024"

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
	struct nsi_uri_addr control;
	int32_t control_mode; /* 0: none, NSI_URI_CONTROL_DYNAMIC or _MANUAL */
	int32_t fc;	      /* 0: the default, or NSI_URI_FC_* */
	int32_t fc_group_min; /* -1: none given */
	int64_t fc_group_tag;
	int64_t fc_timeout_ns; /* -1: the default */
	int64_t gtag;
	bool fc_has_group_tag;
	bool has_gtag;
	bool multicast; /* the endpoint is a multicast group (a literal address) */
};

enum { NSI_URI_CONTROL_DYNAMIC = 1, NSI_URI_CONTROL_MANUAL = 2 };
/* The values of driver/flowctl.h's enum nsi_fc_kind. */
enum { NSI_URI_FC_MAX = 1, NSI_URI_FC_MIN = 2, NSI_URI_FC_TAGGED = 3 };

/* Parse @s. Returns 0, or -EINVAL with a message in @err (when not NULL). */
int nsi_uri_parse(const char *s, struct nsi_uri *u, char *err, size_t err_len);

/* Write the canonical form of @u. Returns its length, or -ENOSPC. */
int nsi_uri_print(const struct nsi_uri *u, char *buf, size_t len);

#endif /* NSI_IPC_URI_H */

/* SPDX-License-Identifier: MIT */
#ifndef NSI_IPC_URI_H
#define NSI_IPC_URI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * Channel URIs: "ns:ipc" with optional parameters, "ns:ipc?term-length=1m&mtu=1408".
 *
 *   term-length  bytes per term: a power of two from 64k to 1g (suffixes k, m, g)
 *   mtu          bytes per frame, header included: 64 to 65504, a multiple of 32
 *   session-id   the publication's session id (a 32-bit integer); otherwise the driver picks
 *   max-message  the longest message, 1 up to term-length / 8 (at most 16m); otherwise that
 *
 * Keys may appear once. Errors name the bad part.
 */

#define NSI_URI_MAX 512

enum nsi_media { NSI_MEDIA_IPC = 1 };

struct nsi_uri {
	int media;
	int32_t term_length; /* 0: the driver's default */
	int32_t mtu;	     /* 0: the driver's default */
	int32_t session_id;
	int32_t max_message; /* 0: the log's largest */
	bool has_session_id;
};

/* Parse @s. Returns 0, or -EINVAL with a message in @err (when not NULL). */
int nsi_uri_parse(const char *s, struct nsi_uri *u, char *err, size_t err_len);

/* Write the canonical form of @u. Returns its length, or -ENOSPC. */
int nsi_uri_print(const struct nsi_uri *u, char *buf, size_t len);

#endif /* NSI_IPC_URI_H */

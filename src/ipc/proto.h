/* SPDX-License-Identifier: MIT */
#ifndef NSI_IPC_PROTO_H
#define NSI_IPC_PROTO_H

#include <stdint.h>

/*
 * Messages between clients and the driver: commands on the command ring, responses and
 * notices on the broadcast buffer. Fixed little-endian structs followed by a variable part
 * (a URI, a file name or an error text, not NUL-terminated). Receivers check the length of
 * every message against its struct and its variable part before use.
 */

enum nsi_cmd_type {
	NSI_CMD_ADD_PUBLICATION = 1,
	NSI_CMD_REMOVE_PUBLICATION = 2,
	NSI_CMD_ADD_SUBSCRIPTION = 3,
	NSI_CMD_REMOVE_SUBSCRIPTION = 4,
	NSI_CMD_KEEPALIVE = 5,
	NSI_CMD_CLIENT_CLOSE = 6,
	NSI_CMD_IMAGE_CORRUPT = 7, /* registration_id: the image's id; no answer */
	NSI_CMD_ADD_DESTINATION = 8,
	NSI_CMD_REMOVE_DESTINATION = 9,
};

enum nsi_rsp_type {
	NSI_RSP_PUBLICATION_READY = 101,
	NSI_RSP_SUBSCRIPTION_READY = 102,
	NSI_RSP_ERROR = 103,
	NSI_RSP_OK = 104,
	NSI_RSP_IMAGE_AVAILABLE = 105,
	NSI_RSP_IMAGE_UNAVAILABLE = 106,
};

#define NSI_NAME_MAX 64 /* file names the driver hands out */

/* ADD_PUBLICATION / ADD_SUBSCRIPTION */
struct nsi_cmd_add {
	int64_t client_id;
	int64_t correlation_id;
	int32_t stream_id;
	int32_t exclusive;
	int32_t uri_length;
	int32_t reserved;
	/* then uri_length bytes of URI */
};

/* REMOVE_PUBLICATION / REMOVE_SUBSCRIPTION / KEEPALIVE / CLIENT_CLOSE / IMAGE_CORRUPT */
struct nsi_cmd_remove {
	int64_t client_id;
	int64_t correlation_id;
	int64_t registration_id;
};

/* ADD_DESTINATION / REMOVE_DESTINATION: of the publication the client registered so */
struct nsi_cmd_destination {
	int64_t client_id;
	int64_t correlation_id;
	int64_t registration_id;
	int32_t uri_length;
	int32_t reserved;
	/* then uri_length bytes of URI (ns:udp?endpoint=host:port) */
};

struct nsi_rsp_publication {
	int64_t correlation_id;
	int64_t registration_id; /* of the log: shared publications share it */
	int32_t session_id;
	int32_t stream_id;
	int32_t exclusive;
	int32_t name_length;
	/* then the log file's name in the driver directory */
};

struct nsi_rsp_error {
	int64_t correlation_id;
	int32_t code; /* negative errno */
	int32_t text_length;
	/* then the text */
};

struct nsi_rsp_ok {
	int64_t correlation_id;
};

struct nsi_rsp_image {
	int64_t subscription_id; /* the subscription's registration (its correlation id) */
	int64_t image_id;	 /* the link's id: new for every subscription-log pairing */
	int64_t position;	 /* join position, or end of stream for UNAVAILABLE */
	int32_t session_id;
	int32_t stream_id;
	int32_t position_counter;
	int32_t name_length;
	/* then the log file's name (AVAILABLE only) */
};

#endif /* NSI_IPC_PROTO_H */

/* SPDX-License-Identifier: MIT */
#ifndef NSI_DRIVER_IPC_PUBLICATION_H
#define NSI_DRIVER_IPC_PUBLICATION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ipc/proto.h"
#include "ipc/uri.h"
#include "log/logfile.h"

struct nsi_driver;
struct drv_net_pub;
struct drv_endpoint;

/* What a log in the driver's list is: the conductor links subscriptions to IPC logs and images. */
enum drv_pub_kind {
	DRV_PUB_IPC = 0, /* an IPC publication */
	DRV_PUB_NET,	 /* a UDP publication: sent by the driver, never linked locally */
	DRV_PUB_IMAGE,	 /* a UDP image: written by the driver's receiver */
};

#define DRV_CHANNEL_MAX (NSI_URI_HOST_MAX + 16)

/*
 * An IPC publication: a log file in the driver directory that publishers append to directly.
 * Its rules, which a network publication will not share:
 * - publishers raise their own limit and clean the terms behind the slowest subscriber (log.c,
 *   client/publication.c): nothing behind the slowest subscriber is ever needed again;
 * - a frame reserved and left uncommitted past the unblock timeout belongs to a publisher
 *   that died: it is padded over so subscribers carry on (nsi_ipc_pub_on_timer());
 * - when the last publisher closes, every such hole is padded at once and the stream ends at
 *   the tail (nsi_ipc_pub_end_stream()).
 */
struct drv_pub {
	int64_t reg_id;
	int32_t session_id;
	int32_t stream_id;
	bool exclusive;
	int refs;
	struct nsi_logfile lf;
	char name[NSI_NAME_MAX];
	int64_t blocked_pos;	       /* the slowest subscriber's position while it did not move */
	int64_t blocked_since;	       /* since when */
	int32_t pos_counter;	       /* the log's tail, for ns-stat (-1: none) */
	int32_t lim_counter;	       /* the publishers' limit (-1: none) */
	int32_t net_counter[2];	       /* network: sender position and limit, or an image's
					  high-water mark and position (-1: none) */
	int kind;		       /* enum drv_pub_kind */
	char channel[DRV_CHANNEL_MAX]; /* "ipc", or "udp:HOST:PORT" (the endpoint) */
	struct drv_net_pub *net;       /* DRV_PUB_NET: socket and sender */
	struct drv_endpoint *ep;       /* DRV_PUB_IMAGE: the endpoint it arrives on */
};

/* A log's counter key: its session id above its stream id (what ns-stat groups by). */
static inline int64_t
drv_pub_key(const struct drv_pub *p)
{
	return (int64_t)((uint64_t)(uint32_t)p->session_id << 32 | (uint32_t)p->stream_id);
}

/* The log parameters a publication or an image is created with. */
struct drv_log_spec {
	int32_t stream_id, session_id, initial_term_id;
	int32_t term_length, mtu, max_message;
	bool exclusive, driver_managed;
	const char *prefix; /* file name prefix: "pub" or "img" */
};

/*
 * Create a log file (named from the driver's instance, the prefix and a new registration id)
 * and its two counters. Returns it (kind DRV_PUB_IPC, channel "ipc": the caller sets them),
 * or NULL with *rc and a sentence in @err.
 */
struct drv_pub *nsi_drv_log_create(struct nsi_driver *d, const struct drv_log_spec *spec, char *err,
				   size_t err_len, int *rc);

/*
 * Create a publication's log file (named from the driver's instance and a new registration
 * id) and its two counters. Returns it, or NULL with *rc (-ENOMEM or the file's error) and a
 * sentence in @err.
 */
struct drv_pub *nsi_ipc_pub_create(struct nsi_driver *d, int32_t stream_id, bool exclusive,
				   const struct nsi_uri *uri, int32_t term, int32_t mtu, char *err,
				   size_t err_len, int *rc);

/* Timer work: pad over a dead publisher's frame once it blocked subscribers long enough. */
void nsi_ipc_pub_on_timer(struct nsi_driver *d, struct drv_pub *p, int64_t now);

/* Copy the tail and the publishers' limit into the counters; returns the tail (bytes). */
int64_t nsi_ipc_pub_refresh(struct nsi_driver *d, const struct drv_pub *p);

/*
 * The last publisher closed: pad every hole up to the tail (bounded work, the metadata is not
 * trusted) and publish the end of stream. Returns it.
 */
int64_t nsi_ipc_pub_end_stream(struct nsi_driver *d, struct drv_pub *p);

/* Unmap the log (its file is the conductor's to remove), release the counters, free it. */
void nsi_ipc_pub_free(struct nsi_driver *d, struct drv_pub *p);

#endif /* NSI_DRIVER_IPC_PUBLICATION_H */

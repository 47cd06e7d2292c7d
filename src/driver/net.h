/* SPDX-License-Identifier: MIT */
#ifndef NSI_DRIVER_NET_H
#define NSI_DRIVER_NET_H

#include <stdbool.h>
#include <stdint.h>
#include <poll.h>

#include "driver/ipc_publication.h"
#include "driver/receiver.h"
#include "driver/sender.h"
#include "ipc/uri.h"
#include "net/udp.h"

/*
 * The driver's UDP transport (issue 17, unicast): network publications (a log the driver
 * sends from, through its own socket) and endpoints (a bound socket and a receiver, whose
 * images are logs subscribers read as they read IPC logs). The conductor opens and closes
 * them; the work on the sockets runs in the network thread of a threaded driver
 * (driver/netloop.c), or inside the conductor's cycle when the driver runs only in its
 * client's calls.
 */

/*
 * TEST ONLY: a seeded loss, duplication and reordering of the datagrams a driver receives,
 * from the environment variable NANOSTREAM_TEST_LOSS ("seed=7,drop=5,dup=1,reorder=2", each
 * a percentage; reordering holds a datagram back behind up to 8 others). Never set it in
 * production: it exists so tests can prove recovery on loopback (docs/testing.md); the
 * driver reports in its error log when it is on.
 */
#define DRV_LOSS_HOLD 8

struct drv_loss {
	uint64_t rng;
	int drop, dup, reorder;
	int n;
	struct {
		uint8_t *buf;
		size_t len;
		struct nsi_udp_addr from;
		int after; /* released after this many more datagrams */
	} held[DRV_LOSS_HOLD];
	uint64_t dropped, duplicated, reordered;
};

/* A multi-destination-cast publication's destinations. */
#define DRV_DESTS 64

struct drv_dest {
	struct nsi_udp_addr addr;
	int64_t receiver_id; /* from its status messages (0: none yet) */
	int64_t last_ns;     /* its last control frame (manual: when added, until one) */
	bool manual;	     /* added by the application: stays until removed */
};

struct drv_net_pub {
	struct nsi_udp_socket sock;
	struct nsi_udp_addr dest; /* unicast and multicast: where data goes */
	int mdc;		  /* 0, or NSI_URI_CONTROL_DYNAMIC / _MANUAL */
	int64_t dest_timeout_ns;  /* dynamic: a destination silent this long is dropped */
	int32_t dests_counter;	  /* MDC: the destinations, for ns-stat (-1: none) */
	int nshown;		  /* receivers with counters, for ns-stat: */
	struct {
		int64_t id;
		int32_t status, silence; /* NSI_COUNTER_RECEIVER_STATUS, _SILENCE */
	} shown[NSI_FC_RECEIVERS];
	int ndests;
	struct drv_dest dests[DRV_DESTS];
	uint64_t dests_added, dests_removed;
	struct nsi_sender sender;
	struct drv_loss *loss; /* test only, NULL normally */
	uint32_t cycles;       /* duty cycles, for how often the control socket is read */
	/* Closed by its publishers and still sending (nsi_net_pub_close()): */
	struct nsi_logfile lf; /* its own mapping of the log */
	int64_t until_ns;      /* gives up then */
	char name[NSI_NAME_MAX];
};

/* How long a closed network publication keeps sending what was offered before it closed. */
#define DRV_NET_LINGER_NS (5000LL * 1000 * 1000)

#define DRV_EP_BATCH 16
#define DRV_EP_SMALL 1024 /* a first datagram this short is handled before reading more */

struct drv_endpoint {
	struct nsi_driver *d;
	char key[DRV_CHANNEL_MAX];
	struct nsi_udp_socket sock;
	struct nsi_receiver rcv;
	int64_t elicit_due_ns;	     /* control= on unicast: the next announcement */
	struct nsi_udp_addr control; /* with has_control: where every control frame goes */
	bool has_control;	     /* (a multicast group's control address, or control=) */
	int refs;		     /* subscriptions on it */
	struct drv_loss *loss;	     /* test only, NULL normally */
	uint8_t *buf;		     /* DRV_EP_BATCH datagrams of NSI_WIRE_MAX_DGRAM + 1 bytes */
	struct nsi_udp_dgram dg[DRV_EP_BATCH];
};

/* The channel key of a URI: "ipc", or "udp:HOST:PORT". */
void nsi_net_channel(const struct nsi_uri *u, char *key, size_t len);

/*
 * Make @p (a new log) a network publication to @u's endpoint: socket, sender. Returns 0, or
 * -errno with the reason in @err.
 */
int nsi_net_pub_open(struct nsi_driver *d, struct drv_pub *p, const struct nsi_uri *u, char *err,
		     size_t err_len);
/*
 * A manual multi-destination-cast publication's destination: @u's endpoint added or removed.
 * 0, or -EINVAL (not such a publication, or not an address), -ENOSPC (DRV_DESTS already),
 * -EEXIST, -ENOENT, with the reason in @err.
 */
int nsi_net_pub_destination(struct nsi_driver *d, struct drv_pub *p, const struct nsi_uri *u,
			    bool add, char *err, size_t err_len);

/*
 * Its publishers closed it at @eos (everything offered before is in the log): it keeps
 * sending, from a mapping of its own, until the receiver has acknowledged @eos (or none is
 * connected, or DRV_NET_LINGER_NS passed), serving NAKs meanwhile; then heartbeats with the
 * end of stream have told the receiver, and the socket closes. @p no longer refers to it.
 */
void nsi_net_pub_close(struct nsi_driver *d, struct drv_pub *p, int64_t eos);
/* The driver ends: every closed publication still sending stops now. */
void nsi_net_drains_free(struct nsi_driver *d);

/* The endpoint of @u, bound on first use. NULL with -errno in *rc and the reason in @err. */
struct drv_endpoint *nsi_net_endpoint_get(struct nsi_driver *d, const struct nsi_uri *u, char *err,
					  size_t err_len, int *rc);
/* One subscription fewer on @ep; the last closes its images and its socket. */
void nsi_net_endpoint_put(struct nsi_driver *d, struct drv_endpoint *ep);

/* The position everything of an image before which has arrived (its end of stream). */
int64_t nsi_net_image_end(const struct drv_pub *p);

/* One duty cycle of every socket: datagrams in, data, control frames out. Returns the work. */
int nsi_net_do_work(struct nsi_driver *d, int64_t now_ns);

/* Copy the UDP totals (open sockets and closed ones) into the system counters. */
void nsi_net_refresh(struct nsi_driver *d);

/*
 * When the network work next has something to do by itself (senders' and receivers'
 * timers), and in *@watching whether a subscriber's progress should be looked at soon.
 */
int64_t nsi_net_next_due(const struct nsi_driver *d, int64_t now_ns, bool *watching);

/* The sockets to wait on (at most @max), for reading. Returns how many. */
int nsi_net_fds(const struct nsi_driver *d, struct pollfd *fds, int max);

/* Whether any socket is open (a threaded driver then runs its network thread). */
bool nsi_net_active(const struct nsi_driver *d);

#endif /* NSI_DRIVER_NET_H */

/* SPDX-License-Identifier: MIT */
#ifndef NSI_CLIENT_CLIENT_H
#define NSI_CLIENT_CLIENT_H

#include <limits.h>
#include <pthread.h>
#include <stdbool.h>

#include <nanostream/ipc.h>

#include "ipc/cnc.h"
#include "ipc/embedded.h"
#include "ipc/proto.h"
#include "log/logfile.h"
#include "log/reader.h"
#include "util/errmsg.h"

/* A response the client waits for. */
struct nsi_response {
	int64_t correlation_id;
	int32_t type;
	int32_t length;
	uint8_t msg[512];
};

struct ns_client {
	char dir[PATH_MAX - 64];
	struct nsi_cnc cnc;
	int64_t client_id;
	int64_t timeout_ns;
	int64_t driver_timeout_ns;
	uint32_t flags;
	pthread_mutex_t lock; /* conductor state below, and the embedded driver's duty cycle */
	struct nsi_bcast_receiver rx;
	int64_t seen_tail; /* the broadcast tail when the client last read it (atomic) */
	int64_t last_keepalive_ns;
	int64_t (*clock)(void *ctx); /* liveness checks: the driver's heartbeat, keepalives */
	void *clock_ctx;
	struct nsi_response *waiting; /* the response a request waits for */
	ns_subscription **subs;
	int nsubs, cap_subs;
	int npubs;
	struct nsi_driver *driver; /* embedded driver, or NULL */
	pthread_t driver_thread;
	bool driver_threaded;
	bool stop;
	pthread_t conductor_thread; /* keepalives and notices for a driver in another process */
	bool conductor_threaded;
	uint32_t driver_dead; /* atomic: the driver's heartbeat went stale */
	int lock_fd;	      /* probes the directory's lock (driver of another process), or -1 */
	int64_t newest_beat;  /* the newest driver heartbeat seen (not in the future) */
};

struct ns_publication {
	struct nsi_log log; /* first: the hot path's view */
	int64_t limit;	    /* cached publisher limit */
	bool exclusive;
	int32_t pid;
	ns_client *client;
	struct nsi_logfile lf;
	int64_t reg_id; /* the add command's correlation id */
	int32_t session_id;
	int32_t stream_id;
	int32_t lock_seen;    /* the limit lock word last found held, and since when */
	int64_t lock_seen_ns; /* (refresh_limit(): a holder that keeps it too long is displaced) */
	/*
	 * A network log (driver-managed): the CnC word that says the driver's network thread
	 * sleeps, and a socket connected to its wake socket; NULL and -1 otherwise.
	 */
	uint32_t *net_sleeping;
	int wake_fd;
	int64_t lent_ns; /* when a commit last found the network thread asleep */
};

struct ns_image {
	struct nsi_log log;
	/*
	 * Reads log: its end is INT64_MAX until the driver says the stream ended; its
	 * position_out is the position counter, NULL once the stream ended (the driver freed it).
	 */
	struct nsi_log_reader rd;
	int64_t image_id;
	int32_t session_id;
	struct nsi_logfile lf;
	struct ns_subscription *sub;
};

struct nsi_image_gone {
	int64_t image_id;
	int64_t eos;
};

struct ns_subscription {
	/* The polling thread's own. */
	ns_image **images;
	int nimages, cap_images;
	int next;	  /* round-robin start */
	uint32_t changed; /* atomic: the conductor queued arrivals or departures */
	/* Queued by the conductor under the client's lock. */
	ns_image **arrived;
	int narrived, cap_arrived;
	struct nsi_image_gone *gone;
	int ngone, cap_gone;
	int64_t *known; /* images announced and not yet gone (a notice repeated is ignored) */
	int nknown, cap_known;
	/* Fixed. */
	ns_client *client;
	int64_t reg_id;
	int32_t stream_id;
	struct ns_subscription_opts opts;
	/* ns:udp with our own threaded driver: the CnC word that says its network thread sleeps */
	const uint32_t *lend;
};

/* Send a command and wait for the response with its correlation id (client lock taken). */
int nsi_client_request(ns_client *c, int32_t type, const void *msg, int32_t length,
		       int64_t correlation, struct nsi_response *out);
/* Add a publication (@sub false) or subscription; waits for the driver's answer. */
int nsi_client_add(ns_client *c, bool sub, const char *uri, int32_t stream_id, int32_t exclusive,
		   int64_t correlation, struct nsi_response *r);
/* Remove one (best effort). */
void nsi_client_remove(ns_client *c, bool sub, int64_t reg_id);
/* A new correlation id. */
int64_t nsi_client_next_id(ns_client *c);
/* Whether the client found its driver dead (then calls return NS_EDRIVER_TIMEOUT). */
bool nsi_client_driver_dead(const ns_client *c);
/* Conductor work if the lock is free; returns work done. */
int nsi_client_try_work(ns_client *c);
/* Register / forget a subscription for image notices (takes the lock). */
int nsi_client_add_sub(ns_client *c, ns_subscription *s);
void nsi_client_remove_sub(ns_client *c, ns_subscription *s);
/* Back off per wait strategy between retries (iteration counts from 0). */
void nsi_backoff(uint32_t wait, uint64_t iteration);
bool nsi_wait_kind_ok(uint32_t wait);
/* Map a log file of the client's directory. */
int nsi_client_open_log(ns_client *c, const char *name, int32_t name_len, struct nsi_logfile *lf);
/* The default driver directory: $NANOSTREAM_DIR, else /dev/shm/nanostream-USER. 0 or -EINVAL. */
int nsi_default_dir(char *buf, size_t len);
/*
 * Read up to @limit fragments of one image with @fn (or @cfn: controlled), as ns_subscription_poll() does
 * for each image (the fuzz targets drive it over corrupted logs). Returns fragments read; a
 * corrupt log sets img->rd.corrupt.
 */
int nsi_image_read(ns_image *img, ns_fragment_fn fn, ns_controlled_handler_fn cfn, void *ctx,
		   int limit);
/* Free an image (unmap its log). */
void nsi_image_free(ns_image *img);

#endif /* NSI_CLIENT_CLIENT_H */

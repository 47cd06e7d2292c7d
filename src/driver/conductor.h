/* SPDX-License-Identifier: MIT */
#ifndef NSI_DRIVER_CONDUCTOR_H
#define NSI_DRIVER_CONDUCTOR_H

#include <limits.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "driver/driver.h"
#include "driver/ipc_publication.h"
#include "ipc/proto.h"

/*
 * The conductor's state (conductor.c): commands, clients, subscriptions, the links between
 * subscriptions and logs, timers. Publications are their own types with their own rules
 * (ipc_publication.c; network ones will join them): the conductor calls them at add, at every
 * timer, for counters and at close. docs/architecture.md says who does what.
 */

struct drv_handle {
	int64_t reg_id; /* the add command's correlation id */
	int64_t client_id;
	int64_t pub_reg;
};

struct drv_sub {
	int64_t reg_id;
	int64_t client_id;
	int32_t stream_id;
	int32_t session_id; /* with has_session_id: only that session's logs */
	bool has_session_id;
	char channel[DRV_CHANNEL_MAX]; /* "ipc" or "udp:HOST:PORT": the logs it takes */
	struct drv_endpoint *ep;       /* ns:udp: the endpoint it is served by */
};

struct drv_client {
	int64_t id;
	int64_t last_seen_ns; /* its last command or keepalive */
	int64_t pid;	      /* from its keepalives; 0 until the first */
};

/* A subscriber counter whose user has yet to map a closed log or let the counter go. */
struct drv_wait {
	int32_t counter;
	int64_t token; /* the link's id */
};

/*
 * A closed log's file, kept for subscribers that were told of it and have yet to map it: until
 * each of them has mapped it or let its counter go (or is gone), at most until @until.
 */
struct drv_linger {
	char name[NSI_NAME_MAX];
	int64_t until;
	int n;
	struct drv_wait wait[NSI_LOG_MAX_SUBSCRIBERS];
};

/* A subscription to link to a log again at the next timer (its image was found corrupt). */
struct drv_relink {
	int64_t sub_reg;
	int64_t pub_reg;
};

struct drv_link {
	int64_t id; /* the image id subscribers know it by (new for every link) */
	int64_t sub_reg;
	int64_t pub_reg;
	int32_t counter;
	int32_t slot; /* index in the log's subscriber list */
};

#define ARRAY(T)                                                                                   \
	struct {                                                                                   \
		T *v;                                                                              \
		int n, cap;                                                                        \
	}

/* Grow an ARRAY to hold one more; returns false when out of memory. */
#define ARRAY_RESERVE(a)                                                                           \
	((a).n < (a).cap || nsi_drv_grow((void **)&(a).v, &(a).cap, sizeof(*(a).v)))
bool nsi_drv_grow(void **v, int *cap, size_t elem);

struct nsi_driver {
	struct nsi_driver_opts o;
	char dir[PATH_MAX - 64];
	char cnc_path[PATH_MAX];
	struct nsi_cnc cnc;
	ARRAY(struct drv_pub *) pubs;
	ARRAY(struct drv_handle) handles;
	ARRAY(struct drv_sub) subs;
	ARRAY(struct drv_link) links;
	ARRAY(struct drv_client) clients;
	ARRAY(struct drv_linger) lingering;	/* closed logs whose files are removed later */
	ARRAY(struct drv_relink) relinks;	/* images found corrupt, to join again */
	ARRAY(struct drv_endpoint *) endpoints; /* bound UDP endpoints (driver/net.c) */
	ARRAY(struct drv_net_pub *) draining;	/* closed network publications still sending */
	int64_t udp_closed[NSI_SYS_COUNT];	/* UDP totals of sockets already closed */
	int32_t next_session_id;
	int64_t next_reg_id;
	uint32_t prng;
	int64_t pid;		 /* the driver's own: its clients there are alive while it runs */
	int64_t next_timer_ns;	 /* when client liveness is checked next */
	int64_t closed_bytes;	 /* bytes of the logs already closed */
	int64_t closed_messages; /* messages delivered through links already gone */
	bool bcast_pending;
	int lock_fd;   /* the directory's lock, held for the driver's life */
	dev_t cnc_dev; /* cnc.dat as created: removed at the end only if still ours */
	ino_t cnc_ino;
	uint32_t instance; /* in log file names: no two drivers' logs share a name */
	/*
	 * The network thread (driver/netloop.c) of a threaded driver with sockets open. It and
	 * the conductor's thread each hold @duty for a duty cycle, so no state is shared by two
	 * running cycles; the conductor announces itself in @conductor_waiting and the network
	 * thread, which would otherwise take the lock back at once, lets it in.
	 */
	pthread_mutex_t duty;
	uint32_t conductor_waiting;
	pthread_t net_thread;
	bool net_thread_on; /* set and read under @duty */
	bool net_stop;
	int idle;	     /* enum nsi_idle */
	bool busy_cycles;    /* network cycles run back to back (not after a wake-up) */
	void *loss_mem;	     /* loss.dat (ipc/lossreport.h), or NULL */
	int32_t loss_count;  /* its records: ours, never read back from the file */
	int wake_fd;	     /* AF_UNIX datagram socket named in the CnC header, or -1 */
	int64_t lent_ns;     /* atomic: when an application thread last ran a network cycle */
	int64_t net_wake_ns; /* under @duty: when the sleeping network thread wakes by itself */
	int64_t net_lent;    /* under @duty: lent cycles that did work (NSI_SYS_NET_LENT) */
	char wake_name[NSI_CNC_WAKE_NAME];
};

/* Shared with the publication types: counters, the error log, the clock, the random source. */
void nsi_drv_report(struct nsi_driver *d, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
void nsi_drv_sys_add(struct nsi_driver *d, int which, int64_t n);
void nsi_drv_sys_set(struct nsi_driver *d, int which, int64_t v);
int64_t nsi_drv_now(const struct nsi_driver *d);
uint32_t nsi_drv_random(struct nsi_driver *d);
/* The slowest position among the subscriptions linked to @p, or INT64_MAX with none. */
int64_t nsi_drv_slowest(struct nsi_driver *d, const struct drv_pub *p);
/* Tell clients about the notices of this cycle (ring their doorbell once). */
void nsi_drv_flush_notices(struct nsi_driver *d);
/* A new image (driver/net.c): listed and linked to the subscriptions that take it. */
void nsi_drv_pub_added(struct nsi_driver *d, struct drv_pub *p);
/* Close a log: its subscribers are told, its file lingers for them, it is freed. */
void nsi_drv_pub_close(struct nsi_driver *d, struct drv_pub *p);

#endif /* NSI_DRIVER_CONDUCTOR_H */

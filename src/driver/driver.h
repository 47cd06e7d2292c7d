/* SPDX-License-Identifier: MIT */
#ifndef NSI_DRIVER_DRIVER_H
#define NSI_DRIVER_DRIVER_H

#include <stdbool.h>
#include <stdint.h>

#include "driver/cnc.h"

/*
 * The media driver's conductor: owns the CnC file and the log files of a directory, serves
 * the clients' commands, links publications to subscriptions (a position counter per link,
 * listed in the log's metadata, from which publishers compute their limit), and keeps the
 * heartbeat that tells clients it is alive. One thread calls nsi_driver_do_work(); it either
 * runs in a thread of its own (nsi_driver_run: sleeps on the CnC doorbell when idle) or is
 * called from the application's own calls (no-thread mode).
 */

/* A subscriber position counter's second word: the messages it delivered (same line). */
#define NSI_COUNTER_MESSAGES_WORD 1

enum nsi_counter_kind {
	NSI_COUNTER_SUBSCRIBER_POSITION = 1, /* written by the subscriber */
	NSI_COUNTER_SYSTEM = 2,		     /* written by the driver (or counted by clients) */
	NSI_COUNTER_PUBLISHER_POSITION = 3,  /* the log's tail, copied by the driver */
	NSI_COUNTER_PUBLISHER_LIMIT = 4,     /* the publishers' limit, copied by the driver */
};

/* System counters: ids 0 .. NSI_SYS_COUNT - 1 of every driver's CnC, in this order. */
enum nsi_sys_counter {
	NSI_SYS_COMMANDS,	  /* commands handled */
	NSI_SYS_ERRORS,		  /* errors reported to the error log */
	NSI_SYS_CLIENTS,	  /* clients heard from and not closed */
	NSI_SYS_PUBLICATIONS,	  /* logs open */
	NSI_SYS_SUBSCRIPTIONS,	  /* subscriptions open */
	NSI_SYS_BACK_PRESSURE,	  /* offers refused for back pressure (counted by publishers) */
	NSI_SYS_CLIENT_TIMEOUTS,  /* clients timed out */
	NSI_SYS_UNBLOCKED,	  /* logs unblocked after a publisher died mid-message */
	NSI_SYS_CYCLE_MAX_NS,	  /* the longest duty cycle, in ns */
	NSI_SYS_BYTES,		  /* bytes published (frames and padding) in every log so far */
	NSI_SYS_MESSAGES,	  /* messages delivered to subscriptions so far */
	NSI_SYS_COMMANDS_SKIPPED, /* commands a dead or stopped client left unfinished */
	NSI_SYS_COUNT
};

struct nsi_driver_opts {
	const char *dir;
	int64_t (*clock)(void *ctx); /* CLOCK_MONOTONIC ns unless a test injects its own */
	void *clock_ctx;
	int64_t heartbeat_ns;	    /* idle wake-up and heartbeat interval */
	int64_t client_liveness_ns; /* a client silent this long is gone */
	int64_t unblock_timeout_ns; /* a log stuck this long at an uncommitted frame is padded */
	int64_t driver_timeout_ns;  /* clients give up on a driver silent this long */
	int64_t command_timeout_ns; /* a command left unfinished this long is skipped (10 beats) */
	int32_t term_length;	    /* default for publications whose URI does not say */
	int32_t mtu;
	int32_t counters;
	int mem_huge; /* enum nsi_shm_huge, for log files */
	bool prefault;
};

struct nsi_driver;

/*
 * Create the driver of @o->dir: make the directory (0700), create its CnC file. A CnC file
 * left by a dead driver (stale heartbeat or no such process) is replaced, with its logs.
 * Returns 0, -EADDRINUSE (a live driver runs there), -EAGAIN (one is starting: retry), or
 * the directory's or the file's error.
 */
int nsi_driver_create(struct nsi_driver **d, const struct nsi_driver_opts *o);

/*
 * One duty cycle: commands, timers, heartbeat. Returns the amount of work done (0: idle), or
 * -EBADMSG once the driver has failed: its cnc.dat was truncated under it (it then does
 * nothing more; destroy it).
 */
int nsi_driver_do_work(struct nsi_driver *d);

/*
 * Run duty cycles until *stop becomes true (any thread may set it and ring the doorbell) or
 * the driver fails.
 */
void nsi_driver_run(struct nsi_driver *d, const bool *stop);

/* Whether the driver failed (see nsi_driver_do_work()). */
bool nsi_driver_failed(const struct nsi_driver *d);

/* Wake a driver sleeping in nsi_driver_run(). */
void nsi_driver_wake(struct nsi_driver *d);

/* Remove the driver's files and free it. */
void nsi_driver_destroy(struct nsi_driver *d);

/* Clients heard from and not closed. */
int nsi_driver_client_count(const struct nsi_driver *d);

/* The driver's view of its CnC file (for tests and the embedded client). */
struct nsi_cnc *nsi_driver_cnc(struct nsi_driver *d);

#endif /* NSI_DRIVER_DRIVER_H */

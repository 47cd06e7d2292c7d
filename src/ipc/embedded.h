/* SPDX-License-Identifier: MIT */
#ifndef NSI_IPC_EMBEDDED_H
#define NSI_IPC_EMBEDDED_H

#include <stdbool.h>
#include <stdint.h>

/*
 * The media driver as a client starts it inside its own process (the embedded driver). The
 * client needs only this much of the driver, so this is where it is declared: src/driver
 * implements it, src/client calls it, and neither includes the other's headers (the final
 * library links them together). See docs/architecture.md.
 */

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
	int idle; /* enum nsi_idle: how the network thread waits for work */
};

/*
 * How a threaded driver's network thread waits when it has nothing to do. SLEEP (the default):
 * in ppoll() on its sockets, woken by a datagram, a publisher's offer or its next timer;
 * an idle stream costs no CPU. SPIN: it never sleeps (and asks the kernel to busy-poll its
 * sockets where allowed): lowest latency, one core always busy.
 */
enum nsi_idle {
	NSI_IDLE_SLEEP = 0,
	NSI_IDLE_SPIN = 1,
};

/* "sleep" or "spin" (NULL or "": sleep) as enum nsi_idle, or -EINVAL. */
int nsi_idle_parse(const char *s);

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

/*
 * An application thread lends itself to a threaded driver whose network thread sleeps: runs
 * one network cycle (sends what publications hold, reads the sockets) if nobody else runs
 * one, so that the hot path of a stream needs no thread wake-up (driver/netloop.c). Returns
 * the work done (>= 0), or -EAGAIN when the cycle could not be run here (the network thread
 * is awake, or another thread holds the duty): the caller then wakes the thread if it must.
 */
int nsi_driver_lend(struct nsi_driver *d);

/* Wake a driver sleeping in nsi_driver_run(). */
void nsi_driver_wake(struct nsi_driver *d);

/* Remove the driver's files and free it. */
void nsi_driver_destroy(struct nsi_driver *d);

#endif /* NSI_IPC_EMBEDDED_H */

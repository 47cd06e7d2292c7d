/* SPDX-License-Identifier: MIT */
#ifndef NSI_IPC_CNC_H
#define NSI_IPC_CNC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "ipc/broadcast.h"
#include "ipc/mpsc.h"

/*
 * The command-and-control file (cnc.dat in the driver directory): how clients, the driver and
 * ns-stat find each other. A header page, then five sections, each starting on a page:
 *
 *   to-driver   many-to-one command ring (clients -> driver)
 *   to-clients  broadcast buffer (driver -> clients)
 *   counters    metadata records (256 B each) and values (128 B each, one per line pair)
 *   error log   distinct errors with a count and first/last times
 *
 * The driver fills the header and stores the version last (release): a reader that finds
 * version 0 waits; another major version is refused. Everything else in the file is untrusted
 * by readers: lengths must match the file, ids must be in range.
 */

#define NSI_CNC_FILE	      "cnc.dat"
#define NSI_CNC_MAGIC	      UINT64_C(0x31434e43534e) /* "NSCNC1" little-endian */
#define NSI_CNC_VERSION_MAJOR 1
#define NSI_CNC_VERSION_MINOR 0
#define NSI_CNC_VERSION	      ((NSI_CNC_VERSION_MAJOR << 16) | NSI_CNC_VERSION_MINOR)
#define NSI_CNC_HEADER_BYTES  4096
#define NSI_CNC_WAKE_NAME     64		 /* bytes of nsi_cnc_header.net_wake */
#define NSI_CNC_WAKE_PREFIX   "nanostream-wake-" /* every wake socket's name starts so */

struct nsi_cnc_header {
	uint64_t magic;
	int32_t version; /* stored last; 0: not ready */
	int32_t header_bytes;
	int32_t to_driver_bytes;
	int32_t to_clients_bytes;
	int32_t counters_meta_bytes;
	int32_t counters_values_bytes;
	int32_t error_log_bytes;
	int32_t reserved;
	int64_t pid;
	int64_t start_time_ms; /* CLOCK_REALTIME, for people */
	int64_t client_liveness_ns;
	int64_t driver_timeout_ns;
	/*
	 * CLOCK_MONOTONIC: when the driver last copied its totals and log positions into the
	 * counters (every heartbeat); 0 from a driver older than 0.3 (the word was padding).
	 */
	int64_t counters_ns;
	char pad0[128 - 80];
	int64_t driver_heartbeat_ns; /* CLOCK_MONOTONIC; the driver stores it every duty cycle */
	char pad1[120];
	uint32_t driver_doorbell; /* futex: clients bump it after a command */
	char pad2[124];
	uint32_t client_doorbell; /* futex: the driver bumps it after a broadcast */
	char pad3[124];
	/*
	 * 1 while the driver's network thread sleeps (in ppoll on its sockets): a publisher
	 * that commits to a network log and finds 1 here swaps in 0 and wakes it with a datagram
	 * to the socket named below. 0 from drivers older than 0.3 (the words were unused).
	 */
	uint32_t net_sleeping;
	char pad4[60];
	char net_wake[NSI_CNC_WAKE_NAME]; /* abstract AF_UNIX name, NUL-terminated; "" none */
};

_Static_assert(sizeof(struct nsi_cnc_header) <= NSI_CNC_HEADER_BYTES, "header fits its page");

/* Counters. */
#define NSI_COUNTER_META_BYTES	256
#define NSI_COUNTER_VALUE_BYTES 128
#define NSI_COUNTER_LABEL_MAX	(NSI_COUNTER_META_BYTES - 40)

enum nsi_counter_state {
	NSI_COUNTER_FREE = 0,
	NSI_COUNTER_ALLOCATED = 1,
	NSI_COUNTER_RECLAIMED = -1
};

struct nsi_counter_meta {
	int32_t state; /* stored last, with release */
	int32_t type_id;
	int64_t owner_id; /* the client or registration the counter belongs to */
	int64_t key;	  /* a type-specific key, e.g. session id << 32 | stream id */
	int64_t free_at_ns;
	int32_t label_length;
	int32_t reserved;
	char label[NSI_COUNTER_LABEL_MAX];
};

_Static_assert(sizeof(struct nsi_counter_meta) == NSI_COUNTER_META_BYTES, "counter metadata");

/* The allocator's own view of a counter (private memory: the shared metadata only mirrors it). */
struct nsi_counter_own {
	int32_t state;	     /* enum nsi_counter_state */
	int64_t reuse_at_ns; /* a reclaimed counter is not handed out again before this ... */
	int64_t token;	     /* ... unless its user acknowledged it with this (0: cannot) */
};

/*
 * A counter's value line (128 bytes): word 0 is the value; the words below are used by
 * subscriber position counters. A subscriber stores its image's id in RELEASED when it stops
 * writing the counter, and in MAPPED once it mapped the image's log file, so the driver can
 * reuse the counter, or remove a closed log's file, without waiting out a timeout.
 */
#define NSI_COUNTER_RELEASED_WORD 2
#define NSI_COUNTER_MAPPED_WORD	  3

struct nsi_counters {
	struct nsi_counter_meta *meta;
	uint8_t *values;
	int32_t max;
	struct nsi_counter_own *own; /* the driver's (NULL for readers) */
};

/* View the two areas; @meta_bytes / 256 must equal @values_bytes / 128. Returns 0 or -EINVAL. */
int nsi_counters_init(struct nsi_counters *c, void *meta, size_t meta_bytes, void *values,
		      size_t values_bytes);
/* Driver: take the allocator's role (private state, all free). Returns 0 or -ENOMEM. */
int nsi_counters_own(struct nsi_counters *c);
void nsi_counters_disown(struct nsi_counters *c);
/*
 * Driver only: allocate a counter (value line zeroed) for a user that will acknowledge with
 * @token (0: none). Returns its id, or -ENOSPC.
 */
int32_t nsi_counter_alloc(struct nsi_counters *c, int32_t type_id, int64_t owner_id, int64_t key,
			  const char *label, int64_t now_ns, int64_t token);
/*
 * Driver only: free an allocated counter. It is handed out again after @reuse_delay_ns (0: at
 * once), or as soon as its value line's RELEASED word holds its token. Returns 0 or -EINVAL.
 */
int nsi_counter_free(struct nsi_counters *c, int32_t id, int64_t now_ns, int64_t reuse_delay_ns);
/* Driver only: how many counters nsi_counter_alloc() would hand out at @now_ns. */
int32_t nsi_counters_available(const struct nsi_counters *c, int64_t now_ns);
/*
 * Driver only: whether the user of the counter allocated with @token has mapped its image or
 * let the counter go (its MAPPED or RELEASED word holds the token), or the counter serves
 * someone else by now.
 */
bool nsi_counter_settled(const struct nsi_counters *c, int32_t id, int64_t token);
/* The value's address, or NULL for an id out of range. */
int64_t *nsi_counter_addr(const struct nsi_counters *c, int32_t id);
/* An allocated counter's type (>= 0), or -ENOENT (free or out of range). */
int32_t nsi_counter_type(const struct nsi_counters *c, int32_t id);
/* Call @fn for each allocated counter (label NUL-terminated, copied). Returns the count. */
typedef void (*nsi_counter_fn)(void *ctx, int32_t id, int32_t type_id, int64_t owner_id,
			       int64_t key, const char *label, int64_t value);
int nsi_counters_foreach(const struct nsi_counters *c, nsi_counter_fn fn, void *ctx);

/* Error log: one writer (the driver), any number of readers. */
struct nsi_errlog {
	uint8_t *buf;
	int32_t capacity;
};

struct nsi_errlog_record {
	int32_t length; /* whole record; stored last, with release */
	int32_t count;	/* observations of this error */
	int64_t first_ns;
	int64_t last_ns;
	/* then the text, not NUL-terminated, padded to 8 bytes */
};

int nsi_errlog_init(struct nsi_errlog *e, void *base, size_t bytes);
/*
 * Record an error: a text already in the log gets its count and last time bumped, a new one
 * is appended. Returns 0, or -ENOSPC when the log is full (the error is then only counted by
 * the caller).
 */
int nsi_errlog_record(struct nsi_errlog *e, int64_t now_ns, const char *text);
typedef void (*nsi_errlog_fn)(void *ctx, int32_t count, int64_t first_ns, int64_t last_ns,
			      const char *text, int32_t length);
/* Read every record. Returns the number read, or -EBADMSG for an impossible record. */
int nsi_errlog_read(const struct nsi_errlog *e, nsi_errlog_fn fn, void *ctx);

/* A mapped CnC file with its sections. */
struct nsi_cnc {
	struct nsi_cnc_header *hdr;
	void *base;
	size_t bytes;
	uint64_t dev, ino; /* the file mapped (set by open and create) */
	uint32_t broken;   /* atomic: the file was truncated under us (mem/guard.h) */
	int guard;	   /* the SIGBUS guard's entry, or negative */
	struct nsi_mpsc to_driver;
	struct nsi_bcast to_clients;
	struct nsi_counters counters;
	struct nsi_errlog errors;
};

struct nsi_cnc_params {
	int32_t to_driver_bytes;  /* capacity, a power of two */
	int32_t to_clients_bytes; /* capacity, a power of two */
	int32_t counters;	  /* number of counters */
	int32_t error_log_bytes;
	int64_t client_liveness_ns;
	int64_t driver_timeout_ns;
};

/* Bytes the file takes with these parameters, or 0 when they are out of range. */
size_t nsi_cnc_bytes(const struct nsi_cnc_params *p);

/*
 * Driver: create @path (O_EXCL, 0600), lay it out and publish the header (version last).
 * Returns 0, -EEXIST, -EINVAL, -ENOSPC or another negative errno.
 */
int nsi_cnc_create(struct nsi_cnc *cnc, const char *path, const struct nsi_cnc_params *p,
		   int64_t now_ns);

/*
 * Client or tool: open and check @path. Returns 0, -ENOENT (no driver has run here),
 * -EAGAIN (the driver has not finished creating it: retry), -EPROTONOSUPPORT (a driver of
 * another major version), -EPROTO (not a CnC file), -EINVAL (sizes that do not match the
 * file), -EPERM (not ours, or writable by others), -ELOOP (a symbolic link).
 */
int nsi_cnc_open(struct nsi_cnc *cnc, const char *path);
/*
 * Check and view @bytes of memory holding a CnC image (what nsi_cnc_open() does after mapping
 * the file): the same errors. Every size must match the image exactly.
 */
int nsi_cnc_attach(struct nsi_cnc *cnc, void *base, size_t bytes);

/* The same, mapped read-only: only the read calls may be used on it (ns-stat). */
int nsi_cnc_open_readonly(struct nsi_cnc *cnc, const char *path);

void nsi_cnc_close(struct nsi_cnc *cnc);

/* Whether the mapping broke (the file was truncated under us; see mem/guard.h). */
bool nsi_cnc_broken(const struct nsi_cnc *cnc);

/*
 * Whether process @pid is known to be gone (no such process). Pids from shared memory are
 * untrusted: a value that is not a valid pid counts as gone, never as "everyone" or a group.
 */
bool nsi_pid_gone(int64_t pid);

/*
 * One driver per directory: the driver holds an open-file-description write lock on
 * NSI_LOCK_FILE for its whole life. The kernel drops it when the driver's process ends, however
 * it ends, so it never outlives its driver and cannot be forged through shared memory. The
 * file itself stays (unlinking it would let two drivers lock two different files).
 */
#define NSI_LOCK_FILE "driver.lock"

/*
 * Take the lock of @dir (creating the file 0600). Returns the lock's descriptor (>= 0; close
 * it to let go), -EADDRINUSE (another process holds it), -EPERM (not ours, or open to
 * others), -ELOOP (a symbolic link), or the system's error. Children forked afterwards close
 * their copy (the lock stays with the driver's process).
 */
int nsi_driver_lock_take(const char *dir);
/* Let go of a lock from nsi_driver_lock_take(). */
void nsi_driver_lock_release(int fd);

/*
 * The holder names its cnc.dat in the lock file (device and inode), once the file is made and
 * before it is renamed into place: a client that mapped cnc.dat knows it mapped the holder's
 * file, not one a dead driver left that a new holder is about to replace.
 */
int nsi_driver_lock_name(int fd, uint64_t dev, uint64_t ino);

/*
 * A descriptor to probe @dir's lock with (read-only; -ENOENT when no driver ever ran there),
 * and the probe: 1 while a driver holds the lock and names the file @dev/@ino in it, 0 when
 * none does or it names another file, or a negative errno.
 */
int nsi_driver_lock_open(const char *dir);
int nsi_driver_lock_held(int fd, uint64_t dev, uint64_t ino);

/*
 * Whether the driver behind @cnc lives, judged from the file alone: its process exists and
 * its heartbeat is no older than @timeout_ns at @now (for a file whose lock is free: a
 * driver of a version without the lock, or a forged file, must not be replaced while it
 * looks alive).
 */
bool nsi_cnc_driver_alive(const struct nsi_cnc *cnc, int64_t now, int64_t timeout_ns);

/* The driver's heartbeat (CLOCK_MONOTONIC ns). */
int64_t nsi_cnc_heartbeat(const struct nsi_cnc *cnc);
void nsi_cnc_beat(struct nsi_cnc *cnc, int64_t now_ns);

/* Doorbells: bump and wake all waiters; wait while the word still equals @seen. */
/*
 * The abstract AF_UNIX address (a leading NUL, no file) of the wake socket named @name, which
 * is NUL-terminated within NSI_CNC_WAKE_NAME bytes: the driver binds it, publishers connect to
 * it (nsi_cnc_header.net_sleeping). Returns the address's length.
 */
struct sockaddr_un;
socklen_t nsi_cnc_wake_addr(const char name[NSI_CNC_WAKE_NAME], struct sockaddr_un *a);

void nsi_doorbell_ring(uint32_t *word);
/* Returns 0 when woken or the word changed, -ETIMEDOUT after @timeout_ns (<= 0: no wait). */
int nsi_doorbell_wait(uint32_t *word, uint32_t seen, int64_t timeout_ns);

/* A subscriber position counter's second word: the messages it delivered (same line). */
#define NSI_COUNTER_MESSAGES_WORD 1

enum nsi_counter_kind {
	NSI_COUNTER_SUBSCRIBER_POSITION = 1, /* written by the subscriber */
	NSI_COUNTER_SYSTEM = 2,		     /* written by the driver (or counted by clients) */
	NSI_COUNTER_PUBLISHER_POSITION = 3,  /* the log's tail, copied by the driver */
	NSI_COUNTER_PUBLISHER_LIMIT = 4,     /* the publishers' limit, copied by the driver */
	NSI_COUNTER_SENDER_POSITION = 5,     /* a network publication's sender position */
	NSI_COUNTER_SENDER_LIMIT = 6,	     /* its flow control limit (the receiver's window) */
	NSI_COUNTER_RECEIVER_HWM = 7,	     /* an image's highest position announced */
	NSI_COUNTER_RECEIVER_POSITION = 8,   /* its position everything before which arrived */
	/* A network publication's view of each receiver it knows (one pair per receiver): */
	NSI_COUNTER_RECEIVER_STATUS = 9,   /* the position its last status message reported */
	NSI_COUNTER_RECEIVER_SILENCE = 10, /* ms since that status message */
	NSI_COUNTER_DESTINATIONS = 11,	   /* a multi-destination publication's destinations */
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
	/* UDP (driver/net.c), refreshed every heartbeat: totals over every socket so far. */
	NSI_SYS_UDP_DATA_SENT,		/* data datagrams sent (first time) */
	NSI_SYS_UDP_BYTES_SENT,		/* their bytes */
	NSI_SYS_UDP_RETRANSMITS,	/* datagrams sent again for NAKs */
	NSI_SYS_UDP_RETRANSMIT_BYTES,	/* their bytes */
	NSI_SYS_UDP_HEARTBEATS,		/* heartbeats sent */
	NSI_SYS_UDP_SETUPS,		/* setups sent */
	NSI_SYS_UDP_STATUS_RECEIVED,	/* status messages received by senders */
	NSI_SYS_UDP_NAKS_RECEIVED,	/* NAKs received by senders */
	NSI_SYS_UDP_NAKS_IGNORED,	/* of those, not served (never sent, not held, repeats) */
	NSI_SYS_UDP_SHORT_SENDS,	/* sends the kernel cut short */
	NSI_SYS_UDP_DATAGRAMS_RECEIVED, /* datagrams received by endpoints */
	NSI_SYS_UDP_INVALID,		/* of those, malformed: dropped */
	NSI_SYS_UDP_STATUS_SENT,	/* status messages sent by receivers */
	NSI_SYS_UDP_NAKS_SENT,		/* NAKs sent by receivers (one per gap) */
	NSI_SYS_UDP_IMAGES_REFUSED,	/* images refused: an endpoint's cap */
	NSI_SYS_UDP_RCVBUF,		/* smallest socket receive buffer the kernel granted */
	NSI_SYS_UDP_IMAGES_LOST,	/* images ended: data lost beyond what the sender holds */
	NSI_SYS_UDP_BYTES_RECEIVED,	/* bytes of the datagrams endpoints received */
	NSI_SYS_UDP_OVERRUNS,		/* flow control over-runs: frames past a window, dropped */
	NSI_SYS_UDP_UNDERRUNS,		/* under-runs: frames that had arrived already */
	NSI_SYS_NET_LENT,		/* network cycles that did work in application threads */
	NSI_SYS_COUNT
};

#endif /* NSI_IPC_CNC_H */

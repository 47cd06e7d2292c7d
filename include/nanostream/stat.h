/* SPDX-License-Identifier: MIT */
/** @file
 * Monitoring: a media driver's state, counters and error log, read by another process from the
 * driver's command-and-control file, mapped read-only (what ns-stat prints). Since 0.3.
 */
#ifndef NANOSTREAM_STAT_H
#define NANOSTREAM_STAT_H

#include <stddef.h>
#include <stdint.h>

#include <nanostream/common.h>

#ifdef __cplusplus
extern "C" {
#endif

/** A read-only view of a driver directory's counters and error log. */
typedef struct ns_stat ns_stat;

/** ns_driver_info.state: what the directory's lock and heartbeat say of its driver. */
enum ns_driver_state {
	NS_DRIVER_RUNNING = 0, /**< holds the directory's lock, heartbeat within its timeout */
	NS_DRIVER_HUNG = 1,    /**< holds the lock, heartbeat older than its timeout */
	NS_DRIVER_GONE = 2,    /**< no process holds the lock for this file: it stopped */
};

/** The driver behind an ns_stat (ns_stat_driver()). Declare it with NS_DRIVER_INFO_INIT. */
struct ns_driver_info {
	uint32_t size;		  /**< set by NS_DRIVER_INFO_INIT; do not change */
	int32_t state;		  /**< enum ns_driver_state */
	int64_t pid;		  /**< the process the file names (as the file says) */
	int64_t start_time_ms;	  /**< when it started, ms since the epoch (CLOCK_REALTIME) */
	int64_t heartbeat_age_ns; /**< how long ago its last heartbeat was, >= 0 */
	int64_t counters_age_ns;  /**< how long ago it copied its totals into the counters; -1:
				   *  never, or a driver that does not say */
	int64_t timeout_ns;	  /**< the heartbeat age past which it counts as hung */
	uint32_t cnc_version;	  /**< the file's layout version (major << 16 | minor) */
	uint32_t reserved;	  /**< written as 0 */
};

/** Initializer for struct ns_driver_info: sets size. */
#define NS_DRIVER_INFO_INIT                                                                        \
	{                                                                                          \
		.size = sizeof(struct ns_driver_info)                                              \
	}

/** One counter, as ns_stat_counters() hands it over (valid during the call only). */
struct ns_counter {
	uint32_t size;	  /**< sizeof(struct ns_counter) of the library: fields past it absent */
	int32_t id;	  /**< the counter's number in the driver's file */
	int32_t type_id;  /**< what it counts; type_name says it in words */
	int32_t reserved; /**< 0 */
	int64_t owner_id; /**< the client or driver object it belongs to (0: the driver's own) */
	int64_t key;	  /**< its type's key (a publication's or subscription's number) */
	int64_t value;	  /**< its value when read */
	const char *type_name; /**< "system", "pub-pos", "sub-pos", ... (ns-stat(1) lists them) */
	const char *label;     /**< what it is, e.g. "publication 3: ns:ipc stream 10 session 7" */
};

/** Receives one counter. */
typedef void (*ns_counter_fn)(void *ctx, const struct ns_counter *counter);

/** One distinct error the driver recorded (valid during the call only). */
struct ns_error_record {
	uint32_t size;	  /**< sizeof(struct ns_error_record) of the library */
	int32_t count;	  /**< how many times it happened */
	int64_t first_ns; /**< when first, CLOCK_MONOTONIC ns (compare with ns_clock_ns()) */
	int64_t last_ns;  /**< when last */
	const char *text; /**< the message, NUL-terminated */
};

/** Receives one error record. */
typedef void (*ns_error_fn)(void *ctx, const struct ns_error_record *error);

/**
 * Open the driver directory @p dir (NULL: $NANOSTREAM_DIR, else /dev/shm/nanostream-USER) for
 * monitoring: maps its command-and-control file read-only, so nothing read through it can
 * disturb the driver, and a driver that stops or a file that is truncated or forged cannot
 * crash the reader (every word is read once and bounded; see ns_stat_counters()).
 * Returns 0 and sets *stat, or a negative error code.
 * Errors: -EINVAL (NULL @p stat, a directory name too long), -ENOENT (no driver has run in
 * @p dir, or the directory does not exist), -EAGAIN (a driver is still creating its file:
 * try again), -EPROTONOSUPPORT (a driver of another major version), -EPROTO (not a driver's
 * file), -EPERM (the file is not ours, or writable by others), -ENOMEM, or a system error;
 * ns_errmsg() says which file and why.
 * Ownership: *stat is the caller's until ns_stat_close().
 * Thread safety: any thread.
 * Progress: blocking (opens and maps a file).
 */
NS_API int ns_stat_open(ns_stat **stat, const char *dir);

/**
 * The driver's process, start time, heartbeat and state (running, hung, gone: judged by the
 * directory's lock, which the kernel drops when the driver's process ends, and its heartbeat).
 * Returns 0, or a negative error code.
 * Errors: -EINVAL (NULL argument, info->size outside the sized-struct rule of
 * nanostream/common.h), -EIO (the file was truncated under the reader: open it again).
 * Ownership: @p info is the caller's; nothing is kept.
 * Thread safety: any thread; several threads may share @p stat.
 * Progress: blocking (probes the directory's lock file).
 */
NS_API int ns_stat_driver(const ns_stat *stat, struct ns_driver_info *info);

/**
 * Call @p fn for each counter the driver has allocated, in id order, with its value read now.
 * Labels and types are copied out of shared memory and bounded before @p fn sees them.
 * Returns the number of counters, or a negative error code.
 * Errors: -EINVAL (NULL @p stat or @p fn), -EIO (the file was truncated under the reader).
 * Ownership: the struct and its strings are the library's, valid during the call only.
 * Thread safety: any thread; @p fn runs on the calling thread.
 * Progress: wait-free (bounded by the file's counter count).
 */
NS_API int ns_stat_counters(const ns_stat *stat, ns_counter_fn fn, void *ctx);

/**
 * Call @p fn for each distinct error in the driver's error log, oldest first.
 * Returns the number of records, or a negative error code.
 * Errors: -EINVAL (NULL @p stat or @p fn), -EBADMSG (an impossible record: the records
 * before it were delivered), -EIO (the file was truncated under the reader).
 * Ownership: the struct and its text are the library's, valid during the call only.
 * Thread safety: any thread; @p fn runs on the calling thread.
 * Progress: wait-free (bounded by the log's size).
 */
NS_API int ns_stat_errors(const ns_stat *stat, ns_error_fn fn, void *ctx);

/**
 * Unmap and free @p stat. NULL is ignored.
 * Errors: none (NULL is ignored).
 * Ownership: frees @p stat.
 * Thread safety: one thread, with no other call on @p stat in progress.
 * Progress: wait-free.
 */
NS_API void ns_stat_close(ns_stat *stat);

#ifdef __cplusplus
}
#endif

#endif /* NANOSTREAM_STAT_H */

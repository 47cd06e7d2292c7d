/* SPDX-License-Identifier: MIT */
/** @file
 * Conventions and helpers shared by every nanostream function: errors, time, versions.
 */
#ifndef NANOSTREAM_COMMON_H
#define NANOSTREAM_COMMON_H

#include <stdint.h>

#include <nanostream/version.h>

#ifdef __cplusplus
extern "C" {
#endif

/*
 * Conventions shared by every nanostream function.
 *
 * Errors: a function returns 0 or a non-negative value (a sequence, a count) on success and a
 * negative errno value on failure: -EINVAL for a bad argument, -EAGAIN when a "try" call finds
 * no room (back-pressure: retry later, not a failure), -ETIMEDOUT when a deadline passes,
 * -ESHUTDOWN when the object was halted. On failure nothing was changed. The library never
 * prints and never aborts on bad input. The creating calls (rings, consumers, pollers, work
 * pools, clients, publications, subscriptions) also say in words why they failed: see
 * ns_errmsg(). Functions that return void (the *_destroy calls) cannot fail.
 *
 * Time: deadlines are absolute times in nanoseconds on CLOCK_MONOTONIC (see ns_clock_ns()).
 *
 * Sized structs: every options or output struct starts with `uint32_t size` and has an
 * initializer macro (NS_RING_OPTS_INIT, NS_CONSUMER_STATS_INIT, ...) that sets it to the size
 * your headers know; start from the macro, never from an uninitialised variable. One rule
 * holds for all of them, so a program built against older or newer headers keeps working:
 * - a size below the struct's first released size (or above 4096) is -EINVAL;
 * - options: fields past the size you passed read as zero, which is always the default; bytes
 *   past the end of the library's own struct (headers newer than the library) must be zero,
 *   else -EINVAL, since an option the library does not know cannot be honoured;
 * - outputs: the library writes exactly `size` bytes: the fields it knows, zeros past them;
 *   `size` is left as you set it.
 * Fields are only ever added at the end; reserved words are zero in both directions.
 */

/**
 * @def NS_API
 * Marks a function the library exports (default visibility with GCC and Clang; nothing with
 * NS_STATIC_BUILD or another compiler).
 */
#if defined(__GNUC__) && !defined(NS_STATIC_BUILD)
#define NS_API __attribute__((visibility("default")))
#else
#define NS_API
#endif

/*
 * Marks the per-event functions (claim, slot, publish, poll). With GCC, a position-independent
 * caller (Debian builds PIE by default) then calls them through the GOT instead of the PLT:
 * one indirect call instead of a call and an indirect jump, measured at 1.5 ns of the 6.5 ns a
 * claim + publish pair cost through the shared library. Changes nothing in the ABI; other
 * compilers ignore it. Define NS_NO_NOPLT to turn it off.
 */
#if defined(__has_attribute) && !defined(NS_NO_NOPLT)
#if __has_attribute(noplt)
#define NS_HOT __attribute__((noplt))
#endif
#endif
#ifndef NS_HOT
#define NS_HOT
#endif

/*
 * Marks a name kept for compatibility: using it compiles and works, with a warning naming its
 * replacement. Deprecated names are removed one minor release after they are deprecated.
 * Define NS_NO_DEPRECATION_WARNINGS to silence the warnings.
 */
/**
 * @def NS_DEPRECATED
 * Marks a name kept for compatibility; its use warns with @p msg (the replacement).
 */
#if defined(__GNUC__) && !defined(NS_NO_DEPRECATION_WARNINGS)
#define NS_DEPRECATED(msg) __attribute__((deprecated(msg)))
#else
#define NS_DEPRECATED(msg)
#endif

/**
 * Describe an error code returned by a nanostream function.
 *
 * @p code may be negative (as returned) or positive. Returns a static, NUL-terminated string
 * that stays valid for the life of the process; never NULL, also for unknown codes.
 * Errors: none (unknown codes get "unknown error").
 * Ownership: the string is the library's; do not free or modify it.
 * Thread safety: any thread, any time.
 * Progress: wait-free.
 */
NS_API const char *ns_strerror(int code);

/** The longest text ns_errmsg() returns, without its NUL. */
#define NS_ERRMSG_MAX 255

/**
 * Why this thread's last failed call among the creating ones failed, as a sentence for people:
 * ns_ring_create() and ns_ring_mem_size() (which option is wrong and what it must be, e.g.
 * "capacity 1000 is not a power of two (1 .. 2^30): 1024 is the next one"),
 * ns_consumer_create(), ns_poller_create(), ns_work_pool_create(), and the client calls
 * ns_client_create(), ns_publication_add() and ns_subscription_add() (the driver's own reason
 * when it refused, e.g. "stream 7 already has a publication with term-length 65536 ...", the
 * bad part of a URI, the directory that is not private, the driver that does not answer), and
 * the monitoring calls ns_stat_open(), ns_stat_driver(), ns_stat_counters() and
 * ns_stat_errors() (the file that cannot be read, and why).
 * Each of those calls clears it when it starts and, when it fails, sets it (at the least to
 * ns_strerror() of its code), so after a failure it always describes that failure; after a
 * success it is "". No other call touches it. Since 0.3.
 *
 * Returns a NUL-terminated string of at most NS_ERRMSG_MAX bytes, never NULL.
 * Errors: none.
 * Ownership: the string belongs to this thread; it stays valid until this thread's next call
 * of one of those functions. Copy it to keep it.
 * Thread safety: any thread; each thread has its own text.
 * Progress: wait-free.
 */
NS_API const char *ns_errmsg(void);

/**
 * The library's version as a string, for example "0.1.0".
 *
 * Compare with NS_VERSION_STRING to detect a header/library mismatch.
 * Returns a static string, never NULL.
 * Errors: none.
 * Ownership: a static string; do not free it.
 * Thread safety: any thread, any time.
 * Progress: wait-free.
 */
NS_API const char *ns_version(void);

/**
 * The library's version as NS_VERSION_NUMBER encodes it: major * 10000 + minor * 100 + patch.
 *
 * Returns the version number (for 0.3.0: 300).
 * Errors: none. Ownership: nothing to own.
 * Thread safety: any thread, any time.
 * Progress: wait-free.
 */
NS_API uint32_t ns_version_number(void);

/**
 * Current time on CLOCK_MONOTONIC in nanoseconds: the clock that every deadline uses.
 *
 * Returns the time in nanoseconds.
 * Errors: none. Ownership: nothing to own.
 * Thread safety: any thread, any time.
 * Progress: wait-free (a vDSO read, no system call).
 */
NS_API int64_t ns_clock_ns(void);

#ifdef __cplusplus
}
#endif
#endif /* NANOSTREAM_COMMON_H */

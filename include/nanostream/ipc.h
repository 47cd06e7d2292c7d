/* SPDX-License-Identifier: MIT */
/** @file
 * Messages between threads and processes over log buffers in shared memory: clients, the
 * media driver, publications, subscriptions and images.
 */
#ifndef NANOSTREAM_IPC_H
#define NANOSTREAM_IPC_H

#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include <nanostream/common.h>
#include <nanostream/memory.h>

#ifdef __cplusplus
extern "C" {
#endif

/**
 * A connection to the media driver of a directory. The driver owns the shared files: one log
 * buffer per publication (three terms and a metadata page) and the command-and-control file
 * through which clients ask for publications and subscriptions. When no driver runs in the
 * directory, ns_client_create() starts one inside the process (the embedded driver), which
 * serves every process that uses the directory until its client closes.
 */
typedef struct ns_client ns_client;
/** A stream a client sends on (shared by the client's threads, or exclusive to one). */
typedef struct ns_publication ns_publication;
/** A stream a client receives: the messages of every publication on the stream. */
typedef struct ns_subscription ns_subscription;
/** One publisher session as one subscription sees it. */
typedef struct ns_image ns_image;

/*
 * Offer results besides a position (> 0): none of them is a failure of the library; each
 * says what to do next. ns_strerror() describes each.
 */
/** No subscriber yet (or any more): the message was not sent. */
#define NS_NOT_CONNECTED (-ENOTCONN)
/** The slowest subscriber is a window behind: retry later. */
#define NS_BACK_PRESSURED (-EAGAIN)
/** The log moved to its next term meanwhile: retry at once. */
#define NS_ADMIN_ACTION (-EINPROGRESS)
/** The publication was closed by the driver (it is gone, or the stream ended). */
#define NS_PUBLICATION_CLOSED (-EPIPE)
/** The stream reached the largest position a log can have: open a new publication. */
#define NS_MAX_POSITION_EXCEEDED (-EOVERFLOW)
/**
 * The log's shared memory holds what no publisher leaves (it was damaged, truncated or
 * forged by another process): nothing was sent, and the publication cannot go on. Close it
 * and add a new one.
 */
#define NS_LOG_CORRUPT (-EBADMSG)
/**
 * The media driver stopped: its heartbeat is older than the client's driver timeout (or its
 * process is gone). Returned by calls that need the driver, and by offers that reach their
 * limit. Close the client and create a new one: it finds or starts a new driver.
 */
#define NS_EDRIVER_TIMEOUT (-EHOSTDOWN)

/** Flags for ns_client_opts.flags. */
#define NS_CLIENT_NO_THREAD   0x1u /**< an embedded driver runs only inside this client's calls */
#define NS_CLIENT_NO_EMBEDDED 0x2u /**< never start a driver: -ECONNREFUSED when none runs */

/** Options for ns_client_create(). Start from NS_CLIENT_OPTS_INIT. */
struct ns_client_opts {
	uint32_t size;	/**< set by NS_CLIENT_OPTS_INIT; do not change */
	uint32_t flags; /**< NS_CLIENT_* */
	/**
	 * The driver directory; NULL: $NANOSTREAM_DIR, else /dev/shm/nanostream-USER (USER: the
	 * user name).
	 */
	const char *dir;
	int64_t timeout_ns;	    /**< wait for the driver's answers; 0: 5 s */
	int64_t driver_timeout_ns;  /**< a driver silent this long is dead; 0: 10 s */
	int64_t client_timeout_ns;  /**< an embedded driver's client liveness timeout; 0: 10 s */
	int64_t unblock_timeout_ns; /**< an embedded driver pads over a frame reserved and never
				      *  committed after this long (its publisher died); 0: 15 s */
	/**
	 * The clock of the client's liveness checks (and of an embedded driver's timers), in ns
	 * on CLOCK_MONOTONIC's scale; NULL: ns_clock_ns(). For tests that move time by hand.
	 */
	int64_t (*clock)(void *ctx);
	void *clock_ctx;     /**< passed to clock */
	int32_t term_length; /**< an embedded driver's default term; 0: 1 MiB */
	int32_t mtu;	     /**< an embedded driver's default frame size; 0: 4096 */
	/**
	 * An embedded driver's log files: NS_MEM_AUTO (default) asks for transparent huge pages
	 * (a tmpfs gives them when mounted with huge=always, within_size or advise; /dev/shm
	 * usually is not), NS_MEM_HUGE makes adding a publication fail with -ENOMEM when the log
	 * did not get them, NS_MEM_NORMAL never asks. Logs are pre-faulted in every case.
	 */
	uint32_t mem_policy;
	uint32_t reserved[3]; /**< zero */
};

/** Default client options. */
#define NS_CLIENT_OPTS_INIT                                                                        \
	{                                                                                          \
		.size = sizeof(struct ns_client_opts)                                              \
	}

/**
 * Connect to the driver of a directory, starting an embedded one when none runs.
 *
 * The directory is created 0700 when missing and must belong to the caller with no access
 * for others; files in it are 0600. The embedded driver runs in a thread of its own that
 * sleeps until a command arrives or its heartbeat is due (it never spins); with ns:udp
 * channels open, a second thread serves the sockets, sleeping on them until a datagram, an
 * offer or a timer wakes it, while this process's offers and polls do its work themselves
 * (see ns_offer() and ns_subscription_poll()); or, with NANOSTREAM_IDLE=spin in the
 * environment, never sleeping: lowest latency, one core busy (-EINVAL for another value).
 * Or, with NS_CLIENT_NO_THREAD, only inside this client's calls (ns_client_do_work() and the
 * waiting calls). A client of a driver in another process keeps itself alive (keepalives with its
 * pid) and hears the driver's notices from a thread that sleeps on the driver's doorbell; with
 * NS_CLIENT_NO_THREAD it does so only inside its calls, and must call ns_client_do_work() at
 * least every few seconds or the driver times it out (client liveness, 10 s by default).
 * Returns 0 and sets *client, or a negative error code.
 * Errors: -EINVAL (NULL, bad options), -EPERM / -ENOTDIR / -ELOOP (the directory is not a
 * private directory of ours), -ECONNREFUSED (NS_CLIENT_NO_EMBEDDED and no driver),
 * -EPROTONOSUPPORT (the directory's driver is of another major version: its files are left
 * alone), NS_EDRIVER_TIMEOUT (a driver holds the directory but its heartbeat is older than
 * the driver timeout: it hangs, and is not replaced behind its back), -ETIMEDOUT (a driver
 * is starting and did not finish in time), -ENOMEM, or a system error. Nothing is left behind
 * on failure.
 * Ownership: *client is the caller's until ns_client_close().
 * Thread safety: any thread.
 * Progress: blocking (file creation, a short wait for a starting driver).
 */
NS_API int ns_client_create(ns_client **client, const struct ns_client_opts *opts);

/**
 * Close a client: tells the driver, and stops an embedded driver (which other processes may
 * be using: they lose it).
 *
 * Returns 0, or a negative error code.
 * Errors: -EINVAL (NULL), -EBUSY (publications or subscriptions still open: close them
 * first; nothing changed).
 * Ownership: frees the client.
 * Thread safety: one thread, with no other call on this client in progress.
 * Progress: blocking (joins the driver thread).
 */
NS_API int ns_client_close(ns_client *client);

/**
 * Do pending client work: read the driver's notices (images arriving or leaving) and, for an
 * embedded driver in NS_CLIENT_NO_THREAD mode, run the driver's duty cycle.
 *
 * Returns the amount of work done (0: none). Errors: -EINVAL (NULL), NS_EDRIVER_TIMEOUT (the
 * driver stopped).
 * Ownership: nothing changes hands.
 * Thread safety: any thread; calls are serialised inside the client.
 * Progress: blocking (takes the client's lock).
 */
NS_API int ns_client_do_work(ns_client *client);

/**
 * Whether this client started the driver it uses (1) or connected to one that ran (0).
 *
 * Returns 1 or 0, or -EINVAL.
 * Errors: -EINVAL (NULL). Ownership: nothing changes hands.
 * Thread safety: any thread. Progress: wait-free.
 */
NS_API int ns_client_is_embedded(const ns_client *client);

/**
 * Check a channel URI without a driver: "ns:ipc", optionally with parameters
 * "?term-length=1m&mtu=4096&session-id=7&max-message=64k" (term-length a power of two from
 * 64k to 1g, mtu 64 to 65504 and a multiple of 32, session-id a 32-bit integer, max-message
 * 1 up to term-length / 8; each at most once; separated by '&' or '|'). "ns:udp" URIs
 * (also "aeron:udp") are checked too: endpoint=host:port is required, and interface,
 * rcv-wnd, so-sndbuf, so-rcvbuf, nak-delay, linger, reliable and ttl are known.
 *
 * Returns 0, or -EINVAL with a message naming the bad part in @p msg (when not NULL; at most
 * @p msg_len bytes, NUL-terminated).
 * Ownership: @p msg is the caller's.
 * Thread safety: any thread. Progress: wait-free.
 */
NS_API int ns_uri_check(const char *uri, char *msg, size_t msg_len);

/** Flags for ns_publication_add(). */
#define NS_PUBLICATION_EXCLUSIVE 0x1u /**< a log of its own, one writing thread: faster */

/**
 * Add a publication on @p uri and @p stream_id.
 *
 * Shared publications (the default) on one stream share one log: any thread of any process
 * may offer to it. An exclusive one has its own log and session, and one thread at a time may
 * offer to it.
 * Returns 0 and sets *pub, or a negative error code.
 * Errors: -EINVAL (NULL, a bad URI, unknown flags, parameters that differ from the stream's
 * existing shared publication, or an mtu above term-length / 8), -ETIMEDOUT (the driver did
 * not answer within the client's timeout), NS_EDRIVER_TIMEOUT (the driver stopped), -ENOSPC
 * (the driver has no room for the log, or no free counter: a new log needs two and one per
 * subscription of its stream), -EEXIST (the driver found the log's file name taken),
 * -EHOSTUNREACH (ns:udp: the endpoint's host does not resolve), or the socket's error
 * (ns:udp: -EADDRNOTAVAIL for an interface this machine does not have). reliable= is a
 * subscription's parameter: a publication takes it and ignores it, as Aeron does. Nothing is left behind on failure; ns_errmsg() says
 * why in words.
 * Ownership: *pub is the caller's until ns_publication_close().
 * Thread safety: any thread.
 * Progress: blocking (waits for the driver).
 */
NS_API int ns_publication_add(ns_client *client, const char *uri, int32_t stream_id, uint32_t flags,
			      ns_publication **pub);

/**
 * Close a publication. The stream ends for subscribers (after what was offered) once every
 * publication sharing its log is closed.
 *
 * Returns 0, or a negative error code.
 * Errors: -EINVAL (NULL). A driver that does not answer does not stop the close.
 * Ownership: frees @p pub.
 * Thread safety: one thread, with no offer on @p pub in progress.
 * Progress: blocking (waits for the driver, at most the client's timeout).
 */
NS_API int ns_publication_close(ns_publication *pub);

/**
 * Offer one message of @p len bytes (up to ns_publication_max_message()).
 *
 * Returns the stream position after the message (> 0), or NS_NOT_CONNECTED (no subscriber;
 * over ns:udp: no receiver has answered within the last 2 s, or on a multicast channel
 * fewer receivers than its flow control asks for within its receiver timeout, 5 s by
 * default), NS_BACK_PRESSURED (over ns:udp also: the receivers flow control follows are a
 * window behind),
 * NS_ADMIN_ACTION, NS_PUBLICATION_CLOSED, NS_MAX_POSITION_EXCEEDED, NS_LOG_CORRUPT,
 * NS_EDRIVER_TIMEOUT (none of which sent anything), -EMSGSIZE (too long), -EINVAL (NULL).
 * Over ns:udp, while the network thread of a driver embedded in this process sleeps, an offer
 * made after a pause sends the message itself before it returns, and one refused for back
 * pressure sends what the window holds first (a network cycle: a few system calls; the
 * driver's lock is only tried, never waited for). Offers in a quick run wake the thread.
 * Ownership: the bytes are copied; @p buf stays the caller's.
 * Thread safety: shared publication: any thread; exclusive: one thread at a time.
 * Progress: lock-free (wait-free for an exclusive publication).
 */
NS_API NS_HOT int64_t ns_offer(ns_publication *pub, const void *buf, size_t len);

/**
 * Offer one message gathered from @p iovcnt pieces (as ns_offer()).
 *
 * Returns as ns_offer(); -EINVAL also for a negative @p iovcnt or a NULL piece with a length.
 * Ownership: the bytes are copied.
 * Thread safety: as ns_offer(). Progress: as ns_offer().
 */
NS_API int64_t ns_offerv(ns_publication *pub, const struct iovec *iov, int iovcnt);

/** A frame reserved by ns_try_claim(): write @c length bytes at @c data, then commit. */
struct ns_claim {
	void *data;	  /**< where the message goes */
	size_t length;	  /**< its length, as claimed */
	void *frame_;	  /**< private */
	int64_t position; /**< the stream position after the message */
};

/**
 * Reserve @p len bytes (up to ns_publication_max_payload(): one frame) in the log and write
 * the message in place. Commit or abort it soon: subscribers wait for it.
 *
 * Returns the position after the message, or the codes of ns_offer(); -EMSGSIZE when
 * @p len is over the frame payload.
 * Ownership: claim->data points into the log until commit or abort.
 * Thread safety: as ns_offer(). Progress: as ns_offer().
 */
NS_API NS_HOT int64_t ns_try_claim(ns_publication *pub, size_t len, struct ns_claim *claim);

/**
 * Make a claimed message visible to subscribers.
 *
 * Returns 0, or a negative error code.
 * Errors: -EINVAL (NULL, or a claim already committed or aborted).
 * Ownership: claim->data is no longer the caller's.
 * Thread safety: the thread that claimed. Progress: wait-free.
 */
NS_API NS_HOT int ns_claim_commit(struct ns_claim *claim);

/**
 * Give a claimed frame up: subscribers skip it.
 *
 * Returns 0, or a negative error code.
 * Errors: -EINVAL (NULL, or a claim already committed or aborted).
 * Ownership: claim->data is no longer the caller's.
 * Thread safety: the thread that claimed. Progress: wait-free.
 */
NS_API int ns_claim_abort(struct ns_claim *claim);

/**
 * Offer, waiting through not connected, back pressure and admin actions until
 * @p deadline_ns (CLOCK_MONOTONIC, see ns_clock_ns()), with wait strategy @p wait
 * (NS_WAIT_BUSY_SPIN, NS_WAIT_YIELD, NS_WAIT_SLEEP or NS_WAIT_PHASED).
 *
 * Returns the position, -ETIMEDOUT, or the other codes of ns_offer(); -EINVAL for another
 * wait strategy.
 * Ownership: the bytes are copied.
 * Thread safety: as ns_offer().
 * Progress: blocking (bounded by the deadline).
 */
NS_API int64_t ns_offer_wait(ns_publication *pub, const void *buf, size_t len, uint32_t wait,
			     int64_t deadline_ns);

/**
 * Wait until the publication has a subscriber, or @p deadline_ns passes.
 *
 * Returns 0 once connected, or a negative error code.
 * Errors: -ETIMEDOUT, NS_EDRIVER_TIMEOUT (the driver stopped), -EINVAL (NULL).
 * Ownership: nothing changes hands.
 * Thread safety: any thread.
 * Progress: blocking (sleeps in steps of 100 us at most).
 */
NS_API int ns_publication_wait_connected(ns_publication *pub, int64_t deadline_ns);

/**
 * 1 when at least one subscriber is linked to the publication, else 0.
 *
 * Returns 1 or 0, or -EINVAL.
 * Errors: -EINVAL (NULL). Ownership: nothing changes hands.
 * Thread safety: any thread. Progress: wait-free.
 */
NS_API int ns_publication_is_connected(const ns_publication *pub);

/**
 * Add a destination to a multi-destination-cast publication made with
 * "ns:udp?control-mode=manual" (optionally with control=host:port, where its receivers' status
 * messages arrive, and an endpoint=, its first destination): from now on every datagram it
 * sends goes to @p uri's endpoint too ("ns:udp?endpoint=host:port"), starting with a setup;
 * the receiver there starts at the publication's position of the moment.
 *
 * Returns 0 once the driver added it, or a negative error code (ns_errmsg() says why).
 * Errors: -EINVAL (NULL, a bad URI, a publication that is not control-mode=manual),
 * -EEXIST (a destination already), -ENOSPC (64 destinations already), -EHOSTUNREACH (a name
 * that does not resolve), -ETIMEDOUT or NS_EDRIVER_TIMEOUT (the driver did not answer).
 * Ownership: @p uri stays the caller's.
 * Thread safety: any thread; calls on one publication are applied in the order the driver
 * gets them. Progress: blocking (a request to the driver and its answer).
 */
NS_API int ns_publication_add_destination(ns_publication *pub, const char *uri);

/**
 * Remove a destination ns_publication_add_destination() added: nothing more is sent there;
 * a receiver there sees its image end when it hears nothing for its liveness timeout, and
 * stops holding the publication's flow control after its receiver timeout.
 *
 * Returns 0, or a negative error code (ns_errmsg() says why).
 * Errors: -EINVAL (NULL, a bad URI, not control-mode=manual), -ENOENT (not a destination),
 * -ETIMEDOUT or NS_EDRIVER_TIMEOUT (the driver did not answer).
 * Ownership: @p uri stays the caller's.
 * Thread safety: any thread. Progress: blocking (a request to the driver and its answer).
 */
NS_API int ns_publication_remove_destination(ns_publication *pub, const char *uri);

/**
 * The position the next message would start at (a snapshot when threads share it).
 *
 * Returns the position (>= 0), or -EINVAL.
 * Errors: -EINVAL (NULL). Ownership: nothing changes hands.
 * Thread safety: any thread. Progress: wait-free.
 */
NS_API int64_t ns_publication_position(const ns_publication *pub);

/**
 * The publication's session id (what images report), or -EINVAL for NULL (a session id may
 * itself be negative: check the pointer instead).
 *
 * Returns the session id, or -EINVAL.
 * Errors: -EINVAL. Ownership: nothing changes hands.
 * Thread safety: any thread. Progress: wait-free.
 */
NS_API int32_t ns_publication_session_id(const ns_publication *pub);

/**
 * The longest message ns_offer() takes (term length / 8, at most 16 MiB), or -EINVAL.
 *
 * Returns the length in bytes, or -EINVAL.
 * Errors: -EINVAL (NULL). Ownership: nothing changes hands.
 * Thread safety: any thread. Progress: wait-free.
 */
NS_API int32_t ns_publication_max_message(const ns_publication *pub);

/**
 * The longest message ns_try_claim() takes (the MTU less the 32-byte header), or -EINVAL.
 *
 * Returns the length in bytes, or -EINVAL.
 * Errors: -EINVAL (NULL). Ownership: nothing changes hands.
 * Thread safety: any thread. Progress: wait-free.
 */
NS_API int32_t ns_publication_max_payload(const ns_publication *pub);

/** What a subscriber's handler learns about a fragment besides its bytes. */
struct ns_header {
	int64_t position;	/**< stream position after the message */
	int32_t session_id;	/**< the publisher's session */
	int32_t stream_id;	/**< the stream */
	int32_t term_id;	/**< the term the (last) frame is in */
	int32_t term_offset;	/**< its offset in the term */
	uint32_t flags;		/**< frame flags (0xC0: a whole message) */
	int32_t reserved;	/**< zero */
	int64_t reserved_value; /**< the frame's reserved value */
	const ns_image *image;	/**< the image the message came from */
};

/**
 * Handles one message (reassembled when it came in fragments). @p buf is valid only during
 * the call; for an unfragmented message it points into the shared log (zero copy).
 */
typedef void (*ns_fragment_fn)(void *ctx, const void *buf, size_t len, const struct ns_header *hdr);

/**
 * What a controlled handler (ns_controlled_handler_fn) tells ns_subscription_controlled_poll()
 * to do with the message it was given. The prefix NS_CONTROLLED_ is this enum's alone (the ring
 * poller's results are NS_POLLER_*), and the handler's return type is this enum, so returning a
 * value of another enum draws a compiler warning (-Wextra) in C and an error in C++. Since 0.3;
 * 0.2 called these NS_POLL_ABORT, NS_POLL_BREAK, NS_POLL_COMMIT and NS_POLL_CONTINUE (enum
 * ns_poll_action), names kept, deprecated, until 0.4.
 */
enum ns_controlled_action {
	NS_CONTROLLED_ABORT = 0,    /**< not consumed: stop; the message comes again next poll */
	NS_CONTROLLED_BREAK = 1,    /**< consumed: stop polling */
	NS_CONTROLLED_COMMIT = 2,   /**< consumed: record the position now, carry on */
	NS_CONTROLLED_CONTINUE = 3, /**< consumed: carry on */
	/** Deprecated name of NS_CONTROLLED_ABORT (removed in 0.4). */
	NS_POLL_ABORT NS_DEPRECATED("use NS_CONTROLLED_ABORT") = 0,
	/** Deprecated name of NS_CONTROLLED_BREAK (removed in 0.4). */
	NS_POLL_BREAK NS_DEPRECATED("use NS_CONTROLLED_BREAK") = 1,
	/** Deprecated name of NS_CONTROLLED_COMMIT (removed in 0.4). */
	NS_POLL_COMMIT NS_DEPRECATED("use NS_CONTROLLED_COMMIT") = 2,
	/** Deprecated name of NS_CONTROLLED_CONTINUE (removed in 0.4). */
	NS_POLL_CONTINUE NS_DEPRECATED("use NS_CONTROLLED_CONTINUE") = 3,
};
/** The 0.2 name of enum ns_controlled_action (removed in 0.4). */
#define ns_poll_action ns_controlled_action

/**
 * A handler for ns_subscription_controlled_poll(): decides what happens to each message. Any
 * value outside enum ns_controlled_action counts as NS_CONTROLLED_CONTINUE. Since 0.3.
 */
typedef enum ns_controlled_action (*ns_controlled_handler_fn)(void *ctx, const void *buf,
							      size_t len,
							      const struct ns_header *hdr);

/** The 0.2 handler type, returning int, for the deprecated ns_controlled_poll() (removed in 0.4). */
typedef int (*ns_controlled_fn)(void *ctx, const void *buf, size_t len,
				const struct ns_header *hdr);

/** Called when an image arrives or leaves (from the thread that polls). */
typedef void (*ns_image_fn)(void *ctx, const ns_image *image);

/** Options for ns_subscription_add(). Start from NS_SUBSCRIPTION_OPTS_INIT. */
struct ns_subscription_opts {
	uint32_t size;		    /**< set by NS_SUBSCRIPTION_OPTS_INIT; do not change */
	uint32_t flags;		    /**< zero */
	ns_image_fn on_available;   /**< optional */
	ns_image_fn on_unavailable; /**< optional: after the image's last message */
	void *ctx;		    /**< passed to both */
	uint32_t reserved[4];	    /**< zero */
};

/** Default subscription options. */
#define NS_SUBSCRIPTION_OPTS_INIT                                                                  \
	{                                                                                          \
		.size = sizeof(struct ns_subscription_opts)                                        \
	}

/**
 * Add a subscription on @p uri and @p stream_id: it receives every publication on the stream
 * (only the one with the URI's session-id, when given) from the position it joins at. Over
 * ns:udp with reliable=false, what the network loses is skipped (padded over after the NAK
 * delay and counted in the loss report) instead of asked for again.
 *
 * Returns 0 and sets *sub, or a negative error code.
 * Errors: -EINVAL (NULL client, URI or out pointer, a bad URI or bad options, or ns:udp:
 * reliable= other than the endpoint's other subscriptions in this driver), -ETIMEDOUT
 * (the driver did not answer), NS_EDRIVER_TIMEOUT (the driver stopped), -EMLINK (the stream
 * has 64 subscriptions: the most one stream serves), -ENOSPC (no free counter: it takes one
 * per log it joins), -ENOMEM, -EHOSTUNREACH (ns:udp: the endpoint does not resolve),
 * -EADDRINUSE (ns:udp: another socket holds the endpoint), -EADDRNOTAVAIL (ns:udp: not an
 * address of this machine). Nothing is left behind on failure; ns_errmsg() says why.
 * Ownership: *sub is the caller's until ns_subscription_close().
 * Thread safety: any thread.
 * Progress: blocking (waits for the driver).
 */
NS_API int ns_subscription_add(ns_client *client, const char *uri, int32_t stream_id,
			       const struct ns_subscription_opts *opts, ns_subscription **sub);

/**
 * Close a subscription and its images (no callback runs).
 *
 * Returns 0, or a negative error code.
 * Errors: -EINVAL (NULL).
 * Ownership: frees @p sub and its images.
 * Thread safety: one thread, with no poll on @p sub in progress.
 * Progress: blocking (waits for the driver, at most the client's timeout).
 */
NS_API int ns_subscription_close(ns_subscription *sub);

/**
 * Deliver up to @p limit fragments from the subscription's images to @p fn, in order per
 * image; images are served in turn. Also takes in arriving images and retires drained ones
 * (running the callbacks).
 *
 * Returns the number of fragments read (0: none), or -EINVAL (NULL, limit < 1).
 * A corrupt image (impossible frame lengths in shared memory) is closed: its unavailable
 * callback runs; no bad frame reaches @p fn.
 * Over ns:udp, while the network thread of a driver embedded in this process sleeps, a poll
 * that finds nothing reads the driver's sockets itself and looks again (a network cycle: a
 * few system calls; the driver's lock is only tried, never waited for).
 * Ownership: buffers passed to @p fn are valid only during the call.
 * Thread safety: one thread at a time per subscription.
 * Progress: wait-free (when the client's lock is busy, notices wait for the next poll).
 */
NS_API NS_HOT int ns_subscription_poll(ns_subscription *sub, ns_fragment_fn fn, void *ctx,
				       int limit);

/**
 * As ns_subscription_poll(), with a handler that decides per message (enum
 * ns_controlled_action). A message that came in fragments is re-read whole after an abort.
 *
 * Returns the number of fragments consumed, or -EINVAL (NULL, limit < 1).
 * Ownership: as ns_subscription_poll().
 * Thread safety: as ns_subscription_poll().
 * Progress: as ns_subscription_poll().
 */
NS_API int ns_subscription_controlled_poll(ns_subscription *sub, ns_controlled_handler_fn fn,
					   void *ctx, int limit);

/**
 * Poll, waiting with strategy @p wait (NS_WAIT_BUSY_SPIN, NS_WAIT_YIELD, NS_WAIT_SLEEP or
 * NS_WAIT_PHASED) until at least one fragment arrives or @p deadline_ns passes.
 *
 * Returns the number of fragments (> 0), -ETIMEDOUT, NS_EDRIVER_TIMEOUT (the driver stopped),
 * or -EINVAL.
 * Ownership: as ns_subscription_poll(). Thread safety: as ns_subscription_poll().
 * Progress: blocking (bounded by the deadline).
 */
NS_API int ns_subscription_poll_wait(ns_subscription *sub, ns_fragment_fn fn, void *ctx, int limit,
				     uint32_t wait, int64_t deadline_ns);

/**
 * The 0.2 name of ns_subscription_poll() (removed in 0.4).
 * Returns as ns_subscription_poll().
 * Errors, ownership, thread safety, progress: as ns_subscription_poll().
 */
NS_API NS_HOT NS_DEPRECATED("use ns_subscription_poll") int ns_poll(ns_subscription *sub,
								    ns_fragment_fn fn, void *ctx,
								    int limit);

/**
 * The 0.2 form of ns_subscription_controlled_poll(), whose handler returns int (removed in 0.4).
 * Returns as ns_subscription_controlled_poll().
 * Errors, ownership, thread safety, progress: as ns_subscription_controlled_poll().
 */
NS_API NS_DEPRECATED("use ns_subscription_controlled_poll") int ns_controlled_poll(
	ns_subscription *sub, ns_controlled_fn fn, void *ctx, int limit);

/**
 * The 0.2 name of ns_subscription_poll_wait() (removed in 0.4).
 * Returns as ns_subscription_poll_wait().
 * Errors, ownership, thread safety, progress: as ns_subscription_poll_wait().
 */
NS_API NS_DEPRECATED("use ns_subscription_poll_wait") int ns_poll_wait(ns_subscription *sub,
								       ns_fragment_fn fn, void *ctx,
								       int limit, uint32_t wait,
								       int64_t deadline_ns);

/**
 * Wait until the subscription has at least one image (a publisher), or @p deadline_ns.
 *
 * Returns 0 once an image is there, or a negative error code.
 * Errors: -ETIMEDOUT, NS_EDRIVER_TIMEOUT (the driver stopped), -EINVAL (NULL).
 * Ownership: nothing changes hands.
 * Thread safety: the thread that polls the subscription (images are taken in here).
 * Progress: blocking (sleeps in steps of 100 us at most).
 */
NS_API int ns_subscription_wait_connected(ns_subscription *sub, int64_t deadline_ns);

/**
 * The number of images the subscription polls now.
 *
 * Returns the count (>= 0), or -EINVAL.
 * Errors: -EINVAL (NULL). Ownership: nothing changes hands.
 * Thread safety: the thread that polls. Progress: wait-free.
 */
NS_API int ns_subscription_image_count(const ns_subscription *sub);

/**
 * The session id of an image's publisher; 0 for NULL.
 *
 * Returns the session id, or 0 for NULL.
 * Errors: none (NULL gives 0). Ownership: the image is the subscription's.
 * Thread safety: the thread that polls. Progress: wait-free.
 */
NS_API int32_t ns_image_session_id(const ns_image *image);

/**
 * How far the subscription has read the image (a stream position), or -EINVAL for NULL.
 *
 * Returns the position (>= 0), or -EINVAL.
 * Errors: -EINVAL. Ownership: the image is the subscription's.
 * Thread safety: the thread that polls. Progress: wait-free.
 */
NS_API int64_t ns_image_position(const ns_image *image);

/**
 * 1 when the image's stream has ended and every message was read, else 0; -EINVAL for NULL.
 *
 * Returns 1 or 0, or -EINVAL.
 * Errors: -EINVAL. Ownership: the image is the subscription's.
 * Thread safety: the thread that polls. Progress: wait-free.
 */
NS_API int ns_image_is_end_of_stream(const ns_image *image);

#ifdef __cplusplus
}
#endif
#endif /* NANOSTREAM_IPC_H */

/* SPDX-License-Identifier: MIT */
#ifndef NSI_DRIVER_SENDER_H
#define NSI_DRIVER_SENDER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "driver/flowctl.h"
#include "log/log.h"
#include "net/wire.h"

/*
 * The sending half of a network publication (unicast): what the driver's sender does with one
 * publication's log. No sockets here: datagrams go through a send function, so the whole
 * protocol (data, setup, heartbeats, status messages, NAKs and retransmits, RTT replies) runs
 * in tests against a receiver image, with loss injected between them.
 *
 * Data: from the sender position, committed frames of one term are packed into a datagram up
 * to the MTU; a datagram is a slice of the term itself (zero copy: the log's frames are the
 * wire's, version 0); padding travels as its 32-byte header. Never past the flow-control
 * limit: the receiver's consumption position plus its window, from its status messages.
 *
 * Setup: sent until the first status message, then whenever one asks (its setup flag). Idle:
 * a heartbeat (a data header with length 0) every heartbeat interval, at the sender position;
 * with the end-of-stream flag once the publication is closed and everything was sent.
 *
 * NAKs: each asks for a range of one term. It is served after the NAK delay, from the log,
 * if the log still holds it (at or after the clean position); a range already served is not
 * served again within the linger time; at most NSI_SENDER_RESENDS ranges wait at once, so a
 * flood of NAKs cannot make us send more than that per delay, and while flow control knows
 * more than one receiver, one address holds at most three quarters of them (a receiver far
 * behind, NAKing every gap it has, cannot crowd out the others' repairs). A NAK for data never sent, for
 * another session or stream, or for a range outside one term is ignored and counted.
 */

#define NSI_SENDER_RESENDS 64
/*
 * At most this much of one NAKed range is served per NAK (the receiver NAKs what is still
 * missing again): a receiver far behind (fc=max) cannot make the sender spend its socket on
 * megabytes of retransmits at the expense of the others.
 */
#define NSI_SENDER_RESEND_MAX (256 * 1024)

/* Sends one datagram; returns its length, 0 when the socket is full (try later), or -errno. */
typedef int (*nsi_send_fn)(void *ctx, const uint8_t *buf, size_t len);
/*
 * Send @count bytes at @buf as datagrams of @segment bytes (the last may be shorter) in one
 * call (UDP GSO or sendmmsg): the bytes of the whole datagrams taken, 0 (full) or -errno.
 */
typedef int (*nsi_send_segments_fn)(void *ctx, const uint8_t *buf, size_t count, size_t segment);

/* Datagrams one call may carry: UDP GSO takes at most 64 KiB in all. */
#define NSI_SENDER_BATCH     15
#define NSI_SENDER_BATCH_MAX 65000

struct nsi_sender_params {
	int64_t heartbeat_ns;	     /* idle heartbeats and setups while unconnected */
	int64_t nak_delay_ns;	     /* wait before serving a NAK (merges repeats) */
	int64_t linger_ns;	     /* a range served is not served again within this */
	int64_t receiver_timeout_ns; /* no status message for this long: not connected */
	/*
	 * Flow control (driver/flowctl.h); kind 0: max, forgetting receivers after
	 * receiver_timeout_ns (unicast's).
	 */
	struct nsi_fc_params fc;
};

struct nsi_resend {
	int64_t position;
	int32_t length;
	int64_t due_ns;	  /* serve at; 0: served, lingering */
	int64_t until_ns; /* linger ends */
	uint64_t asker;	  /* a hash of the NAK's source address */
	bool used;
};

struct nsi_sender {
	struct nsi_log *log;
	int32_t session_id, stream_id, mtu;
	struct nsi_sender_params p;
	nsi_send_fn send;
	nsi_send_segments_fn send_segments; /* NULL: one datagram per call */
	void *ctx;
	int64_t position;	 /* the next byte to send */
	int64_t limit;		 /* flow control: do not send at or past it (fc.limit) */
	int64_t last_send_ns;	 /* data or heartbeat */
	int64_t setup_due_ns;	 /* next setup while one is wanted */
	int64_t end_position;	 /* the stream ends here (closed and drained), or -1 */
	int64_t acked;		 /* the highest consumption position a status message reported */
	uint64_t eos_heartbeats; /* heartbeats sent with the end-of-stream flag */
	int64_t clean;		 /* positions below it are zeroed (ours; copied to the metadata) */
	bool want_setup;
	bool connected; /* flow control counts enough receivers */
	struct nsi_fc fc;
	struct nsi_resend resend[NSI_SENDER_RESENDS];
	struct {
		uint64_t datagrams, bytes, heartbeats, setups, status_messages, naks, naks_ignored,
			retransmits, retransmit_bytes, rtt_replies, short_sends, errors_sent;
	} stats;
	int64_t last_error_ns; /* the last error frame: at most one per heartbeat interval */
	uint8_t scratch[64];   /* control frames */
};

/* Start sending @log (from its current tail). Returns 0 or -EINVAL. */
int nsi_sender_init(struct nsi_sender *s, struct nsi_log *log, nsi_send_fn send, void *ctx,
		    const struct nsi_sender_params *p, int64_t now_ns);

/*
 * One duty cycle at @now_ns: data up to the limit, due retransmits, a setup or a heartbeat
 * when due. Returns the datagrams sent (0: nothing to do), or -errno from the send function.
 */
int nsi_sender_do_work(struct nsi_sender *s, int64_t now_ns);

/*
 * When the sender next has something to do without being asked (a setup, a heartbeat, a
 * retransmit or a linger ending, the receiver's timeout). *@watching becomes true when the
 * log holds data it could not send yet (a full socket, a claimed frame not yet committed):
 * worth looking at again soon. New commits and frames from the receiver are not in it: they
 * wake the driver themselves.
 */
int64_t nsi_sender_next_due(const struct nsi_sender *s, bool *watching);

/*
 * A control frame from a receiver at @from (NULL: unknown): status message, NAK or RTT
 * measurement.
 */
void nsi_sender_on_control(struct nsi_sender *s, const struct nsi_frame *f,
			   const struct nsi_udp_addr *from, int64_t now_ns);
/* The same from an unknown address. */
void nsi_sender_on_frame(struct nsi_sender *s, const struct nsi_frame *f, int64_t now_ns);

/* The publication closed at @position: send up to it, then heartbeats with end of stream. */
void nsi_sender_close(struct nsi_sender *s, int64_t position);

#endif /* NSI_DRIVER_SENDER_H */

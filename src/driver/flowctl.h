/* SPDX-License-Identifier: MIT */
#ifndef NSI_DRIVER_FLOWCTL_H
#define NSI_DRIVER_FLOWCTL_H

#include <stdbool.h>
#include <stdint.h>

#include "net/udp.h"

/*
 * Flow control of a network publication: which receivers it knows, and how far it may send.
 * Each receiver reports, in its status messages, the position its subscribers consumed and
 * its window; a receiver is known by its receiver id from its first status message and
 * forgotten when it has been silent for the timeout. The strategy (the URI's fc=) turns the
 * receivers' limits (consumed + window) into the sender's:
 *
 *   max     the fastest receiver's limit; it never goes down (a reordered status message
 *           does not lower it). Unicast channels and, by default, multicast ones.
 *   min     the slowest receiver's limit: every receiver gets every byte, at the pace of the
 *           slowest; a receiver that goes silent stops holding the sender after the timeout.
 *   tagged  the slowest of the receivers whose status messages carry the group tag; the
 *           others are known (ns-stat shows them) but do not hold the sender.
 *
 * The publication counts as connected while at least max(1, group_min) receivers are known
 * (with tagged, receivers with the tag). With min and tagged and no receiver to follow, the
 * limit stays where it was: nothing is sent for nobody.
 *
 * No sockets, no clock of its own, no allocation: tests drive it with made-up status messages.
 * Single-threaded: the driver's network work owns it.
 */

#define NSI_FC_RECEIVERS 64

enum nsi_fc_kind { NSI_FC_MAX = 1, NSI_FC_MIN = 2, NSI_FC_TAGGED = 3 };

struct nsi_fc_params {
	int kind;	    /* enum nsi_fc_kind */
	int64_t timeout_ns; /* a receiver silent this long is forgotten (> 0) */
	int64_t group_tag;  /* tagged: the tag whose receivers hold the sender */
	int32_t group_min;  /* connected with at least this many (following) receivers; 0: 1 */
};

struct nsi_fc_receiver {
	int64_t id;
	int64_t position; /* the highest consumption position it reported */
	int64_t limit;	  /* the highest position + window it reported */
	int64_t last_ns;  /* its last status message */
	int64_t tag;
	bool has_tag;
	bool follows; /* the strategy counts it (all, or the tagged ones) */
	struct nsi_udp_addr from;
};

struct nsi_fc {
	struct nsi_fc_params p;
	int64_t limit; /* do not send at or past it */
	int n;
	struct nsi_fc_receiver r[NSI_FC_RECEIVERS];
	struct {
		uint64_t joined, left, refused;
	} stats;
};

/*
 * Start with no receiver and a limit of @position (nothing may be sent). -EINVAL for an
 * unknown kind, a timeout <= 0 or a negative group_min.
 */
int nsi_fc_init(struct nsi_fc *fc, const struct nsi_fc_params *p, int64_t position);

/*
 * A status message from receiver @id at @from: consumed up to @position with @window bytes
 * of room; @tag when it carries a group tag (else NULL). A receiver beyond the table's room
 * is refused (counted), the known ones are kept. Returns the new limit.
 */
int64_t nsi_fc_on_status(struct nsi_fc *fc, int64_t id, int64_t position, int32_t window,
			 const int64_t *tag, const struct nsi_udp_addr *from, int64_t now_ns);

/* Forget receivers silent for the timeout. Returns how many were forgotten. */
int nsi_fc_expire(struct nsi_fc *fc, int64_t now_ns);

/* Forget the receivers at @a (a destination removed). Returns how many were forgotten. */
int nsi_fc_forget_addr(struct nsi_fc *fc, const struct nsi_udp_addr *a);

/* Whether enough receivers are known for the publication to count as connected. */
bool nsi_fc_connected(const struct nsi_fc *fc);

/* When the next receiver would be forgotten (INT64_MAX: none known). */
int64_t nsi_fc_next_due(const struct nsi_fc *fc);

/* The strategy's name ("max", "min", "tagged"), for ns-stat and logs. */
const char *nsi_fc_name(int kind);

#endif /* NSI_DRIVER_FLOWCTL_H */

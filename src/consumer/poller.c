/* SPDX-License-Identifier: MIT */
#include "config.h"

#include <errno.h>
#include <stdbool.h>

#include <nanostream/consumer.h>

#include "util/sized.h"
#include "consumer/consumer.h"

/* First released size (util/sized.h): never change it. */
#define POLLER_OPTS_0_1 NSI_SIZE_UPTO(struct ns_poller_opts, after)

/*
 * A poller is a consumer that nobody runs: its steps are taken by ns_poller_poll(). The
 * public ns_poller handle is the consumer itself.
 */

static int
never_called(void *ctx, void *slot, int64_t seq, bool end_of_batch)
{
	(void)ctx, (void)slot, (void)seq, (void)end_of_batch;
	return -EINVAL;
}

static int
poller_create(ns_poller **poller, ns_ring *ring, const struct ns_poller_opts *opts)
{
	struct ns_consumer_opts co = NS_CONSUMER_OPTS_INIT;
	struct ns_poller_opts o;
	int rc;

	if (poller == NULL || ring == NULL || opts == NULL)
		return nsi_errmsg_set(-EINVAL, "%s is NULL",
				      poller == NULL ? "poller"
				      : ring == NULL ? "ring"
						     : "opts");
	rc = nsi_sized_in_named(&o, sizeof(o), opts, POLLER_OPTS_0_1, "struct ns_poller_opts",
				"NS_POLLER_OPTS_INIT");
	if (rc < 0)
		return rc;
	if (o.flags != 0 || o.reserved != 0)
		return nsi_errmsg_set(-EINVAL, "poller options: flags and reserved must be 0");
	co.on_event = never_called;
	co.after = o.after;
	co.after_count = o.after_count;
	ns_consumer *c = NULL;
	rc = ns_consumer_create(&c, ring, &co);
	if (rc < 0)
		return rc;
	/* The poller is the consumer: no separate allocation, so nothing else can fail. */
	c->is_poller = true;
	*poller = (ns_poller *)c;
	return 0;
}

int
ns_poller_create(ns_poller **poller, ns_ring *ring, const struct ns_poller_opts *opts)
{
	nsi_errmsg_clear();
	return nsi_errmsg_default(poller_create(poller, ring, opts));
}

int
ns_poller_poll(ns_poller *poller, ns_event_fn handler, void *ctx, uint32_t max)
{
	struct ns_consumer *c = (struct ns_consumer *)poller;

	if (poller == NULL || handler == NULL)
		return -EINVAL;
	int64_t limit = max != 0 && (int64_t)max < c->ring->capacity ? max : c->ring->capacity;
	return nsi_consumer_poll(c, handler, ctx, limit);
}

ns_consumer *
ns_poller_consumer(ns_poller *poller)
{
	return (ns_consumer *)poller;
}

void
ns_poller_destroy(ns_poller *poller)
{
	if (poller != NULL)
		nsi_consumer_free((struct ns_consumer *)poller);
}

/* SPDX-License-Identifier: MIT */
#ifndef NSI_CONSUMER_SETUP_H
#define NSI_CONSUMER_SETUP_H

#include <stdint.h>

#include <nanostream/consumer.h>

#include "consumer/consumer.h"

/* Shared by the consumer, work-pool and poller create calls (consumer.c). */

#define NSI_DEFAULT_RETRIES 3u

/* A zeroed consumer of @ring on its own line pairs, or NULL. */
struct ns_consumer *nsi_consumer_new(ns_ring *ring);

/* 0, or -EINVAL if the `after` list is too long, NULL with a count, or names a NULL consumer
 * or a consumer of another ring. */
int nsi_consumer_check_after(ns_consumer *const *after, uint32_t count, const ns_ring *ring);

/* Copy a checked `after` list into @c. Returns 0 or -ENOMEM. */
int nsi_consumer_set_after(struct ns_consumer *c, ns_consumer *const *after, uint32_t count);

#endif /* NSI_CONSUMER_SETUP_H */

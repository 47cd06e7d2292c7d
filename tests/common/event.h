/* SPDX-License-Identifier: MIT */
#ifndef NS_TESTS_EVENT_H
#define NS_TESTS_EVENT_H

#include <stddef.h>
#include <stdint.h>

#include "testutil.h"

/*
 * The stress tests' event: producer id, the producer's own sequence, a payload derived from
 * both, and a CRC32C over all of that, so a consumer can tell a lost, duplicated, reordered
 * or torn event.
 */
struct tu_event {
	uint32_t producer;
	uint32_t len;
	uint64_t pseq;
	uint64_t payload;
	uint32_t crc;
	uint32_t pad;
};

static inline uint64_t
tu_event_payload(uint32_t producer, uint64_t pseq)
{
	return tu_mix64(((uint64_t)producer << 48) ^ pseq);
}

static inline uint32_t
tu_event_crc(const struct tu_event *e)
{
	return tu_crc32c(0, e, offsetof(struct tu_event, crc));
}

static inline void
tu_event_fill(struct tu_event *e, uint32_t producer, uint64_t pseq)
{
	e->producer = producer;
	e->len = sizeof(*e);
	e->pseq = pseq;
	e->payload = tu_event_payload(producer, pseq);
	e->crc = tu_event_crc(e);
	e->pad = 0;
}

/* Whether the event is intact: right length, payload and CRC for a known producer. */
static inline int
tu_event_intact(const struct tu_event *e, uint32_t producers)
{
	return e->producer < producers && e->len == sizeof(*e) &&
	       e->payload == tu_event_payload(e->producer, e->pseq) && e->crc == tu_event_crc(e);
}

#endif /* NS_TESTS_EVENT_H */

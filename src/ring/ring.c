/* SPDX-License-Identifier: MIT */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <nanostream/ring.h>

#include "util/sized.h"
#include "ring/ring.h"
#include "mem/region.h"
#include "util/cpu.h"

/* First released sizes (util/sized.h): never change these. */
#define RING_OPTS_0_1 NSI_SIZE_UPTO(struct ns_ring_opts, mem_region_bytes)
#define MEM_INFO_0_1  NSI_SIZE_UPTO(struct ns_mem_info, reserved0)
#define LAYOUT_0_3    NSI_SIZE_UPTO(struct ns_ring_layout, stride)

#define RING_FLAGS (NS_RING_F_SEQ_IN_SLOT | NS_RING_F_NO_SPIN)

#define RING_MAX_CAPACITY  (UINT64_C(1) << 30)
#define RING_MAX_SLOT_SIZE 65536u
#define RING_MAX_GATES	   1024u
#define RING_DEFAULT_GATES 16u

static size_t
align_up(size_t v, size_t a)
{
	return (v + a - 1) & ~(a - 1);
}

/* Each refusal says, through ns_errmsg(), which option is wrong and what it must be. */
static int
validate(const struct ns_ring_opts *o)
{
	if ((o->flags & ~RING_FLAGS) != 0)
		return nsi_errmsg_set(-EINVAL,
				      "ring options: unknown flags 0x%x (the flags are "
				      "NS_RING_F_SEQ_IN_SLOT, 0x1, and NS_RING_F_NO_SPIN, 0x2)",
				      o->flags & ~RING_FLAGS);
	if (o->capacity == 0 || o->capacity > RING_MAX_CAPACITY)
		return nsi_errmsg_set(-EINVAL,
				      "ring options: capacity %llu is out of range: a power of two "
				      "from 1 to 2^30 (1073741824) slots",
				      (unsigned long long)o->capacity);
	if (!nsi_is_pow2_u64(o->capacity))
		return nsi_errmsg_set(
			-EINVAL,
			"ring options: capacity %llu is not a power of two (1 .. 2^30): "
			"%llu is the next one",
			(unsigned long long)o->capacity,
			(unsigned long long)nsi_pow2_ceil_u64(o->capacity));
	if (o->slot_size == 0 || o->slot_size > RING_MAX_SLOT_SIZE)
		return nsi_errmsg_set(-EINVAL,
				      "ring options: slot_size %u is out of range: a multiple of 8 "
				      "from 8 to 65536 bytes",
				      o->slot_size);
	if (o->slot_size % 8 != 0)
		return nsi_errmsg_set(
			-EINVAL,
			"ring options: slot_size %u is not a multiple of 8 (8 .. 65536): "
			"%u would fit it",
			o->slot_size, (o->slot_size + 7u) & ~7u);
	if (o->producer != NS_PRODUCER_SINGLE && o->producer != NS_PRODUCER_MULTI)
		return nsi_errmsg_set(
			-EINVAL,
			"ring options: producer %u is neither NS_PRODUCER_SINGLE (0) nor "
			"NS_PRODUCER_MULTI (1)",
			o->producer);
	if (!nsi_wait_kind_is_valid(o->wait))
		return nsi_errmsg_set(-EINVAL,
				      "ring options: wait %u is not an enum ns_wait_kind "
				      "(NS_WAIT_BUSY_SPIN 0 .. NS_WAIT_PHASED 6)",
				      o->wait);
	if (o->max_consumers > RING_MAX_GATES)
		return nsi_errmsg_set(-EINVAL,
				      "ring options: max_consumers %u is over 1024 (0 means 16)",
				      o->max_consumers);
	return 0;
}

static int
init_slots(struct ns_ring *r, const struct ns_ring_opts *o)
{
	if (o->slot_init == NULL)
		return 0;
	for (int64_t i = 0; i < r->capacity; i++) {
		int rc = o->slot_init(o->slot_init_arg, nsi_ring_slot(r, i), (uint64_t)i);
		if (rc != 0)
			return rc < 0 ? rc : -ECANCELED;
	}
	return 0;
}

/*
 * A ring's storage is two parts. Data: [slots][avail (MULTI)], under the memory policy; it is
 * what grows with the capacity. Control: [struct ns_ring][gates], a few KiB on normal pages
 * (bound, locked as asked): kept apart so a ring whose slots fill whole huge pages does not
 * spend one more huge page on it. A caller's region holds both, control first.
 *
 * With NS_RING_F_SEQ_IN_SLOT each slot is [header 8 bytes][data]: the stride is the next power
 * of two up to 128 bytes, so a slot never straddles a line it need not, and beyond that a
 * multiple of 64, so each header starts a cache line with the data's first bytes.
 */
#define SLOT_HEADER 8u

struct layout {
	size_t stride;	       /* bytes per slot, header included */
	size_t gates, control; /* control part: gates offset, total */
	size_t avail, data;    /* data part: avail offset (MULTI without headers), total */
};

static struct layout
layout_of(const struct ns_ring_opts *o)
{
	uint32_t max_gates = o->max_consumers != 0 ? o->max_consumers : RING_DEFAULT_GATES;
	bool in_slot = (o->flags & NS_RING_F_SEQ_IN_SLOT) != 0;
	struct layout l;
	l.stride = o->slot_size;
	if (in_slot) {
		l.stride = o->slot_size + SLOT_HEADER;
		l.stride = l.stride <= 128 ? (size_t)nsi_pow2_ceil_u64(l.stride)
					   : align_up(l.stride, 64);
	}
	l.gates = align_up(sizeof(struct ns_ring), NS_FALSE_SHARING);
	l.control = l.gates + (size_t)max_gates * sizeof(struct nsi_gate);
	l.avail = align_up((size_t)o->capacity * l.stride, NS_FALSE_SHARING);
	l.data = l.avail;
	if (o->producer == NS_PRODUCER_MULTI && !in_slot)
		l.data += (size_t)o->capacity * 4;
	return l;
}

static struct nsi_mem_req
mem_req_of(const struct ns_ring_opts *o)
{
	return (struct nsi_mem_req){
		.policy = o->mem_policy,
		.flags = o->mem_flags,
		.sources = o->mem_sources,
		.node = o->numa_node,
		.user = o->mem_region,
		.user_bytes = (size_t)o->mem_region_bytes,
	};
}

/* Copy and check a caller's options: 0 or -EINVAL. */
static int
load_opts(struct ns_ring_opts *o, const struct ns_ring_opts *opts)
{
	int rc = nsi_sized_in_named(o, sizeof(*o), opts, RING_OPTS_0_1, "struct ns_ring_opts",
				    "NS_RING_OPTS_INIT");
	if (rc < 0)
		return rc;
	rc = validate(o);
	if (rc < 0)
		return rc;
	struct nsi_mem_req req = mem_req_of(o);
	return nsi_mem_req_check(&req);
}

static int64_t
ring_mem_size(const struct ns_ring_opts *opts)
{
	struct ns_ring_opts o;

	if (opts == NULL)
		return nsi_errmsg_set(-EINVAL, "opts is NULL");
	int rc = load_opts(&o, opts);
	if (rc < 0)
		return rc;
	struct layout l = layout_of(&o);
	return (int64_t)(l.control + l.data);
}

int64_t
ns_ring_mem_size(const struct ns_ring_opts *opts)
{
	nsi_errmsg_clear();
	int64_t rc = ring_mem_size(opts);
	if (rc < 0)
		(void)nsi_errmsg_default((int)rc);
	return rc;
}

static int
ring_create(ns_ring **ring, const struct ns_ring_opts *opts)
{
	struct ns_ring_opts o;
	struct nsi_region data, control;
	struct nsi_mem_req req;
	struct ns_ring *r;
	int rc;

	if (ring == NULL || opts == NULL)
		return nsi_errmsg_set(-EINVAL, "%s is NULL", ring == NULL ? "ring" : "opts");
	rc = load_opts(&o, opts);
	if (rc < 0)
		return rc;

	struct layout l = layout_of(&o);
	req = mem_req_of(&o);
	if (req.user != NULL) {
		/* The caller's memory holds both parts; nothing to map. */
		rc = nsi_region_alloc(&data, l.control + l.data, &req);
		if (rc < 0)
			return rc;
		control = (struct nsi_region){ .base = data.base, .bytes = l.control };
		data.base = (uint8_t *)data.base + l.control;
		data.bytes = l.data;
	} else {
		struct nsi_mem_req control_req = req;
		control_req.policy = NS_MEM_NORMAL;
		control_req.flags &= ~NS_MEM_F_NO_PREFAULT;
		rc = nsi_region_alloc(&control, l.control, &control_req);
		if (rc < 0)
			return rc;
		rc = nsi_region_alloc(&data, l.data, &req);
		if (rc < 0) {
			nsi_region_free(&control);
			return rc;
		}
	}
	r = control.base; /* zero-filled */
	r->control = control;
	r->region = data;
	r->capacity = (int64_t)o.capacity;
	r->mask = r->capacity - 1;
	r->shift = nsi_log2_u64(o.capacity);
	r->slot_size = o.slot_size;
	r->producer = o.producer;
	r->max_gates = o.max_consumers != 0 ? o.max_consumers : RING_DEFAULT_GATES;
	r->wait = (struct nsi_wait_cfg){
		.kind = o.wait,
		.spin_tries = o.spin_tries,
		.yield_tries = o.yield_tries,
		.sleep_ns = o.sleep_ns,
		.timeout_ns = o.timeout_ns,
		.phase_spin_ns = o.phase_spin_ns,
		.phase_yield_ns = o.phase_yield_ns,
	};
	nsi_wait_cfg_defaults(&r->wait);
	if (o.flags & NS_RING_F_NO_SPIN)
		r->wait.block_spin_ns = 0;
	r->notify = nsi_wait_kind_blocks(o.wait);

	r->in_slot = (o.flags & NS_RING_F_SEQ_IN_SLOT) != 0;
	r->per_slot = r->in_slot || o.producer == NS_PRODUCER_MULTI;
	r->plain_publish = !r->per_slot && !r->notify;
	r->stride = l.stride;
	r->slots = data.base;
	r->gates = (struct nsi_gate *)(void *)((uint8_t *)control.base + l.gates);
	if (r->in_slot) {
		r->avail = r->slots;
		r->avail_stride = l.stride;
		r->slots += SLOT_HEADER;
	} else if (r->per_slot) {
		r->avail = (uint8_t *)data.base + l.avail;
		r->avail_stride = sizeof(uint32_t);
	}
	/* The lap before the first: no slot reads as published. */
	for (int64_t i = 0; r->per_slot && i < r->capacity; i++)
		*nsi_avail_word(r, i) = NSI_LAP_MASK;
	for (uint32_t i = 0; i < r->max_gates; i++)
		r->gates[i].value = NSI_GATE_FREE;

	nsi_seq_init(&r->cursor, NSI_SEQ_INITIAL);
	nsi_seq_init(&r->mp_cached_min, NSI_SEQ_INITIAL);
	r->sp.next = NSI_SEQ_INITIAL;
	r->sp.limit = NSI_SEQ_INITIAL + r->capacity;

	rc = nsi_signal_init(&r->publish_sig, o.wait);
	if (rc < 0)
		goto err_region;
	rc = nsi_signal_init(&r->progress_sig, o.wait);
	if (rc < 0)
		goto err_publish_sig;
	rc = init_slots(r, &o);
	if (rc < 0)
		goto err_progress_sig;

	*ring = r;
	return 0;

err_progress_sig:
	nsi_signal_destroy(&r->progress_sig);
err_publish_sig:
	nsi_signal_destroy(&r->publish_sig);
err_region:
	nsi_region_free(&data);
	nsi_region_free(&control);
	return rc;
}

void
ns_ring_destroy(ns_ring *ring)
{
	if (ring == NULL)
		return;
	/* The ring lives in its control region: copy that out before unmapping it. */
	struct nsi_region control = ring->control;
	nsi_signal_destroy(&ring->progress_sig);
	nsi_signal_destroy(&ring->publish_sig);
	nsi_region_free(&ring->region);
	nsi_region_free(&control);
}

int
ns_ring_mem_info(const ns_ring *ring, struct ns_mem_info *info)
{
	if (ring == NULL || info == NULL || nsi_sized_out_check(info, MEM_INFO_0_1) != 0)
		return -EINVAL;
	struct ns_mem_info full;
	nsi_region_info(&ring->region, &full);
	nsi_sized_out(info, &full, sizeof(full));
	return 0;
}

/* Internally 0 means "no deadline"; any non-positive deadline has already passed. */
static int64_t
past_or(int64_t deadline_ns)
{
	return deadline_ns <= 0 ? 1 : deadline_ns;
}

static bool
bad_count(const ns_ring *ring, uint32_t n)
{
	return n == 0 || (int64_t)n > ring->capacity;
}

int64_t
ns_ring_claim(ns_ring *ring)
{
	if (ring == NULL)
		return -EINVAL;
	return nsi_ring_claim(ring, 1, NSI_CLAIM_BLOCK, 0);
}

int64_t
ns_ring_claim_n(ns_ring *ring, uint32_t n)
{
	if (ring == NULL || bad_count(ring, n))
		return -EINVAL;
	return nsi_ring_claim(ring, n, NSI_CLAIM_BLOCK, 0);
}

int64_t
ns_ring_claim_until(ns_ring *ring, uint32_t n, int64_t deadline_ns)
{
	if (ring == NULL || bad_count(ring, n))
		return -EINVAL;
	return nsi_ring_claim(ring, n, NSI_CLAIM_DEADLINE, past_or(deadline_ns));
}

int64_t
ns_ring_try_claim(ns_ring *ring)
{
	if (ring == NULL)
		return -EINVAL;
	return nsi_ring_claim(ring, 1, NSI_CLAIM_TRY, 0);
}

int64_t
ns_ring_try_claim_n(ns_ring *ring, uint32_t n)
{
	if (ring == NULL || bad_count(ring, n))
		return -EINVAL;
	return nsi_ring_claim(ring, n, NSI_CLAIM_TRY, 0);
}

int64_t
ns_ring_try_claim_upto(ns_ring *ring, uint32_t n, uint32_t *claimed)
{
	if (ring == NULL || claimed == NULL || bad_count(ring, n))
		return -EINVAL;
	int64_t got = 0;
	int64_t first = nsi_ring_try_claim_upto(ring, n, &got);
	*claimed = first >= 0 ? (uint32_t)got : 0;
	return first;
}

void *
ns_ring_slot(const ns_ring *ring, int64_t seq)
{
	if (ring == NULL || seq < 0)
		return NULL;
	return nsi_ring_slot(ring, seq);
}

int
ns_ring_span(const ns_ring *ring, int64_t first, uint32_t n, struct ns_ring_span *span)
{
	if (ring == NULL || span == NULL || first < 0 || bad_count(ring, n))
		return -EINVAL;
	int64_t idx = first & ring->mask;
	int64_t run0 = ring->capacity - idx;

	if (run0 > (int64_t)n)
		run0 = n;
	span->data[0] = nsi_ring_slot(ring, first);
	span->count[0] = (size_t)run0;
	span->data[1] = run0 < (int64_t)n ? nsi_ring_slot(ring, 0) : NULL;
	span->count[1] = (size_t)((int64_t)n - run0);
	span->stride = ring->stride;
	return 0;
}

int
ns_ring_get_layout(const ns_ring *ring, struct ns_ring_layout *layout)
{
	struct ns_ring_layout l;

	if (ring == NULL || layout == NULL || nsi_sized_out_check(layout, LAYOUT_0_3) != 0)
		return -EINVAL;
	memset(&l, 0, sizeof(l));
	l.slots = ring->slots;
	l.capacity = (uint64_t)ring->capacity;
	l.stride = ring->stride;
	nsi_sized_out(layout, &l, sizeof(l));
	return 0;
}

int
ns_ring_publish(ns_ring *ring, int64_t seq)
{
	if (ring == NULL || seq < 0)
		return -EINVAL;
	NS_DEBUG_ASSERT(seq <= nsi_ring_claimed(ring)); /* publish only what was claimed */
	nsi_ring_publish(ring, seq, 1);
	return 0;
}

int
ns_ring_publish_n(ns_ring *ring, int64_t first, uint32_t n)
{
	if (ring == NULL || first < 0 || bad_count(ring, n))
		return -EINVAL;
	NS_DEBUG_ASSERT(first + n - 1 <= nsi_ring_claimed(ring));
	nsi_ring_publish(ring, first, n);
	return 0;
}

int
ns_ring_abandon(ns_ring *ring, int64_t first, uint32_t n)
{
	if (ring == NULL || first < 0 || bad_count(ring, n))
		return -EINVAL;
	return nsi_ring_abandon(ring, first, n);
}

int
ns_ring_halt(ns_ring *ring)
{
	if (ring == NULL)
		return -EINVAL;
	nsi_ring_halt(ring);
	return 0;
}

int
ns_ring_drain(ns_ring *ring, int64_t deadline_ns, uint64_t *remaining)
{
	if (ring == NULL)
		return -EINVAL;
	return nsi_ring_drain(ring, past_or(deadline_ns), remaining);
}

int
ns_ring_is_halted(const ns_ring *ring)
{
	if (ring == NULL)
		return -EINVAL;
	return nsi_load_acquire_u32(&ring->halted) != 0;
}

int
ns_ring_is_published(const ns_ring *ring, int64_t seq)
{
	if (ring == NULL || seq < 0)
		return -EINVAL;
	return nsi_ring_is_published(ring, seq);
}

int64_t
ns_ring_cursor(const ns_ring *ring)
{
	if (ring == NULL)
		return -EINVAL;
	return nsi_seq_load_acquire(&ring->cursor);
}

int64_t
ns_ring_remaining(const ns_ring *ring)
{
	if (ring == NULL)
		return -EINVAL;
	return nsi_ring_remaining(ring);
}

uint64_t
ns_ring_capacity(const ns_ring *ring)
{
	return ring != NULL ? (uint64_t)ring->capacity : 0;
}

uint32_t
ns_ring_slot_size(const ns_ring *ring)
{
	return ring != NULL ? ring->slot_size : 0;
}

int
ns_ring_create(ns_ring **ring, const struct ns_ring_opts *opts)
{
	nsi_errmsg_clear();
	return nsi_errmsg_default(ring_create(ring, opts));
}

/* SPDX-License-Identifier: MIT */
#include "config.h"

#include <errno.h>

#include <nanostream/ring.h>

#include "ring/ring.h"

/* One translator call, whatever its arity. */
struct call {
	int nargs;
	union {
		ns_translate_fn f1;
		ns_translate2_fn f2;
		ns_translate3_fn f3;
	} fn;
	void *a0;
	void *a1;
	void *a2;
};

static int
invoke(const struct call *c, void *slot, int64_t seq)
{
	switch (c->nargs) {
	case 1:
		return c->fn.f1(slot, seq, c->a0);
	case 2:
		return c->fn.f2(slot, seq, c->a0, c->a1);
	default:
		return c->fn.f3(slot, seq, c->a0, c->a1, c->a2);
	}
}

static int64_t
failed(ns_ring *ring, int64_t first, int64_t n, int rc)
{
	/* Cannot fail: the range is our own latest claim and unpublished. */
	(void)nsi_ring_abandon(ring, first, n);
	return rc < 0 ? rc : -ECANCELED;
}

static int64_t
publish_one(ns_ring *ring, enum nsi_claim_mode mode, const struct call *c)
{
	if (ring == NULL || c->fn.f1 == NULL)
		return -EINVAL;
	int64_t seq = nsi_ring_claim(ring, 1, mode, 0);
	if (seq < 0)
		return seq;
	int rc = invoke(c, nsi_ring_slot(ring, seq), seq);
	if (NS_UNLIKELY(rc != 0))
		return failed(ring, seq, 1, rc);
	nsi_ring_publish(ring, seq, 1);
	return seq;
}

int64_t
ns_publish(ns_ring *ring, ns_translate_fn translate, void *arg)
{
	struct call c = { .nargs = 1, .fn.f1 = translate, .a0 = arg };
	return publish_one(ring, NSI_CLAIM_BLOCK, &c);
}

int64_t
ns_publish2(ns_ring *ring, ns_translate2_fn translate, void *arg0, void *arg1)
{
	struct call c = { .nargs = 2, .fn.f2 = translate, .a0 = arg0, .a1 = arg1 };
	return publish_one(ring, NSI_CLAIM_BLOCK, &c);
}

int64_t
ns_publish3(ns_ring *ring, ns_translate3_fn translate, void *arg0, void *arg1, void *arg2)
{
	struct call c = { .nargs = 3, .fn.f3 = translate, .a0 = arg0, .a1 = arg1, .a2 = arg2 };
	return publish_one(ring, NSI_CLAIM_BLOCK, &c);
}

int64_t
ns_publish_try(ns_ring *ring, ns_translate_fn translate, void *arg)
{
	struct call c = { .nargs = 1, .fn.f1 = translate, .a0 = arg };
	return publish_one(ring, NSI_CLAIM_TRY, &c);
}

int64_t
ns_publish2_try(ns_ring *ring, ns_translate2_fn translate, void *arg0, void *arg1)
{
	struct call c = { .nargs = 2, .fn.f2 = translate, .a0 = arg0, .a1 = arg1 };
	return publish_one(ring, NSI_CLAIM_TRY, &c);
}

int64_t
ns_publish3_try(ns_ring *ring, ns_translate3_fn translate, void *arg0, void *arg1, void *arg2)
{
	struct call c = { .nargs = 3, .fn.f3 = translate, .a0 = arg0, .a1 = arg1, .a2 = arg2 };
	return publish_one(ring, NSI_CLAIM_TRY, &c);
}

static int64_t
publish_batch(ns_ring *ring, enum nsi_claim_mode mode, ns_translate_fn translate, void *const *args,
	      uint32_t count)
{
	if (ring == NULL || translate == NULL || args == NULL || count == 0 ||
	    (int64_t)count > ring->capacity)
		return -EINVAL;
	int64_t first = nsi_ring_claim(ring, count, mode, 0);
	if (first < 0)
		return first;
	for (uint32_t i = 0; i < count; i++) {
		int64_t seq = first + i;
		int rc = translate(nsi_ring_slot(ring, seq), seq, args[i]);
		if (NS_UNLIKELY(rc != 0))
			return failed(ring, first, count, rc);
	}
	nsi_ring_publish(ring, first, count);
	return first;
}

int64_t
ns_publish_batch(ns_ring *ring, ns_translate_fn translate, void *const *args, uint32_t count)
{
	return publish_batch(ring, NSI_CLAIM_BLOCK, translate, args, count);
}

int64_t
ns_publish_batch_try(ns_ring *ring, ns_translate_fn translate, void *const *args, uint32_t count)
{
	return publish_batch(ring, NSI_CLAIM_TRY, translate, args, count);
}

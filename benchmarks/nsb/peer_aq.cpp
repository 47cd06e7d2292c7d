// SPDX-License-Identifier: MIT
// atomic_queue (Debian libatomic-queue-dev, header-only) as a peer: AtomicQueueB2, the
// run-time-capacity queue for any element type, multi-producer multi-consumer (it keeps each
// producer's order, which is all our check needs, but may hand elements of different producers
// out of their push order); with one producer it is told so (SPSC flag). try_push / try_pop
// never wait: the harness spins or yields. No bulk calls: one element per call.
#include <atomic_queue/atomic_queue.h>
#include <new>

extern "C" {
#include "nsb.h"
}

namespace
{

using mpmc = atomic_queue::AtomicQueueB2<uint64_t>;
using spsc = atomic_queue::AtomicQueueB2<uint64_t, std::allocator<uint64_t>, true, false, true>;

struct aq {
	bool single;
	void *q;
};

void *
create(uint32_t capacity, uint32_t producers)
{
	aq *a = new (std::nothrow) aq{ producers == 1, nullptr };
	if (a == nullptr)
		return nullptr;
	if (a->single)
		a->q = new (std::nothrow) spsc(capacity);
	else
		a->q = new (std::nothrow) mpmc(capacity);
	if (a->q == nullptr) {
		delete a;
		return nullptr;
	}
	return a;
}

void
destroy(void *arg)
{
	aq *a = static_cast<aq *>(arg);
	if (a == nullptr)
		return;
	if (a->single)
		delete static_cast<spsc *>(a->q);
	else
		delete static_cast<mpmc *>(a->q);
	delete a;
}

bool
push(void *arg, uint64_t v)
{
	aq *a = static_cast<aq *>(arg);
	return a->single ? static_cast<spsc *>(a->q)->try_push(v)
			 : static_cast<mpmc *>(a->q)->try_push(v);
}

uint32_t
pop(void *arg, uint64_t *out, uint32_t max)
{
	aq *a = static_cast<aq *>(arg);
	uint32_t n = 0;
	if (a->single) {
		while (n < max && static_cast<spsc *>(a->q)->try_pop(out[n]))
			n++;
	} else {
		while (n < max && static_cast<mpmc *>(a->q)->try_pop(out[n]))
			n++;
	}
	return n;
}

} // namespace

extern "C" const struct nsb_queue_ops nsb_aq_ops = {
	create, destroy, push, nullptr, pop, nullptr, false,
};

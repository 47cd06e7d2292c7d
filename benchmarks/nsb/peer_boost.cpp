// SPDX-License-Identifier: MIT
// boost::lockfree::spsc_queue (Debian libboost-dev, header-only) as a peer: single producer,
// single consumer, 64-bit values, capacity fixed at run time. Bulk push is all or none here
// (checked against write_available() first), as the harness expects of push_n.
#include <boost/lockfree/spsc_queue.hpp>
#include <new>

extern "C" {
#include "nsb.h"
}

namespace
{

using queue = boost::lockfree::spsc_queue<uint64_t>;

void *
create(uint32_t capacity, uint32_t producers)
{
	if (producers != 1)
		return nullptr;
	return new (std::nothrow) queue(capacity);
}

void
destroy(void *q)
{
	delete static_cast<queue *>(q);
}

bool
push(void *q, uint64_t v)
{
	return static_cast<queue *>(q)->push(v);
}

bool
push_n(void *arg, const uint64_t *v, uint32_t n)
{
	queue *q = static_cast<queue *>(arg);
	if (q->write_available() < n)
		return false;
	return q->push(v, n) == n;
}

uint32_t
pop(void *q, uint64_t *out, uint32_t max)
{
	if (max == 1)
		return static_cast<queue *>(q)->pop(*out) ? 1 : 0;
	return static_cast<uint32_t>(static_cast<queue *>(q)->pop(out, max));
}

} // namespace

extern "C" const struct nsb_queue_ops nsb_boost_ops = {
	create, destroy, push, push_n, pop, nullptr, false,
};

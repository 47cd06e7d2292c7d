// SPDX-License-Identifier: MIT
// The C++ wrapper (nanostream/nanostream.hpp): every owner and call, its outcomes and errors,
// moves, and two threaded checks with exact totals, per-producer order and a check word per
// event. Plain checks (no C++ test framework): each CHECK counts; the program ends with
// "N passed, N failed" and exits 1 on any failure.
#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <type_traits>
#include <vector>

#include <sys/stat.h>
#include <unistd.h>

#include <nanostream/nanostream.hpp>

static int passed, failed;

#define CHECK(cond)                                                                                \
	do {                                                                                       \
		if (cond) {                                                                        \
			passed++;                                                                  \
		} else {                                                                           \
			failed++;                                                                  \
			std::printf("FAIL %s:%d: %s\n", __FILE__, __LINE__, #cond);                \
		}                                                                                  \
	} while (0)

template <class F>
static int
thrown_code(F &&f)
{
	try {
		f();
	} catch (const ns::error &e) {
		return e.code().value();
	}
	return 0;
}

static uint64_t
mix(uint64_t x)
{
	x ^= x >> 33;
	x *= 0xff51afd7ed558ccdULL;
	x ^= x >> 33;
	return x;
}

static void
owners_are_move_only()
{
	static_assert(!std::is_copy_constructible_v<ns::ring> &&
		      !std::is_copy_assignable_v<ns::ring>);
	static_assert(!std::is_copy_constructible_v<ns::typed_ring<int>>);
	static_assert(!std::is_copy_constructible_v<ns::consumer>);
	static_assert(!std::is_copy_constructible_v<ns::poller>);
	static_assert(!std::is_copy_constructible_v<ns::client>);
	static_assert(!std::is_copy_constructible_v<ns::publication>);
	static_assert(!std::is_copy_constructible_v<ns::subscription>);
	static_assert(!std::is_copy_constructible_v<ns::claim>);
	static_assert(std::is_nothrow_move_constructible_v<ns::ring> &&
		      std::is_nothrow_move_assignable_v<ns::ring>);
	static_assert(std::is_nothrow_move_constructible_v<ns::consumer>);
	static_assert(std::is_nothrow_move_constructible_v<ns::publication>);
	ns::ring a(64, 8);
	ns_ring *h = a.native_handle();
	ns::ring b(std::move(a));
	CHECK(a.native_handle() == nullptr && b.native_handle() == h);
	ns::ring c(16, 8);
	c = std::move(b); // c's old ring destroyed, b empty
	CHECK(c.native_handle() == h && b.native_handle() == nullptr);
	CHECK(c.capacity() == 64 && c.slot_size() == 8);
}

static void
ring_calls_and_errors()
{
	CHECK(thrown_code([] { ns::ring r(1000, 8); }) == EINVAL);
	try {
		ns::ring r(1000, 8);
	} catch (const ns::error &e) {
		CHECK(std::strstr(e.what(), "power of two") != nullptr);
	}
	CHECK(thrown_code([] { ns::ring r(64, 12); }) == EINVAL);
	ns::ring r(8, 16);
	ns::poller p(r);
	CHECK(r.cursor() == -1);
	int64_t s = r.claim();
	CHECK(s == 0);
	std::memcpy(r.slot(s), "abcdefgh", 8);
	CHECK(r.publish(s) == 0 && r.cursor() == 0);
	int64_t first = r.claim(3);
	CHECK(first == 1 && r.publish(first, 3) == 0 && r.cursor() == 3);
	CHECK(r.publish_with([](void *slot, int64_t seq) { std::memcpy(slot, &seq, 8); }) == 4);
	for (int i = 5; i < 8; i++)
		CHECK(r.try_publish_with([](void *, int64_t) {}) == i);
	CHECK(r.try_claim() == -EAGAIN);
	CHECK(r.try_publish_with([](void *, int64_t) {}) == -EAGAIN);
	CHECK(r.claim_until(ns::clock::now() + std::chrono::milliseconds(5)) == -ETIMEDOUT);
	char out[8];
	CHECK(p.take(out, 8) == NS_POLLER_PROCESSING && std::memcmp(out, "abcdefgh", 8) == 0);
	int seen = 0;
	CHECK(p.poll([&](void *, int64_t seq, bool) { seen += seq == seen + 1; }, 3) ==
	      NS_POLLER_PROCESSING);
	CHECK(seen == 3);
	int64_t v = 0;
	CHECK(p.take(v) && v == 4);
	void *at = nullptr;
	int64_t seq = -1;
	CHECK(p.peek(0, &at, &seq) == 3 && seq == 5 && p.release(3) == 0);
	CHECK(!p.take(v));
	// A handler returning a positive int stops after its event (as in C).
	for (int i = 0; i < 4; i++)
		r.publish_with([](void *, int64_t) {});
	int calls = 0;
	p.poll([&](void *, int64_t, bool) { return ++calls == 2 ? 1 : 0; });
	CHECK(calls == 2);
	r.halt();
	CHECK(r.claim() == -ESHUTDOWN);
}

struct tick {
	uint64_t producer, n, check;
};

static void
typed_ring_and_consumers_exact_totals()
{
	// Two producer threads, a consumer graph: a, then b after a (a pipeline), each checking
	// per-producer order and the check word of every event.
	constexpr uint64_t per_producer = 200000;
	ns::typed_ring<tick> r(1024, ns::producer::multi, ns::wait::yield);
	static_assert(ns::typed_ring<tick>::slot_bytes == 24);
	struct tally {
		uint64_t next[2] = { 0, 0 }, count = 0, bad = 0, sum = 0;
	};
	tally ta, tb;
	auto checker = [](tally &t) {
		return [&t](tick &e, int64_t, bool) {
			if (e.producer > 1 || e.n != t.next[e.producer] ||
			    e.check != mix(e.producer << 40 | e.n))
				t.bad++;
			else
				t.next[e.producer]++;
			t.count++;
			t.sum += e.n;
		};
	};
	ns::consumer a(r, checker(ta));
	ns::consumer b(r, checker(tb), { &a });
	a.start();
	b.start(-1, "cxx-b");
	std::vector<std::thread> producers;
	for (uint64_t id = 0; id < 2; id++)
		producers.emplace_back([&r, id] {
			for (uint64_t n = 0; n < per_producer; n++)
				r.publish([&](tick &e) {
					e.producer = id;
					e.n = n;
					e.check = mix(id << 40 | n);
				});
		});
	for (auto &t : producers)
		t.join();
	uint64_t left = 1;
	CHECK(r.drain(ns::clock::now() + std::chrono::seconds(60), &left) == 0 && left == 0);
	CHECK(a.join() == -ESHUTDOWN && b.join() == -ESHUTDOWN);
	const uint64_t sum = 2 * (per_producer * (per_producer - 1) / 2);
	CHECK(ta.count == 2 * per_producer && ta.bad == 0 && ta.sum == sum);
	CHECK(tb.count == 2 * per_producer && tb.bad == 0 && tb.sum == sum);
	CHECK(a.sequence() == int64_t(2 * per_producer - 1));
	CHECK(b.stats().events == 2 * per_producer);
}

static void
consumer_run_on_the_callers_thread_and_destructor_joins()
{
	ns::typed_ring<uint64_t> r(64);
	uint64_t got = 0;
	{
		ns::consumer c(r, [&](uint64_t &v, int64_t seq) { got += v == uint64_t(seq); });
		for (uint64_t i = 0; i < 10; i++)
			r.publish([i](uint64_t &v) { v = i; });
		c.start();
		while (c.sequence() < 9)
			std::this_thread::yield(); // waiting for a result, not ordering threads
	}					   // halts and joins
	CHECK(got == 10);
	ns::typed_ring<uint64_t> r2(64);
	ns::consumer c2(r2, [&](uint64_t &) { got++; });
	r2.publish([](uint64_t &v) { v = 1; });
	std::thread stopper([&] {
		while (c2.sequence() < 0)
			std::this_thread::yield();
		c2.halt();
	});
	CHECK(c2.run() == 0);
	stopper.join();
	CHECK(got == 11);
}

struct msg {
	uint32_t n;
	uint32_t crc;
	uint32_t pad;
};

static void
client_publication_subscription(const std::string &dir)
{
	CHECK(thrown_code([&] { ns::client c(dir, NS_CLIENT_NO_EMBEDDED); }) == ECONNREFUSED);
	std::vector<int32_t> up, down;
	ns::publication pub = [&] {
		ns::client c(dir);
		CHECK(c.is_embedded());
		try {
			c.add_publication("ns:nothing", 1);
			CHECK(false);
		} catch (const ns::error &e) {
			CHECK(e.code().value() == EINVAL && std::strlen(e.what()) > 20);
		}
		return c.add_publication("ns:ipc?term-length=65536", 7);
	}(); // the client object is gone; its connection lives on in pub
	ns::client c2(dir);
	CHECK(!c2.is_embedded());
	ns::subscription sub = c2.add_subscription(
		"ns:ipc", 7, [&](const ns_image &i) { up.push_back(ns_image_session_id(&i)); },
		[&](const ns_image &i) { down.push_back(ns_image_session_id(&i)); });
	CHECK(pub.wait_connected(ns::clock::now() + std::chrono::seconds(10)));
	CHECK(pub.is_connected() && pub.max_payload() > 0 &&
	      pub.max_message() >= pub.max_payload());
	CHECK(pub.offer("hello", 5) > 0);
	CHECK(pub.offer(ns::bytes_view(std::string_view("world"))) > 0);
	CHECK(pub.offer_value(msg{ 3, 0xabcd, 0 }) > 0);
	CHECK(pub.offer_wait(std::string_view("waited"),
			     ns::clock::now() + std::chrono::seconds(5)) > 0);
	int64_t committed = 0;
	{
		ns::claim cl = pub.try_claim(8);
		CHECK(bool(cl) && cl.data().size() == 8);
		cl.data().store(uint64_t(0x1122334455667788));
		int64_t pos = cl.commit();
		CHECK(pos > 0 && pos == pub.position());
		committed = pos;
		CHECK(cl.commit() == -EINVAL && !cl);
	}
	{
		ns::claim dropped = pub.try_claim(4); // aborted by its destructor
		CHECK(bool(dropped));
		ns::claim moved(std::move(dropped));
		CHECK(!dropped && bool(moved));
	}
	ns::claim aborted = pub.try_claim(4);
	aborted.abort();
	CHECK(!aborted);
	std::vector<std::string> got;
	uint64_t claimed = 0;
	msg m{};
	int64_t last_pos = 0;
	auto handler = [&](ns::bytes_view v, const ns_header &h) {
		if (v.size() == sizeof(msg))
			m = v.load<msg>();
		else if (v.size() == 8)
			claimed = v.load<uint64_t>();
		else
			got.emplace_back(v.as_string());
		last_pos = h.position;
	};
	int n = 0;
	for (int i = 0; i < 1000 && n < 5; i++)
		n += sub.poll(handler, 10);
	CHECK(n == 5);
	CHECK((got == std::vector<std::string>{ "hello", "world", "waited" }));
	CHECK(m.n == 3 && m.crc == 0xabcd && claimed == 0x1122334455667788ULL);
	CHECK(last_pos == committed);  // the aborted claims after it are padding, never delivered
	CHECK(sub.poll(handler) == 0); // the aborted claims were skipped
	CHECK(up.size() == 1 && up[0] == pub.session_id() && sub.image_count() == 1);
	// Controlled poll: abort leaves the message for the next poll.
	pub.offer("again", 5);
	int seen = 0;
	CHECK(sub.controlled_poll([&](ns::bytes_view, const ns_header &) {
		return ++seen == 1 ? NS_CONTROLLED_ABORT : NS_CONTROLLED_CONTINUE;
	}) == 0);
	CHECK(sub.poll_wait(handler, ns::clock::now() + std::chrono::seconds(5)) == 1);
	CHECK(got.back() == "again");
	CHECK(sub.poll_wait(handler, ns::clock::now() + std::chrono::milliseconds(10)) ==
	      -ETIMEDOUT);
	// The publication closes: the image leaves after its last message.
	int32_t sid = pub.session_id();
	{
		ns::publication gone = std::move(pub);
	}
	CHECK(pub.native_handle() == nullptr);
	/* The driver notices the close on its own cycle: a deadline, not a count of polls. */
	auto gone_by = ns::clock::now() + std::chrono::seconds(20);
	while (down.empty() && ns::clock::now() < gone_by) {
		sub.poll(handler);
		std::this_thread::yield();
	}
	CHECK(down.size() == 1 && down[0] == sid);
}

#if defined(__SANITIZE_THREAD__)
#define NS_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define NS_TSAN 1
#endif
#endif

static void
stream_between_threads_exact(const std::string &dir)
{
#ifdef NS_TSAN
	/*
	 * The publication, the image and the driver each map the log file at their own address
	 * (and the counters twice): TSan keys synchronisation by address, so it cannot see the
	 * subscriber's release of a frame reach the publisher that writes there a log later, and
	 * reports the rewrite as a race. The in-process ring above is its ground; this stream
	 * runs in the other builds.
	 */
	(void)dir;
	std::printf("# stream_between_threads_exact: not under TSan (aliased mappings)\n");
	return;
#endif
	// Three publisher threads on one publication, a subscriber checking order per publisher
	// and a check word per message.
	ns::client c(dir);
	ns::subscription sub = c.add_subscription("ns:ipc", 9);
	ns::publication pub = c.add_publication("ns:ipc", 9);
	CHECK(pub.wait_connected(ns::clock::now() + std::chrono::seconds(10)));
	constexpr uint32_t per = 100000;
	std::vector<std::thread> ts;
	std::atomic<int> offer_failures{ 0 };
	for (uint32_t id = 0; id < 3; id++)
		ts.emplace_back([&, id] {
			for (uint32_t n = 0; n < per; n++) {
				uint64_t w[2] = { uint64_t(id) << 32 | n,
						  mix(uint64_t(id) << 32 | n) };
				if (pub.offer_wait(ns::bytes_view(w, sizeof(w)),
						   ns::clock::now() + std::chrono::seconds(30)) <=
				    0)
					offer_failures++;
			}
		});
	uint32_t next[3] = { 0, 0, 0 };
	uint64_t total = 0, bad = 0;
	auto deadline = ns::clock::now() + std::chrono::seconds(120);
	while (total < 3 * per && ns::clock::now() < deadline) {
		sub.poll(
			[&](ns::bytes_view v, const ns_header &) {
				uint64_t key = v.load<uint64_t>(), check = v.load<uint64_t>(8);
				uint32_t id = uint32_t(key >> 32), n = uint32_t(key);
				if (v.size() != 16 || id > 2 || n != next[id] || check != mix(key))
					bad++;
				else
					next[id]++;
				total++;
			},
			256);
	}
	for (auto &t : ts)
		t.join();
	CHECK(offer_failures == 0);
	CHECK(total == 3 * per && bad == 0);
	CHECK(next[0] == per && next[1] == per && next[2] == per);
}

int
main()
{
	char tmpl[] = "/tmp/ns-cxx-XXXXXX";
	if (mkdtemp(tmpl) == nullptr)
		return 2;
	std::string dir = tmpl;
	owners_are_move_only();
	ring_calls_and_errors();
	typed_ring_and_consumers_exact_totals();
	consumer_run_on_the_callers_thread_and_destructor_joins();
	client_publication_subscription(dir + "/a");
	stream_between_threads_exact(dir + "/b");
	std::string rm = "rm -rf '" + dir + "'";
	if (std::system(rm.c_str()) != 0)
		std::printf("could not remove %s\n", dir.c_str());
	std::printf("%d passed, %d failed\n", passed, failed);
	return failed == 0 ? 0 : 1;
}

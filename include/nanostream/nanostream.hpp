// SPDX-License-Identifier: MIT
/** @file
 * C++17 wrapper of the C API, header-only: RAII owners (ns::ring, ns::typed_ring,
 * ns::consumer, ns::poller, ns::client, ns::publication, ns::subscription), handlers as any
 * callable (lambdas included) called through a template trampoline, not std::function, so the
 * handler's body inlines where the C library calls back; ns::bytes_view for messages;
 * std::chrono deadlines. Since 0.3.
 *
 * Errors: failures throw ns::error (a std::system_error: code() is the errno, what() the
 * library's own sentence) from constructors and from calls that set things up or tear them
 * down. The hot path never throws: claims, publishes, offers and polls return what the C calls
 * return (a sequence or position >= 0, else a negative code: NS_BACK_PRESSURED, -EAGAIN, ...),
 * and are noexcept when the handler is.
 *
 * Ownership: every owner is move-only (copying one does not compile); a moved-from owner is
 * empty and its destructor does nothing. Publications and subscriptions keep their client's
 * connection alive, so they may outlive the ns::client they came from. Destroy consumers and
 * pollers before their ring (they are the ring's gating sequences).
 *
 * Clocks: deadlines are std::chrono::steady_clock time points, which on Linux (libstdc++ and
 * libc++) is CLOCK_MONOTONIC, the clock of ns_clock_ns().
 */
#ifndef NANOSTREAM_NANOSTREAM_HPP
#define NANOSTREAM_NANOSTREAM_HPP

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <initializer_list>
#include <memory>
#include <string>
#include <string_view>
#include <system_error>
#include <type_traits>
#include <utility>
#include <vector>

#include <nanostream/nanostream.h>

namespace ns
{

/** A failure of the library: code() is the errno (positive), what() says why in words. */
class error : public std::system_error
{
      public:
	error(int code, const std::string &what)
	    : std::system_error(code < 0 ? -code : code, std::generic_category(), what)
	{
	}
};

using clock = std::chrono::steady_clock; ///< the clock of deadlines (CLOCK_MONOTONIC)

namespace detail
{

[[noreturn]] inline void
raise(int code, const char *what, bool with_errmsg)
{
	std::string msg(what);
	const char *m = with_errmsg ? ns_errmsg() : "";
	msg += ": ";
	msg += (m != nullptr && m[0] != '\0') ? m : ns_strerror(code);
	throw error(code, msg);
}

inline int
check(int rc, const char *what, bool with_errmsg = false)
{
	if (rc < 0)
		raise(rc, what, with_errmsg);
	return rc;
}

/* A sized struct zeroed with its size set: the C initializer macros' designated initializers
 * are C++20, so the wrapper spells them out. */
template <class T>
T
sized() noexcept
{
	T v{};
	v.size = sizeof(T);
	return v;
}

inline int64_t
to_ns(clock::time_point t) noexcept
{
	return std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count();
}

} // namespace detail

/** Read-only bytes of a message or slot (a std::span-like view; valid as long as its source). */
class bytes_view
{
      public:
	constexpr bytes_view() noexcept = default;
	bytes_view(const void *data, std::size_t size) noexcept
	    : data_(static_cast<const std::byte *>(data)), size_(size)
	{
	}
	bytes_view(std::string_view s) noexcept : bytes_view(s.data(), s.size())
	{
	}
	const std::byte *data() const noexcept
	{
		return data_;
	}
	std::size_t size() const noexcept
	{
		return size_;
	}
	bool empty() const noexcept
	{
		return size_ == 0;
	}
	const std::byte *begin() const noexcept
	{
		return data_;
	}
	const std::byte *end() const noexcept
	{
		return data_ + size_;
	}
	std::byte operator[](std::size_t i) const noexcept
	{
		return data_[i];
	}
	/** Bytes [offset, offset + count) (clamped to the view). */
	bytes_view subview(std::size_t offset, std::size_t count = SIZE_MAX) const noexcept
	{
		offset = offset < size_ ? offset : size_;
		return { data_ + offset, count < size_ - offset ? count : size_ - offset };
	}
	/** The bytes as characters. */
	std::string_view as_string() const noexcept
	{
		return { reinterpret_cast<const char *>(data_), size_ };
	}
	/** A T copied from @p offset (no alignment needed); the view must hold it. */
	template <class T> T load(std::size_t offset = 0) const noexcept
	{
		static_assert(std::is_trivially_copyable_v<T>,
			      "load<T>: T must be trivially copyable");
		T v;
		std::memcpy(&v, data_ + offset, sizeof(T));
		return v;
	}

      private:
	const std::byte *data_ = nullptr;
	std::size_t size_ = 0;
};

/** Writable bytes (a claim's space in a log). */
class mutable_bytes
{
      public:
	constexpr mutable_bytes() noexcept = default;
	mutable_bytes(void *data, std::size_t size) noexcept
	    : data_(static_cast<std::byte *>(data)), size_(size)
	{
	}
	std::byte *data() const noexcept
	{
		return data_;
	}
	std::size_t size() const noexcept
	{
		return size_;
	}
	std::byte *begin() const noexcept
	{
		return data_;
	}
	std::byte *end() const noexcept
	{
		return data_ + size_;
	}
	/** Copy @p v to @p offset (no alignment needed); the space must hold it. */
	template <class T> void store(const T &v, std::size_t offset = 0) const noexcept
	{
		static_assert(std::is_trivially_copyable_v<T>,
			      "store<T>: T must be trivially copyable");
		std::memcpy(data_ + offset, &v, sizeof(T));
	}
	operator bytes_view() const noexcept
	{
		return { data_, size_ };
	}

      private:
	std::byte *data_ = nullptr;
	std::size_t size_ = 0;
};

/** NS_RING_OPTS_INIT for C++17: 1024 slots of 64 bytes, one producer, busy spin. */
inline ns_ring_opts
ring_options() noexcept
{
	ns_ring_opts o = detail::sized<ns_ring_opts>();
	o.capacity = 1024;
	o.slot_size = 64;
	o.producer = NS_PRODUCER_SINGLE;
	o.wait = NS_WAIT_BUSY_SPIN;
	return o;
}

/** NS_CLIENT_OPTS_INIT for C++17. */
inline ns_client_opts
client_options() noexcept
{
	return detail::sized<ns_client_opts>();
}

/* ---- the ring ---- */

/** Who claims slots (ns_ring_opts.producer). */
enum class producer : uint32_t { single = NS_PRODUCER_SINGLE, multi = NS_PRODUCER_MULTI };

/** How waiting threads wait (ns_ring_opts.wait; see the C header). */
enum class wait : uint32_t {
	busy_spin = NS_WAIT_BUSY_SPIN,
	yield = NS_WAIT_YIELD,
	sleep = NS_WAIT_SLEEP,
	blocking = NS_WAIT_BLOCKING,
	lite_blocking = NS_WAIT_LITE_BLOCKING,
	timeout_blocking = NS_WAIT_TIMEOUT_BLOCKING,
	phased = NS_WAIT_PHASED,
};

/**
 * The in-process ring (ns_ring). Thread safety and progress: as the C calls it forwards to.
 * Throws ns::error from its constructors (the reason in words, e.g. a capacity that is not a
 * power of two).
 */
class ring
{
      public:
	ring(uint64_t capacity, uint32_t slot_size, producer p = producer::single,
	     wait w = wait::busy_spin)
	{
		ns_ring_opts o = ring_options();
		o.capacity = capacity;
		o.slot_size = slot_size;
		o.producer = static_cast<uint32_t>(p);
		o.wait = static_cast<uint32_t>(w);
		detail::check(ns_ring_create(&r_, &o), "ns::ring", true);
	}
	explicit ring(const ns_ring_opts &o)
	{
		detail::check(ns_ring_create(&r_, &o), "ns::ring", true);
	}
	ring(ring &&o) noexcept : r_(std::exchange(o.r_, nullptr))
	{
	}
	ring &operator=(ring &&o) noexcept
	{
		if (this != &o) {
			ns_ring_destroy(r_);
			r_ = std::exchange(o.r_, nullptr);
		}
		return *this;
	}
	ring(const ring &) = delete;
	ring &operator=(const ring &) = delete;
	~ring()
	{
		ns_ring_destroy(r_);
	}

	/** Claim the next slot, waiting for room: its sequence, or -ESHUTDOWN. */
	int64_t claim() noexcept
	{
		return ns_ring_claim(r_);
	}
	/** Claim @p n slots: the first sequence, or a negative code. */
	int64_t claim(uint32_t n) noexcept
	{
		return ns_ring_claim_n(r_, n);
	}
	/** Claim until @p deadline: the sequence, -ETIMEDOUT or -ESHUTDOWN. */
	int64_t claim_until(clock::time_point deadline, uint32_t n = 1) noexcept
	{
		return ns_ring_claim_until(r_, n, detail::to_ns(deadline));
	}
	/** Claim without waiting: the sequence, or -EAGAIN when full. */
	int64_t try_claim() noexcept
	{
		return ns_ring_try_claim(r_);
	}
	/** The slot of a claimed or published sequence. */
	void *slot(int64_t seq) const noexcept
	{
		return ns_ring_slot(r_, seq);
	}
	/** Publish a claimed sequence (0, or a negative code). */
	int publish(int64_t seq) noexcept
	{
		return ns_ring_publish(r_, seq);
	}
	/** Publish @p n claimed sequences from @p first. */
	int publish(int64_t first, uint32_t n) noexcept
	{
		return ns_ring_publish_n(r_, first, n);
	}
	/**
	 * Claim a slot, let @p fill write it (fill(void *slot, int64_t seq)), publish it: the
	 * sequence, or -ESHUTDOWN (fill not called). The claim, the fill and the publish inline.
	 */
	template <class F>
	int64_t publish_with(F &&fill) noexcept(noexcept(fill(nullptr, int64_t{})))
	{
		int64_t seq = ns_ring_claim(r_);
		if (seq >= 0) {
			fill(ns_ring_slot(r_, seq), seq);
			ns_ring_publish(r_, seq);
		}
		return seq;
	}
	/** publish_with() without waiting: -EAGAIN when full. */
	template <class F>
	int64_t try_publish_with(F &&fill) noexcept(noexcept(fill(nullptr, int64_t{})))
	{
		int64_t seq = ns_ring_try_claim(r_);
		if (seq >= 0) {
			fill(ns_ring_slot(r_, seq), seq);
			ns_ring_publish(r_, seq);
		}
		return seq;
	}
	/** Stop: waiters wake with -ESHUTDOWN. Throws ns::error on failure. */
	void halt()
	{
		detail::check(ns_ring_halt(r_), "ns::ring::halt");
	}
	/** Wait until consumers finished everything published, then halt (see ns_ring_drain()). */
	int drain(clock::time_point deadline, uint64_t *remaining = nullptr) noexcept
	{
		return ns_ring_drain(r_, detail::to_ns(deadline), remaining);
	}
	int64_t cursor() const noexcept
	{
		return ns_ring_cursor(r_);
	}
	uint64_t capacity() const noexcept
	{
		return ns_ring_capacity(r_);
	}
	uint32_t slot_size() const noexcept
	{
		return ns_ring_slot_size(r_);
	}
	/** The C handle (borrowed), for C calls not wrapped here. */
	ns_ring *native_handle() const noexcept
	{
		return r_;
	}

      private:
	ns_ring *r_ = nullptr;
};

/**
 * A ring whose slots each hold a T (trivially copyable, alignment at most 8): publish with a
 * lambda that fills a T&, consume T&s. The slot size is sizeof(T) rounded up to 8.
 */
template <class T> class typed_ring
{
	static_assert(std::is_trivially_copyable_v<T>,
		      "ns::typed_ring<T>: T must be trivially copyable");
	static_assert(alignof(T) <= 8, "ns::typed_ring<T>: T's alignment must be at most 8");
	static_assert(sizeof(T) <= 65536, "ns::typed_ring<T>: T must fit a slot (64 KiB)");

      public:
	using value_type = T;
	static constexpr uint32_t slot_bytes = static_cast<uint32_t>((sizeof(T) + 7) / 8 * 8);

	explicit typed_ring(uint64_t capacity, producer p = producer::single,
			    wait w = wait::busy_spin)
	    : r_(capacity, slot_bytes, p, w)
	{
	}
	/** Every ring option (ns::ring_options() and then yours); slot_size becomes slot_bytes. */
	explicit typed_ring(ns_ring_opts o) : r_((o.slot_size = slot_bytes, o))
	{
	}
	/** The T of a claimed or published sequence. */
	T &operator[](int64_t seq) const noexcept
	{
		return *static_cast<T *>(r_.slot(seq));
	}
	/** Claim, fill(T &) (or fill(T &, int64_t seq)), publish: the sequence, or -ESHUTDOWN. */
	template <class F> int64_t publish(F &&fill)
	{
		return r_.publish_with([&](void *slot, int64_t seq) { call(fill, slot, seq); });
	}
	/** publish() without waiting: -EAGAIN when full. */
	template <class F> int64_t try_publish(F &&fill)
	{
		return r_.try_publish_with([&](void *slot, int64_t seq) { call(fill, slot, seq); });
	}
	ring &untyped() noexcept
	{
		return r_;
	}
	const ring &untyped() const noexcept
	{
		return r_;
	}
	void halt()
	{
		r_.halt();
	}
	int drain(clock::time_point deadline, uint64_t *remaining = nullptr) noexcept
	{
		return r_.drain(deadline, remaining);
	}
	int64_t cursor() const noexcept
	{
		return r_.cursor();
	}
	uint64_t capacity() const noexcept
	{
		return r_.capacity();
	}
	ns_ring *native_handle() const noexcept
	{
		return r_.native_handle();
	}

      private:
	template <class F> static void call(F &fill, void *slot, int64_t seq)
	{
		if constexpr (std::is_invocable_v<F &, T &, int64_t>)
			fill(*static_cast<T *>(slot), seq);
		else
			fill(*static_cast<T *>(slot));
	}
	ring r_;
};

namespace detail
{

/* The handler's result as the C library wants it: void counts as 0 (go on). */
template <class R>
inline int
as_code(R &&r) noexcept
{
	return static_cast<int>(r);
}

/* A consumer's handler, called through one function pointer; its body inlines into call(). */
template <class F> struct event_handler {
	F f;
	static int call(void *ctx, void *slot, int64_t seq, bool end) noexcept(
		noexcept(std::declval<F &>()(static_cast<void *>(nullptr), int64_t{}, bool{})))
	{
		F &f = static_cast<event_handler *>(ctx)->f;
		if constexpr (std::is_void_v<decltype(f(slot, seq, end))>) {
			f(slot, seq, end);
			return 0;
		} else {
			return as_code(f(slot, seq, end));
		}
	}
};

struct handler_deleter {
	void (*destroy)(void *);
	void operator()(void *p) const noexcept
	{
		if (p != nullptr)
			destroy(p);
	}
};
using handler_ptr = std::unique_ptr<void, handler_deleter>;

template <class H>
handler_ptr
make_handler(H *h)
{
	return handler_ptr(h, handler_deleter{ [](void *p) { delete static_cast<H *>(p); } });
}

template <class T, class F> struct typed_event {
	F f;
	void operator()(void *slot, int64_t seq, bool end)
	{
		if constexpr (std::is_invocable_v<F &, T &, int64_t, bool>)
			f(*static_cast<T *>(slot), seq, end);
		else if constexpr (std::is_invocable_v<F &, T &, int64_t>)
			f(*static_cast<T *>(slot), seq);
		else
			f(*static_cast<T *>(slot));
	}
};

} // namespace detail

/**
 * A batch event processor (ns_consumer) running a handler on a thread of its own (start())
 * or the caller's (run()). The handler is any callable: on_event(void *slot, int64_t seq,
 * bool end_of_batch), returning void (go on) or an int as the C handler does; for a
 * typed_ring<T>, on_event(T &), (T &, int64_t seq) or (T &, int64_t, bool). It is stored
 * once, at construction; each event costs one call through a function pointer, into which
 * the handler's body is inlined. The destructor halts and joins a started consumer.
 */
class consumer
{
      public:
	template <class F>
	consumer(ring &r, F &&on_event, std::initializer_list<const consumer *> after = {})
	{
		init(r.native_handle(), std::forward<F>(on_event), after);
	}
	template <class T, class F>
	consumer(typed_ring<T> &r, F &&on_event, std::initializer_list<const consumer *> after = {})
	{
		init(r.native_handle(),
		     detail::typed_event<T, std::decay_t<F>>{ std::forward<F>(on_event) }, after);
	}
	consumer(consumer &&o) noexcept
	    : c_(std::exchange(o.c_, nullptr)), h_(std::move(o.h_)),
	      started_(std::exchange(o.started_, false))
	{
	}
	consumer &operator=(consumer &&o) noexcept
	{
		if (this != &o) {
			reset();
			c_ = std::exchange(o.c_, nullptr);
			h_ = std::move(o.h_);
			started_ = std::exchange(o.started_, false);
		}
		return *this;
	}
	consumer(const consumer &) = delete;
	consumer &operator=(const consumer &) = delete;
	~consumer()
	{
		reset();
	}

	/** Run on a new thread (pinned to @p cpu unless -1). Throws ns::error. */
	void start(int cpu = -1, const char *name = nullptr)
	{
		detail::check(ns_consumer_start(c_, cpu, name), "ns::consumer::start");
		started_ = true;
	}
	/** Run on this thread until halted: what ns_consumer_run() returns. */
	int run() noexcept
	{
		return ns_consumer_run(c_);
	}
	/** Ask it to stop after its current batch. */
	void halt() noexcept
	{
		ns_consumer_halt(c_);
	}
	/** Wait for a started consumer's thread: what its loop returned. */
	int join() noexcept
	{
		if (!started_)
			return 0;
		started_ = false;
		return ns_consumer_join(c_);
	}
	/** The last sequence it finished. */
	int64_t sequence() const noexcept
	{
		return ns_consumer_sequence(c_);
	}
	/** Its counters. */
	struct ns_consumer_stats stats() const noexcept
	{
		struct ns_consumer_stats s = detail::sized<struct ns_consumer_stats>();
		ns_consumer_stats(c_, &s);
		return s;
	}
	ns_consumer *native_handle() const noexcept
	{
		return c_;
	}

      private:
	template <class F>
	void init(ns_ring *r, F &&f, std::initializer_list<const consumer *> after)
	{
		using H = detail::event_handler<std::decay_t<F>>;
		H *h = new H{ std::forward<F>(f) };
		h_ = detail::make_handler(h);
		std::vector<ns_consumer *> up;
		for (const consumer *c : after)
			up.push_back(c->c_);
		ns_consumer_opts o = detail::sized<ns_consumer_opts>();
		o.start_sequence = -1;
		o.on_event = &H::call;
		o.ctx = h;
		o.after_count = static_cast<uint32_t>(up.size());
		o.after = up.empty() ? nullptr : up.data();
		detail::check(ns_consumer_create(&c_, r, &o), "ns::consumer", true);
	}
	void reset() noexcept
	{
		if (c_ != nullptr) {
			if (started_) {
				ns_consumer_halt(c_);
				ns_consumer_join(c_);
				started_ = false;
			}
			ns_consumer_destroy(c_);
			c_ = nullptr;
		}
		h_.reset();
	}
	ns_consumer *c_ = nullptr;
	detail::handler_ptr h_{ nullptr, detail::handler_deleter{ nullptr } };
	bool started_ = false;
};

/**
 * Pull-style consumption on the caller's thread (ns_poller). poll() takes any callable
 * handler(void *slot, int64_t seq, bool end_of_batch) (void or int, as the C handler); it is
 * passed by address for the call only (no allocation).
 */
class poller
{
      public:
	explicit poller(ring &r)
	{
		ns_poller_opts o = detail::sized<ns_poller_opts>();
		detail::check(ns_poller_create(&p_, r.native_handle(), &o), "ns::poller", true);
	}
	template <class T> explicit poller(typed_ring<T> &r) : poller(r.untyped())
	{
	}
	poller(poller &&o) noexcept : p_(std::exchange(o.p_, nullptr))
	{
	}
	poller &operator=(poller &&o) noexcept
	{
		if (this != &o) {
			ns_poller_destroy(p_);
			p_ = std::exchange(o.p_, nullptr);
		}
		return *this;
	}
	poller(const poller &) = delete;
	poller &operator=(const poller &) = delete;
	~poller()
	{
		ns_poller_destroy(p_);
	}

	/** Handle what is available now, at most @p max (0: the capacity): NS_POLLER_*, or < 0. */
	template <class F> int poll(F &&handler, uint32_t max = 0)
	{
		using H = detail::event_handler<std::remove_reference_t<F> &>;
		H h{ handler };
		return ns_poller_poll(p_, &H::call, &h, max);
	}
	/** Copy the next event out (a try-pop): NS_POLLER_PROCESSING when one was copied. */
	int take(void *dst, uint32_t len) noexcept
	{
		return ns_poller_take(p_, dst, len);
	}
	/** take() into a T: true when an event was copied. */
	template <class T> bool take(T &out) noexcept
	{
		static_assert(std::is_trivially_copyable_v<T>,
			      "take<T>: T must be trivially copyable");
		return ns_poller_take(p_, &out, sizeof(T)) == NS_POLLER_PROCESSING;
	}
	/** See ns_poller_peek() and ns_poller_release(). */
	int peek(uint32_t max, void **first, int64_t *seq) noexcept
	{
		return ns_poller_peek(p_, max, first, seq);
	}
	int release(uint32_t n) noexcept
	{
		return ns_poller_release(p_, n);
	}
	ns_poller *native_handle() const noexcept
	{
		return p_;
	}

      private:
	ns_poller *p_ = nullptr;
};

/* ---- IPC and UDP ---- */

namespace detail
{
/* The connection, shared by the client and what it made: closed when the last one goes. */
struct connection {
	ns_client *c = nullptr;
	~connection()
	{
		if (c != nullptr)
			ns_client_close(c);
	}
};
} // namespace detail

class publication;
class subscription;

/** Space claimed in a log (publication::try_claim()): aborted when destroyed uncommitted. */
class claim
{
      public:
	claim(claim &&o) noexcept
	    : c_(o.c_), result_(std::exchange(o.result_, NS_PUBLICATION_CLOSED))
	{
	}
	claim &operator=(claim &&o) noexcept
	{
		if (this != &o) {
			if (result_ > 0)
				ns_claim_abort(&c_);
			c_ = o.c_;
			result_ = std::exchange(o.result_, NS_PUBLICATION_CLOSED);
		}
		return *this;
	}
	claim(const claim &) = delete;
	claim &operator=(const claim &) = delete;
	~claim()
	{
		if (result_ > 0)
			ns_claim_abort(&c_);
	}
	/** Whether space was claimed (and not yet committed or aborted). */
	explicit operator bool() const noexcept
	{
		return result_ > 0;
	}
	/** The claim's outcome: > 0 claimed, else NS_BACK_PRESSURED, NS_NOT_CONNECTED, ... */
	int64_t result() const noexcept
	{
		return result_;
	}
	/** The claimed space (empty when nothing is claimed). */
	mutable_bytes data() const noexcept
	{
		return result_ > 0 ? mutable_bytes(c_.data, c_.length) : mutable_bytes();
	}
	/** Publish it: the position after it, or a negative code (-EINVAL: nothing claimed). */
	int64_t commit() noexcept
	{
		if (result_ <= 0)
			return -EINVAL;
		result_ = 0;
		int rc = ns_claim_commit(&c_);
		return rc < 0 ? rc : c_.position;
	}
	/** Give it up: subscribers skip it. */
	void abort() noexcept
	{
		if (result_ > 0)
			ns_claim_abort(&c_);
		result_ = 0;
	}

      private:
	friend class publication;
	claim() = default;
	ns_claim c_{};
	int64_t result_ = 0;
};

/** A publication (ns_publication): offers return the position (> 0) or a negative outcome. */
class publication
{
      public:
	publication(publication &&o) noexcept
	    : p_(std::exchange(o.p_, nullptr)), conn_(std::move(o.conn_))
	{
	}
	publication &operator=(publication &&o) noexcept
	{
		if (this != &o) {
			ns_publication_close(p_);
			p_ = std::exchange(o.p_, nullptr);
			conn_ = std::move(o.conn_);
		}
		return *this;
	}
	publication(const publication &) = delete;
	publication &operator=(const publication &) = delete;
	~publication()
	{
		ns_publication_close(p_);
	}

	/** Append a message: its position, or NS_BACK_PRESSURED, NS_NOT_CONNECTED, ... */
	int64_t offer(const void *data, std::size_t len) noexcept
	{
		return ns_offer(p_, data, len);
	}
	int64_t offer(bytes_view m) noexcept
	{
		return ns_offer(p_, m.data(), m.size());
	}
	/** offer() of a trivially copyable value's bytes. */
	template <class T> int64_t offer_value(const T &v) noexcept
	{
		static_assert(std::is_trivially_copyable_v<T>,
			      "offer_value<T>: T must be trivially copyable");
		return ns_offer(p_, &v, sizeof(T));
	}
	/** offer(), waiting through back pressure until @p deadline: the position, or < 0. */
	int64_t offer_wait(bytes_view m, clock::time_point deadline, wait w = wait::yield) noexcept
	{
		return ns_offer_wait(p_, m.data(), m.size(), static_cast<uint32_t>(w),
				     detail::to_ns(deadline));
	}
	/** Reserve @p len bytes to write in place (test the claim with operator bool). */
	claim try_claim(std::size_t len) noexcept
	{
		claim c;
		c.result_ = ns_try_claim(p_, len, &c.c_);
		return c;
	}
	/** Wait for a subscriber until @p deadline: true when connected. Throws on other errors. */
	bool wait_connected(clock::time_point deadline)
	{
		int rc = ns_publication_wait_connected(p_, detail::to_ns(deadline));
		if (rc == -ETIMEDOUT)
			return false;
		detail::check(rc, "ns::publication::wait_connected");
		return true;
	}
	bool is_connected() const noexcept
	{
		return ns_publication_is_connected(p_) == 1;
	}
	int64_t position() const noexcept
	{
		return ns_publication_position(p_);
	}
	int32_t session_id() const noexcept
	{
		return ns_publication_session_id(p_);
	}
	int32_t max_message() const noexcept
	{
		return ns_publication_max_message(p_);
	}
	int32_t max_payload() const noexcept
	{
		return ns_publication_max_payload(p_);
	}
	ns_publication *native_handle() const noexcept
	{
		return p_;
	}

      private:
	friend class client;
	publication(ns_publication *p, std::shared_ptr<detail::connection> c) noexcept
	    : p_(p), conn_(std::move(c))
	{
	}
	ns_publication *p_ = nullptr;
	std::shared_ptr<detail::connection> conn_;
};

namespace detail
{

template <class F> struct fragment_handler {
	F f;
	static void call(void *ctx, const void *buf, size_t len, const ns_header *h) noexcept(
		noexcept(std::declval<F &>()(bytes_view{}, std::declval<const ns_header &>())))
	{
		static_cast<fragment_handler *>(ctx)->f(bytes_view(buf, len), *h);
	}
};

template <class F> struct controlled_handler {
	F f;
	static ns_controlled_action
	call(void *ctx, const void *buf, size_t len, const ns_header *h) noexcept(
		noexcept(std::declval<F &>()(bytes_view{}, std::declval<const ns_header &>())))
	{
		return static_cast<controlled_handler *>(ctx)->f(bytes_view(buf, len), *h);
	}
};

struct image_callbacks {
	virtual ~image_callbacks() = default;
	virtual void available(const ns_image *) = 0;
	virtual void unavailable(const ns_image *) = 0;
	static void on_available(void *ctx, const ns_image *i)
	{
		static_cast<image_callbacks *>(ctx)->available(i);
	}
	static void on_unavailable(void *ctx, const ns_image *i)
	{
		static_cast<image_callbacks *>(ctx)->unavailable(i);
	}
};

template <class A, class U> struct image_callbacks_of final : image_callbacks {
	A a;
	U u;
	image_callbacks_of(A a_, U u_) : a(std::move(a_)), u(std::move(u_))
	{
	}
	void available(const ns_image *i) override
	{
		a(*i);
	}
	void unavailable(const ns_image *i) override
	{
		u(*i);
	}
};

} // namespace detail

/**
 * A subscription (ns_subscription). poll() takes any callable handler(ns::bytes_view message,
 * const ns_header &header), passed by address for the call (no allocation); the view is valid
 * during the call only. One polling thread at a time.
 */
class subscription
{
      public:
	subscription(subscription &&o) noexcept
	    : s_(std::exchange(o.s_, nullptr)), conn_(std::move(o.conn_)),
	      images_(std::move(o.images_))
	{
	}
	subscription &operator=(subscription &&o) noexcept
	{
		if (this != &o) {
			ns_subscription_close(s_);
			s_ = std::exchange(o.s_, nullptr);
			conn_ = std::move(o.conn_);
			images_ = std::move(o.images_);
		}
		return *this;
	}
	subscription(const subscription &) = delete;
	subscription &operator=(const subscription &) = delete;
	~subscription()
	{
		ns_subscription_close(s_);
	}

	/** Deliver up to @p limit messages that arrived: how many, or a negative code. */
	template <class F> int poll(F &&handler, int limit = 10)
	{
		using H = detail::fragment_handler<std::remove_reference_t<F> &>;
		H h{ handler };
		return ns_subscription_poll(s_, &H::call, &h, limit);
	}
	/** poll() whose handler returns an ns_controlled_action for each message. */
	template <class F> int controlled_poll(F &&handler, int limit = 10)
	{
		using H = detail::controlled_handler<std::remove_reference_t<F> &>;
		H h{ handler };
		return ns_subscription_controlled_poll(s_, &H::call, &h, limit);
	}
	/** poll(), waiting until a message arrives or @p deadline: how many, -ETIMEDOUT, ... */
	template <class F>
	int poll_wait(F &&handler, clock::time_point deadline, int limit = 10, wait w = wait::yield)
	{
		using H = detail::fragment_handler<std::remove_reference_t<F> &>;
		H h{ handler };
		return ns_subscription_poll_wait(s_, &H::call, &h, limit, static_cast<uint32_t>(w),
						 detail::to_ns(deadline));
	}
	/** Wait for a publisher's image until @p deadline: true once there. */
	bool wait_connected(clock::time_point deadline)
	{
		int rc = ns_subscription_wait_connected(s_, detail::to_ns(deadline));
		if (rc == -ETIMEDOUT)
			return false;
		detail::check(rc, "ns::subscription::wait_connected");
		return true;
	}
	int image_count() const noexcept
	{
		return ns_subscription_image_count(s_);
	}
	ns_subscription *native_handle() const noexcept
	{
		return s_;
	}

      private:
	friend class client;
	subscription(ns_subscription *s, std::shared_ptr<detail::connection> c,
		     std::unique_ptr<detail::image_callbacks> images) noexcept
	    : s_(s), conn_(std::move(c)), images_(std::move(images))
	{
	}
	ns_subscription *s_ = nullptr;
	std::shared_ptr<detail::connection> conn_;
	std::unique_ptr<detail::image_callbacks> images_;
};

/**
 * A connection to the media driver of a directory (ns_client), starting an embedded driver
 * when none runs. Throws ns::error (the library's reason: a directory that is not private, a
 * driver that does not answer, a bad URI, the driver's refusal).
 */
class client
{
      public:
	/** The default directory ($NANOSTREAM_DIR, else /dev/shm/nanostream-USER). */
	client() : client(client_options())
	{
	}
	/** The driver of @p dir; flags: NS_CLIENT_NO_EMBEDDED, NS_CLIENT_NO_THREAD. */
	explicit client(const std::string &dir, uint32_t flags = 0)
	{
		ns_client_opts o = client_options();
		o.dir = dir.c_str();
		o.flags = flags;
		open(o);
	}
	explicit client(const ns_client_opts &o)
	{
		open(o);
	}
	client(client &&) noexcept = default;
	client &operator=(client &&) noexcept = default;
	client(const client &) = delete;
	client &operator=(const client &) = delete;
	~client() = default;

	publication add_publication(const std::string &uri, int32_t stream_id,
				    bool exclusive = false)
	{
		ns_publication *p = nullptr;
		detail::check(ns_publication_add(conn_->c, uri.c_str(), stream_id,
						 exclusive ? NS_PUBLICATION_EXCLUSIVE : 0u, &p),
			      "ns::client::add_publication", true);
		return publication(p, conn_);
	}
	subscription add_subscription(const std::string &uri, int32_t stream_id)
	{
		ns_subscription_opts o = detail::sized<ns_subscription_opts>();
		return add(uri, stream_id, o, nullptr);
	}
	/**
	 * A subscription with image callbacks, each any callable taking const ns_image & (run by
	 * the polling thread when a publisher's stream arrives and when it leaves).
	 */
	template <class A, class U>
	subscription add_subscription(const std::string &uri, int32_t stream_id, A &&on_available,
				      U &&on_unavailable)
	{
		using C = detail::image_callbacks_of<std::decay_t<A>, std::decay_t<U>>;
		std::unique_ptr<detail::image_callbacks> cb(
			new C(std::forward<A>(on_available), std::forward<U>(on_unavailable)));
		ns_subscription_opts o = detail::sized<ns_subscription_opts>();
		o.on_available = &detail::image_callbacks::on_available;
		o.on_unavailable = &detail::image_callbacks::on_unavailable;
		o.ctx = cb.get();
		return add(uri, stream_id, o, std::move(cb));
	}
	/** Whether this client started the driver it uses. */
	bool is_embedded() const noexcept
	{
		return ns_client_is_embedded(conn_->c) == 1;
	}
	/** With NS_CLIENT_NO_THREAD: the client's (and embedded driver's) work, done here. */
	int do_work() noexcept
	{
		return ns_client_do_work(conn_->c);
	}
	ns_client *native_handle() const noexcept
	{
		return conn_ ? conn_->c : nullptr;
	}

      private:
	void open(const ns_client_opts &o)
	{
		auto conn = std::make_shared<detail::connection>();
		detail::check(ns_client_create(&conn->c, &o), "ns::client", true);
		conn_ = std::move(conn);
	}
	subscription add(const std::string &uri, int32_t stream_id, const ns_subscription_opts &o,
			 std::unique_ptr<detail::image_callbacks> cb)
	{
		ns_subscription *s = nullptr;
		detail::check(ns_subscription_add(conn_->c, uri.c_str(), stream_id, &o, &s),
			      "ns::client::add_subscription", true);
		return subscription(s, conn_, std::move(cb));
	}
	std::shared_ptr<detail::connection> conn_;
};

} // namespace ns

#endif /* NANOSTREAM_NANOSTREAM_HPP */

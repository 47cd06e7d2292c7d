// SPDX-License-Identifier: MIT
// A three-stage pipeline in C++ (docs/cpp.md): a producer publishes trades into a typed ring;
// `enrich` computes each trade's notional in place; `risk`, running after it, keeps a
// position per symbol; `journal`, independent of both, checksums what it sees. Lambdas are the
// handlers; the owners clean up in reverse order. Checks its own result (exit status 1 if wrong).
//
//   cpp_pipeline [EVENTS]
#include <cstdint>
#include <cstdio>
#include <cstdlib>

#include <nanostream/nanostream.hpp>

struct trade {
	uint64_t id;
	uint32_t symbol; // 0 .. 7
	int32_t qty;	 // negative: a sale
	int64_t price;	 // in ticks
	int64_t notional;
};

int
main(int argc, char **argv)
{
	const uint64_t events = argc > 1 ? std::strtoull(argv[1], nullptr, 10) : 1000000;
	try {
		ns::typed_ring<trade> ring(4096, ns::producer::single, ns::wait::yield);

		ns::consumer enrich(ring, [](trade &t) { t.notional = t.qty * t.price; });
		int64_t position[8] = {}, exposure = 0;
		ns::consumer risk(ring,
				  [&](const trade &t) {
					  position[t.symbol] += t.qty;
					  exposure += t.notional;
				  },
				  { &enrich });
		uint64_t checksum = 0, seen = 0;
		ns::consumer journal(ring, [&](const trade &t, int64_t seq) {
			checksum = checksum * 31 + (t.id * 2 + uint64_t(seq));
			seen++;
		});
		for (ns::consumer *c : { &enrich, &risk, &journal })
			c->start();

		int64_t want_position[8] = {}, want_exposure = 0;
		uint64_t want_checksum = 0;
		for (uint64_t i = 0; i < events; i++) {
			uint32_t symbol = uint32_t(i % 8);
			int32_t qty = int32_t(i % 7) - 3;
			int64_t price = 1000 + int64_t(i % 100);
			ring.publish([&](trade &t) { t = trade{ i, symbol, qty, price, 0 }; });
			want_position[symbol] += qty;
			want_exposure += qty * price;
			want_checksum =
				want_checksum * 31 + (i * 2 + i); // the id is the sequence here
		}
		uint64_t left = 0;
		if (ring.drain(ns::clock::now() + std::chrono::seconds(30), &left) != 0) {
			std::printf("drain: %llu events left\n", (unsigned long long)left);
			return 1;
		}
		for (ns::consumer *c : { &enrich, &risk, &journal })
			c->join();
		bool ok = exposure == want_exposure && checksum == want_checksum && seen == events;
		for (int s = 0; s < 8; s++)
			ok = ok && position[s] == want_position[s];
		std::printf("cpp_pipeline: %llu trades, exposure %lld (expected %lld), journal %s: "
			    "%s\n",
			    (unsigned long long)events, (long long)exposure,
			    (long long)want_exposure,
			    checksum == want_checksum ? "intact" : "WRONG", ok ? "OK" : "FAILED");
		return ok ? 0 : 1;
	} catch (const ns::error &e) {
		std::printf("cpp_pipeline: %s\n", e.what());
		return 1;
	}
}

# SPDX-License-Identifier: MIT
"""Reference counts and allocations stay flat over 1 M calls of each kind (no leak)."""
import gc
import sys

import nanostream

CALLS = 1_000_000


def flat(fn, calls=CALLS):
    """Run fn calls times, twice; the second run must not leave more blocks than the first."""
    for _ in range(1000):
        fn()
    gc.collect()
    before = sys.getallocatedblocks()
    refs = sys.gettotalrefcount() if hasattr(sys, "gettotalrefcount") else None
    for _ in range(calls):
        fn()
    gc.collect()
    after = sys.getallocatedblocks()
    assert after - before < 100, (fn, before, after)
    if refs is not None:  # python3-dbg only
        assert sys.gettotalrefcount() - refs < 100


def test_no_leaks(pair):
    pub, sub = pair
    msg = b"0123456789abcdef"
    handler = lambda d, h: None  # noqa: E731

    def offer_poll():
        pub.offer(msg)
        sub.poll(handler, 1)

    def offer_receive():
        pub.offer(msg)
        sub.receive(0)

    def claim():
        c = pub.try_claim(8)
        while not c:  # ADMIN_ACTION when the log rotates: claim again at once
            assert c.result == nanostream.OfferResult.ADMIN_ACTION, c.result
            c = pub.try_claim(8)
        with c as b:
            b[:] = b"12345678"
        sub.receive(0)

    def errors():
        try:
            pub.offer("str")
        except TypeError:
            pass

    for fn in (offer_poll, offer_receive, claim, errors):
        flat(fn)


def test_no_leaks_ring():
    r = nanostream.Ring(64, slot_size=16)
    p = r.poller()

    def one():
        r.publish(b"abcd")
        with p.peek() as ev:
            bytes(ev[0])

    def two():
        r.try_publish(b"abcd")
        p.take()

    flat(one, CALLS // 2)
    flat(two, CALLS // 2)

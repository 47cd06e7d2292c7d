# SPDX-License-Identifier: MIT
"""Client, Publication, Claim, Subscription: every call, its outcomes and its misuse."""
import errno
import gc
import os
import signal
import threading

import pytest

import nanostream


def test_version_and_exports():
    assert nanostream.__version__ == nanostream.library_version == nanostream.header_version
    for name in nanostream.__all__:
        assert getattr(nanostream, name) is not None, name
    assert nanostream.Client.__doc__ and nanostream.Publication.offer.__doc__


def test_offer_and_receive(pair):
    pub, sub = pair
    p1 = pub.offer(b"hello")
    assert p1 > 0 and pub.position == p1
    p2 = pub.offer(bytearray(b"world!"))
    assert p2 > p1
    assert pub.offer(memoryview(b"xyz123")[2:5]) > p2  # any contiguous buffer, no copy
    import array
    assert pub.offer(array.array("I", [1, 2])) > 0
    assert sub.receive(timeout=5) == b"hello"
    assert sub.receive(timeout=5) == b"world!"
    assert sub.receive(timeout=5) == b"z12"
    assert sub.receive(timeout=5) == array.array("I", [1, 2]).tobytes()
    assert sub.receive(timeout=0) is None
    assert sub.receive(timeout=0.05) is None


def test_large_message_is_fragmented_and_reassembled(pair):
    pub, sub = pair
    big = (bytes(range(256)) * 64)[: pub.max_message]
    assert len(big) > pub.max_payload and len(big) <= pub.max_message
    assert pub.offer_wait(big, timeout=5) > 0
    assert sub.receive(timeout=5) == big


def test_poll_hands_read_only_views_and_headers(pair):
    pub, sub = pair
    for i in range(5):
        pub.offer(b"m%d" % i)
    got = []

    def handler(data, header):
        assert isinstance(data, memoryview) and data.readonly
        got.append((bytes(data), header.session_id, header.stream_id, header.position))

    assert sub.poll(handler, 3) == 3
    assert sub.poll(handler) == 2
    assert sub.poll(handler) == 0
    assert [g[0] for g in got] == [b"m0", b"m1", b"m2", b"m3", b"m4"]
    assert {g[1] for g in got} == {pub.session_id}
    assert {g[2] for g in got} == {10}
    assert [g[3] for g in got] == sorted(g[3] for g in got)
    assert got[-1][3] == pub.position


def test_view_used_after_the_call_raises(pair):
    pub, sub = pair
    pub.offer(b"abc")
    kept = []
    sub.poll(lambda d, h: kept.append(d))
    with pytest.raises(ValueError):
        bytes(kept[0])
    with pytest.raises(ValueError):
        kept[0][0]


def test_slice_kept_past_the_call_raises_buffer_error(pair):
    pub, sub = pair
    pub.offer(b"abcdef")
    pub.offer(b"ghijkl")
    kept = []
    with pytest.raises(BufferError):
        sub.poll(lambda d, h: kept.append(d[1:3]))
    # The message counted as delivered; the slice still reads the mapped log (no crash), and
    # the subscription refuses to close while it lives.
    assert bytes(kept[0]) == b"bc"
    with pytest.raises(BufferError):
        sub.close()
    kept.clear()
    gc.collect()
    assert sub.receive(timeout=5) == b"ghijkl"
    sub.close()
    assert sub.closed


def test_handler_exception_propagates_and_counts_the_message(pair):
    pub, sub = pair
    pub.offer(b"one")
    pub.offer(b"two")

    def boom(d, h):
        raise KeyError(bytes(d))

    with pytest.raises(KeyError, match="one"):
        sub.poll(boom)
    assert sub.receive(timeout=5) == b"two"


def test_handler_may_not_reenter_or_close(pair):
    pub, sub = pair
    pub.offer(b"x")
    errs = []

    def reenter(d, h):
        for f in (lambda: sub.poll(reenter), sub.close, lambda: sub.receive(0)):
            try:
                f()
            except RuntimeError as e:
                errs.append(str(e))

    assert sub.poll(reenter) == 1
    assert len(errs) == 3 and "in use" in errs[0]
    assert not sub.closed


def test_try_claim_commits_on_exit_and_aborts_on_exception(pair):
    pub, sub = pair
    with pub.try_claim(8) as buf:
        assert isinstance(buf, memoryview) and not buf.readonly and len(buf) == 8
        buf[:] = b"12345678"
    with pytest.raises(ZeroDivisionError):
        with pub.try_claim(4) as buf:
            buf[:] = b"nope"
            1 / 0
    c = pub.try_claim(3)
    assert c and c.result is None
    c.buffer[:] = b"abc"
    pos = c.commit()
    assert pos == c.position == pub.position
    with pytest.raises(ValueError):
        c.commit()
    with pytest.raises(ValueError):
        c.buffer[0] = 1
    assert sub.receive(timeout=5) == b"12345678"
    assert sub.receive(timeout=5) == b"abc"  # the aborted claim was skipped
    assert sub.receive(timeout=0.05) is None


def test_claim_buffer_is_invalid_after_the_block(pair):
    pub, sub = pair
    with pub.try_claim(4) as buf:
        buf[:] = b"abcd"
    with pytest.raises(ValueError):
        buf[0] = 0
    kept = []
    with pytest.raises(BufferError):
        with pub.try_claim(4) as buf:
            buf[:] = b"efgh"
            kept.append(buf[0:2])
    kept.clear()
    assert sub.receive(timeout=5) == b"abcd"
    assert sub.receive(timeout=0.05) is None  # kept past the block: aborted


def test_dropped_claim_is_aborted_and_open_claim_blocks_close(pair):
    pub, sub = pair
    c = pub.try_claim(4)
    with pytest.raises(BufferError):
        pub.close()
    del c
    gc.collect()
    pub.offer(b"after")
    assert sub.receive(timeout=5) == b"after"
    pub.close()


def test_outcomes_are_enum_members(client):
    pub = client.add_publication("ns:ipc", 11)
    r = pub.offer(b"nobody listens")
    assert r is nanostream.OfferResult.NOT_CONNECTED and r < 0
    assert r == -errno.ENOTCONN
    c = pub.try_claim(4)
    assert not c and c.result is nanostream.OfferResult.NOT_CONNECTED and c.position is None
    with pytest.raises(nanostream.OfferFailed) as e:
        with c:
            pass
    assert e.value.result is nanostream.OfferResult.NOT_CONNECTED
    assert e.value.errno == errno.ENOTCONN
    with pytest.raises(TimeoutError):
        pub.offer_wait(b"x", timeout=0.05)
    assert pub.wait_connected(timeout=0.01) is False


def test_back_pressure(client):
    sub = client.add_subscription("ns:ipc", 12)
    pub = client.add_publication("ns:ipc", 12)
    assert pub.wait_connected(10)
    msg = bytes(1000)
    results = set()
    for _ in range(1000):
        r = pub.offer(msg)
        results.add(r if r < 0 else "ok")
        if r == nanostream.OfferResult.BACK_PRESSURED:
            break
    assert nanostream.OfferResult.BACK_PRESSURED in results
    n = 0
    while sub.receive(timeout=0.5) is not None:
        n += 1
    assert n > 0
    assert pub.offer(msg) > 0


def test_bad_arguments(client, pair):
    pub, sub = pair
    with pytest.raises(TypeError):
        pub.offer("a str is not bytes")
    with pytest.raises(TypeError):
        pub.offer(12)
    with pytest.raises(TypeError):
        client.add_publication(b"ns:ipc", 1)
    with pytest.raises(TypeError):
        client.add_publication("ns:ipc", "1")
    with pytest.raises(ValueError, match="ns:"):
        client.add_publication("nanostream:ipc", 1)
    with pytest.raises(ValueError):
        client.add_subscription("ns:udp?endpoint=", 1)
    with pytest.raises(TypeError):
        client.add_subscription("ns:ipc", 1, on_available=5)
    with pytest.raises(TypeError):
        sub.poll(None)
    with pytest.raises(ValueError):
        sub.poll(lambda d, h: None, 0)
    with pytest.raises(ValueError):
        sub.receive(timeout=-1)
    with pytest.raises(TypeError):
        sub.receive(timeout="1")
    with pytest.raises(ValueError):
        pub.try_claim(-1)
    with pytest.raises(nanostream.Error) as e:
        pub.try_claim(pub.max_payload + 1)
    assert e.value.errno == errno.EMSGSIZE
    with pytest.raises(nanostream.Error) as e:
        pub.offer(bytes(pub.max_message + 1))
    assert e.value.errno == errno.EMSGSIZE
    with pytest.raises(ValueError):
        nanostream.check_uri("ns:ipc?term-length=3")
    assert nanostream.check_uri("ns:udp?endpoint=127.0.0.1:40123") is None


def test_driver_refusal_carries_the_library_message(client):
    first = client.add_publication("ns:ipc?term-length=65536", 20)
    with pytest.raises(nanostream.Error) as e:
        client.add_publication("ns:ipc?term-length=131072", 20)
    assert isinstance(e.value, OSError) and e.value.errno == errno.EINVAL
    assert "term-length 65536" in str(e.value) and first.stream_id == 20


def test_closed_objects_raise(ns_dir):
    c = nanostream.Client(ns_dir)
    pub = c.add_publication("ns:ipc", 10)
    sub = c.add_subscription("ns:ipc", 10)
    pub.close()
    pub.close()  # idempotent
    for f in (lambda: pub.offer(b"x"), lambda: pub.position, lambda: pub.try_claim(1),
              lambda: pub.offer_wait(b"x", 1), lambda: pub.wait_connected(0)):
        with pytest.raises(ValueError, match="closed"):
            f()
    c.close()  # closes the subscription too
    assert c.closed and sub.closed
    for f in (lambda: sub.receive(0), lambda: sub.poll(print), lambda: sub.image_count,
              lambda: c.add_publication("ns:ipc", 1), lambda: c.is_embedded):
        with pytest.raises(ValueError, match="closed"):
            f()
    with pytest.raises(ValueError):
        next(iter(sub))
    c.close()


def test_client_options_and_no_driver(ns_dir):
    with pytest.raises(nanostream.Error) as e:
        nanostream.Client(ns_dir, embedded=False)
    assert e.value.errno == errno.ECONNREFUSED
    with pytest.raises(ValueError):
        nanostream.Client(ns_dir, timeout=0)
    with pytest.raises(TypeError):
        nanostream.Client(ns_dir, 1)
    with pytest.raises(nanostream.Error) as e:
        nanostream.Client("/proc/no/such/dir")
    assert e.value.errno != 0
    with nanostream.Client(ns_dir) as c:
        assert c.is_embedded and c.dir == ns_dir
        with nanostream.Client(ns_dir, embedded=False) as c2:
            assert not c2.is_embedded


def test_image_callbacks_and_iteration(client):
    events = []
    sub = client.add_subscription(
        "ns:ipc", 13,
        on_available=lambda img: events.append(("up", img.session_id, img.position)),
        on_unavailable=lambda img: events.append(("down", img.session_id, img.end_of_stream)))
    pub = client.add_publication("ns:ipc", 13)
    sid = pub.session_id
    for i in range(100):
        assert pub.offer_wait(b"%d" % i, timeout=5) > 0
    pub.close()
    got = [int(m) for m in sub]  # ends once the publisher's image is gone
    assert got == list(range(100))
    assert events == [("up", sid, 0), ("down", sid, True)]
    kept = []
    sub2 = client.add_subscription("ns:ipc", 14, on_available=kept.append)
    pub2 = client.add_publication("ns:ipc", 14)
    assert sub2.wait_connected(10) and sub2.image_count == 1
    with pytest.raises(ValueError):
        kept[0].position  # valid only during its callback
    assert kept[0].session_id == pub2.session_id


def test_image_callback_exception_is_raised_by_the_poll(client):
    def bad(img):
        raise RuntimeError("callback failed")

    sub = client.add_subscription("ns:ipc", 15, on_available=bad)
    client.add_publication("ns:ipc", 15)
    with pytest.raises(RuntimeError, match="callback failed"):
        for _ in range(1000):
            sub.receive(timeout=0.01)


def test_waits_release_the_gil_and_threads_share_a_publication(pair):
    pub, sub = pair
    n, threads = 20000, 4

    def produce(k):
        for i in range(n):
            assert pub.offer_wait(b"%d:%d" % (k, i), timeout=10) > 0

    ts = [threading.Thread(target=produce, args=(k,)) for k in range(threads)]
    for t in ts:
        t.start()
    nxt = [0] * threads
    for _ in range(n * threads):
        m = sub.receive(timeout=10)
        k, i = map(int, m.split(b":"))
        assert i == nxt[k]
        nxt[k] += 1
    for t in ts:
        t.join()
    assert nxt == [n] * threads


def test_close_refused_while_another_thread_waits(client):
    inside, proceed = threading.Event(), threading.Event()

    def arrived(img):  # runs inside the waiter's receive(), GIL re-taken
        inside.set()
        assert proceed.wait(10)

    sub = client.add_subscription("ns:ipc", 16, on_available=arrived)
    result = []
    t = threading.Thread(target=lambda: result.append(sub.receive(timeout=10)))
    t.start()
    pub = client.add_publication("ns:ipc", 16)
    assert inside.wait(10)
    with pytest.raises(RuntimeError, match="in use"):
        sub.close()
    with pytest.raises(RuntimeError):
        client.close()
    proceed.set()
    pub.offer_wait(b"wake", timeout=10)
    t.join()
    assert result == [b"wake"]
    sub.close()


def test_ctrl_c_interrupts_a_wait(pair):
    pub, sub = pair
    timer = threading.Timer(0.2, os.kill, (os.getpid(), signal.SIGINT))
    timer.start()
    try:
        with pytest.raises(KeyboardInterrupt):
            sub.receive()  # no timeout: only the signal ends it
    finally:
        timer.cancel()


def test_udp_on_loopback(client):
    import socket
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    channel = f"ns:udp?endpoint=127.0.0.1:{port}"
    sub = client.add_subscription(channel, 40)
    pub = client.add_publication(channel, 40)
    assert pub.wait_connected(10) and sub.wait_connected(10)
    for i in range(1000):
        assert pub.offer_wait(b"udp %d" % i, timeout=10) > 0
    got = [sub.receive(timeout=10) for _ in range(1000)]
    assert got == [b"udp %d" % i for i in range(1000)]
    assert any(c.type == "snd-pos" for c in nanostream.counters(client.dir))


def test_remaining_attributes(pair, ns_dir):
    pub, sub = pair
    assert isinstance(nanostream.clock_ns(), int) and nanostream.clock_ns() > 0
    assert (pub.channel, pub.stream_id, sub.channel, sub.stream_id) == ("ns:ipc", 10, "ns:ipc", 10)
    assert not pub.closed and not sub.closed and pub.is_connected
    assert 0 < pub.max_payload <= pub.max_message
    pub.offer(b"h")
    hdrs = []
    sub.poll(lambda d, h: hdrs.append((h.term_id, h.term_offset, h.flags, h.reserved_value,
                                       repr(h))))
    term_id, term_offset, flags, reserved, text = hdrs[0]
    assert term_offset == 0 and flags == 0xC0 and reserved == 0 and "Header(" in text
    assert repr(nanostream.OfferResult.CLOSED) == "<OfferResult.CLOSED: -32>"
    info = nanostream.driver_info(ns_dir)
    assert info.timeout > 0 and info.heartbeat_age >= 0 and info.started > 1e9
    assert info.counters_age is None or info.counters_age >= 0
    assert all(isinstance(e, nanostream.ErrorRecord) for e in nanostream.errors(ns_dir))

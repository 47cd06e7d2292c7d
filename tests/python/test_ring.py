# SPDX-License-Identifier: MIT
"""The ring from Python: a C producer to a Python poller, Python to a C consumer, numpy
dtypes and plain memoryviews, events lent only while nothing else can touch them."""
import ctypes
import gc
import struct
import threading

import pytest

import nanostream
from conftest import build_file

try:
    import numpy
except ImportError:  # numpy is optional: its tests skip
    numpy = None


def mix(x):
    """tests/common/testutil.h's tu_mix64(), which the C helper uses."""
    m = (1 << 64) - 1
    x &= m
    x ^= x >> 30
    x = (x * 0xBF58476D1CE4E5B9) & m
    x ^= x >> 27
    x = (x * 0x94D049BB133111EB) & m
    return x ^ (x >> 31)


@pytest.fixture(scope="module")
def helper():
    lib = ctypes.CDLL(build_file("NSPY_HELPER", "the C side of the ring tests"))
    lib.nspy_mix.restype = ctypes.c_uint64
    lib.nspy_mix.argtypes = [ctypes.c_uint64]
    lib.nspy_produce_start.argtypes = [ctypes.c_void_p, ctypes.c_uint64]
    lib.nspy_consume_start.argtypes = [ctypes.c_void_p]
    u64p = ctypes.POINTER(ctypes.c_uint64)
    lib.nspy_consume_join.argtypes = [u64p, u64p, u64p]
    assert [lib.nspy_mix(i) for i in (0, 1, 12345, 2**63)] == [mix(i) for i in (0, 1, 12345, 2**63)]
    return lib


def test_ring_options_and_errors():
    r = nanostream.Ring(256, slot_size=32)
    assert (r.capacity, r.slot_size, r.cursor, r.dtype) == (256, 32, -1, None)
    assert isinstance(r.address, int) and r.address != 0
    assert type(r.capsule).__name__ == "PyCapsule"
    with pytest.raises(ValueError, match="power of two"):
        nanostream.Ring(1000)
    with pytest.raises(ValueError):
        nanostream.Ring(64, slot_size=12)
    with pytest.raises(ValueError):
        nanostream.Ring(64, producers="many")
    with pytest.raises(ValueError):
        nanostream.Ring(64, wait="nap")
    with pytest.raises(ValueError):
        r.publish(bytes(33))
    with pytest.raises(TypeError):
        r.publish("text")


def test_python_to_python_with_memoryviews():
    r = nanostream.Ring(8, slot_size=16)
    p = r.poller()
    assert p.take() is None
    with p.peek() as ev:
        assert len(ev) == 0
    for i in range(8):
        assert r.try_publish(bytes([i]) * 3) == i
    assert r.try_publish(b"full") is None
    assert r.publish(b"full", timeout=0.01) is None
    assert p.take() == bytes([0]) * 3 + bytes(13)  # the rest of the slot zeroed
    with p.peek(4) as ev:
        assert len(ev) == 4 and ev[0].readonly and len(ev[0]) == 16
        assert [bytes(e)[:3] for e in ev] == [bytes([i]) * 3 for i in range(1, 5)]
        first = ev[0]
    with pytest.raises(ValueError):
        bytes(first)  # valid only in the block
    with pytest.raises(ValueError):
        ev[0]
    with pytest.raises(ZeroDivisionError):
        with p.peek(1) as ev:
            1 / 0  # not handled: offered again
    with p.peek(1) as ev:
        assert bytes(ev[0])[:3] == bytes([5]) * 3
    kept = []
    with pytest.raises(BufferError):
        with p.peek(1) as ev:
            kept.append(memoryview(ev[0]).cast("B"))  # an export kept past the block holds it
    assert bytes(kept[0])[:3] == bytes([6]) * 3
    with pytest.raises(BufferError):
        p.take()
    kept.clear()
    gc.collect()
    assert p.take()[:3] == bytes([7]) * 3  # event 6 was released once the view was gone
    assert p.take() is None
    r.halt()
    with pytest.raises(EOFError):
        p.take()


@pytest.mark.skipif(numpy is None, reason="numpy is not installed")
def test_numpy_dtype_views_and_records():
    dt = numpy.dtype([("seq", "<u8"), ("price", "<f8"), ("qty", "<i4")])  # 20 bytes
    r = nanostream.Ring(16, dtype=dt)
    assert r.slot_size == 24 and r.dtype == dt
    p = r.poller()
    for i in range(10):
        rec = numpy.zeros(1, dtype=dt)
        rec["seq"], rec["price"], rec["qty"] = i, i * 1.5, -i
        r.publish(rec)
    first = p.take()
    assert isinstance(first, numpy.void) and first["seq"] == 0
    with p.peek() as ev:
        assert isinstance(ev, numpy.ndarray) and ev.dtype == dt and len(ev) == 9
        assert list(ev["seq"]) == list(range(1, 10))
        assert float(ev["price"].sum()) == sum(i * 1.5 for i in range(1, 10))
        assert not ev.flags.writeable


def test_c_producer_to_python_poller(helper):
    n = 1_000_000
    r = nanostream.Ring(1024, slot_size=64)
    p = r.poller()  # gates the producer from here on
    assert helper.nspy_produce_start(r.address, n) == 0
    nxt, bad = 0, 0
    unpack = struct.Struct("<QQ").unpack_from
    try:
        while nxt < n:
            with p.peek() as ev:
                for e in ev:
                    seq, check = unpack(e)
                    if seq != nxt or check != mix(nxt):
                        bad += 1
                    nxt += 1
    finally:
        p = None  # a failure: no poller gates the producer any more, it runs to its end
        gc.collect()
        assert helper.nspy_produce_join() == 0
    assert (nxt, bad) == (n, 0)


def test_python_producer_to_c_consumer(helper):
    n = 200_000
    r = nanostream.Ring(1024, slot_size=16)
    assert helper.nspy_consume_start(r.address) == 0
    buf = bytearray(16)
    pack = struct.Struct("<QQ").pack_into
    for i in range(n):
        pack(buf, 0, i, helper.nspy_mix(i))
        r.publish(buf)
    r.halt()
    count, bad, total = ctypes.c_uint64(), ctypes.c_uint64(), ctypes.c_uint64()
    helper.nspy_consume_join(ctypes.byref(count), ctypes.byref(bad), ctypes.byref(total))
    assert (count.value, bad.value, total.value) == (n, 0, n * (n - 1) // 2)


def test_multi_producer_threads():
    n, k = 50_000, 3
    r = nanostream.Ring(256, slot_size=16, producers="multi")
    p = r.poller()

    def produce(t):
        for i in range(n):
            r.publish(struct.pack("<QQ", t, i))

    ts = [threading.Thread(target=produce, args=(t,)) for t in range(k)]
    for t in ts:
        t.start()
    nxt = [0] * k
    for _ in range(n * k):
        e = p.take(timeout=10)
        t, i = struct.unpack("<QQ", e)
        assert i == nxt[t]
        nxt[t] += 1
    for t in ts:
        t.join()
    assert nxt == [n] * k


def test_events_attributes_and_release():
    r = nanostream.Ring(8, slot_size=8, wait="yield")
    p = r.poller()
    for i in range(3):
        r.publish(bytes([i]) * 8)
    assert r.cursor == 2
    ev = p.peek(2)
    assert ev.first_seq == 0 and len(ev) == 2
    ev.release()  # what leaving a with-block does
    with pytest.raises(ValueError):
        ev[0]
    assert p.take() == bytes([2]) * 8
    with p.peek() as empty:
        assert len(empty) == 0 and empty.first_seq == -1
    dropped = p.peek()
    del dropped  # dropped without a verdict: nothing was taken
    r.publish(b"x" * 8)
    assert p.take() == b"x" * 8

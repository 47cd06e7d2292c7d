# SPDX-License-Identifier: MIT
"""Between processes: Python to Python (10 M messages by default, NS_PY_MESSAGES), a C
publisher to a Python subscriber, monitoring from another process, Ctrl-C of a blocked wait."""
import os
import signal
import struct
import subprocess
import sys
import textwrap
import time
import zlib

import pytest

import nanostream
from conftest import build_file

MIX = 0x9E3779B97F4A7C15
MASK = (1 << 64) - 1

PUBLISHER = textwrap.dedent("""
    import struct, sys
    import nanostream
    d, stream, count = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    MIX, MASK = 0x9E3779B97F4A7C15, (1 << 64) - 1
    with nanostream.Client(d, embedded=False) as c:
        pub = c.add_publication("ns:ipc", stream, exclusive=True)
        assert pub.wait_connected(30)
        buf = bytearray(16)
        pack = struct.Struct("<QQ").pack_into
        offer = pub.offer
        for i in range(count):
            pack(buf, 0, i, (i * MIX) & MASK)
            while offer(buf) < 0:
                pass
""")


def child_env():
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in sys.path if p)
    return env


def test_two_python_processes_exchange_messages(client, ns_dir):
    count = int(os.environ.get("NS_PY_MESSAGES", "10000000"))
    sub = client.add_subscription("ns:ipc", 30)
    p = subprocess.Popen([sys.executable, "-c", PUBLISHER, ns_dir, "30", str(count)],
                         env=child_env())
    state = {"next": 0, "bad": 0}
    unpack = struct.Struct("<QQ").unpack_from

    def handler(data, header):
        n, check = unpack(data)
        if n != state["next"] or check != (n * MIX) & MASK or len(data) != 16:
            state["bad"] += 1
        state["next"] = n + 1

    deadline = time.monotonic() + 600
    poll = sub.poll
    while state["next"] < count and time.monotonic() < deadline:
        if poll(handler, 256) == 0 and p.poll() is not None and p.returncode != 0:
            break
    assert p.wait(60) == 0
    assert state == {"next": count, "bad": 0}


def test_c_publisher_to_python_subscriber(client, ns_dir):
    exe = build_file("NSPY_C_PUBLISHER", "the C publisher")
    count = 200000
    sub = client.add_subscription("ns:ipc", 31)
    p = subprocess.Popen([exe, ns_dir, "31", str(count)])
    got = bad = 0
    for m in sub:  # ends when the C publisher closes and everything was read
        n, crc = struct.unpack_from("<QI", m)
        payload = m[12:]
        if (n != got or len(payload) != 4 + n % 200 or zlib.crc32(payload) != crc or
                payload[:4] != bytes((n * 7 + k) & 0xFF for k in range(4))):
            bad += 1
        got += 1
    assert p.wait(60) == 0
    assert (got, bad) == (count, 0)


def test_monitoring_from_another_process(client, ns_dir):
    pub = client.add_publication("ns:ipc", 32)
    sub = client.add_subscription("ns:ipc", 32)
    assert pub.wait_connected(10)
    for _ in range(10):
        pub.offer(b"x" * 100)
    tail = pub.position
    script = textwrap.dedent("""
        import sys, time, nanostream
        d, tail = sys.argv[1], int(sys.argv[2])
        info = nanostream.driver_info(d)
        assert info.state == "running", info
        deadline = time.monotonic() + 10
        while True:
            cs = nanostream.counters(d)
            pos = [c.value for c in cs if c.type == "pub-pos" and "stream 32" in c.label]
            if pos == [tail] or time.monotonic() > deadline:
                break
            time.sleep(0.01)
        assert pos == [tail], (pos, tail)
        names = {c.label for c in cs if c.type == "system"}
        assert "commands handled" in names, names
        assert isinstance(nanostream.errors(d), list)
        for id_, type_, value, label in cs:
            assert isinstance(id_, int) and isinstance(label, str)
        print("ok", info.pid)
    """)
    out = subprocess.run([sys.executable, "-c", script, ns_dir, str(tail)], env=child_env(),
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["ok", str(os.getpid())]
    assert sub.receive(timeout=5) == b"x" * 100


def test_monitoring_errors(ns_dir):
    with pytest.raises(nanostream.Error) as e:
        nanostream.counters(ns_dir)  # no driver has run there
    assert e.value.errno == 2 and ns_dir in str(e.value)
    with pytest.raises(nanostream.Error):
        nanostream.errors("/nonexistent/dir")
    with pytest.raises(nanostream.Error):
        nanostream.driver_info("/nonexistent/dir")
    with pytest.raises(TypeError):
        nanostream.counters(5)
    with nanostream.Client(ns_dir):
        assert nanostream.driver_info(ns_dir).state == "running"
    with pytest.raises(nanostream.Error):  # a clean stop removes the file
        nanostream.driver_info(ns_dir)


def test_ctrl_c_ends_a_blocked_subscriber_process(client, ns_dir):
    script = textwrap.dedent("""
        import sys, nanostream
        with nanostream.Client(sys.argv[1], embedded=False) as c:
            sub = c.add_subscription("ns:ipc", 33)
            try:
                print("waiting", flush=True)  # inside: the signal may come right after it
                sub.receive()
            except KeyboardInterrupt:
                print("interrupted", flush=True)
                sys.exit(3)
    """)
    p = subprocess.Popen([sys.executable, "-c", script, ns_dir], env=child_env(),
                         stdout=subprocess.PIPE, text=True)
    assert p.stdout.readline().strip() == "waiting"
    p.send_signal(signal.SIGINT)
    assert p.wait(30) == 3
    assert p.stdout.read().strip() == "interrupted"

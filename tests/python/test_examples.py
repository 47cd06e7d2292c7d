# SPDX-License-Identifier: MIT
"""The Python examples (examples/python) run as docs/python.md shows them."""
import os
import subprocess
import sys

EXAMPLES = os.path.join(os.path.dirname(__file__), "..", "..", "examples", "python")


def run_env(ns_dir):
    return dict(os.environ, NANOSTREAM_DIR=ns_dir,
                PYTHONPATH=os.pathsep.join(p for p in sys.path if p))


def test_publisher_subscriber_and_monitor(ns_dir):
    env = run_env(ns_dir)
    sub = subprocess.Popen([sys.executable, os.path.join(EXAMPLES, "subscriber.py")], env=env,
                           stdout=subprocess.PIPE, text=True)
    assert sub.stdout.readline().strip() == "subscribed"  # its driver runs from here on
    mon = subprocess.run([sys.executable, os.path.join(EXAMPLES, "monitor.py")], env=env,
                         capture_output=True, text=True, timeout=60)
    assert mon.returncode == 0, mon.stderr
    assert f"driver pid {sub.pid}: running" in mon.stdout
    pub = subprocess.run([sys.executable, os.path.join(EXAMPLES, "publisher.py")], env=env,
                         capture_output=True, text=True, timeout=120)
    assert pub.returncode == 0, pub.stderr
    assert pub.stdout.startswith("sent up to position")
    out = sub.communicate(timeout=120)[0].splitlines()
    assert sub.returncode == 0
    assert out[0].startswith("publisher ") and out[0].endswith(" arrived")
    assert out[1] == "got b'hello'"
    assert out[2] == "got " + repr(bytes([1] + [0] * 7 + [2] + [0] * 7))
    assert out[3] == "got " + repr(bytes(8))
    assert out[-2].endswith(" left") and out[-1] == "100000 messages"

# SPDX-License-Identifier: MIT
"""Fixtures of the Python binding's tests (run by meson: suite python)."""
import os
import shutil
import tempfile

import pytest


@pytest.fixture
def ns_dir():
    """A private driver directory, removed afterwards."""
    d = tempfile.mkdtemp(prefix="ns-pytest-")
    yield d
    shutil.rmtree(d, ignore_errors=True)


@pytest.fixture
def client(ns_dir):
    import nanostream

    with nanostream.Client(ns_dir, term_length=64 * 1024) as c:
        yield c


@pytest.fixture
def pair(client):
    """A connected publication and subscription on ns:ipc stream 10."""
    sub = client.add_subscription("ns:ipc", 10)
    pub = client.add_publication("ns:ipc", 10)
    assert pub.wait_connected(10)
    return pub, sub


def build_file(env, what):
    path = os.environ.get(env)
    if not path:
        pytest.skip(f"{env} not set (meson test sets it): {what}")
    return path


# NS_NO_SKIPS=1 (CI as root, every dependency installed): a skipped test fails the run.
_skipped = []


def pytest_runtest_logreport(report):
    if report.skipped:
        _skipped.append(report.nodeid)


def pytest_sessionfinish(session, exitstatus):
    if os.environ.get("NS_NO_SKIPS") == "1" and _skipped:
        print(f"\n{len(_skipped)} skipped where nothing should be (NS_NO_SKIPS=1): "
              + ", ".join(_skipped))
        session.exitstatus = 1

# SPDX-License-Identifier: MIT
"""nanostream: low-latency messaging between threads, processes and machines.

Publications and subscriptions over a media driver (IPC through shared memory, UDP unicast
and multicast), the in-process ring for C producers and consumers, and the driver's counters
and error log for monitoring::

    import nanostream

    with nanostream.Client() as client:
        sub = client.add_subscription("ns:ipc", 10)
        pub = client.add_publication("ns:ipc", 10)
        pub.offer_wait(b"hello", timeout=5)
        print(sub.receive(timeout=5))

Every call that waits releases the GIL and is interrupted by Ctrl-C. Failures of the library
or its driver raise nanostream.Error (an OSError: errno, and the library's own words);
outcomes of offers are return values (a position, or an OfferResult member).
See docs/python.md, and help() on each class.
"""
from ._nanostream import (  # noqa: F401
    Claim,
    Client,
    Counter,
    DriverInfo,
    DriverTimeout,
    Error,
    ErrorRecord,
    Events,
    Header,
    Image,
    OfferFailed,
    OfferResult,
    Poller,
    Publication,
    Ring,
    Subscription,
    check_uri,
    clock_ns,
    counters,
    driver_info,
    errors,
    header_version,
    library_version,
)

__version__ = library_version

__all__ = [
    "Claim", "Client", "Counter", "DriverInfo", "DriverTimeout", "Error", "ErrorRecord",
    "Events", "Header", "Image", "OfferFailed", "OfferResult", "Poller", "Publication", "Ring",
    "Subscription", "check_uri", "clock_ns", "counters", "driver_info", "errors",
]

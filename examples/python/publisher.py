#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Send 100 000 messages on ns:ipc stream 10, a few ways, then close."""
import struct
import sys

import nanostream

with nanostream.Client() as client:
    pub = client.add_publication("ns:ipc", 10)
    if not pub.wait_connected(timeout=10):
        sys.exit("no subscriber came within 10 s")
    pub.offer_wait(b"hello", timeout=5)  # waits through back pressure
    with pub.try_claim(16) as buf:  # written in place in the log
        struct.pack_into("<qq", buf, 0, 1, 2)
    record = bytearray(8)
    for i in range(100_000 - 2):
        struct.pack_into("<q", record, 0, i)
        while pub.offer(record) < 0:  # an OfferResult: back pressured, ...
            pass
    print("sent up to position", pub.position)

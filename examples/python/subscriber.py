#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Print what arrives on ns:ipc stream 10 until its publishers have all closed.

    python3 subscriber.py & python3 publisher.py
"""
import nanostream

with nanostream.Client() as client:  # the driver of $NANOSTREAM_DIR, started when none runs
    sub = client.add_subscription(
        "ns:ipc", 10,
        on_available=lambda image: print("publisher", image.session_id, "arrived"),
        on_unavailable=lambda image: print("publisher", image.session_id, "left"))
    print("subscribed", flush=True)
    count = 0
    for message in sub:  # bytes; ends when every publisher it had is gone
        count += 1
        if count <= 3:
            print("got", message)
    print(count, "messages")

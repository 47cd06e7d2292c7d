#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Print a running driver's state, its log positions and its errors (what ns-stat shows),
from another process: python3 monitor.py [DIR]."""
import sys

import nanostream

where = sys.argv[1] if len(sys.argv) > 1 else None  # None: $NANOSTREAM_DIR or the default
info = nanostream.driver_info(where)
print(f"driver pid {info.pid}: {info.state}, heartbeat {info.heartbeat_age * 1e3:.1f} ms ago")
for c in nanostream.counters(where):
    if c.type != "system" or c.value:
        print(f"{c.type:8} {c.value:>14}  {c.label}")
for e in nanostream.errors(where):
    print(f"{e.count} x {e.text}")

#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Run a cmocka test program and pass its TAP output on, with its skips made visible.

cmocka 1.1.5 reports a skip() as "not ok N # SKIP name"; meson reads "not ok" with a SKIP
directive as a failure, so a test that skips a case it cannot run here would fail. This
turns such lines into "ok N # SKIP name", which meson counts as skipped, and keeps the
program's exit status (or 128 + the signal that ended it).

usage: tap-skips.py PROGRAM [ARGS...]
"""
import re
import signal
import subprocess
import sys

SKIP = re.compile(rb"^not ok (\d+) # SKIP(.*)$")


def main():
    proc = subprocess.Popen(sys.argv[1:], stdout=subprocess.PIPE)
    # meson ends a test that overran with SIGTERM: pass it on, so the program does not linger.
    signal.signal(signal.SIGTERM, lambda *_: proc.terminate())
    out = sys.stdout.buffer
    for line in proc.stdout:
        m = SKIP.match(line.rstrip(b"\n"))
        if m:
            line = b"ok " + m.group(1) + b" # SKIP" + m.group(2) + b"\n"
        out.write(line)
        out.flush()
    rc = proc.wait()
    return 128 - rc if rc < 0 else rc


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""The defaults users read are the defaults the code uses: src/ipc/defaults.h is the one table;
nanostreamd --help, its manual page, the client options' comments in nanostream/ipc.h and
docs/ipc.md must each state the same values.

  defaults.py SOURCE_ROOT NANOSTREAMD

Ends with "N passed, N failed".
"""
import re
import subprocess
import sys

root, daemon = sys.argv[1], sys.argv[2]
table = {}
for m in re.finditer(r"#define (NSI_DEFAULT_\w+)\s+(\d+)", open(f"{root}/src/ipc/defaults.h").read()):
    table[m.group(1)] = int(m.group(2))


def human_bytes(n):  # 1048576 -> 1m, as users type it
    for unit, size in (("g", 1 << 30), ("m", 1 << 20), ("k", 1 << 10)):
        if n % size == 0:
            return f"{n // size}{unit}"
    return str(n)


def seconds(ms):  # 15000 -> "15 s", 100 -> "100 ms"
    return f"{ms // 1000} s" if ms % 1000 == 0 else f"{ms} ms"


helptext = subprocess.run([daemon, "--help"], stdout=subprocess.PIPE, check=True).stdout.decode()
man = open(f"{root}/docs/nanostreamd.1").read().replace("\\-", "-").replace("\n", " ")
ipc_h = open(f"{root}/include/nanostream/ipc.h").read()
ipc_md = open(f"{root}/docs/ipc.md").read()
d = table
checks = [
    # (where, text that must appear)
    ("--help term-length", helptext, f"({d['NSI_DEFAULT_TERM_LENGTH']};"),
    ("--help mtu", helptext, f"default frame size ({d['NSI_DEFAULT_MTU']})"),
    ("--help heartbeat", helptext, f"interval ({d['NSI_DEFAULT_HEARTBEAT_MS']})"),
    ("--help client timeout", helptext, f"is gone ({d['NSI_DEFAULT_CLIENT_TIMEOUT_MS']})"),
    ("--help driver timeout", helptext, f"this long ({d['NSI_DEFAULT_DRIVER_TIMEOUT_MS']})"),
    ("--help unblock", helptext, f"died) ({d['NSI_DEFAULT_UNBLOCK_TIMEOUT_MS']})"),
    ("--help counters", helptext, f"cnc.dat ({d['NSI_DEFAULT_COUNTERS']})"),
    ("man term-length", man, f"$NANOSTREAM_TERM_LENGTH; {human_bytes(d['NSI_DEFAULT_TERM_LENGTH'])})"),
    ("man mtu", man, f"$NANOSTREAM_MTU; {d['NSI_DEFAULT_MTU']})"),
    ("man heartbeat", man, f"$NANOSTREAM_HEARTBEAT_MS; {d['NSI_DEFAULT_HEARTBEAT_MS']})"),
    ("man client timeout", man, f"$NANOSTREAM_CLIENT_TIMEOUT_MS; {d['NSI_DEFAULT_CLIENT_TIMEOUT_MS']})"),
    ("man driver timeout", man, f"$NANOSTREAM_DRIVER_TIMEOUT_MS; {d['NSI_DEFAULT_DRIVER_TIMEOUT_MS']})"),
    ("man unblock", man, f"$NANOSTREAM_UNBLOCK_TIMEOUT_MS; {d['NSI_DEFAULT_UNBLOCK_TIMEOUT_MS']})"),
    ("man counters", man, f"$NANOSTREAM_COUNTERS; {d['NSI_DEFAULT_COUNTERS']})"),
    ("ipc.h timeout_ns", ipc_h, f"answers; 0: {seconds(d['NSI_DEFAULT_REQUEST_TIMEOUT_MS'])} */"),
    ("ipc.h driver_timeout_ns", ipc_h, f"is dead; 0: {seconds(d['NSI_DEFAULT_DRIVER_TIMEOUT_MS'])} */"),
    ("ipc.h client_timeout_ns", ipc_h, f"liveness timeout; 0: {seconds(d['NSI_DEFAULT_CLIENT_TIMEOUT_MS'])} */"),
    ("ipc.h unblock_timeout_ns", ipc_h, f"0: {seconds(d['NSI_DEFAULT_UNBLOCK_TIMEOUT_MS'])} */"),
    ("ipc.h mtu", ipc_h, f"default frame size; 0: {d['NSI_DEFAULT_MTU']} */"),
    ("ipc.h term_length", ipc_h, "default term; 0: " + human_bytes(d['NSI_DEFAULT_TERM_LENGTH']).replace("m", " MiB") + " */"),
    ("ipc.md term-length", ipc_md, "(" + human_bytes(d['NSI_DEFAULT_TERM_LENGTH']).replace("m", " MiB") + "; `ns_client_opts.term_length`)"),
    ("ipc.md mtu", ipc_md, f"at most term-length / 8 | {d['NSI_DEFAULT_MTU']} |"),
    ("ipc.md heartbeat", ipc_md, f"its {seconds(d['NSI_DEFAULT_HEARTBEAT_MS'])} heartbeat"),
    ("ipc.md unblock", ipc_md, f"({seconds(d['NSI_DEFAULT_UNBLOCK_TIMEOUT_MS'])} by default"),
]
passed = failed = 0
for name, text, want in checks:
    if want in text:
        passed += 1
    else:
        failed += 1
        print(f"FAIL {name}: does not say {want!r}")
print(f"{len(table)} defaults in src/ipc/defaults.h; {passed} statements agree")
print(f"{passed} passed, {failed} failed")
sys.exit(1 if failed else 0)

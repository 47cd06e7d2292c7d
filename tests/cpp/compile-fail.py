#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Misuse the C++ wrapper's types should prevent does not compile (docs/testing.md P6).

Each snippet below must fail to compile with every C++ compiler given; the control (the
wrapper's own test program, tests/cpp/test_cpp.cpp) must compile with each, with -Wall
-Wextra -Werror -pedantic, so a failure means the misuse and not the harness.

  compile-fail.py SOURCE_ROOT BUILD_ROOT CXX...

Ends with "N passed, N failed".
"""
import os
import subprocess
import sys
import tempfile

root, build, compilers = sys.argv[1], sys.argv[2], sys.argv[3:]
HEAD = "#include <nanostream/nanostream.hpp>\n#include <string>\n#include <utility>\n"
SNIPPETS = {
    "copying a ring": "void f(ns::ring &r) { ns::ring copy(r); }",
    "assigning a ring": "void f(ns::ring &a, ns::ring &b) { a = b; }",
    "copying a typed ring": "void f(ns::typed_ring<long> &r) { auto copy = r; (void)copy; }",
    "copying a consumer": "void f(ns::consumer &c) { ns::consumer copy(c); }",
    "copying a poller": "void f(ns::poller &p) { ns::poller copy(p); }",
    "copying a client": "void f(ns::client &c) { ns::client copy(c); }",
    "copying a publication": "void f(ns::publication &p) { ns::publication copy(p); }",
    "copying a subscription": "void f(ns::subscription &s) { ns::subscription copy(s); }",
    "copying a claim": "void f(ns::claim &c) { ns::claim copy(c); }",
    "making a claim out of nothing": "void f() { ns::claim c; }",
    "a typed ring of a type that is not trivially copyable":
        "void f() { ns::typed_ring<std::string> r(64); }",
    "a typed ring of an over-aligned type":
        "struct alignas(64) big { char c[64]; }; void f() { ns::typed_ring<big> r(64); }",
    "offering a value that is not trivially copyable":
        "void f(ns::publication &p) { p.offer_value(std::string(\"x\")); }",
    "a handler of the wrong shape":
        "void f(ns::ring &r) { ns::consumer c(r, [](std::string &) {}); }",
    "writing through a message view":
        "void f(ns::bytes_view v) { v.data()[0] = std::byte{1}; }",
}

flags = ["-std=c++17", "-fsyntax-only", "-Wall", "-Wextra", "-Werror", "-pedantic",
         "-I", os.path.join(root, "include"), "-I", os.path.join(build, "include")]
passed = failed = 0
with tempfile.TemporaryDirectory(prefix="ns-cxx-") as work:
    for cxx in compilers:
        name = os.path.basename(cxx)
        r = subprocess.run([cxx] + flags + [os.path.join(root, "tests", "cpp", "test_cpp.cpp")],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        if r.returncode == 0:
            passed += 1
            print(f"ok   {name}: the control (test_cpp.cpp) compiles")
        else:
            failed += 1
            print(f"FAIL {name}: the control does not compile:\n{r.stdout[-3000:]}")
            continue
        for what, body in SNIPPETS.items():
            src = os.path.join(work, "snippet.cpp")
            with open(src, "w") as f:
                f.write(HEAD + body + "\n")
            r = subprocess.run([cxx] + flags + [src], stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True)
            if r.returncode != 0:
                passed += 1
                print(f"ok   {name}: {what}: refused")
            else:
                failed += 1
                print(f"FAIL {name}: {what}: compiled")
print(f"{passed} passed, {failed} failed")
sys.exit(1 if failed else 0)

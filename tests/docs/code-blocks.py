#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Every C code block in README.md and docs/*.md works as printed.

A block is either
- a complete program (it has a main function): compiled with -Wall -Wextra -Werror against
  the library just built, then run (in a private driver directory, 60 s at most): it must exit 0;
- or an excerpt, whose first line says so: `/* excerpt of examples/NAME.c */`; every code line
  of it must appear, in order, in that file (which the examples suite builds and runs), so an
  excerpt cannot drift from code that works.
Any other C block fails the test.

  code-blocks.py SOURCE_ROOT BUILD_ROOT CC

Ends with "N passed, N failed".
"""
import glob
import os
import re
import subprocess
import sys
import tempfile

root, build, cc = sys.argv[1], sys.argv[2], sys.argv[3]
docs = [os.path.join(root, "README.md")] + sorted(glob.glob(os.path.join(root, "docs", "*.md")))
EXCERPT = re.compile(r"^\s*/\*\s*excerpt of (examples/[\w./-]+)\s*\*/\s*$")


def blocks(path):
    """(line number, text) of each ```c block."""
    out, cur, start = [], None, 0
    for n, line in enumerate(open(path), 1):
        if cur is None and line.rstrip() == "```c":
            cur, start = [], n + 1
        elif cur is not None and line.rstrip() == "```":
            out.append((start, "".join(cur)))
            cur = None
        elif cur is not None:
            cur.append(line)
    return out


def code_lines(text):
    """The lines that are code: stripped, without comments and blank lines."""
    text = re.sub(r"/\*.*?\*/", "", text, flags=re.S)
    lines = []
    for line in text.splitlines():
        line = re.sub(r"//.*$", "", line).strip()
        if line:
            lines.append(line)
    return lines


def check_excerpt(where, text, example):
    path = os.path.join(root, example)
    if not os.path.isfile(path):
        return f"{where}: marked as an excerpt of {example}, which does not exist"
    have = code_lines(open(path).read())
    at = 0
    for line in code_lines(text):
        try:
            at = have.index(line, at) + 1
        except ValueError:
            return f"{where}: not in {example} (in this order): {line}"
    return None


def check_program(where, text, work, n):
    src = os.path.join(work, f"block{n}.c")
    exe = os.path.join(work, f"block{n}")
    open(src, "w").write(text)
    lib = os.path.join(build, "src")
    cmd = [cc, "-std=gnu17", "-Wall", "-Wextra", "-Werror", "-O2", "-pthread",
           "-I", os.path.join(root, "include"), "-I", os.path.join(build, "include"),
           src, "-o", exe, "-L", lib, "-lnanostream", f"-Wl,-rpath,{lib}", "-lm"]
    r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    if r.returncode != 0:
        return f"{where}: does not compile:\n{r.stdout.decode()[-2000:]}"
    env = dict(os.environ, NANOSTREAM_DIR=os.path.join(work, f"driver{n}"))
    try:
        r = subprocess.run([exe], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env,
                           cwd=work, timeout=60)
    except subprocess.TimeoutExpired:
        return f"{where}: still running after 60 s"
    if r.returncode != 0:
        return f"{where}: exited {r.returncode}:\n{r.stdout.decode()[-2000:]}"
    return None


passed = failed = 0
with tempfile.TemporaryDirectory(prefix="ns-docs-") as work:
    n = 0
    for doc in docs:
        for line, text in blocks(doc):
            n += 1
            where = f"{os.path.relpath(doc, root)}:{line}"
            first = text.splitlines()[0] if text.strip() else ""
            m = EXCERPT.match(first)
            if m:
                err, kind = check_excerpt(where, text, m.group(1)), f"excerpt of {m.group(1)}"
            elif re.search(r"\bint\s+main\s*\(", text):
                err, kind = check_program(where, text, work, n), "program: compiled and run"
            else:
                err, kind = (f"{where}: neither a complete program nor a marked excerpt "
                             "(first line /* excerpt of examples/NAME.c */)"), ""
            if err:
                failed += 1
                print("FAIL " + err)
            else:
                passed += 1
                print(f"ok   {where}: {kind}")
print(f"{passed} passed, {failed} failed")
sys.exit(1 if failed else 0)

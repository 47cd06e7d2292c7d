#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Every C, C++ and Python code block in README.md and docs/*.md works as printed.

A C block is either
- a complete program (it has a main function): compiled with -Wall -Wextra -Werror against
  the library just built, then run (in a private driver directory, 60 s at most): it must exit 0;
- or an excerpt, whose first line says so: `/* excerpt of examples/NAME.c */`; every code line
  of it must appear, in order, in that file (which the examples suite builds and runs), so an
  excerpt cannot drift from code that works.
A C++ block is likewise a complete program (compiled as C++17 with the C compiler's C++
sibling, g++ or clang++, -Wall -Wextra -Werror -pedantic, then run) or an excerpt marked
`// excerpt of examples/NAME.cpp`.
A Python block is likewise a complete script, run with the binding just built (PYTHON: the
interpreter it was built for; without it Python blocks fail), or an excerpt marked
`# excerpt of examples/python/NAME.py` (those scripts run in the python suite).
Any other C or Python block fails the test.

  code-blocks.py SOURCE_ROOT BUILD_ROOT CC [PYTHON]

Ends with "N passed, N failed".
"""
import glob
import os
import re
import subprocess
import sys
import tempfile

root, build, cc = sys.argv[1], sys.argv[2], sys.argv[3]
python = sys.argv[4] if len(sys.argv) > 4 else None
docs = [os.path.join(root, "README.md")] + sorted(glob.glob(os.path.join(root, "docs", "*.md")))
EXCERPT = re.compile(r"^\s*/\*\s*excerpt of (examples/[\w./-]+)\s*\*/\s*$")
CPP_EXCERPT = re.compile(r"^\s*//\s*excerpt of (examples/[\w./-]+)\s*$")
PY_EXCERPT = re.compile(r"^\s*#\s*excerpt of (examples/[\w./-]+)\s*$")


def blocks(path):
    """(line number, language, text) of each ```c and ```python block."""
    out, cur, start, lang = [], None, 0, None
    for n, line in enumerate(open(path), 1):
        if cur is None and line.rstrip() in ("```c", "```cpp", "```python"):
            cur, start, lang = [], n + 1, line.rstrip()[3:]
        elif cur is not None and line.rstrip() == "```":
            out.append((start, lang, "".join(cur)))
            cur = None
        elif cur is not None:
            cur.append(line)
    return out


def code_lines(text, lang="c"):
    """The lines that are code: stripped, without comments and blank lines."""
    if lang in ("c", "cpp"):
        text = re.sub(r"/\*.*?\*/", "", text, flags=re.S)
    lines = []
    for line in text.splitlines():
        line = re.sub(r"//.*$" if lang in ("c", "cpp") else r"#.*$", "", line).strip()
        if line:
            lines.append(line)
    return lines


def check_excerpt(where, text, example, lang="c"):
    path = os.path.join(root, example)
    if not os.path.isfile(path):
        return f"{where}: marked as an excerpt of {example}, which does not exist"
    have = code_lines(open(path).read(), lang)
    at = 0
    for line in code_lines(text, lang):
        try:
            at = have.index(line, at) + 1
        except ValueError:
            return f"{where}: not in {example} (in this order): {line}"
    return None


def cxx_for(c):
    """The C++ compiler beside the C one (gcc -> g++, clang -> clang++)."""
    base = os.path.basename(c)
    name = base.replace("clang", "clang++", 1) if "clang" in base else base.replace("gcc", "g++")
    if name == base:
        name = "c++"
    return os.path.join(os.path.dirname(c), name) if os.path.dirname(c) else name


def check_program(where, text, work, n, lang="c"):
    src = os.path.join(work, f"block{n}." + ("cpp" if lang == "cpp" else "c"))
    exe = os.path.join(work, f"block{n}")
    open(src, "w").write(text)
    lib = os.path.join(build, "src")
    std = ["-std=c++17", "-pedantic"] if lang == "cpp" else ["-std=gnu17"]
    cmd = [cxx_for(cc) if lang == "cpp" else cc] + std + ["-Wall", "-Wextra", "-Werror", "-O2", "-pthread",
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


def check_script(where, text, work, n):
    if python is None:
        return f"{where}: a Python block, and no Python binding was built to run it"
    src = os.path.join(work, f"block{n}.py")
    open(src, "w").write(text)
    env = dict(os.environ, NANOSTREAM_DIR=os.path.join(work, f"driver{n}"),
               PYTHONPATH=os.path.join(build, "src", "python"), PYTHONDONTWRITEBYTECODE="1")
    try:
        r = subprocess.run([python, src], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           env=env, cwd=work, timeout=60)
    except subprocess.TimeoutExpired:
        return f"{where}: still running after 60 s"
    if r.returncode != 0:
        return f"{where}: exited {r.returncode}:\n{r.stdout.decode()[-2000:]}"
    return None


passed = failed = 0
with tempfile.TemporaryDirectory(prefix="ns-docs-") as work:
    n = 0
    for doc in docs:
        for line, lang, text in blocks(doc):
            n += 1
            where = f"{os.path.relpath(doc, root)}:{line}"
            first = text.splitlines()[0] if text.strip() else ""
            m = (EXCERPT.match(first) if lang == "c" else PY_EXCERPT.match(first)
                 if lang == "python" else CPP_EXCERPT.match(first))
            if lang == "python":
                if m:
                    err, kind = (check_excerpt(where, text, m.group(1), "python"),
                                 f"excerpt of {m.group(1)}")
                else:
                    err, kind = check_script(where, text, work, n), "script: run"
            elif lang == "cpp":
                if m:
                    err, kind = (check_excerpt(where, text, m.group(1), "cpp"),
                                 f"excerpt of {m.group(1)}")
                else:
                    err, kind = (check_program(where, text, work, n, "cpp"),
                                 "C++ program: compiled and run")
            elif m:
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

#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Every public function is called with bad arguments in a test that asserts the outcome
(docs/testing.md A1). A name that merely appears is not enough:

- a function returning an error code (int, int32_t, int64_t) needs a statement such as
  assert_int_equal(ns_fn(...), -EINVAL) or assert_int_equal(ns_fn(...), NS_...): its result
  compared with a negative code;
- a function returning nothing, a pointer or a plain value (or documented "Errors: none")
  needs a call with a NULL argument whose outcome is asserted (assert_null(...),
  assert_int_equal(...), or, for one returning nothing, the call itself: it must not crash);
- a function without pointer parameters needs a call whose outcome is asserted; one without
  parameters has nothing to get wrong.

usage: api-coverage.py INCLUDE_DIR TEST_FILE...
"""
import re
import sys


def public_functions(include_dir):
    """name -> (return type, parameter list, its doc comment)"""
    import glob

    text = ""
    for path in sorted(glob.glob(include_dir + "/nanostream/*.h")):
        text += open(path).read() + "\n"
    funcs = {}
    pattern = (r"(/\*\*(?:(?!\*/).)*\*/)\s*NS_API\s+(?:NS_HOT\s+)?([A-Za-z0-9_ \*]+?)\s*"
               r"\b(ns_[a-z0-9_]+)\s*\(([^)]*)\)")
    for m in re.finditer(pattern, text, re.S):
        funcs[m.group(3)] = (m.group(2).replace(" ", ""), m.group(4), m.group(1))
    declared = set(re.findall(r"NS_API\s+(?:NS_HOT\s+)?[A-Za-z0-9_ \*]+?\b(ns_[a-z0-9_]+)\s*\(", text))
    if declared != set(funcs):
        sys.exit("declarations this script could not read (no doc comment?): "
                 + " ".join(sorted(declared - set(funcs))))
    return funcs


def statements(source):
    source = re.sub(r"/\*.*?\*/", " ", source, flags=re.S)
    source = re.sub(r"\s+", " ", source)
    return [s.strip() for s in re.split(r"[;{}]", source)]


def main():
    include_dir, tests = sys.argv[1], sys.argv[2:]
    stmts = []
    for t in tests:
        stmts += statements(open(t).read())
    missing = []
    for fn, (ret, params, doc) in sorted(public_functions(include_dir).items()):
        call = re.compile(r"\b" + fn + r"\(")
        if params.strip() == "void":
            continue  # nothing to get wrong
        if "*" not in params:
            # No pointer to pass NULL for (a code, a flag): any argument, outcome asserted.
            ok = any(call.search(s) and re.match(r"assert_\w+\(", s) for s in stmts)
        elif ret in ("int", "int32_t", "int64_t") and "Errors: none" not in doc:
            ok = any(
                call.search(s)
                and (
                    re.match(r"assert_int_equal\(", s)
                    and re.search(r",\s*(-E[A-Z0-9]+|NS_[A-Z_]+)\s*\)$", s)
                    or re.match(r"assert_true\(.*" + fn + r"\(.*\)\s*<\s*0\s*\)$", s)
                )
                for s in stmts
            )
        else:
            null_call = re.compile(r"\b" + fn + r"\((NULL|[^()]*,\s*NULL)")
            ok = any(
                null_call.search(s)
                and (ret == "void" or re.match(r"assert_\w+\(", s))
                for s in stmts
            )
        if not ok:
            missing.append(fn)
    if missing:
        print("public functions without an asserted bad-argument call: " + " ".join(missing))
        return 1
    print("%d public functions: each called with bad arguments and its outcome asserted"
          % len(public_functions(include_dir)))
    return 0


if __name__ == "__main__":
    sys.exit(main())

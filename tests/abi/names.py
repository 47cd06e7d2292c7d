#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Names that could be mixed up are caught by the compiler (issue 16, item 7).

A subscription's controlled handler returns enum ns_controlled_action, so returning a ring
poller result (NS_POLLER_*) must not compile under -Wall -Wextra -Werror (C) nor at all (C++);
the 0.2 names still compile, with a warning naming their replacement.

usage: names.py INCLUDE_DIR BUILD_INCLUDE_DIR CC [CC ARGS...] [--cxx CXX [CXX ARGS...]]
"""
import os
import subprocess
import sys
import tempfile

HANDLER = '''#include <nanostream/nanostream.h>
static enum ns_controlled_action
handler(void *ctx, const void *buf, size_t len, const struct ns_header *hdr)
{
	(void)ctx; (void)buf; (void)len; (void)hdr;
	return %s;
}
int main(void)
{
	ns_controlled_handler_fn fn = handler;
	return fn == 0;
}
'''

LEGACY = '''#include <nanostream/nanostream.h>
int main(void)
{
	return %s;
}
'''


def compile_(cmd, inc, src, suffix, strict=True):
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, 'x' + suffix)
        with open(path, 'w') as f:
            f.write(src)
        flags = ['-Wall', '-Wextra'] + (['-Werror'] if strict else [])
        r = subprocess.run(cmd + flags + inc + ['-c', path, '-o', os.path.join(d, 'x.o')],
                           capture_output=True, text=True)
        return r.returncode, r.stderr


def main():
    args = sys.argv[1:]
    inc = ['-I', args.pop(0), '-I', args.pop(0)]
    cxx = []
    if '--cxx' in args:
        i = args.index('--cxx')
        cxx = args[i + 1:]
        args = args[:i]
    cc = args
    passed = failed = 0

    def check(name, ok, detail=''):
        nonlocal passed, failed
        print(('ok     ' if ok else 'FAILED ') + name)
        if not ok:
            print('       ' + detail.strip().replace('\n', '\n       '))
            failed += 1
        else:
            passed += 1

    rc, err = compile_(cc, inc, HANDLER % 'NS_CONTROLLED_BREAK', '.c')
    check('C: a controlled handler returning NS_CONTROLLED_BREAK compiles', rc == 0, err)
    rc, err = compile_(cc, inc, HANDLER % 'NS_POLLER_PROCESSING', '.c')
    check('C: returning NS_POLLER_PROCESSING from it is a -Wextra warning (error with -Werror)',
          rc != 0 and 'enum' in err, err or 'compiled without a warning')
    for old, new in [('NS_POLL_PROCESSING', 'NS_POLLER_PROCESSING'),
                     ('NS_POLL_BREAK', 'NS_CONTROLLED_BREAK')]:
        rc, err = compile_(cc, inc, LEGACY % old, '.c', strict=False)
        check('C: %s still compiles, warning "use %s"' % (old, new),
              rc == 0 and ('use ' + new) in err, err or 'no warning')
    if cxx:
        rc, err = compile_(cxx, inc, HANDLER % 'NS_CONTROLLED_BREAK', '.cpp')
        check('C++: a controlled handler returning NS_CONTROLLED_BREAK compiles', rc == 0, err)
        rc, err = compile_(cxx, inc, HANDLER % 'NS_POLLER_PROCESSING', '.cpp', strict=False)
        check('C++: returning NS_POLLER_PROCESSING from it is an error', rc != 0 and 'ns_controlled_action' in err,
              err or 'compiled')
    print('%d passed, %d failed' % (passed, failed))
    return 1 if failed else 0


if __name__ == '__main__':
    sys.exit(main())

#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""The API man pages a user reads (issue 16, item 5): one page per public function and
documented type, each readable on its own.

For every NS_API function in the public headers: a page exists; its SYNOPSIS includes
<nanostream/nanostream.h> and no internal header; a non-void function's page has a RETURN VALUE
that starts "Returns" (or says it never fails); every error code its header comment names is
in an entry of ERRORS (one entry per code or alternatives such as "-EPERM or -ENOMEM"); the page renders without a groff warning and
is short enough to read (at most 90 lines at 80 columns). The index nanostream(3) names every
page. Installed pages are checked by the install test of tools/downstream.

usage: man-pages.py SOURCE_ROOT MAN_DIR (holding man3/)
"""
import os
import re
import shutil
import subprocess
import sys

HEADERS = ['common.h', 'memory.h', 'ring.h', 'consumer.h', 'ipc.h']
CODE = re.compile(r'(?<![A-Za-z0-9_])(-E[A-Z0-9]{3,}|NS_E(?!RROR_|RRMSG)[A-Z_]+)\b')


def error_part(comment):
    """The part of a comment that states results: from 'Returns' or 'Errors' to 'Ownership'."""
    m = re.search(r'\b(Returns|Errors)\b', comment)
    if not m:
        return ''
    part = comment[m.start():]
    end = re.search(r'\bOwnership\b', part)
    return part[:end.start()] if end else part


def functions(root):
    out = []
    for h in HEADERS:
        src = open(os.path.join(root, 'include', 'nanostream', h)).read()
        for m in re.finditer(r'(/\*\*(?:(?!\*/).)*\*/)\s*NS_API([^;]*);', src, re.S):
            decl = ' '.join(m.group(2).split())
            name = re.search(r'([a-z_0-9]+)\s*\(', decl).group(1)
            rtype = re.sub(r'\bNS_HOT\b|\bNS_DEPRECATED\("[^"]*"\)', '', decl[:decl.index(name + '(')])
            out.append((name, ' '.join(rtype.split()), m.group(1)))
    return out


def render(path):
    env = dict(os.environ, MANWIDTH='80', LANG='C.UTF-8')
    r = subprocess.run(['man', '-l', path], capture_output=True, text=True, env=env)
    return r.stdout


def main():
    root, mandir = sys.argv[1], sys.argv[2]
    man3 = os.path.join(mandir, 'man3')
    man3type = man3
    passed = failed = 0
    problems = []

    def fail(name, why):
        problems.append('%s: %s' % (name, why))

    have_man = shutil.which('man') is not None
    have_groff = shutil.which('groff') is not None
    index = open(os.path.join(man3, 'nanostream.3')).read()
    funcs = functions(root)
    for name, rtype, comment in funcs:
        before = len(problems)
        path = os.path.join(man3, name + '.3')
        if not os.path.exists(path):
            fail(name, 'no page')
            failed += 1
            continue
        page = open(path).read()
        syn = page[page.index('.SH SYNOPSIS'):page.index('.SH DESCRIPTION')]
        if '#include <nanostream/nanostream.h>' not in syn:
            fail(name, 'SYNOPSIS lacks #include <nanostream/nanostream.h>')
        if len(re.findall(r'#include', syn)) != 1:
            fail(name, 'SYNOPSIS names another include')
        if ('\\fB%s\\fP(' % name) not in syn:
            fail(name, 'SYNOPSIS lacks the prototype')
        sections = re.findall(r'^\.SH (.*)$', page, re.M)
        for s in ('NAME', 'SYNOPSIS', 'DESCRIPTION', 'RETURN VALUE', 'OWNERSHIP', 'THREAD SAFETY',
                  'PROGRESS', 'SEE ALSO'):
            if s not in sections:
                fail(name, 'no %s section' % s)
        ret = page.split('.SH RETURN VALUE', 1)[-1].split('\n.SH ', 1)[0]
        if rtype != 'void' and 'Returns' not in ret:
            fail(name, 'RETURN VALUE does not say what it returns')
        errors = page.split('.SH ERRORS', 1)[1].split('\n.SH ', 1)[0] if '.SH ERRORS' in page else ''
        tags = re.findall(r'^\.TP\n\.[BI] (.*)$', errors, re.M)
        for code in sorted(set(CODE.findall(error_part(comment)))):
            esc = code.replace('-', '\\-')
            if esc not in errors:
                fail(name, 'error %s is in the header but not on the page' % code)
        for t in tags:
            if len(CODE.findall(t.replace('\\-', '-'))) > 3:
                fail(name, 'ERRORS entry runs codes together: %s' % t)
        if ('.BR %s (3)' % name) not in index:
            fail(name, 'not in nanostream(3)')
        if have_groff:
            r = subprocess.run(['groff', '-man', '-Tutf8', '-ww', '-z', path], capture_output=True,
                               text=True)
            if r.stderr.strip():
                fail(name, 'groff warns: ' + r.stderr.strip().splitlines()[0])
        if have_man:
            text = render(path)
            lines = text.count('\n')
            if lines > 90:
                fail(name, '%d lines at 80 columns' % lines)
            if 'Returns' not in text and rtype != 'void':
                fail(name, 'rendered page lacks its return value')
        if len(problems) == before:
            passed += 1
        else:
            failed += 1
    # Types have pages too (section 3type), and the index lists every page.
    pages = sorted(f[:-2] for f in os.listdir(man3) if f.endswith('.3'))
    types = sorted(f[:-6] for f in os.listdir(man3type) if f.endswith('.3type'))
    for p, sec in [(p, '3') for p in pages] + [(t, '3type') for t in types]:
        if p != 'nanostream' and ('.BR %s (%s)' % (p, sec)) not in index:
            fail(p, 'not in nanostream(3)')
            failed += 1
    for t in ('ns_ring_opts', 'ns_ring_span', 'ns_consumer_stats', 'ns_wait_kind',
              'ns_controlled_action', 'ns_poller_state', 'ns_translate_fn'):
        path = os.path.join(man3type, t + '.3type')
        if t not in types or '.SH SYNOPSIS' not in open(path).read():
            fail(t, 'no type page')
            failed += 1
            continue
        if have_groff:
            r = subprocess.run(['groff', '-man', '-Tutf8', '-ww', '-z', path],
                               capture_output=True, text=True)
            if r.stderr.strip():
                fail(t, 'groff warns: ' + r.stderr.strip().splitlines()[0])
                failed += 1
                continue
        passed += 1
    pages += types
    # Every page has a NAME line that apropos/whatis can index (lintian's bad-whatis-entry).
    if shutil.which('lexgrog'):
        for f in sorted(os.listdir(man3)):
            r = subprocess.run(['lexgrog', os.path.join(man3, f)], capture_output=True,
                               text=True)
            if r.returncode != 0 or ' - ' not in r.stdout:
                fail(f, 'lexgrog cannot read its NAME line: ' + (r.stdout + r.stderr).strip())
                failed += 1
    for p in problems:
        print('FAILED ' + p)
    print('%d functions, %d pages in %s' % (len(funcs), len(pages), man3))
    print('%d passed, %d failed' % (passed, failed))
    return 1 if failed else 0


if __name__ == '__main__':
    sys.exit(main())

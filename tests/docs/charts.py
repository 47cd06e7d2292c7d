#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""benchmarks/plot draws charts people can read (issue 16, item 12).

Static checks of its style table: every series colour is dark enough to read on white
(relative luminance at most 0.45: no pale yellow) and no two series share a colour; every
chart carries the run's caption. With gnuplot installed, it also draws all four charts from a
small made-up run and checks that each PNG exists.

usage: charts.py SOURCE_ROOT
"""
import os
import re
import shutil
import subprocess
import sys
import tempfile


def luminance(hexcolour):
    r, g, b = (int(hexcolour[i:i + 2], 16) / 255 for i in (0, 2, 4))

    def lin(c):
        return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4
    return 0.2126 * lin(r) + 0.7152 * lin(g) + 0.0722 * lin(b)


def main():
    root = sys.argv[1]
    script = os.path.join(root, 'benchmarks', 'plot')
    src = open(script).read()
    passed = failed = 0

    def check(name, ok, detail=''):
        nonlocal passed, failed
        print(('ok     ' if ok else 'FAILED ') + name + ('' if ok else ': ' + detail))
        passed += ok
        failed += not ok

    styles = re.findall(r'^\t([A-Za-z0-9_.*| ]+)\) echo \'lc rgb "#([0-9a-fA-F]{6})"', src, re.M)
    check('a style table with one colour per series', len(styles) >= 8, str(styles))
    for series, colour in styles:
        check('series %s: colour #%s readable on white' % (series, colour),
              luminance(colour) <= 0.45, 'luminance %.2f' % luminance(colour))
    colours = [c.lower() for _, c in styles]
    check('no two series share a colour', len(colours) == len(set(colours)), str(colours))
    # common() sets the caption; the percentile charts, the throughput and the IPC chart use it.
    check('every chart has the run caption',
          src.count('$(common)') == 3 and 'set label 99 "$caption"' in src)

    if shutil.which('gnuplot'):
        with tempfile.TemporaryDirectory() as d:
            names = {'ring.pingpong.rtt': 0.7, 'floor.c2c2.rtt': 0.5, 'peer.ck.pingpong.rtt': 0.8,
                     'ipc.rtt.32': 0.9, 'ring.pingpong.rtt.block': 20}
            for n, base in names.items():
                with open(os.path.join(d, n + '.hgrm'), 'w') as f:
                    f.write('       Value     Percentile TotalCount 1/(1-Percentile)\n\n')
                    for i, p in enumerate([0.0, 0.5, 0.9, 0.99, 0.999, 0.9999]):
                        f.write('%12.3f %14.12f %10d %14.2f\n' % (base * (1 + i), p, 10 * (i + 1),
                                                                  1 / (1 - p)))
            with open(os.path.join(d, 'figures.tsv'), 'w') as f:
                for q, v in (('ring', 100e6), ('peer.rte', 80e6), ('peer.mutex', 10e6)):
                    for b in (1, 4, 16, 64, 256):
                        f.write('%s.p1c1.b%d\t%g\tevents/s\n' % (q, b, v * b ** 0.5))
                f.write('ring.p1c1.b1.runs\t1.2e8\tevents/s\n')
                f.write('floor.handoff.b64\t9e8\tevents/s\n')
                f.write('ipc.p1s1.32\t2.3e7\tmessages/s\nipc.p1s1.32.excl\t2.4e7\tmessages/s\n'
                        'ipc.p1s1.256\t1.1e7\tmessages/s\n')
            with open(os.path.join(d, 'run.json'), 'w') as f:
                f.write('{"machine": {"cpu": "test CPU", "cores": 2, "kernel": "6.1"}, '
                        '"build": {"library": "0.3.0"}, "settings": {"runs": 3, "seconds": 0.2}}')
            r = subprocess.run(['sh', script, d], capture_output=True, text=True)
            check('benchmarks/plot runs', r.returncode == 0, r.stderr)
            for png in ('latency-wait.png', 'latency-peers.png', 'throughput.png', 'ipc.png'):
                path = os.path.join(d, png)
                check('draws ' + png, os.path.exists(path) and os.path.getsize(path) > 10000,
                      'missing or empty')
    else:
        print('gnuplot not installed: the charts themselves are not drawn here')
    print('%d passed, %d failed' % (passed, failed))
    return 1 if failed else 0


if __name__ == '__main__':
    sys.exit(main())

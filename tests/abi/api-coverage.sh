#!/bin/sh
# Every public function must be exercised with bad arguments in tests/unit/test_api.c
# (RELIABILITY.md A1) or another bad-argument test named after it.
# usage: api-coverage.sh INCLUDE_DIR TEST_FILE...
set -eu
inc=$1
shift
missing=""
for fn in $(grep -h 'NS_API' "$inc"/nanostream/*.h | grep -v '#define' |
	    sed -n 's/.*[ *]\(ns_[a-z0-9_]*\)(.*/\1/p' | sort -u); do
	grep -q "\b$fn(" "$@" || missing="$missing $fn"
done
if [ -n "$missing" ]; then
	echo "public functions not covered by $*:$missing"
	exit 1
fi
echo "every public function appears in the bad-argument table"

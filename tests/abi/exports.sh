#!/bin/sh
# The exported symbols of libnanostream.so must be exactly the names in the version script,
# all in a NANOSTREAM_ node, and every NS_API declaration in the public headers must be one.
# usage: exports.sh LIBRARY.so MAPFILE INCLUDE_DIR
set -eu
lib=$1 map=$2 inc=$3
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

sed -n 's/^[[:space:]]*\(ns_[a-z0-9_]*\);.*/\1/p' "$map" | sort -u > "$tmp/map"
nm -D --defined-only "$lib" | awk '$2 ~ /^[TDBRW]$/ { print $3 }' | sed 's/@.*//' | sort -u > "$tmp/exported"
grep -h 'NS_API' "$inc"/nanostream/*.h | grep -v '#define' |
	sed -n 's/.*[ *]\(ns_[a-z0-9_]*\)(.*/\1/p' | sort -u > "$tmp/declared"

status=0
if ! diff -u "$tmp/map" "$tmp/exported" > "$tmp/d1"; then
	echo "exports differ from the version script (-map +exported):"; cat "$tmp/d1"; status=1
fi
if ! diff -u "$tmp/map" "$tmp/declared" > "$tmp/d2"; then
	echo "NS_API declarations differ from the version script (-map +headers):"; cat "$tmp/d2"; status=1
fi
unversioned=$(nm -D --defined-only "$lib" | awk '$3 ~ /^ns_/ && $3 !~ /@@?NANOSTREAM_/ { print $3 }')
if [ -n "$unversioned" ]; then
	echo "exports without a NANOSTREAM_ version node: $unversioned"; status=1
fi
[ $status -eq 0 ] && echo "$(wc -l < "$tmp/map") symbols: version script, exports and headers agree"
exit $status

#!/bin/sh
# Run Doxygen, then keep only the man pages users should get: one per public name (ns_*,
# NS_*) and one per header, renamed nanostream_<header>.3 so that no page takes a generic
# name such as size.3 or ring.h.3 in the system's man directory.
# usage: doxygen.sh DOXYGEN DOXYFILE OUTDIR
set -eu
"$1" "$2"
cd "$3/man3"
for f in *.h.3; do
	mv "$f" "nanostream_$f"
done
for f in *.3; do
	case "$f" in
	ns_* | NS_* | nanostream_*) ;;
	*) rm -f "$f" ;;
	esac
done
# Link pages point at their header's page.
for f in ns_*.3 NS_*.3; do
	[ -e "$f" ] || continue
	if grep -q '^\.so man3/' "$f"; then
		sed -i 's|^\.so man3/\([a-z]*\.h\.3\)$|.so man3/nanostream_\1|' "$f"
	fi
done

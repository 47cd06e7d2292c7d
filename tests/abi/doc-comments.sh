#!/bin/sh
# Every public function has a doc comment (/** ... */ right above its declaration) that states
# its errors, ownership, thread safety and progress guarantee, each by name (or "Returns" /
# "Never fails" for errors). usage: doc-comments.sh INCLUDE_DIR
set -eu
status=0
for h in "$1"/nanostream/*.h; do
	awk -v file="$(basename "$h")" '
	function check(name,   c, miss) {
		c = tolower(comment)
		miss = ""
		if (c !~ /errors|returns|never fails/) miss = miss " errors"
		if (c !~ /ownership/) miss = miss " ownership"
		if (c !~ /thread safety/) miss = miss " thread-safety"
		if (c !~ /progress/) miss = miss " progress"
		if (!have) miss = " doc-comment"
		if (miss != "") { printf "%s: %s: missing%s\n", file, name, miss; bad++ }
		n++
	}
	/^\/\*\*/ { incomment = 1; comment = ""; have = 0 }
	incomment { comment = comment " " $0 }
	incomment && /\*\// { incomment = 0; have = 1; next }
	/^NS_API/ {
		line = $0
		sub(/\(.*/, "", line)
		k = split(line, w, /[ *]+/)
		check(w[k])
		have = 0
		next
	}
	!incomment && !/^[ \t]/ && !/^$/ { have = 0 }
	END { printf "%s: %d functions, %d without a complete doc comment\n", file, n, bad; exit bad > 0 }
	' "$h" || status=1
done
exit $status

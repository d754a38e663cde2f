# Sourced by bench-history.sh and bench-floor.sh: what both need to time quotawatch beside
# ccusage over the same generated corpora. The sourcing script sets NAME (its log prefix) and tmp
# (its scratch directory), GO for need_bin, and FILES, SIZE and DENSE for corpus().

CCUSAGE_VERSION=20.0.24

log() { printf '%s %s: %s\n' "$(date -u +%H:%M:%S)" "$NAME" "$*" >&2; }
die() { log "$*"; exit 1; }

# need_bin sets BIN to the absolute path of the binary to measure. Without BIN it is built from
# this tree first: a bin/quotawatch left from an older commit would otherwise be measured under
# this commit's name.
need_bin() {
	if [ -z "${BIN:-}" ]; then
		CGO_ENABLED=0 "$GO" build -trimpath -o bin/quotawatch ./cmd/quotawatch
	fi
	BIN=$(realpath "${BIN:-bin/quotawatch}")
}

# need_gnu_time installs GNU time (Debian package time): it gives the peak RSS.
need_gnu_time() {
	/usr/bin/time -v true >/dev/null 2>&1 && return
	log "installing GNU time (Debian package time)"
	if [ "$(id -u)" = 0 ]; then apt-get install -y -qq time >/dev/null; else sudo apt-get install -y -qq time >/dev/null; fi
}

# install_ccusage installs ccusage $CCUSAGE_VERSION under $tmp and sets cc to its command. Call it
# as a command of its own (not in a && list or a $(...)), so that a failed install stops the script.
install_ccusage() {
	log "installing ccusage@$CCUSAGE_VERSION"
	npm install --silent --no-audit --no-fund --prefix "$tmp/ccusage" "ccusage@$CCUSAGE_VERSION" "@ccusage/ccusage-linux-x64@$CCUSAGE_VERSION" >/dev/null
	cc=$tmp/ccusage/node_modules/.bin/ccusage
}

# timed CMD...: runs CMD under GNU time; prints "wall cpu rss_mib".
timed() {
	/usr/bin/time -v -o "$tmp/time.out" "$@" >"$tmp/cmd.out" 2>"$tmp/cmd.err" || { cat "$tmp/cmd.err" >&2; die "failed: $*"; }
	awk -F': ' '/Elapsed/{n=split($2,a,":"); w=(n==3)?a[1]*3600+a[2]*60+a[3]:a[1]*60+a[2]}
		/User time/{u=$2} /System time/{s=$2} /Maximum resident/{r=$2/1024}
		END{printf "%.2f %.2f %.1f\n", w, u+s, r}' "$tmp/time.out"
}

# corpus KIND DIR: generates, with $tmp/qwcorpus, the sparse (-density 1) or dense (-density
# $DENSE) corpus of $FILES files / $SIZE MiB into DIR, with its expected.json, and reads it once
# into the page cache.
corpus() {
	local density=1
	if [ "$1" = dense ]; then density=$DENSE; fi
	"$tmp/qwcorpus" -out "$2" -size "$SIZE" -files "$FILES" -agents 4 -density "$density" 2>"$tmp/gen.log"
	log "$1: $(cat "$tmp/gen.log")"
	cat "$2"/agents/*/sessions/* >/dev/null
}

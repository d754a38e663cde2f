#!/usr/bin/env bash
# How fast a backfill can be at all, beside ccusage (results: docs/BENCHMARKS.md, "Round 11").
#
#   scripts/bench-floor.sh              # or: make bench-floor
#
# SQLite has one writer, so a backfill's wall time is at least the CPU time of the goroutine that
# commits its batches, and at least its total CPU time divided by the cores. For a sparse (-density 1)
# and a dense (-density 4) corpus of 9,500 files / ~300 MiB, BENCH_RUNS turns of:
#   1. quotawatch backfill, timed (wall, CPU, peak RSS); totals checked against expected.json;
#   2. the same under QW_CPUPROFILE: the writer goroutine's CPU and the reader's, from the profile;
#   3. ccusage 20.0.24 over the same corpus, timed.
# Each turn prints the ratio to ccusage and the floor ratio those CPU times allow: max(writer CPU,
# total CPU / cores) / ccusage's wall. With the sqlite3 command-line tool it also times native
# SQLite inserting the backfilled store's event rows again, 2,000 a transaction (WAL,
# synchronous=NORMAL, a 1 MiB cache, as the writer has it): SQLite's own limit for our row shape.
# Nothing is asserted about timings; the script fails only if totals differ from expected.json.
#
# Knobs: BENCH_RUNS=5 BENCH_FILES=9500 BENCH_SIZE_MB=300 BENCH_DENSE=4 BIN=bin/quotawatch GO=go
set -euo pipefail
cd "$(dirname "$0")/.."

GO=${GO:-go}
NAME=bench-floor
. scripts/bench-lib.sh
need_bin
RUNS=${BENCH_RUNS:-5}
FILES=${BENCH_FILES:-9500}
SIZE=${BENCH_SIZE_MB:-300}
DENSE=${BENCH_DENSE:-4}
CORES=$(nproc)
need_gnu_time
tmp=$(mktemp -d "${TMPDIR:-/tmp}/qwfloor.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

log "$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2-), $CORES cores, load $(cut -d' ' -f1-3 /proc/loadavg)"
$GO build -o "$tmp/qwcorpus" ./cmd/qwcorpus
install_ccusage
# cum FUNC PROFILE: the cumulative CPU seconds of FUNC (a regexp on the line's end) in PROFILE.
cum() {
	$GO tool pprof -top -cum -nodecount=1000 "$BIN" "$2" 2>/dev/null |
		awk -v f="$1" '$NF ~ f { v = $4; sub(/ms$/, "", v); if ($4 ~ /ms$/) v /= 1000; else sub(/s$/, "", v); print v + 0; exit }'
}
samples() { $GO tool pprof -top "$BIN" "$1" 2>/dev/null | sed -n 's/.*Total samples = \([0-9.]*\)\(m*\)s.*/\1 \2/p' | awk '{print ($2 == "m") ? $1 / 1000 : $1}'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }

echo "| corpus | turn | quotawatch wall s | CPU s | peak RSS MiB | ccusage wall s | CPU s | ratio | profiled: writer CPU s | reader CPU s | all CPU s | floor ratio |"
echo "|---|---|---|---|---|---|---|---|---|---|---|---|"
for kind in sparse dense; do
	d=$tmp/$kind
	corpus $kind "$d"
	for i in $(seq 1 "$RUNS"); do
		rm -f "$tmp/bf.db"*
		read -r qw qc qr <<<"$(timed "$BIN" --config "$d/quotawatch.yaml" --db "$tmp/bf.db" backfill --no-progress "$d")"
		"$BIN" --config "$d/quotawatch.yaml" --db "$tmp/bf.db" usage --format json --month 2026-11 >"$tmp/usage.json"
		"$tmp/qwcorpus" check -out "$d" "$tmp/usage.json" 2>/dev/null || die "totals differ from expected.json ($kind)"
		rm -f "$tmp/bf.db"*
		QW_CPUPROFILE=$tmp/cpu.prof "$BIN" --config "$d/quotawatch.yaml" --db "$tmp/bf.db" backfill --no-progress "$d" >/dev/null 2>&1
		w=$(cum 'monitor.\(\*Monitor\).startWriter.func1$' "$tmp/cpu.prof")
		r=$(cum 'monitor.\(\*Monitor\).processFile$' "$tmp/cpu.prof")
		all=$(samples "$tmp/cpu.prof")
		read -r cw ccpu _ <<<"$(timed "$cc" openclaw monthly --json --offline --open-claw-path "$d")"
		floor=$(awk -v w="$w" -v a="$all" -v n="$CORES" 'BEGIN { f = a / n; print (w > f) ? w : f }')
		echo "| $kind | $i | $qw | $qc | $qr | $cw | $ccpu | $(ratio "$qw" "$cw") | $w | $r | $all | $(ratio "$floor" "$cw") |"
	done
	if command -v sqlite3 >/dev/null; then
		# The store of the last profiled run, its event rows inserted again natively.
		n=$(sqlite3 "$tmp/bf.db" 'SELECT max(id) FROM events')
		{
			echo "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA cache_size=-1024; PRAGMA wal_autocheckpoint=4000;"
			sqlite3 "$tmp/bf.db" '.schema events'
			echo "ATTACH '$tmp/bf.db' AS src;"
			for ((j = 1; j <= n; j += 2000)); do
				echo "BEGIN; INSERT INTO main.events SELECT * FROM src.events WHERE id BETWEEN $j AND $((j + 1999)) ORDER BY id; COMMIT;"
			done
		} >"$tmp/native.sql"
		for i in 1 2 3; do
			rm -f "$tmp/native.db"*
			read -r nw nc _ <<<"$(timed sqlite3 "$tmp/native.db" -init "$tmp/native.sql" .quit)"
			echo "| $kind | native sqlite3 $(sqlite3 --version | cut -d' ' -f1), $n event rows | $nw | $nc | | | | | | | | |"
		done
	else
		log "no sqlite3 command-line tool: SQLite's native floor is not measured (Debian package sqlite3)"
	fi
	rm -rf "$d"
done

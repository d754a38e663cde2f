#!/usr/bin/env bash
# Issue 13's benchmarks (results: docs/BENCHMARKS.md, "Round 2").
#
#   scripts/bench-history.sh            # or: make bench-history
#   BENCH_BASE=/tmp/old/quotawatch scripts/bench-history.sh   # an older build too, in turns
#
# 1. backfill  a sparse (-density 1) and a dense (-density 4: short turns, many tool loops,
#              ~700 calls per MiB) corpus of 9,500 files / ~300 MiB, quotawatch (and BENCH_BASE)
#              in turns with ccusage 20.0.24 (npm, BENCH_CCUSAGE=1): wall, CPU (user+sys), peak RSS,
#              load average; quotawatch's totals checked against expected.json every run.
# 2. history   for each of BENCH_HISTORY_FILES (9500 38000 150000) transcript files: backfill once,
#              then BENCH_RUNS restarts of `run`: launch -> "caught up" (ms, CPU), RSS 10 s later
#              (idle) and VmHWM (the peak after the restart).
# The machine is shared: compare CPU, and read every number with its load. Nothing is asserted
# about timings; the script fails only if totals differ from expected.json.
#
# Knobs: BENCH_RUNS=3 BENCH_FILES=9500 BENCH_SIZE_MB=300 BENCH_DENSE=4 BENCH_CCUSAGE=1
# BENCH_HISTORY_FILES="9500 38000 150000" BENCH_IDLE_SECS=10 BENCH_KEEP=0 BIN=bin/quotawatch GO=go
set -euo pipefail
cd "$(dirname "$0")/.."

GO=${GO:-go}
NAME=bench-history
. scripts/bench-lib.sh
need_bin
BASE=${BENCH_BASE:-}
RUNS=${BENCH_RUNS:-3}
FILES=${BENCH_FILES:-9500}
SIZE=${BENCH_SIZE_MB:-300}
DENSE=${BENCH_DENSE:-4}
CCUSAGE=${BENCH_CCUSAGE:-1}
HISTORY=${BENCH_HISTORY_FILES:-9500 38000 150000}
IDLE=${BENCH_IDLE_SECS:-10}
load() { cut -d' ' -f1 /proc/loadavg; }
need_gnu_time

tmp=$(mktemp -d "${TMPDIR:-/tmp}/qwhistory.XXXXXX")
runpid=""
cleanup() {
	if [ -n "$runpid" ] && kill -0 "$runpid" 2>/dev/null; then kill "$runpid"; wait "$runpid" 2>/dev/null || true; fi
	if [ "${BENCH_KEEP:-0}" = 1 ]; then log "kept $tmp"; else rm -rf "$tmp"; fi
}
trap cleanup EXIT

$GO build -o "$tmp/qwcorpus" ./cmd/qwcorpus
cc=""
if [ "$CCUSAGE" = 1 ]; then install_ccusage; fi

echo "| corpus | tool | run | wall s | CPU s | peak RSS MiB | load |"
echo "|---|---|---|---|---|---|---|"
for kind in sparse dense; do
	d=$tmp/$kind
	corpus $kind "$d"
	for i in $(seq 1 "$RUNS"); do
		for tool in qw ${BASE:+base} ${cc:+ccusage}; do
			rm -f "$tmp/bf.db"*
			l=$(load)
			case $tool in
			qw | base)
				b=$BIN; [ $tool = base ] && b=$BASE
				res=$(timed "$b" --config "$d/quotawatch.yaml" --db "$tmp/bf.db" backfill --no-progress "$d")
				"$b" --config "$d/quotawatch.yaml" --db "$tmp/bf.db" usage --format json --month 2026-11 >"$tmp/usage.json"
				"$tmp/qwcorpus" check -out "$d" "$tmp/usage.json" 2>/dev/null || die "$tool totals differ from expected.json ($kind)"
				;;
			ccusage) res=$(timed "$cc" openclaw monthly --json --offline --open-claw-path "$d") ;;
			esac
			read -r w c r <<<"$res"
			echo "| $kind | $tool | $i | $w | $c | $r | $l |"
		done
	done
	[ "${BENCH_KEEP:-0}" = 1 ] || rm -rf "$d"
done

echo
echo "| history (files) | binary | run | caught up, ms | CPU to caught up, s | idle RSS MiB ($IDLE s later) | peak RSS (VmHWM) MiB | load |"
echo "|---|---|---|---|---|---|---|---|"
for n in $HISTORY; do
	d=$tmp/h$n
	"$tmp/qwcorpus" -out "$d" -files "$n" -size $((n / 150 + 1)) -agents 4 2>"$tmp/gen.log"
	log "history $n: $(cat "$tmp/gen.log")"
	rm -f "$tmp/h.db"* "$tmp/hb.db"*
	# Each build over a database it wrote itself: a newer schema is refused
	# by an older build.
	"$BIN" --config "$d/quotawatch.yaml" --db "$tmp/h.db" backfill --no-progress "$d" >/dev/null
	[ -z "$BASE" ] || "$BASE" --config "$d/quotawatch.yaml" --db "$tmp/hb.db" backfill --no-progress "$d" >/dev/null
	for i in $(seq 1 "$RUNS"); do
		for tool in qw ${BASE:+base}; do
			b=$BIN; db=$tmp/h.db; [ $tool = base ] && b=$BASE && db=$tmp/hb.db
			l=$(load)
			t0=$(date +%s%N)
			"$b" --config "$d/quotawatch.yaml" --db "$db" run >"$tmp/run.log" 2>&1 &
			runpid=$!
			for _ in $(seq 1 3600); do grep -q 'caught up; following' "$tmp/run.log" && break; sleep 0.05; done
			grep -q 'caught up; following' "$tmp/run.log" || die "run never caught up ($n files)"
			t1=$(date +%s%N)
			cpu=$(awk -v hz="$(getconf CLK_TCK)" '{printf "%.2f", ($14+$15)/hz}' /proc/$runpid/stat)
			sleep "$IDLE"
			rss=$(awk '/VmRSS/{printf "%.1f", $2/1024}' /proc/$runpid/status)
			hwm=$(awk '/VmHWM/{printf "%.1f", $2/1024}' /proc/$runpid/status)
			kill -TERM "$runpid"; wait "$runpid" 2>/dev/null || true; runpid=""
			echo "| $n | $tool | $i | $(((t1 - t0) / 1000000)) | $cpu | $rss | $hwm | $l |"
		done
	done
	[ "${BENCH_KEEP:-0}" = 1 ] || rm -rf "$d" "$tmp/h.db"* "$tmp/hb.db"*
done

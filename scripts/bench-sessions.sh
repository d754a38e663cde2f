#!/usr/bin/env bash
# Whole-binary benchmark of a big sessions.json (issue 7 item 6; results: docs/BENCHMARKS.md).
#
#   scripts/bench-sessions.sh                 # or: make bench-sessions (part of make bench)
#   BIN=/tmp/old/quotawatch scripts/bench-sessions.sh   # the same measurement of another build
#
# On a generated Clawdbot corpus whose busiest agent's sessions.json is padded with realistic
# entries (skillsSnapshot, systemPromptReport, escapes, Arabic, nested objects) to 100 MiB /
# 10,000 sessions, it measures:
#   backfill   peak RSS, wall and CPU of `quotawatch backfill`, with the corpus's own small
#              sessions.json and with the 100 MiB one (/usr/bin/time -v)
#   idle       CPU of `quotawatch run` following the quiet corpus (/proc/<pid>/stat)
#   rewrites   CPU of `run` while `qwcorpus rewrite` replaces the 100 MiB file every second
#              (a temporary file renamed over it, one entry's updatedAt changed, as Clawdbot
#              does on every message): (CPU - idle CPU) / rewrites
#   live       append → visible in `usage --format json`, p50/p99/max at BENCH_RATE lines/s,
#              without and with the rewrites running
#   RSS        of `run` at the end, and its peak (VmHWM) over all of the above
# and prints one table. Totals are checked against the generator's expected.json; nothing is
# asserted about timings.
#
# Knobs (environment): BENCH_STORE_MB=100 BENCH_STORE_ENTRIES=10000 BENCH_SIZE_MB=20 BENCH_FILES=500
# BENCH_AGENTS=2 BENCH_SEED=1 BENCH_MONTH=2026-11 BENCH_RUNS=3 BENCH_IDLE_SECS=10 BENCH_REWRITE_SECS=30 BENCH_RATE=100
# BENCH_LIVE_SECS=20 BENCH_KEEP=0 BENCH_COMMIT (label) BIN=bin/quotawatch GO=go
set -euo pipefail
cd "$(dirname "$0")/.."

GO=${GO:-go}
# Without BIN, the binary is built from this tree first: a bin/quotawatch left
# from an older commit would otherwise be measured under this commit's name.
if [ -z "${BIN:-}" ]; then
	CGO_ENABLED=0 "${GO:-go}" build -trimpath -o bin/quotawatch ./cmd/quotawatch
fi
BIN=${BIN:-bin/quotawatch}
STORE_MB=${BENCH_STORE_MB:-100}
ENTRIES=${BENCH_STORE_ENTRIES:-10000}
SIZE=${BENCH_SIZE_MB:-20}
FILES=${BENCH_FILES:-500}
AGENTS=${BENCH_AGENTS:-2}
SEED=${BENCH_SEED:-1}
MONTH=${BENCH_MONTH:-2026-11}
RUNS=${BENCH_RUNS:-3}
IDLE=${BENCH_IDLE_SECS:-10}
REWRITE=${BENCH_REWRITE_SECS:-30}
RATE=${BENCH_RATE:-100}
LIVE=${BENCH_LIVE_SECS:-20}

commit=${BENCH_COMMIT:-$(git rev-parse --short HEAD 2>/dev/null || echo unknown)$(git diff --quiet HEAD 2>/dev/null || echo ' (dirty tree)')}
log() { printf '%s bench-sessions: %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }
die() { log "$*"; exit 1; }

if ! /usr/bin/time -v true >/dev/null 2>&1; then
	log "installing GNU time (Debian package time)"
	if [ "$(id -u)" = 0 ]; then apt-get install -y -qq time >/dev/null; else sudo apt-get install -y -qq time >/dev/null; fi
fi

tmp=$(mktemp -d "${TMPDIR:-/tmp}/qwsessions.XXXXXX")
runpid=""
bgpids=()
cleanup() {
	for p in "${bgpids[@]}"; do kill "$p" 2>/dev/null || true; done
	if [ -n "$runpid" ] && kill -0 "$runpid" 2>/dev/null; then kill "$runpid"; wait "$runpid" 2>/dev/null || true; fi
	if [ "${BENCH_KEEP:-0}" = 1 ]; then log "kept $tmp"; else rm -rf "$tmp"; fi
}
trap cleanup EXIT

load() { cut -d' ' -f1-3 /proc/loadavg; }
median() { sort -n | awk '{a[NR]=$1} END{if (NR==0) print "nan"; else if (NR%2) print a[(NR+1)/2]; else print (a[NR/2]+a[NR/2+1])/2}'; }
max() { sort -n | tail -1; }
now_ns() { date +%s%N; }
timev() {
	awk -F': ' '
		/Elapsed \(wall clock\)/ { n=split($2, p, ":"); w=0; for (i=1; i<=n; i++) w=w*60+p[i] }
		/User time/ { u=$2 } /System time/ { s=$2 }
		/Maximum resident set size/ { r=$2/1024 }
		END { printf "%.2f %.2f %.1f\n", w, u+s, r }' "$1"
}
hz=$(getconf CLK_TCK)
ticks() { awk '{print $14+$15}' "/proc/$runpid/stat"; }

log "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(awk '/MemTotal/{printf "%.1f GiB", $2/1048576}' /proc/meminfo); load $(load)"
log "commit $commit, binary $BIN"
[ -x "$BIN" ] || { log "building $BIN"; CGO_ENABLED=0 $GO build -trimpath -o "$BIN" ./cmd/quotawatch; }
$GO build -o "$tmp/qwcorpus" ./cmd/qwcorpus

state=$tmp/state
"$tmp/qwcorpus" -out "$state" -size "$SIZE" -files "$FILES" -agents "$AGENTS" -seed "$SEED" -month "$MONTH" 2>&1 | sed 's/^/  /' >&2
cfg=$state/quotawatch.yaml
db=$tmp/qw.db

# backfill_runs LABEL: RUNS backfills into fresh databases; sets bf_wall bf_cpu bf_rss.
backfill_runs() {
	: >"$tmp/bf.all"
	for i in $(seq 1 "$RUNS"); do
		rm -f "$db" "$db-wal" "$db-shm"
		/usr/bin/time -v -o "$tmp/bf.time" "$BIN" --config "$cfg" --db "$db" --log-level warn backfill --no-progress --format json "$state" >"$tmp/bf.json" 2>"$tmp/bf.err" ||
			{ cat "$tmp/bf.err" >&2; die "backfill failed"; }
		read -r w c r < <(timev "$tmp/bf.time")
		echo "$w $c $r" >>"$tmp/bf.all"
		log "backfill ($1) run $i: wall ${w}s, cpu ${c}s, peak RSS ${r} MiB (load $(load))"
	done
	bf_wall=$(cut -d' ' -f1 "$tmp/bf.all" | median)
	bf_cpu=$(cut -d' ' -f2 "$tmp/bf.all" | median)
	bf_rss=$(cut -d' ' -f3 "$tmp/bf.all" | max)
	"$BIN" --config "$cfg" --db "$db" --log-level error usage --format json --month "$MONTH" >"$tmp/usage.json"
	"$tmp/qwcorpus" check -out "$state" "$tmp/usage.json" || die "usage differs from expected.json after backfill ($1)"
}

backfill_runs "small sessions.json"
small_wall=$bf_wall small_cpu=$bf_cpu small_rss=$bf_rss
store=$("$tmp/qwcorpus" store -out "$state" -size "$STORE_MB" -entries "$ENTRIES" -seed "$SEED")
store_mib=$(awk -v b="$(stat -c %s "$store")" 'BEGIN{printf "%.1f", b/1048576}')
find "$state/agents" -type f -exec cat {} + >/dev/null # warm page cache
backfill_runs "${store_mib} MiB sessions.json"
big_wall=$bf_wall big_cpu=$bf_cpu big_rss=$bf_rss

# --- run -------------------------------------------------------------------------------------
: >"$tmp/run.log"
"$BIN" --config "$cfg" --db "$db" --log-level debug run 2>>"$tmp/run.log" &
runpid=$!
for _ in $(seq 1 6000); do
	grep -q 'caught up; following' "$tmp/run.log" && break
	kill -0 "$runpid" 2>/dev/null || { cat "$tmp/run.log" >&2; die "quotawatch run exited"; }
	sleep 0.01
done
grep -q 'caught up; following' "$tmp/run.log" || die "quotawatch run never caught up"
sleep 2
reads() { grep -c 'msg="session store read" file='"$store" "$tmp/run.log" || true; }

a=$(ticks); t0=$(now_ns)
log "idle: ${IDLE}s"
sleep "$IDLE"
b=$(ticks); t1=$(now_ns)
idle_cps=$(awk -v a="$a" -v b="$b" -v hz="$hz" -v ns=$((t1 - t0)) 'BEGIN{printf "%.5f", (b-a)/hz/(ns/1e9)}')
log "idle: $(awk -v c="$idle_cps" 'BEGIN{printf "%.2f", c*100}')% of a core"

livefield() { sed -n "s/.*\"$2\":\([^,}]*\).*/\1/p" "$1"; }
log "live without rewrites: ${RATE} lines/s for ${LIVE}s"
"$tmp/qwcorpus" live -out "$state" -qw "$BIN" -config "$cfg" -db "$db" -rate "$RATE" -duration "${LIVE}s" -files 10 >"$tmp/live0.json"
q_p50=$(livefield "$tmp/live0.json" p50_ms) q_p99=$(livefield "$tmp/live0.json" p99_ms) q_max=$(livefield "$tmp/live0.json" max_ms)
q_exact=$(livefield "$tmp/live0.json" exact)

log "rewrites only: ${store_mib} MiB every second for ${REWRITE}s"
r0=$(reads); a=$(ticks); t0=$(now_ns)
"$tmp/qwcorpus" rewrite -file "$store" -every 1s -duration "${REWRITE}s" >"$tmp/rw.json"
sleep 1.5 # the last rewrite's read
b=$(ticks); t1=$(now_ns); r1=$(reads)
rewrites=$(livefield "$tmp/rw.json" rewrites)
write_ms=$(livefield "$tmp/rw.json" write_median_ms)
cpu_rw=$(awk -v a="$a" -v b="$b" -v hz="$hz" 'BEGIN{printf "%.3f", (b-a)/hz}')
secs=$(awk -v ns=$((t1 - t0)) 'BEGIN{printf "%.2f", ns/1e9}')
per_rw=$(awk -v c="$cpu_rw" -v i="$idle_cps" -v s="$secs" -v n="$rewrites" 'BEGIN{printf "%.3f", (c - i*s)/n}')
nreads=$((r1 - r0))
took=$(sed -n '/msg="session store read" file='"${store//\//\\/}"'/s/.* took=\([^ ]*\).*/\1/p' "$tmp/run.log" | tail -n "+$((r0 + 1))" |
	awk '{v=$1; if (v ~ /ms$/) {sub(/ms$/,"",v); v=v/1000} else if (v ~ /µs$/) {sub(/µs$/,"",v); v=v/1e6} else {sub(/s$/,"",v)}; print v*1000}' | median)
[ "$nreads" = 0 ] && { nreads="-"; took="-"; } # a build without the debug line
log "rewrites: ${rewrites} in ${secs}s, run CPU ${cpu_rw}s → ${per_rw} CPU-s per rewrite; ${nreads} reads, median ${took} ms"

log "live with rewrites: ${RATE} lines/s for ${LIVE}s while the store is rewritten every second"
"$tmp/qwcorpus" rewrite -file "$store" -every 1s -duration "$((LIVE + 5))s" >"$tmp/rw2.json" &
bgpids+=($!)
sleep 1
"$tmp/qwcorpus" live -out "$state" -qw "$BIN" -config "$cfg" -db "$db" -rate "$RATE" -duration "${LIVE}s" -files 10 -prefix w >"$tmp/live1.json"
wait "${bgpids[@]}" 2>/dev/null || true
bgpids=()
w_p50=$(livefield "$tmp/live1.json" p50_ms) w_p99=$(livefield "$tmp/live1.json" p99_ms) w_max=$(livefield "$tmp/live1.json" max_ms)
w_exact=$(livefield "$tmp/live1.json" exact)
sleep 2
run_rss=$(awk '/VmRSS/{printf "%.1f", $2/1024}' "/proc/$runpid/status")
run_hwm=$(awk '/VmHWM/{printf "%.1f", $2/1024}' "/proc/$runpid/status")
kill "$runpid"
wait "$runpid" 2>/dev/null || true
runpid=""
"$BIN" --config "$cfg" --db "$db" --log-level error usage --format json --month "$MONTH" >"$tmp/usage.json"

verdict() { if awk "BEGIN{exit !($1)}"; then echo met; else echo MISSED; fi; }
cat <<EOF

quotawatch sessions.json benchmark — $(date -u +%Y-%m-%dT%H:%MZ), commit ${commit}, $(nproc) cores, load $(load)
corpus: ${SIZE} MiB of transcripts in ${FILES} files, ${AGENTS} agents, seed ${SEED}; $(basename "$(dirname "$(dirname "$store")")")'s sessions.json padded to ${store_mib} MiB, ${ENTRIES} sessions
totals vs expected.json after each backfill: exact; live follow exact: ${q_exact} (quiet), ${w_exact} (rewrites)

| measure | result | target | verdict |
|---|---|---|---|
| backfill, small sessions.json: wall / CPU s / peak RSS MiB | ${small_wall} / ${small_cpu} / ${small_rss} | - | - |
| backfill, ${store_mib} MiB sessions.json: wall / CPU s / peak RSS MiB | ${big_wall} / ${big_cpu} / ${big_rss} | - | - |
| run CPU per rewrite of ${store_mib} MiB (${rewrites} rewrites, 1/s, idle subtracted) | ${per_rw} CPU-s | ≤ 0.3 | $(verdict "$per_rw <= 0.3") |
| store reads during the rewrites / median read time | ${nreads} / ${took} ms | ≤ 1/s | - |
| run RSS at the end (peak over the whole run) | ${run_rss} (${run_hwm}) MiB | ≤ 64 | $(verdict "$run_hwm <= 64") |
| live append → usage p50 / p99 / max, no rewrites | ${q_p50} / ${q_p99} / ${q_max} ms | - | - |
| live append → usage p50 / p99 / max, rewrites every 1 s | ${w_p50} / ${w_p99} / ${w_max} ms | unchanged | - |
| idle CPU of run | $(awk -v c="$idle_cps" 'BEGIN{printf "%.2f", c*100}') % of a core | - | - |
| rewriter: median time to write + rename the file | ${write_ms} ms | - | - |
EOF

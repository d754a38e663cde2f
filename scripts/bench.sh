#!/usr/bin/env bash
# Whole-binary benchmark for quotawatch (issue 3; results: docs/BENCHMARKS.md).
#
#   scripts/bench.sh                  # or: make bench-binary
#   BENCH_CCUSAGE=1 scripts/bench.sh  # also install and time ccusage on the same corpus
#
# On a generated Clawdbot corpus (default 300 MiB in 10,000 files) it measures:
#   backfill     quotawatch backfill into a fresh database: wall, CPU, peak RSS (/usr/bin/time -v)
#   restart      quotawatch run over the already-ingested directory until it logs "caught up"
#   live         append → visible in `usage --format json`, p50/p99, at BENCH_RATE lines/s
#   idle         CPU of quotawatch run following the quiet corpus, from /proc/<pid>/stat
#   usage        `quotawatch usage --format json` on this corpus, and the Go benchmark at 5M events
#   ccusage      ccusage openclaw monthly --json --offline on the same directory (BENCH_CCUSAGE=1)
# and prints one table. Every run also checks quotawatch's totals against the
# generator's expected.json. Nothing is asserted about timings.
#
# Knobs (environment): BENCH_SIZE_MB=300 BENCH_FILES=10000 BENCH_AGENTS=4 BENCH_SEED=1
# BENCH_MONTH=2026-11 BENCH_RUNS=3 (backfill/ccusage/restart repetitions; the median is reported)
# BENCH_RATE=100 BENCH_LIVE_SECS=20 BENCH_IDLE_SECS=30 BENCH_USAGE5M=1 BENCH_CCUSAGE=0
# BENCH_KEEP=0 (keep the temporary directory) BENCH_COMMIT (label, default git HEAD) BIN=bin/quotawatch GO=go
set -euo pipefail
cd "$(dirname "$0")/.."

GO=${GO:-go}
# Without BIN, the binary is built from this tree first: a bin/quotawatch left
# from an older commit would otherwise be measured under this commit's name.
if [ -z "${BIN:-}" ]; then
	CGO_ENABLED=0 "${GO:-go}" build -trimpath -o bin/quotawatch ./cmd/quotawatch
fi
BIN=${BIN:-bin/quotawatch}
SIZE=${BENCH_SIZE_MB:-300}
FILES=${BENCH_FILES:-10000}
AGENTS=${BENCH_AGENTS:-4}
SEED=${BENCH_SEED:-1}
MONTH=${BENCH_MONTH:-2026-11}
RUNS=${BENCH_RUNS:-3}
RATE=${BENCH_RATE:-100}
LIVE=${BENCH_LIVE_SECS:-20}
IDLE=${BENCH_IDLE_SECS:-30}
USAGE5M=${BENCH_USAGE5M:-1}
CCUSAGE=${BENCH_CCUSAGE:-0}
CCUSAGE_VERSION=20.0.24

commit=${BENCH_COMMIT:-$(git rev-parse --short HEAD 2>/dev/null || echo unknown)$(git diff --quiet HEAD 2>/dev/null || echo ' (dirty tree)')}
log() { printf '%s bench: %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }
die() { log "$*"; exit 1; }

# GNU time (Debian package "time") gives peak RSS.
if ! /usr/bin/time -v true >/dev/null 2>&1; then
	log "installing GNU time (Debian package time)"
	if [ "$(id -u)" = 0 ]; then apt-get install -y -qq time >/dev/null; else sudo apt-get install -y -qq time >/dev/null; fi
fi

tmp=$(mktemp -d "${TMPDIR:-/tmp}/qwbench.XXXXXX")
runpid=""
cleanup() {
	if [ -n "$runpid" ] && kill -0 "$runpid" 2>/dev/null; then kill "$runpid"; wait "$runpid" 2>/dev/null || true; fi
	if [ "${BENCH_KEEP:-0}" = 1 ]; then log "kept $tmp"; else rm -rf "$tmp"; fi
}
trap cleanup EXIT

load() { cut -d' ' -f1-3 /proc/loadavg; }
median() { sort -n | awk '{a[NR]=$1} END{if (NR==0) print "nan"; else if (NR%2) print a[(NR+1)/2]; else print (a[NR/2]+a[NR/2+1])/2}'; }
max() { sort -n | tail -1; }
ms() { awk -v a="$1" -v b="$2" 'BEGIN{printf "%.0f", (b-a)/1e6}'; }
now_ns() { date +%s%N; }

# timev FILE: wall seconds, user+sys seconds and peak RSS MiB from /usr/bin/time -v output.
timev() {
	awk -F': ' '
		/Elapsed \(wall clock\)/ { n=split($2, p, ":"); w=0; for (i=1; i<=n; i++) w=w*60+p[i] }
		/User time/ { u=$2 } /System time/ { s=$2 }
		/Maximum resident set size/ { r=$2/1024 }
		END { printf "%.2f %.2f %.1f\n", w, u+s, r }' "$1"
}

log "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(awk '/MemTotal/{printf "%.1f GiB", $2/1048576}' /proc/meminfo); load $(load)"
log "commit $commit"

[ -x "$BIN" ] || { log "building $BIN"; CGO_ENABLED=0 $GO build -trimpath -o "$BIN" ./cmd/quotawatch; }
$GO build -o "$tmp/qwcorpus" ./cmd/qwcorpus

state=$tmp/state
log "generating ${SIZE} MiB in ${FILES} files (seed $SEED)"
t0=$(now_ns)
"$tmp/qwcorpus" -out "$state" -size "$SIZE" -files "$FILES" -agents "$AGENTS" -seed "$SEED" -month "$MONTH" 2>"$tmp/gen.log"
gen_ms=$(ms "$t0" "$(now_ns)")
cat "$tmp/gen.log" >&2
cfg=$state/quotawatch.yaml
db=$tmp/qw.db
qw() { "$BIN" --config "$cfg" --db "$db" "$@"; }
read -r calls bytes < <(python3 -c 'import json,sys; e=json.load(open(sys.argv[1])); print(e["calls"], e["bytes"])' "$state/expected.json" 2>/dev/null ||
	awk -F'[:,]' '/"calls"/{c=$2} /"bytes"/{b=$2} END{print c+0, b+0}' "$state/expected.json")

# Both tools read a warm page cache: read everything once first.
find "$state/agents" -type f -exec cat {} + >/dev/null

# --- backfill -------------------------------------------------------------------------------
: >"$tmp/bf.all"
for i in $(seq 1 "$RUNS"); do
	rm -f "$db" "$db-wal" "$db-shm"
	/usr/bin/time -v -o "$tmp/bf.time" "$BIN" --config "$cfg" --db "$db" --log-level warn backfill --no-progress --format json "$state" >"$tmp/bf.json"
	read -r w c r < <(timev "$tmp/bf.time")
	echo "$w $c $r" >>"$tmp/bf.all"
	log "backfill run $i: wall ${w}s, cpu ${c}s, peak RSS ${r} MiB (load $(load))"
done
bf_wall=$(cut -d' ' -f1 "$tmp/bf.all" | median)
bf_cpu=$(cut -d' ' -f2 "$tmp/bf.all" | median)
bf_rss=$(cut -d' ' -f3 "$tmp/bf.all" | max)
new_events=$(awk -F': ' '/"new_events"/{gsub(/[ ,]/, "", $2); print $2}' "$tmp/bf.json")
[ "$new_events" = "$calls" ] || die "backfill stored $new_events events, expected.json says $calls"
ev_s=$(awk -v e="$new_events" -v w="$bf_wall" 'BEGIN{printf "%.0f", e/w}')
mb_s=$(awk -v b="$bytes" -v w="$bf_wall" 'BEGIN{printf "%.0f", b/1048576/w}')

qw usage --format json --month "$MONTH" >"$tmp/usage.json"
"$tmp/qwcorpus" check -out "$state" "$tmp/usage.json" || die "usage differs from expected.json"
correct="exact ($new_events events)"

# usage on this database, whole binary (process start included)
: >"$tmp/usage.ms"
for _ in $(seq 1 10); do
	t0=$(now_ns); qw --log-level error usage --format json --month "$MONTH" >/dev/null; ms "$t0" "$(now_ns)" >>"$tmp/usage.ms"; echo >>"$tmp/usage.ms"
done
usage_ms=$(grep . "$tmp/usage.ms" | median)

# --- restart ------------------------------------------------------------------------------
# start_run: launches quotawatch run and waits for "caught up; following"; sets runpid, caught_ms.
start_run() {
	: >"$tmp/run.log"
	local t0 t1
	t0=$(now_ns)
	"$BIN" --config "$cfg" --db "$db" --log-level info run 2>>"$tmp/run.log" &
	runpid=$!
	for _ in $(seq 1 6000); do
		grep -q 'caught up; following' "$tmp/run.log" && break
		kill -0 "$runpid" 2>/dev/null || { cat "$tmp/run.log" >&2; die "quotawatch run exited"; }
		sleep 0.005
	done
	grep -q 'caught up; following' "$tmp/run.log" || die "quotawatch run never caught up"
	t1=$(now_ns)
	# The log line's own timestamp is more precise than our polling.
	local stamp
	stamp=$(grep -m1 'caught up; following' "$tmp/run.log" | sed -n 's/^time=\([^ ]*\).*/\1/p')
	if [ -n "$stamp" ] && t1=$(date -d "$stamp" +%s%N 2>/dev/null); then :; fi
	caught_ms=$(ms "$t0" "$t1")
}
stop_run() { kill "$runpid"; wait "$runpid" 2>/dev/null || true; runpid=""; }

: >"$tmp/restart.ms"
for i in $(seq 1 "$RUNS"); do
	start_run
	echo "$caught_ms" >>"$tmp/restart.ms"
	log "restart run $i: caught up in ${caught_ms} ms"
	stop_run
done
restart_ms=$(median <"$tmp/restart.ms")

# --- live follow and idle -----------------------------------------------------------------
start_run
sleep 1
log "live: appending ${RATE} lines/s for ${LIVE}s"
"$tmp/qwcorpus" live -out "$state" -qw "$BIN" -config "$cfg" -db "$db" -rate "$RATE" -duration "${LIVE}s" -files 10 >"$tmp/live.json"
field() { sed -n "s/.*\"$1\":\([^,}]*\).*/\1/p" "$tmp/live.json"; }
live_p50=$(field p50_ms); live_p99=$(field p99_ms); live_max=$(field max_ms); live_poll=$(field poll_median_ms); live_exact=$(field exact)
log "live: p50 ${live_p50} ms, p99 ${live_p99} ms, max ${live_max} ms (usage poll takes ~${live_poll} ms), exact=${live_exact}"

sleep 5
hz=$(getconf CLK_TCK)
ticks() { awk '{print $14+$15}' "/proc/$runpid/stat"; }
a=$(ticks); t0=$(now_ns)
log "idle: sampling CPU of quotawatch run for ${IDLE}s (load $(load))"
sleep "$IDLE"
b=$(ticks); t1=$(now_ns)
idle_pct=$(awk -v a="$a" -v b="$b" -v hz="$hz" -v ns=$((t1 - t0)) 'BEGIN{printf "%.2f", (b-a)/hz/(ns/1e9)*100}')
run_rss=$(awk '/VmRSS/{printf "%.1f", $2/1024}' "/proc/$runpid/status")
run_hwm=$(awk '/VmHWM/{printf "%.1f", $2/1024}' "/proc/$runpid/status")
log "idle: ${idle_pct}% of one core; RSS ${run_rss} MiB (peak ${run_hwm} MiB)"
stop_run

# --- usage at 5M events (Go benchmark; builds its own database) ---------------------------
usage5m="not run"; usage5m_cold="not run"
if [ "$USAGE5M" = 1 ]; then
	log "usage over 5M stored events (go test -bench; fills a database first, ~1-2 min)"
	$GO test -run '^$' -bench 'BenchmarkUsage/events=5M' -benchtime 200x ./store >"$tmp/usage5m.txt" 2>&1 || { cat "$tmp/usage5m.txt" >&2; die "usage benchmark failed"; }
	usage5m=$(awk '/events=5M-/{printf "%.3f", $3/1e6}' "$tmp/usage5m.txt")
	usage5m_cold=$(awk '/events=5M\/cold-open/{printf "%.3f", $3/1e6}' "$tmp/usage5m.txt")
fi

# --- ccusage ------------------------------------------------------------------------------
cc_wall="-"; cc_cpu="-"; cc_rss="-"
if [ "$CCUSAGE" = 1 ]; then
	log "installing ccusage@$CCUSAGE_VERSION into $tmp/ccusage"
	npm install --silent --no-audit --no-fund --prefix "$tmp/ccusage" "ccusage@$CCUSAGE_VERSION" "@ccusage/ccusage-linux-x64@$CCUSAGE_VERSION" >/dev/null
	cc=$tmp/ccusage/node_modules/.bin/ccusage
	flag=--open-claw-path
	"$cc" openclaw monthly --help 2>&1 | grep -q -- "$flag" || die "ccusage openclaw monthly has no $flag; check its --help"
	: >"$tmp/cc.all"
	for i in $(seq 1 "$RUNS"); do
		/usr/bin/time -v -o "$tmp/cc.time" "$cc" openclaw monthly --json --offline "$flag" "$state" >"$tmp/cc.json"
		read -r w c r < <(timev "$tmp/cc.time")
		echo "$w $c $r" >>"$tmp/cc.all"
		log "ccusage run $i: wall ${w}s, cpu ${c}s, peak RSS ${r} MiB (load $(load))"
	done
	cc_wall=$(cut -d' ' -f1 "$tmp/cc.all" | median)
	cc_cpu=$(cut -d' ' -f2 "$tmp/cc.all" | median)
	cc_rss=$(cut -d' ' -f3 "$tmp/cc.all" | max)
fi

# --- table --------------------------------------------------------------------------------
verdict() { if awk "BEGIN{exit !($1)}"; then echo met; else echo MISSED; fi; }
if [ "$cc_wall" != "-" ]; then
	bf_target="≤ ccusage (${cc_wall} s); aim ≤ $(awk -v c="$cc_wall" 'BEGIN{printf "%.2f", c/2}') s"
	bf_ok="$(verdict "$bf_wall <= $cc_wall")$(awk -v b="$bf_wall" -v c="$cc_wall" 'BEGIN{if (b <= c/2) printf " (half: yes)"; else printf " (half: no)"}')"
else
	bf_target="≤ ccusage (not run)"; bf_ok="-"
fi
cat <<EOF

quotawatch benchmark — $(date -u +%Y-%m-%dT%H:%MZ), commit ${commit}, $(nproc) cores, load $(load)
corpus: ${SIZE} MiB, ${FILES} files, ${AGENTS} agents, seed ${SEED}: ${calls} calls (generated in ${gen_ms} ms); page cache warm
quotawatch totals vs expected.json: ${correct}; live follow exact: ${live_exact}

| measure | quotawatch | ccusage ${CCUSAGE_VERSION} | target | result |
|---|---|---|---|---|
| backfill wall, s (median of ${RUNS}) | ${bf_wall} | ${cc_wall} | ${bf_target} | ${bf_ok} |
| backfill CPU user+sys, s | ${bf_cpu} | ${cc_cpu} | - | - |
| backfill peak RSS, MiB (max of ${RUNS}) | ${bf_rss} | ${cc_rss} | < 50 | $(verdict "$bf_rss < 50") |
| backfill throughput | ${ev_s} events/s, ${mb_s} MiB/s | - | ≥ 100k events/s | $(verdict "$ev_s >= 100000") |
| restart of run, caught up, ms (median of ${RUNS}) | ${restart_ms} | - | < 1000 | $(verdict "$restart_ms < 1000") |
| live append → usage, p50 / p99 / max, ms | ${live_p50} / ${live_p99} / ${live_max} | - | p99 < 1000 at ${RATE} lines/s | $(verdict "$live_p99 < 1000") |
| idle CPU, ${FILES} quiet files, % of a core (${IDLE} s) | ${idle_pct} | - | < 0.5 | $(verdict "$idle_pct < 0.5") |
| run RSS after live test, MiB (peak) | ${run_rss} (${run_hwm}) | - | - | - |
| usage --format json, this corpus, ms (process) | ${usage_ms} | - | - | - |
| usage query, 5M events, ms (Go bench; cold open+query) | ${usage5m} (${usage5m_cold}) | - | < 50 | $( [ "$usage5m" = "not run" ] && echo - || verdict "$usage5m_cold < 50") |

(live latency is measured by polling \`usage --format json\`, ~${live_poll} ms per poll, so it includes up to one poll.)
EOF

#!/usr/bin/env bash
# Whole-binary benchmark of the OpenClaw SQLite source beside ccusage (issue 8; results:
# docs/BENCHMARKS.md, section "OpenClaw state directories").
#
#   scripts/bench-openclaw.sh                 # or: make bench-openclaw (part of make bench)
#   BENCH_OC_SIZES="20 50" BENCH_OC_CCUSAGE=0 scripts/bench-openclaw.sh   # quicker, without ccusage
#
# In one run, on generated OpenClaw states (qwcorpus -kind openclaw, ~30 % of replies stored
# zstd-compressed, windows, archives) it measures:
#   backfill   quotawatch backfill into a fresh database per size: wall, CPU, peak RSS
#              (/usr/bin/time -v), events/s; totals checked with `qwcorpus check`
#   jsonl      the same on a Clawdbot JSONL corpus of the largest size (the events/s baseline),
#              in turns with the largest state: the ratio is judged on the median of the turns
#   ccusage    ccusage openclaw monthly --json --offline --open-claw-path DIR on the same
#              states (stopped at BENCH_OC_CC_TIMEOUT), and what its totals miss
#   live       qwcorpus live -kind openclaw (its own WAL writer: turns, resets, compactions,
#              deletes) while quotawatch run follows: p50/p99/max of commit → counted,
#              SQLITE_BUSY, the writer's largest -wal file
#   wal        the same writer on a copy of the same state with no quotawatch running: the
#              largest -wal file without quotawatch
#   idle       CPU of quotawatch run following a quiet state of 10 agent databases
#              (/proc/<pid>/stat over BENCH_OC_IDLE_SECS)
# and prints one table. It fails only if quotawatch's totals are not exact; nothing is
# asserted about timings.
#
# Knobs (environment): BENCH_OC_SIZES="20 50 300" BENCH_OC_COMPRESSED=0.30 BENCH_SEED=1
# BENCH_MONTH=2026-11 BENCH_RUNS=3 (backfill repetitions; median wall, max RSS)
# BENCH_OC_CCUSAGE=1 BENCH_OC_CC_TIMEOUT=600 (seconds) BENCH_RATE=100 BENCH_LIVE_SECS=20
# BENCH_OC_IDLE_SECS=60 BENCH_OC_IDLE_AGENTS=10 BENCH_KEEP=0 BENCH_COMMIT (label)
# BIN=bin/quotawatch GO=go
# BENCH_OC_BASE=path/to/an/older/quotawatch: also backfill the largest state with it, runs
# interleaved with BIN's, for a before/after of the same states at the same load
set -euo pipefail
cd "$(dirname "$0")/.."

GO=${GO:-go}
# Without BIN, the binary is built from this tree first: a bin/quotawatch left
# from an older commit would otherwise be measured under this commit's name.
if [ -z "${BIN:-}" ]; then
	CGO_ENABLED=0 "${GO:-go}" build -trimpath -o bin/quotawatch ./cmd/quotawatch
fi
BIN=${BIN:-bin/quotawatch}
SIZES=${BENCH_OC_SIZES:-20 50 300}
SHARE=${BENCH_OC_COMPRESSED:-0.30}
SEED=${BENCH_SEED:-1}
MONTH=${BENCH_MONTH:-2026-11}
RUNS=${BENCH_RUNS:-3}
CCUSAGE=${BENCH_OC_CCUSAGE:-1}
CC_TIMEOUT=${BENCH_OC_CC_TIMEOUT:-600}
RATE=${BENCH_RATE:-100}
LIVE=${BENCH_LIVE_SECS:-20}
IDLE=${BENCH_OC_IDLE_SECS:-60}
IDLE_AGENTS=${BENCH_OC_IDLE_AGENTS:-10}
BASE=${BENCH_OC_BASE:-}
CCUSAGE_VERSION=20.0.24

commit=${BENCH_COMMIT:-$(git rev-parse --short HEAD 2>/dev/null || echo unknown)$(git diff --quiet HEAD 2>/dev/null || echo ' (dirty tree)')}
log() { printf '%s bench-openclaw: %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }
die() { log "$*"; exit 1; }

if ! /usr/bin/time -v true >/dev/null 2>&1; then
	log "installing GNU time (Debian package time)"
	if [ "$(id -u)" = 0 ]; then apt-get install -y -qq time >/dev/null; else sudo apt-get install -y -qq time >/dev/null; fi
fi
command -v python3 >/dev/null || die "python3 is needed to compare ccusage's totals"

tmp=$(mktemp -d "${TMPDIR:-/tmp}/qwopenclaw.XXXXXX")
runpid=""
cleanup() {
	if [ -n "$runpid" ] && kill -0 "$runpid" 2>/dev/null; then kill "$runpid"; wait "$runpid" 2>/dev/null || true; fi
	if [ "${BENCH_KEEP:-0}" = 1 ]; then log "kept $tmp"; else rm -rf "$tmp"; fi
}
trap cleanup EXIT

load() { cut -d' ' -f1-3 /proc/loadavg; }
median() { sort -n | awk '{a[NR]=$1} END{if (NR==0) print "nan"; else if (NR%2) print a[(NR+1)/2]; else print (a[NR/2]+a[NR/2+1])/2}'; }
max() { sort -n | tail -1; }
now_ns() { date +%s%N; }
# timev FILE: wall seconds, user+sys seconds and peak RSS MiB from /usr/bin/time -v output.
timev() {
	awk -F': ' '
		/Elapsed \(wall clock\)/ { n=split($2, p, ":"); w=0; for (i=1; i<=n; i++) w=w*60+p[i] }
		/User time/ { u=$2 } /System time/ { s=$2 }
		/Maximum resident set size/ { r=$2/1024 }
		END { printf "%.2f %.2f %.1f\n", w, u+s, r }' "$1"
}
jfield() { sed -n "s/.*\"$2\": *\([^,}]*\).*/\1/p" "$1" | head -1; }
hz=$(getconf CLK_TCK)

log "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(awk '/MemTotal/{printf "%.1f GiB", $2/1048576}' /proc/meminfo); load $(load)"
log "commit $commit, binary $BIN"
[ -x "$BIN" ] || { log "building $BIN"; CGO_ENABLED=0 $GO build -trimpath -o "$BIN" ./cmd/quotawatch; }
$GO build -o "$tmp/qwcorpus" ./cmd/qwcorpus

if [ "$CCUSAGE" = 1 ]; then
	log "installing ccusage@$CCUSAGE_VERSION into $tmp/ccusage"
	npm install --silent --no-audit --no-fund --prefix "$tmp/ccusage" "ccusage@$CCUSAGE_VERSION" "@ccusage/ccusage-linux-x64@$CCUSAGE_VERSION" >/dev/null
	cc=$tmp/ccusage/node_modules/.bin/ccusage
	cchelp=$("$cc" openclaw monthly --help 2>&1) # not piped into grep -q: with pipefail its SIGPIPE fails the check
	grep -q -- --open-claw-path <<<"$cchelp" || die "ccusage openclaw monthly has no --open-claw-path; check its --help"
fi

# backfill STATE DB LABEL: RUNS backfills into fresh databases, then the totals are checked.
# Prints "wall cpu rss events new_events" (median wall and CPU, max RSS).
backfill() {
	local state=$1 db=$2 label=$3 bin=${4:-$BIN} i w c r
	: >"$tmp/bf.all"
	for i in $(seq 1 "$RUNS"); do
		rm -f "$db" "$db-wal" "$db-shm"
		/usr/bin/time -v -o "$tmp/bf.time" "$bin" --config "$state/quotawatch.yaml" --db "$db" --log-level warn \
			backfill --no-progress --format json "$state" >"$tmp/bf.json" 2>"$tmp/bf.err" ||
			{ cat "$tmp/bf.err" >&2; die "backfill of $label failed"; }
		read -r w c r < <(timev "$tmp/bf.time")
		echo "$w $c $r" >>"$tmp/bf.all"
		log "backfill $label run $i: wall ${w}s, cpu ${c}s, peak RSS ${r} MiB (load $(load))"
	done
	cp "$tmp/bf.json" "$tmp/bf-$label.json"
	"$bin" --config "$state/quotawatch.yaml" --db "$db" --log-level error usage --format json --month "$MONTH" >"$tmp/usage-$label.json"
	"$tmp/qwcorpus" check -out "$state" "$tmp/usage-$label.json" >&2 || die "usage differs from expected.json after backfill of $label"
	echo "$(cut -d' ' -f1 "$tmp/bf.all" | median) $(cut -d' ' -f2 "$tmp/bf.all" | median) $(cut -d' ' -f3 "$tmp/bf.all" | max) $(jfield "$tmp/bf.json" events) $(jfield "$tmp/bf.json" new_events)"
}

# ccmiss STATE CCJSON: what ccusage's totals miss against expected.json, all customers summed.
ccmiss() {
	python3 - "$1/expected.json" "$2" <<'EOF'
import json, sys
exp = json.load(open(sys.argv[1]))["totals"].values()
cc = json.load(open(sys.argv[2]))["totals"]
pairs = [("input", "input_tokens", "inputTokens"), ("output", "output_tokens", "outputTokens"),
         ("cacheRead", "cache_read_tokens", "cacheReadTokens"), ("cacheWrite", "cache_write_tokens", "cacheCreationTokens"),
         ("cost", "cost_usd", "totalCost")]
out = []
for name, e, c in pairs:
    want = sum(t[e] for t in exp)
    got = cc.get(c, 0)
    out.append("%s %.1f%%" % (name, 100.0 * (want - got) / want if want else 0))
print("missing: " + ", ".join(out))
EOF
}

# --- generate ------------------------------------------------------------------------------
largest=0
for s in $SIZES; do
	[ "$s" -gt "$largest" ] && largest=$s
	log "generating an OpenClaw state of ${s} MiB of events, compressed share ${SHARE} (seed $SEED)"
	t0=$(now_ns)
	"$tmp/qwcorpus" -kind openclaw -out "$tmp/oc$s" -size "$s" -compressed "$SHARE" -seed "$SEED" -month "$MONTH" 2>"$tmp/gen$s.log" ||
		{ cat "$tmp/gen$s.log" >&2; die "generate $s"; }
	sed 's/^/  /' "$tmp/gen$s.log" >&2
	log "  generated in $((($(now_ns) - t0) / 1000000)) ms; $(du -sm "$tmp/oc$s" | cut -f1) MiB on disk"
done
log "generating a Clawdbot JSONL corpus of ${largest} MiB (the events/s baseline)"
"$tmp/qwcorpus" -out "$tmp/jsonl" -size "$largest" -seed "$SEED" -month "$MONTH" 2>&1 | sed 's/^/  /' >&2
log "generating a quiet OpenClaw state of ${IDLE_AGENTS} agents (idle CPU)"
"$tmp/qwcorpus" -kind openclaw -out "$tmp/idle" -size 5 -agents "$IDLE_AGENTS" -compressed "$SHARE" -seed "$SEED" -month "$MONTH" 2>&1 | sed 's/^/  /' >&2
first=${SIZES%% *}
cp -a "$tmp/oc$first" "$tmp/walbase" # the WAL baseline writes to an untouched copy
for d in "$tmp"/oc* "$tmp/jsonl" "$tmp/idle"; do find "$d" -type f -exec cat {} + >/dev/null; done # warm page cache

# --- backfill ------------------------------------------------------------------------------
declare -A R
abrow() { echo "$(cut -d' ' -f1 "$1" | median) $(cut -d' ' -f2 "$1" | median) $(cut -d' ' -f3 "$1" | max) $(head -1 "$1" | cut -d' ' -f4-5)"; }
for s in $SIZES; do
	[ "$s" = "$largest" ] && continue
	R[$s]=$(backfill "$tmp/oc$s" "$tmp/qw$s.db" "openclaw-$s")
	log "openclaw $s MiB: ${R[$s]} (wall cpu rss events new)"
done
# The largest state and the JSONL corpus of its size are backfilled in turns: their events/s
# ratio is a target, and this host's speed drifts by tens of percent within minutes, which
# RUNS of one then RUNS of the other would put into the ratio. Each turn gives a ratio; the
# target is judged on their median.
: >"$tmp/turns.oc" && : >"$tmp/turns.jl"
for i in $(seq 1 "$RUNS"); do
	RUNS=1 backfill "$tmp/oc$largest" "$tmp/qw$largest.db" "openclaw-$largest" >>"$tmp/turns.oc"
	RUNS=1 backfill "$tmp/jsonl" "$tmp/qwjsonl.db" "jsonl-$largest" >>"$tmp/turns.jl"
done
R[$largest]=$(abrow "$tmp/turns.oc") R[jsonl]=$(abrow "$tmp/turns.jl")
turns=$(paste -d' ' "$tmp/turns.oc" "$tmp/turns.jl" | awk '{printf "%.2f\n", ($4/$1)/($9/$6)}')
turn_ratio=$(median <<<"$turns")
log "openclaw $largest MiB: ${R[$largest]}; jsonl $largest MiB: ${R[jsonl]}; events/s ratio per turn: $(echo $turns) (median $turn_ratio)"
if [ -n "$BASE" ]; then
	# Before/after at the same load: BIN and BASE in turns, RUNS backfills each.
	: >"$tmp/ab.new" && : >"$tmp/ab.base"
	for i in $(seq 1 "$RUNS"); do
		RUNS=1 backfill "$tmp/oc$largest" "$tmp/qwab.db" "ab-new" >>"$tmp/ab.new"
		RUNS=1 backfill "$tmp/oc$largest" "$tmp/qwab.db" "ab-base" "$BASE" >>"$tmp/ab.base"
	done
	R[abnew]=$(abrow "$tmp/ab.new") R[abbase]=$(abrow "$tmp/ab.base")
	log "before/after on openclaw $largest MiB: $BASE ${R[abbase]}; $BIN ${R[abnew]}"
fi

# --- ccusage -------------------------------------------------------------------------------
declare -A C M
for s in $SIZES; do
	C[$s]="- - -" M[$s]="-"
	[ "$CCUSAGE" = 1 ] || continue
	log "ccusage on openclaw $s MiB (timeout ${CC_TIMEOUT}s)"
	rc=0
	/usr/bin/time -v -o "$tmp/cc.time" timeout "$CC_TIMEOUT" "$cc" openclaw monthly --json --offline --open-claw-path "$tmp/oc$s" \
		>"$tmp/cc$s.json" 2>"$tmp/cc$s.err" || rc=$?
	read -r w c r < <(timev "$tmp/cc.time")
	if [ "$rc" = 124 ]; then
		C[$s]=">${CC_TIMEOUT}(stopped) $c $r" M[$s]="not known (stopped at ${CC_TIMEOUT} s)"
	elif [ "$rc" != 0 ]; then
		head -5 "$tmp/cc$s.err" >&2
		C[$s]="failed(rc=$rc) $c $r" M[$s]="-"
	else
		C[$s]="$w $c $r" M[$s]=$(ccmiss "$tmp/oc$s" "$tmp/cc$s.json")
	fi
	log "ccusage $s MiB: wall/cpu/rss ${C[$s]}; ${M[$s]} (load $(load))"
done

# --- live ----------------------------------------------------------------------------------
# startrun STATE DB: quotawatch run in the background until it logs "caught up".
startrun() {
	: >"$tmp/run.log"
	"$BIN" --config "$1/quotawatch.yaml" --db "$2" --log-level info run 2>>"$tmp/run.log" &
	runpid=$!
	for _ in $(seq 1 6000); do
		grep -q 'caught up; following' "$tmp/run.log" && return 0
		kill -0 "$runpid" 2>/dev/null || { cat "$tmp/run.log" >&2; die "quotawatch run exited"; }
		sleep 0.01
	done
	die "quotawatch run never caught up"
}
stoprun() { kill "$runpid"; wait "$runpid" 2>/dev/null || true; runpid=""; }

log "live: quotawatch run follows openclaw-$first; the writer commits ${RATE} calls/s for ${LIVE}s"
startrun "$tmp/oc$first" "$tmp/qw$first.db"
sleep 1
"$tmp/qwcorpus" live -kind openclaw -out "$tmp/oc$first" -qw "$BIN" -config "$tmp/oc$first/quotawatch.yaml" -db "$tmp/qw$first.db" \
	-rate "$RATE" -duration "${LIVE}s" -seed "$((SEED + 100))" >"$tmp/live.json" || die "live follow not exact: $(cat "$tmp/live.json")"
stoprun
cat "$tmp/live.json" >&2
l_p50=$(jfield "$tmp/live.json" p50_ms) l_p99=$(jfield "$tmp/live.json" p99_ms) l_max=$(jfield "$tmp/live.json" max_ms)
l_turns=$(jfield "$tmp/live.json" turns) l_busy=$(jfield "$tmp/live.json" sqlite_busy) l_exact=$(jfield "$tmp/live.json" exact)
l_wal=$(jfield "$tmp/live.json" max_wal_bytes) l_poll=$(jfield "$tmp/live.json" poll_median_ms)
l_comp=$(jfield "$tmp/live.json" compactions) l_del=$(jfield "$tmp/live.json" deletes) l_win=$(jfield "$tmp/live.json" new_windows)

log "wal baseline: the same writer on an untouched copy, no quotawatch run (it waits ${LIVE}s + 30s for calls nobody counts)"
# The writer polls usage from a quotawatch database, so one must exist; nothing follows it.
"$BIN" --config "$tmp/walbase/quotawatch.yaml" --db "$tmp/walbase.db" --log-level warn backfill --no-progress "$tmp/walbase" >/dev/null
"$tmp/qwcorpus" live -kind openclaw -out "$tmp/walbase" -qw "$BIN" -config "$tmp/walbase/quotawatch.yaml" -db "$tmp/walbase.db" \
	-rate "$RATE" -duration "${LIVE}s" -seed "$((SEED + 100))" >"$tmp/walbase.json" 2>/dev/null || true # not exact, by design
b_wal=$(jfield "$tmp/walbase.json" max_wal_bytes) b_busy=$(jfield "$tmp/walbase.json" sqlite_busy)
[ -n "$b_wal" ] || die "wal baseline printed nothing"

# --- idle ----------------------------------------------------------------------------------
log "idle: quotawatch run following ${IDLE_AGENTS} quiet agent databases for ${IDLE}s"
"$BIN" --config "$tmp/idle/quotawatch.yaml" --db "$tmp/qwidle.db" --log-level warn backfill --no-progress "$tmp/idle" >/dev/null
startrun "$tmp/idle" "$tmp/qwidle.db"
ndb=$(ls /proc/"$runpid"/fd -l 2>/dev/null | grep -c 'openclaw-agent.*sqlite$' || true)
sleep 5
ticks() { awk '{print $14+$15}' "/proc/$runpid/stat"; }
a=$(ticks); t0=$(now_ns)
sleep "$IDLE"
b=$(ticks); t1=$(now_ns)
idle_pct=$(awk -v a="$a" -v b="$b" -v hz="$hz" -v ns=$((t1 - t0)) 'BEGIN{printf "%.2f", 100*(b-a)/hz/(ns/1e9)}')
idle_rss=$(awk '/VmRSS/{printf "%.1f", $2/1024}' "/proc/$runpid/status")
stoprun
log "idle: ${idle_pct} % of a core ($((b - a)) ticks at ${hz} Hz), ${ndb} agent database files open, RSS ${idle_rss} MiB"

# --- table ---------------------------------------------------------------------------------
verdict() { if awk "BEGIN{exit !($1)}"; then echo met; else echo MISSED; fi; }
f() { echo "$1" | cut -d' ' -f"$2"; }
num() { awk -v x="$1" 'BEGIN{exit !(x+0 == x && x != "")}'; }
eps() { awk -v e="$1" -v w="$2" 'BEGIN{printf "%.0f", e/w}'; }
jw=$(f "${R[jsonl]}" 1) jev=$(f "${R[jsonl]}" 4)
jeps=$(eps "$jev" "$jw")
cat <<EOF

quotawatch OpenClaw benchmark — $(date -u +%Y-%m-%dT%H:%MZ), commit ${commit}, $(nproc) cores, load $(load)
states: qwcorpus -kind openclaw -compressed ${SHARE} -seed ${SEED}; page cache warm; backfill: median wall of ${RUNS}, max RSS (the ${largest} MiB state and the JSONL corpus in turns)
quotawatch totals vs expected.json: exact for every state and the JSONL corpus; live follow exact: ${l_exact}

| state | quotawatch wall s / CPU s / peak RSS MiB | events (new) | events/s (per CPU-s) | ccusage ${CCUSAGE_VERSION} wall s / CPU s / peak RSS MiB | ours / ccusage wall | ccusage's totals |
|---|---|---|---|---|---|---|
EOF
for s in $SIZES; do
	w=$(f "${R[$s]}" 1) ccw=$(f "${C[$s]}" 1)
	ratio="-"
	num "$ccw" && ratio=$(awk -v a="$w" -v b="$ccw" 'BEGIN{printf "%.4f", a/b}')
	[ "${C[$s]#>}" != "${C[$s]}" ] && ratio="< $(awk -v a="$w" -v b="$CC_TIMEOUT" 'BEGIN{printf "%.4f", a/b}')"
	echo "| OpenClaw ${s} MiB | ${w} / $(f "${R[$s]}" 2) / $(f "${R[$s]}" 3) | $(f "${R[$s]}" 4) ($(f "${R[$s]}" 5)) | $(eps "$(f "${R[$s]}" 4)" "$w") ($(eps "$(f "${R[$s]}" 4)" "$(f "${R[$s]}" 2)")) | ${C[$s]// / \/ } | ${ratio} | ${M[$s]} |"
done
echo "| Clawdbot JSONL ${largest} MiB | ${jw} / $(f "${R[jsonl]}" 2) / $(f "${R[jsonl]}" 3) | ${jev} ($(f "${R[jsonl]}" 5)) | ${jeps} ($(eps "$jev" "$(f "${R[jsonl]}" 2)")) | - | - | - |"
if [ -n "$BASE" ]; then
	for k in abbase abnew; do
		b=$BIN; [ "$k" = abbase ] && b=$BASE
		echo "| OpenClaw ${largest} MiB, ${b} (before/after, in turns) | $(f "${R[$k]}" 1) / $(f "${R[$k]}" 2) / $(f "${R[$k]}" 3) | $(f "${R[$k]}" 4) ($(f "${R[$k]}" 5)) | $(eps "$(f "${R[$k]}" 4)" "$(f "${R[$k]}" 1)") ($(eps "$(f "${R[$k]}" 4)" "$(f "${R[$k]}" 2)")) | - | - | - |"
	done
fi
lw=$(f "${R[$largest]}" 1) lev=$(f "${R[$largest]}" 4)
leps=$(eps "$lev" "$lw")
lcps=$(eps "$lev" "$(f "${R[$largest]}" 2)") jcps=$(eps "$jev" "$(f "${R[jsonl]}" 2)")
rss_max=$(for s in $SIZES; do f "${R[$s]}" 3; done | max)
w50=${R[50]:-} c50=${C[50]:-}
cat <<EOF

| target | measured | result |
|---|---|---|
| 50 MiB: backfill wall ≤ 0.1× ccusage's, exact | $( [ -n "$w50" ] && echo "$(f "$w50" 1) s vs $(f "$c50" 1) s" || echo "not run") | $( [ -n "$w50" ] && num "$(f "$c50" 1)" && verdict "$(f "$w50" 1) <= 0.1 * $(f "$c50" 1)" || echo -) |
| ${largest} MiB: events/s ≥ 0.7× JSONL backfill's, in turns | per turn $(echo $turns | sed 's/ / \/ /g') (median **${turn_ratio}×**); medians ${leps} vs ${jeps} events/s ($(awk -v a="$leps" -v b="$jeps" 'BEGIN{printf "%.2f", a/b}')×; per CPU-s ${lcps} vs ${jcps}, $(awk -v a="$lcps" -v b="$jcps" 'BEGIN{printf "%.2f", a/b}')×) | $(verdict "$turn_ratio >= 0.7") |
| peak RSS ≤ 50 MiB (largest over the OpenClaw states) | ${rss_max} MiB | $(verdict "$rss_max <= 50") |
| live: commit → counted p99 ≤ 200 ms (p50 / p99 / max; ${l_turns} calls at ${RATE}/s, ${l_win} new windows, ${l_comp} compactions, ${l_del} deletes) | ${l_p50} / ${l_p99} / ${l_max} ms | $(verdict "$l_p99 <= 200") |
| live: writer's SQLITE_BUSY with quotawatch following | ${l_busy} (baseline ${b_busy}) | $(verdict "$l_busy == 0") |
| live: writer's max -wal bytes, with / without quotawatch | ${l_wal} / ${b_wal} | $(verdict "$l_wal <= $b_wal * 1.1 + 65536") |
| idle CPU of run following ${IDLE_AGENTS} agent databases (${IDLE} s) ≤ 0.5 % | ${idle_pct} % of a core | $(verdict "$idle_pct <= 0.5") |

(live latency is measured by polling \`usage --format json\`, ~${l_poll} ms per poll, so it includes up to one poll.)
EOF

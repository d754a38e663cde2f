#!/usr/bin/env bash
# Writes this fixture: a state dir, a generic JSONL log and v2.db, the database
# quotawatch wrote for them at commit 9227b18 (schema version 2, event keys
# before migration 0003 escaped them). Run it with a binary built at that
# commit:  git archive 9227b18 | tar -x -C /tmp/qw-9227b18 &&
#          (cd /tmp/qw-9227b18 && go build -o /tmp/qw-old/quotawatch ./cmd/quotawatch)
#          store/testdata/v2/make-fixture.sh /tmp/qw-old/quotawatch
# The colliding pair: session "x" entry "y/z" and session "x/y" entry "z" both
# had the key cb/main/x/y/z, so v2.db holds 14 of the 15 calls.
set -euo pipefail
bin=${1:?usage: make-fixture.sh QUOTAWATCH_BINARY_AT_9227b18}
cd "$(dirname "$0")"
rm -rf state proxy v2.db v2.db-wal v2.db-shm
mkdir -p state/agents/main/sessions 'state/agents/a%b/sessions' proxy
H='{"type":"session","version":3,"id":"%s","timestamp":"2026-11-10T10:00:00.000Z","cwd":"/w"}\n'
C='{"type":"message","id":"%s","parentId":"p","timestamp":"2026-11-10T10:00:%02d.000Z","message":{"role":"assistant","content":[],"provider":"fakeoai","model":"fake-gpt","usage":{"input":%d,"output":1,"cacheRead":0,"cacheWrite":0,"totalTokens":%d,"cost":{"total":0.25}},"stopReason":"stop","timestamp":1794304800000}}\n'
N='{"type":"message","parentId":"p","timestamp":"2026-11-10T10:00:%02d.000Z","message":{"role":"assistant","content":[],"provider":"fakeoai","model":"fake-gpt","usage":{"input":%d,"output":1,"cacheRead":0,"cacheWrite":0,"totalTokens":%d,"cost":{"total":0.25}},"stopReason":"stop","timestamp":1794304800000}}\n'
S=state/agents/main/sessions
{ printf "$H" x; printf "$C" 'y/z' 1 10 11; printf "$C" e1 2 20 21; } > $S/x.jsonl
{ printf "$H" 'x/y'; printf "$C" z 3 40 41; } > $S/xy.jsonl
{ printf "$H" 'p%q'; printf "$C" 'a%b' 4 80 81; printf "$N" 5 160 161; printf "$C" '@x1' 6 320 321; } > $S/pct.jsonl
{ printf "$H" 11111111-2222; printf "$C" 1ba3a720 7 1 2; printf "$C" 2cb4b831 8 2 3; printf "$N" 9 4 5; } > $S/11111111-2222.jsonl
{ printf "$H" 33333333-4444; printf "$C" 3dc5c942 10 1000 1001; printf "$C" 'q/r' 11 2000 2001; } > 'state/agents/a%b/sessions/33333333-4444.jsonl'
L='{"id":"%s","time":"2026-11-05T10:00:00Z","customer":"acme","model":"m","usage":{"prompt_tokens":%d,"completion_tokens":1},"cost":0.5}\n'
LN='{"time":"2026-11-05T10:00:00Z","customer":"acme","model":"m","usage":{"prompt_tokens":%d,"completion_tokens":1},"cost":0.5}\n'
{ printf "$L" 'r/1' 10000; printf "$L" 'r%2' 20000; printf "$L" plain 40000; printf "$LN" 80000; } > proxy/a.jsonl
"$bin" --config quotawatch.yaml --db ./v2.db backfill --no-progress

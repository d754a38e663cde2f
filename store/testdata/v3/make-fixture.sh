#!/usr/bin/env bash
# Writes this fixture: a state dir (two agents, a sessions.json naming one
# session's peer), a generic JSONL log and v3.db, the database quotawatch
# wrote for them at commit cc59df3 (schema version 3: file checkpoints,
# sessions, escaped keys; no cursors table). Run it with a binary built at
# that commit:
#   mkdir -p /tmp/qw-cc59df3 && git archive cc59df3 | tar -x -C /tmp/qw-cc59df3 &&
#   (cd /tmp/qw-cc59df3 && go build -o /tmp/qw-old/quotawatch ./cmd/quotawatch) &&
#   store/testdata/v3/make-fixture.sh /tmp/qw-old/quotawatch
# It holds 9 calls: 4 in main/aaaa (billed to acme through sessions.json),
# 2 in ops/bbbb (to other), 3 in the proxy log (2 with ids, 1 without; to acme).
set -euo pipefail
bin=${1:?usage: make-fixture.sh QUOTAWATCH_BINARY_AT_cc59df3}
cd "$(dirname "$0")"
rm -rf state proxy v3.db v3.db-wal v3.db-shm
mkdir -p state/agents/main/sessions state/agents/ops/sessions proxy
H='{"type":"session","version":3,"id":"%s","timestamp":"2026-11-10T10:00:00.000Z","cwd":"/w"}\n'
C='{"type":"message","id":"%s","parentId":"p","timestamp":"2026-11-10T10:00:%02d.000Z","message":{"role":"assistant","content":[],"provider":"fakeoai","model":"fake-gpt","usage":{"input":%d,"output":1,"cacheRead":0,"cacheWrite":0,"totalTokens":%d,"cost":{"total":0.25}},"stopReason":"stop","timestamp":1794304800000}}\n'
N='{"type":"message","parentId":"p","timestamp":"2026-11-10T10:00:%02d.000Z","message":{"role":"assistant","content":[],"provider":"fakeoai","model":"fake-gpt","usage":{"input":%d,"output":1,"cacheRead":0,"cacheWrite":0,"totalTokens":%d,"cost":{"total":0.25}},"stopReason":"stop","timestamp":1794304800000}}\n'
S=state/agents/main/sessions
{ printf "$H" aaaa; printf "$C" a1 1 10 11; printf "$C" 'a/2' 2 20 21; printf "$N" 3 40 41; printf "$C" a4 4 80 81; } > $S/aaaa.jsonl
printf '{"agent:main:whatsapp:dm:+966500000001":{"sessionId":"aaaa","updatedAt":1794304800000,"chatType":"direct","lastChannel":"whatsapp","origin":{"provider":"whatsapp","from":"+966500000001"}}}\n' > $S/sessions.json
{ printf "$H" bbbb; printf "$C" b1 5 100 101; printf "$C" b2 6 200 201; } > state/agents/ops/sessions/bbbb.jsonl
L='{"id":"%s","time":"2026-11-05T10:00:00Z","customer":"+966500000001","model":"m","usage":{"prompt_tokens":%d,"completion_tokens":1},"cost":0.5}\n'
LN='{"time":"2026-11-05T10:00:00Z","customer":"+966500000001","model":"m","usage":{"prompt_tokens":%d,"completion_tokens":1},"cost":0.5}\n'
{ printf "$L" r1 1000; printf "$L" 'r/2' 2000; printf "$LN" 4000; } > proxy/a.jsonl
"$bin" --config quotawatch.yaml --db ./v3.db backfill --no-progress

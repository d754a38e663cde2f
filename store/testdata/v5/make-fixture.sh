#!/usr/bin/env bash
# Writes this fixture: a state dir, a generic JSONL log and v5.db, the
# database quotawatch wrote for them at commit eee17a1 (schema version 5:
# nano-dollar costs, daily totals, the (agent, session_id) index that
# migration 0008 replaces). Run it with a binary built at that commit:
#   mkdir -p /tmp/qw-eee17a1 && git archive eee17a1 | tar -x -C /tmp/qw-eee17a1 &&
#   (cd /tmp/qw-eee17a1 && go build -o /tmp/qw-old/quotawatch ./cmd/quotawatch) &&
#   store/testdata/v5/make-fixture.sh /tmp/qw-old/quotawatch
# It holds 12 calls: 3 in main/aaaa (billed to acme through sessions.json),
# 2 in main/aaaa-2 (a session id that starts with another's; to other), 2 in
# o%ps/b%2Fb (an agent and a session id that need escaping; to other) and 5
# in the JSONL log of the source named "main": 3 of session s1 (2 with ids,
# 1 without; to acme by their customer), 2 of session aaaa, which is then
# the very (agent, session) of the transcript main/aaaa and billed with it
# (to acme).
set -euo pipefail
bin=${1:?usage: make-fixture.sh QUOTAWATCH_BINARY_AT_eee17a1}
cd "$(dirname "$0")"
rm -rf state proxy v5.db v5.db-wal v5.db-shm
mkdir -p state/agents/main/sessions 'state/agents/o%ps/sessions' proxy
H='{"type":"session","version":3,"id":"%s","timestamp":"2026-11-10T10:00:00.000Z","cwd":"/w"}\n'
C='{"type":"message","id":"%s","parentId":"p","timestamp":"2026-11-10T10:00:%02d.000Z","message":{"role":"assistant","content":[],"provider":"fakeoai","model":"fake-gpt","usage":{"input":%d,"output":1,"cacheRead":0,"cacheWrite":0,"totalTokens":%d,"cost":{"total":0.25}},"stopReason":"stop","timestamp":1794304800000}}\n'
N='{"type":"message","parentId":"p","timestamp":"2026-11-10T10:00:%02d.000Z","message":{"role":"assistant","content":[],"provider":"fakeoai","model":"fake-gpt","usage":{"input":%d,"output":1,"cacheRead":0,"cacheWrite":0,"totalTokens":%d,"cost":{"total":0.25}},"stopReason":"stop","timestamp":1794304800000}}\n'
S=state/agents/main/sessions
{ printf "$H" aaaa; printf "$C" a1 1 10 11; printf "$C" 'a/2' 2 20 21; printf "$N" 3 40 41; } > $S/aaaa.jsonl
{ printf "$H" aaaa-2; printf "$C" a1 4 80 81; printf "$C" a5 5 160 161; } > $S/aaaa-2.jsonl
printf '{"agent:main:whatsapp:dm:+966500000001":{"sessionId":"aaaa","updatedAt":1794304800000,"chatType":"direct","lastChannel":"whatsapp","origin":{"provider":"whatsapp","from":"+966500000001"}}}\n' > $S/sessions.json
{ printf "$H" 'b/b'; printf "$C" '@b1' 6 320 321; printf "$C" b2 7 640 641; } > 'state/agents/o%ps/sessions/bb.jsonl'
L='{"id":"%s","session":"%s","time":"2026-11-05T10:00:00Z","customer":"%s","model":"m","usage":{"prompt_tokens":%d,"completion_tokens":1},"cost":0.5}\n'
LN='{"session":"s1","time":"2026-11-05T10:00:00Z","customer":"+966500000001","model":"m","usage":{"prompt_tokens":%d,"completion_tokens":1},"cost":0.5}\n'
{ printf "$L" r1 s1 +966500000001 1000; printf "$L" 'r/2' s1 +966500000001 2000; printf "$LN" 4000
  printf "$L" r3 aaaa +966500000009 8000; printf "$L" r4 aaaa +966500000009 16000; } > proxy/a.jsonl
"$bin" --config quotawatch.yaml --db ./v5.db backfill --no-progress
sqlite3 v5.db 'PRAGMA wal_checkpoint(TRUNCATE)' >/dev/null 2>&1 || true

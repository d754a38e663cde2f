-- Core ingest schema: events, per-(customer, period) rollup, file checkpoints,
-- the sessions quotawatch has ever seen, and a small key/value table.
CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
) WITHOUT ROWID;

-- One row per AI provider call. key is deterministic (source kind + agent +
-- sessionId + entry id) so a line read twice inserts nothing the second time.
CREATE TABLE events (
    id          INTEGER PRIMARY KEY,
    key         TEXT    NOT NULL UNIQUE,
    agent       TEXT    NOT NULL,
    session_id  TEXT    NOT NULL,
    ts          INTEGER NOT NULL,           -- event time, Unix ms
    period      TEXT    NOT NULL,           -- YYYY-MM in the customer's timezone
    customer    TEXT    NOT NULL,
    provider    TEXT    NOT NULL DEFAULT '',
    model       TEXT    NOT NULL DEFAULT '',
    input       INTEGER NOT NULL DEFAULT 0,
    output      INTEGER NOT NULL DEFAULT 0,
    cache_read  INTEGER NOT NULL DEFAULT 0,
    cache_write INTEGER NOT NULL DEFAULT 0,
    cost        REAL,                       -- NULL = unpriced, never $0
    failed      INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX events_session ON events (agent, session_id);

-- Running totals per customer and period, kept in the same transaction as
-- the events, so usage over millions of events is a primary-key lookup.
CREATE TABLE rollup (
    customer    TEXT    NOT NULL,
    period      TEXT    NOT NULL,
    requests    INTEGER NOT NULL DEFAULT 0,
    failed      INTEGER NOT NULL DEFAULT 0,
    input       INTEGER NOT NULL DEFAULT 0,
    output      INTEGER NOT NULL DEFAULT 0,
    cache_read  INTEGER NOT NULL DEFAULT 0,
    cache_write INTEGER NOT NULL DEFAULT 0,
    cost        REAL    NOT NULL DEFAULT 0,
    unpriced    INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (customer, period)
) WITHOUT ROWID;

-- File checkpoints, keyed by identity (device + inode), so a renamed file
-- (.deleted.<ts>, .bak.<ts>) keeps its place. fp_* guard against a file that
-- was truncated and rewritten, or an inode reused by another file.
CREATE TABLE files (
    dev        INTEGER NOT NULL,
    ino        INTEGER NOT NULL,
    path       TEXT    NOT NULL,
    agent      TEXT    NOT NULL,
    session_id TEXT    NOT NULL,
    fp_len     INTEGER NOT NULL,
    fp_head    INTEGER NOT NULL,
    off        INTEGER NOT NULL,
    tail_hash  INTEGER NOT NULL,
    lines      INTEGER NOT NULL DEFAULT 0,
    events     INTEGER NOT NULL DEFAULT 0,
    synthetic  INTEGER NOT NULL DEFAULT 0,
    bad        INTEGER NOT NULL DEFAULT 0,
    updated_ms INTEGER NOT NULL,
    PRIMARY KEY (dev, ino)
) WITHOUT ROWID;

-- Every session ever seen: sessions.json forgets, quotawatch does not.
CREATE TABLE sessions (
    agent       TEXT NOT NULL,
    session_id  TEXT NOT NULL,
    session_key TEXT NOT NULL DEFAULT '',
    channel     TEXT NOT NULL DEFAULT '',
    peer        TEXT NOT NULL DEFAULT '',
    hint        TEXT NOT NULL DEFAULT '',   -- customer value of a generic log line
    origin      TEXT NOT NULL DEFAULT '',   -- store | envelope | name | log
    customer    TEXT NOT NULL DEFAULT '',
    first_ms    INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (agent, session_id)
) WITHOUT ROWID;

-- The two tables of OpenClaw 2026.9.6's state database (state schema 18) that quotawatch reads,
-- verbatim from OPENCLAW_STATE_SCHEMA_SQL (dist/openclaw-state-db-read-connection-*.mjs, npm
-- openclaw@2026.9.6, MIT): the schema_meta row says what the file is; agent_databases lists
-- every agent database, also those a custom session.store puts elsewhere.
CREATE TABLE IF NOT EXISTS schema_meta (
  meta_key TEXT NOT NULL PRIMARY KEY,
  role TEXT NOT NULL,
  schema_version INTEGER NOT NULL,
  agent_id TEXT,
  app_version TEXT,
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL
) STRICT;

CREATE TABLE IF NOT EXISTS agent_databases (
  agent_id TEXT NOT NULL,
  path TEXT NOT NULL,
  schema_version INTEGER NOT NULL,
  last_seen_at INTEGER NOT NULL,
  size_bytes INTEGER,
  PRIMARY KEY (agent_id, path)
) STRICT;

-- The (agent, session_id) index on events goes: keeping it up to date was
-- a quarter of the cost of every event insert, and a session's events are
-- found without it. Every Clawdbot/OpenClaw event key starts with its
-- session's prefix cb/<agent>/<sessionId>/ (both escaped, '%' as %25 and
-- '/' as %2F: monitor/keys.go, internal/eventkey), so the key index finds
-- them with the range [prefix, prefix with its last '/' raised to '0').
-- Only the other events (generic JSONL keys, jl/...) carry no session in
-- their key: a partial index keeps those findable by session, and its
-- condition is a range test on the key, so that an insert of a cb/ event
-- (nearly all of them) costs two comparisons more, not an index entry.
-- The queries by session (store/ingest.go, store/digest.go) repeat the
-- condition word for word, which is what lets SQLite use the index.

-- A cb/ key that does not start with its own row's session prefix would be
-- in neither place. No version wrote one (the keys were built from the
-- row's agent and session since the first; migration 0003 rewrote those it
-- could split by them), but should one exist it is moved out of the cb/
-- range, where the partial index covers it. It cannot collide: no key
-- starts with 'qw-0008/'.
UPDATE events SET key = 'qw-0008/' || key
WHERE key >= 'cb/' AND key < 'cb0'
  AND substr(key, 1, length('cb/' || replace(replace(agent, '%', '%25'), '/', '%2F') || '/'
        || replace(replace(session_id, '%', '%25'), '/', '%2F') || '/'))
      <> 'cb/' || replace(replace(agent, '%', '%25'), '/', '%2F') || '/'
        || replace(replace(session_id, '%', '%25'), '/', '%2F') || '/';

DROP INDEX events_session;
CREATE INDEX events_session_other ON events (agent, session_id) WHERE key < 'cb/' OR key >= 'cb0';

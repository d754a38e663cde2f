package monitor

import "path/filepath"

// The openclaw kind: OpenClaw 2026.8.1 and later keep sessions and
// transcripts in SQLite, <state>/agents/<agentId>/agent/openclaw-agent.sqlite
// (listed reliably by <state>/openclaw.sqlite's agent_databases), not in
// live JSONL files. It is a part of a state dir (stateDir, source.go), so a
// `clawdbot` or `openclaw` source reads JSONL transcripts, databases, or
// both, whatever the install holds.
//
// Plugging it in is this one constructor: return a statePart whose
//   - discover lists the agent databases as items and their directories
//     (agents/<id>/agent/, and the state dir) as dirs to watch;
//   - changed maps a write to <db>, <db>-wal (or the state database) to the
//     database item (ch.add(db)), ignoring -shm and journal noise;
//   - read opens the database read-only (openclaw_db.go), reads from its
//     cursor to the end in short read transactions and appends the events
//     with m.addEvent-like bookkeeping and the new cursor
//     (m.setCursor(kind, item, state): a store.Cursor committed in the same
//     transaction as the events, not a byte offset);
//   - pending may return 0 (no byte count to report);
//   - owns claims items ending in ".sqlite";
//   - stats are counted in st (databases, items = sessions, rows,
//     compressed rows, archives, bad).
//
// Until then it returns nil and a state dir reads only its JSONL files.
func newOpenClaw(c SourceConfig, st *sourceStats) statePart {
	_, _ = c, st
	return nil
}

// isOpenClawDB reports whether a backfill PATH names an OpenClaw database
// (an agent's openclaw-agent*.sqlite or the state's openclaw.sqlite).
func isOpenClawDB(path string) bool {
	return filepath.Ext(path) == ".sqlite"
}

// newOpenClawFile builds the openclaw kind over one database file given as
// a backfill PATH (its agent is the <agentId> of
// agents/<agentId>/agent/openclaw-agent.sqlite, or the agent named in
// openclaw-agent.<agentId>.sqlite). Until the kind is plugged in it returns
// nil and backfill refuses the PATH with ErrUnsupportedPath.
func newOpenClawFile(path string) Source {
	_ = path
	return nil
}

// openClawDatabases lists the agent databases a state dir holds where
// OpenClaw puts them by default, so a state dir whose databases are not
// read yet is warned about rather than metered as empty in silence.
func openClawDatabases(dir string) []string {
	dbs, _ := filepath.Glob(filepath.Join(dir, "agents", "*", "agent", "openclaw-agent*.sqlite"))
	return dbs
}

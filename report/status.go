package report

import (
	"context"
	"sort"
	"time"

	"github.com/quotawatch/quotawatch/store"
)

// Status is what `quotawatch status` and /api/status show: what the
// database says about ingest and alerts, read the same way by both.
type Status struct {
	Database      string `json:"database"`
	DatabaseBytes int64  `json:"database_bytes"`
	// NewestEvent is the newest event time among the events stored last
	// (store.NewestEventWindow of them); LagSeconds is now minus it, never
	// negative (a call up to 24 h ahead of this host's clock is billed as
	// written).
	NewestEvent *string  `json:"newest_event"`
	LagSeconds  *float64 `json:"lag_seconds"`
	// LastRead is when ingest last moved a checkpoint or cursor.
	LastRead *string `json:"last_read"`
	// Files and Databases are what the checkpoints and cursors name.
	Files     int `json:"files"`
	Databases int `json:"databases"`
	// BadLines is the bad lines counted in the followed files' checkpoints
	// (events the store itself refused are counted by the running process,
	// not per file).
	BadLines int64          `json:"bad_lines"`
	Sources  []SourceStatus `json:"sources"`
	Alerts   AlertCounts    `json:"alerts"`

	newestMs int64
}

// NewestMs is the newest event time in Unix ms (0 = none).
func (s *Status) NewestMs() int64 { return s.newestMs }

// SourceStatus is what one source has read, by its checkpoints.
type SourceStatus struct {
	Source    string       `json:"source"`
	Kind      string       `json:"kind"`
	Files     int          `json:"files"`
	Databases int          `json:"databases"`
	Lines     int64        `json:"lines"`
	Events    int64        `json:"events"`
	BadLines  int64        `json:"bad_lines"`
	LastRead  *string      `json:"last_read"`
	Items     []ItemStatus `json:"items"`

	lastMs int64
}

// ItemStatus is one file (or agent database) a source reads.
type ItemStatus struct {
	Path     string  `json:"path"`
	Kind     string  `json:"kind"` // file | database
	Agent    string  `json:"agent,omitempty"`
	Offset   int64   `json:"offset,omitempty"`
	Lines    int64   `json:"lines"`
	Events   int64   `json:"events"`
	BadLines int64   `json:"bad_lines"`
	LastRead *string `json:"last_read"`
}

// AlertCounts counts the outbox by status.
type AlertCounts struct {
	Pending        int64 `json:"pending"`
	Sent           int64 `json:"sent"`
	Failed         int64 `json:"failed"`
	Skipped        int64 `json:"skipped"`
	FailedAttempts int64 `json:"failed_attempts"`
}

// Other is the source of checkpoints no configured source covers (files
// given to backfill by path, a source since removed from the config).
const Other = "other"

// ReadStatus reads the status facts from the store; times are shown in loc.
func ReadStatus(ctx context.Context, st *store.Store, sources []DigestSource, now time.Time, loc *time.Location) (Status, error) {
	s := Status{Database: st.Path()}
	var err error
	if s.DatabaseBytes, err = st.SizeBytes(); err != nil {
		return s, err
	}
	if ms, ok, err := st.NewestEventMs(ctx); err != nil {
		return s, err
	} else if ok {
		s.newestMs = ms
		s.NewestEvent = TimeMs(ms, loc)
		lag := max(now.Sub(time.UnixMilli(ms)).Seconds(), 0)
		lag = RoundFloat2(lag)
		s.LagSeconds = &lag
	}
	files, err := st.FileStatuses(ctx)
	if err != nil {
		return s, err
	}
	cursors, err := st.CursorStatuses(ctx)
	if err != nil {
		return s, err
	}
	as, err := st.AlertStats(ctx)
	if err != nil {
		return s, err
	}
	s.Alerts = AlertCounts{Pending: as.ByStatus[store.AlertPending], Sent: as.ByStatus[store.AlertSent],
		Failed: as.ByStatus[store.AlertFailed], Skipped: as.ByStatus[store.AlertSkipped], FailedAttempts: as.FailedAttempts}

	out := make([]SourceStatus, len(sources), len(sources)+1)
	for i, src := range sources {
		out[i] = SourceStatus{Source: src.Label, Kind: src.Kind, Items: []ItemStatus{}}
	}
	other := -1
	slot := func(path string) *SourceStatus {
		if i := sourceOf(sources, path); i >= 0 {
			return &out[i]
		}
		if other < 0 {
			other = len(out)
			out = append(out, SourceStatus{Source: Other, Kind: Other, Items: []ItemStatus{}})
		}
		return &out[other]
	}
	var lastMs int64
	for _, f := range files {
		ss := slot(f.Path)
		ss.Files++
		ss.Lines += f.Lines
		ss.Events += f.Events
		ss.BadLines += f.Bad
		ss.lastMs = max(ss.lastMs, f.UpdatedMs)
		ss.Items = append(ss.Items, ItemStatus{Path: f.Path, Kind: "file", Agent: f.Agent, Offset: f.Offset, Lines: f.Lines,
			Events: f.Events, BadLines: f.Bad, LastRead: TimeMs(f.UpdatedMs, loc)})
		s.Files++
		s.BadLines += f.Bad
	}
	for _, c := range cursors {
		ss := slot(c.Item)
		ss.Databases++
		ss.lastMs = max(ss.lastMs, c.UpdatedMs)
		ss.Items = append(ss.Items, ItemStatus{Path: c.Item, Kind: "database", LastRead: TimeMs(c.UpdatedMs, loc)})
		s.Databases++
	}
	for i := range out {
		out[i].LastRead = TimeMs(out[i].lastMs, loc)
		lastMs = max(lastMs, out[i].lastMs)
		sort.SliceStable(out[i].Items, func(a, b int) bool { return out[i].Items[a].Path < out[i].Items[b].Path })
	}
	s.LastRead = TimeMs(lastMs, loc)
	s.Sources = out
	return s, nil
}

package monitor

import (
	"sync"
	"time"
)

// Health is what the ingest writer knows about itself now: what a
// readiness probe needs to tell a working sidecar from a wedged one.
type Health struct {
	// LastCommit is when a batch was last committed (zero: none yet).
	LastCommit time.Time
	// Failing is the error of the last attempt while a batch is being
	// retried ("" once a commit succeeds).
	Failing string
	// Stopped is the error that stopped ingest for good ("" while it runs).
	Stopped string
	// Busy is when the commit now in progress started (zero when idle): a
	// commit that takes minutes is a wedged writer.
	Busy time.Time
}

// health is the writer's side of Health.
type health struct {
	mu sync.Mutex
	h  Health
}

func (h *health) begin(now time.Time) {
	h.mu.Lock()
	h.h.Busy = now
	h.mu.Unlock()
}

func (h *health) done(now time.Time, err error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.h.Busy = time.Time{}
	if err != nil {
		h.h.Failing = err.Error()
		return
	}
	h.h.Failing, h.h.LastCommit = "", now
}

// Health returns the ingest writer's state; safe from any goroutine.
func (m *Monitor) Health() Health {
	m.health.mu.Lock()
	h := m.health.h
	m.health.mu.Unlock()
	if v := m.writeErr.Load(); v != nil {
		h.Stopped = v.(error).Error()
	}
	return h
}

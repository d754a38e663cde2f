package web

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/quotawatch/quotawatch/report"
	"github.com/quotawatch/quotawatch/store"
)

// renderCache keeps what an expensive answer rendered for the state it was
// rendered from. gen is that state (the database's data version and the
// clock's minute): a new gen drops every older entry, so nothing rendered
// before a commit is served after it. key is what else the output depends
// on (month, language). Concurrent requests for one entry render it once;
// the others wait for that result. Errors are handed to the waiting
// requests and not kept.
type renderCache[G, K comparable, V any] struct {
	mu      sync.Mutex
	gen     G
	entries map[K]*cacheEntry[V]
}

type cacheEntry[V any] struct {
	done chan struct{}
	val  V
	err  error
}

// maxCacheEntries bounds one generation's entries (a crawler walking every
// month must not grow the cache without end: a front page of 1,000
// customers is ~1.4 MB); past it the generation starts over. The month
// and last month in both languages fit.
const maxCacheEntries = 8

// get returns the entry of (gen, key), calling fill to make it when it is
// missing.
func (c *renderCache[G, K, V]) get(gen G, key K, fill func() (V, error)) (V, error) {
	c.mu.Lock()
	if _, ok := c.entries[key]; c.entries == nil || gen != c.gen || !ok && len(c.entries) >= maxCacheEntries {
		c.gen, c.entries = gen, map[K]*cacheEntry[V]{}
	}
	if e, ok := c.entries[key]; ok {
		c.mu.Unlock()
		<-e.done
		return e.val, e.err
	}
	e := &cacheEntry[V]{done: make(chan struct{})}
	c.entries[key] = e
	c.mu.Unlock()

	finished := false
	defer func() {
		// A fill that panics (net/http recovers it) must not leave the
		// waiting requests blocked, nor its entry behind.
		if !finished {
			e.err = errFillPanicked
		}
		if e.err != nil {
			c.mu.Lock()
			if c.entries[key] == e {
				delete(c.entries, key)
			}
			c.mu.Unlock()
		}
		close(e.done)
	}()
	e.val, e.err = fill()
	finished = true
	return e.val, e.err
}

// errFillPanicked is what requests waiting on a render that panicked get.
var errFillPanicked = errors.New("render failed (panic; see the log)")

// generation is the state a cached answer is rendered from: any commit
// (ingest, the outbox, a digest, another process) changes the data
// version, and forecasts move with the clock, so an answer is kept at most
// until the minute turns (the footer's own precision). It is read before
// anything the answer shows, so an answer is never older than the
// generation it is kept under.
func (s *server) generation(ctx context.Context) (gen, time.Time, error) {
	v, err := s.o.Store.DataVersion(ctx)
	if err != nil {
		return gen{}, time.Time{}, err
	}
	now := s.now()
	return gen{Data: v, Minute: now.Unix() / 60}, now, nil
}

// gen is a cache generation (see generation).
type gen struct {
	Data   store.Version
	Minute int64
}

// rows are report.Rows of month (every customer) for gen, shared by the
// front page, /metrics and /api/usage: computing them reads every
// customer's daily series for the forecast, the dashboard's dearest read.
// Callers must not change the rows (sort a copy).
func (s *server) rows(ctx context.Context, g gen, month string, now time.Time) ([]report.Row, error) {
	return s.rowsCache.get(g, month, func() ([]report.Row, error) {
		// Detached from the request: others may be waiting for the result
		// when this one's client goes away.
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), queryTimeout)
		defer cancel()
		return report.Rows(ctx, s.o.Store, s.o.Book, month, "", now)
	})
}

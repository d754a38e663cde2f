package web

import (
	"errors"
	"sync"
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
// month must not grow the cache without end); past it the generation
// starts over.
const maxCacheEntries = 32

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

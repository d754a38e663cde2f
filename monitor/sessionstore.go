package monitor

import (
	"bytes"
	"cmp"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/maphash"
	"io"
	"os"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/valyala/fastjson"
)

// Limits of a sessions.json. Clawdbot's real entries are 6–11 KB, so 10,000
// sessions make 44–100 MB; the caps sit far above that and exist so that a
// wrong file (a sparse multi-gigabyte file, one runaway entry) costs bounded
// CPU and memory instead of the sidecar.
const (
	// MaxSessionStoreBytes is the largest sessions.json read; a bigger one is
	// refused with a warning and attribution keeps what it knew.
	MaxSessionStoreBytes = 1 << 30
	// MaxSessionStoreEntryBytes is the largest single entry kept in memory;
	// a bigger entry is skipped with a warning, the rest of the file is read.
	MaxSessionStoreEntryBytes = 16 << 20
	// storeDebounce is the shortest time between two reads of one
	// sessions.json while following: Clawdbot rewrites it on every message.
	storeDebounce = time.Second
	storeReadBuf  = 256 << 10
)

// errStoreNotRegular marks a sessions.json that is a FIFO, a device or a
// directory: it is never read (a FIFO blocked forever, /dev/zero ran the
// process out of memory).
var errStoreNotRegular = errors.New("not a regular file")

// openSessionStore opens a sessions.json the way transcripts are opened:
// O_NONBLOCK so a FIFO cannot block the open, fstat of the opened
// descriptor (not of the path, which could be swapped in between), regular
// files only, at most MaxSessionStoreBytes. The returned error says why.
func openSessionStore(path string) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, err
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("stat: %w", err)
	}
	if !fi.Mode().IsRegular() {
		f.Close()
		return nil, fmt.Errorf("%w (mode %s)", errStoreNotRegular, fi.Mode())
	}
	if fi.Size() > MaxSessionStoreBytes {
		f.Close()
		return nil, fmt.Errorf("%d bytes is more than the %d-byte limit", fi.Size(), int64(MaxSessionStoreBytes))
	}
	return f, nil
}

// structural marks the bytes the value scanner stops at outside strings.
var structural = [256]bool{'"': true, '{': true, '}': true, '[': true, ']': true}

// storeScanner walks the top level of a sessions.json object member by
// member, holding one member in memory at a time. It finds where each value
// ends (strings, escapes and nesting respected) without interpreting it;
// values are parsed only when they changed.
type storeScanner struct {
	r    io.Reader
	ctx  context.Context
	buf  []byte
	max  int   // largest value kept whole
	base int64 // file offset of buf[0]
	// buf[start:end] is unconsumed or retained (the member being read);
	// pos is the scan position.
	start, pos, end int
	eof             bool
	// Inside a string: nq is the next quote at or after pos (end if none
	// is buffered), nb the next backslash before nq (nq if none). Cached so
	// a string with many escapes is scanned once, not once per escape; a
	// value below pos forces a new search.
	nq, nb int
	esc    bool // the byte at pos is escaped
	// skipping is set while the current value is too big to keep: its
	// bytes are dropped as they are scanned.
	skipping bool
	key      []byte // the current member's key, raw (escapes kept)
	members  int
}

func (s *storeScanner) reset(ctx context.Context, r io.Reader) {
	if s.buf == nil {
		s.buf = make([]byte, storeReadBuf)
	}
	if s.max == 0 {
		s.max = MaxSessionStoreEntryBytes
	}
	s.r, s.ctx = r, ctx
	s.base, s.start, s.pos, s.end = 0, 0, 0, 0
	s.eof, s.esc, s.skipping = false, false, false
	s.nq, s.nb = -1, -1
	s.key = s.key[:0]
	s.members = 0
}

// release drops a buffer grown for a huge entry, so one such entry does
// not pin megabytes between reads.
func (s *storeScanner) release() {
	if cap(s.buf) > storeReadBuf {
		s.buf = nil
	}
	s.r, s.ctx = nil, nil
}

func (s *storeScanner) errorf(format string, args ...any) error {
	return fmt.Errorf("offset %d: "+format, append([]any{s.base + int64(s.pos)}, args...)...)
}

// fill reads more input; it is called only when pos == end. It returns
// io.EOF at the end of the input.
func (s *storeScanner) fill() error {
	if s.eof {
		return io.EOF
	}
	if err := s.ctx.Err(); err != nil {
		return err
	}
	if s.skipping {
		s.start = s.pos // an oversized value is not kept
	}
	if s.start > 0 {
		n := copy(s.buf, s.buf[s.start:s.end])
		s.base += int64(s.start)
		s.pos -= s.start
		s.end = n
		s.start = 0
	}
	if !s.skipping && s.end >= s.max {
		// The member does not fit: drop what was kept and scan the rest
		// of its value without keeping it.
		s.skipping = true
		s.base += int64(s.pos)
		s.start, s.pos, s.end = 0, 0, 0
	}
	if s.end == len(s.buf) {
		nb := make([]byte, min(2*len(s.buf), max(s.max, storeReadBuf)))
		copy(nb, s.buf[:s.end])
		s.buf = nb
	}
	s.nq, s.nb = -1, -1
	for {
		n, err := s.r.Read(s.buf[s.end:])
		s.end += n
		if n > 0 {
			return nil
		}
		if errors.Is(err, io.EOF) {
			s.eof = true
			return io.EOF
		}
		if err != nil {
			return err
		}
	}
}

// more is fill inside a token, where the end of input means truncation.
func (s *storeScanner) more() error {
	err := s.fill()
	if errors.Is(err, io.EOF) {
		return s.errorf("unexpected end of file (truncated?)")
	}
	return err
}

// skipSpace advances to the next non-blank byte and returns it without
// consuming it. It runs only between tokens, where nothing before pos
// needs keeping (a key is copied out before the blanks after it).
func (s *storeScanner) skipSpace() (byte, error) {
	for {
		for s.pos < s.end {
			switch c := s.buf[s.pos]; c {
			case ' ', '\t', '\n', '\r':
				s.pos++
			default:
				return c, nil
			}
		}
		s.start = s.pos
		if err := s.fill(); err != nil {
			return 0, err
		}
	}
}

// stringBody consumes a string after its opening quote, through the
// closing quote.
func (s *storeScanner) stringBody() error {
	for {
		if s.pos >= s.end {
			if err := s.more(); err != nil {
				return err
			}
			continue
		}
		if s.esc {
			s.esc = false
			s.pos++
			continue
		}
		if s.nq < s.pos {
			s.nq = s.end
			if i := bytes.IndexByte(s.buf[s.pos:s.end], '"'); i >= 0 {
				s.nq = s.pos + i
			}
		}
		if s.nb < s.pos {
			// Searched only up to the quote: nb == nq means "none before it".
			s.nb = s.nq
			if i := bytes.IndexByte(s.buf[s.pos:s.nq], '\\'); i >= 0 {
				s.nb = s.pos + i
			}
		}
		switch {
		case s.nb < s.nq:
			s.pos = s.nb + 1
			s.esc = true
		case s.nq < s.end:
			s.pos = s.nq + 1
			return nil
		default:
			s.pos = s.end
		}
	}
}

// value consumes one JSON value starting at pos (blanks already skipped).
func (s *storeScanner) value() error {
	c := s.buf[s.pos]
	switch c {
	case '"':
		s.pos++
		return s.stringBody()
	case '{', '[':
		depth := 0
		for {
			// Locals, not fields: the loop runs over every byte outside
			// strings (about half of a pretty-printed file).
			buf, pos, end := s.buf, s.pos, s.end
			for pos < end {
				c := buf[pos]
				if !structural[c] {
					pos++
					continue
				}
				if c == '"' {
					s.pos = pos + 1
					if err := s.stringBody(); err != nil {
						return err
					}
					buf, pos, end = s.buf, s.pos, s.end
					continue
				}
				if c == '{' || c == '[' {
					depth++
				} else if depth--; depth == 0 {
					s.pos = pos + 1
					return nil
				}
				pos++
			}
			s.pos = pos
			if err := s.more(); err != nil {
				return err
			}
		}
	case ',', '}', ':', ']':
		return s.errorf("missing value")
	default:
		// A scalar (number, true, false, null): up to the next delimiter;
		// fastjson validates it if it is ever parsed.
		for {
			for s.pos < s.end {
				switch s.buf[s.pos] {
				case ',', '}', ' ', '\t', '\n', '\r':
					return nil
				}
				s.pos++
			}
			if err := s.more(); err != nil {
				return err
			}
		}
	}
}

// begin consumes the opening brace of the top-level object.
func (s *storeScanner) begin() error {
	c, err := s.skipSpace()
	if errors.Is(err, io.EOF) {
		return s.errorf("empty file")
	}
	if err != nil {
		return err
	}
	if c != '{' {
		return s.errorf("want a JSON object, found %q", c)
	}
	s.pos++
	return nil
}

// next returns the next member's raw key (escapes kept, no quotes) and raw
// value. A value bigger than the entry limit comes back as nil with
// oversized set. At the end of the object it returns io.EOF, after
// checking that nothing but blanks follows.
func (s *storeScanner) next() (key, val []byte, oversized bool, err error) {
	c, err := s.skipSpace()
	if err != nil {
		return nil, nil, false, s.eofIsTruncation(err)
	}
	if s.members > 0 {
		switch c {
		case '}':
			return nil, nil, false, s.finish()
		case ',':
			s.pos++
			if c, err = s.skipSpace(); err != nil {
				return nil, nil, false, s.eofIsTruncation(err)
			}
			if c != '"' {
				return nil, nil, false, s.errorf("want a key after ',', found %q", c)
			}
		default:
			return nil, nil, false, s.errorf("want ',' or '}' after a value, found %q", c)
		}
	} else if c == '}' {
		return nil, nil, false, s.finish()
	}
	if c != '"' {
		return nil, nil, false, s.errorf("want a key, found %q", c)
	}
	s.start, s.skipping = s.pos, false
	s.pos++
	if err := s.stringBody(); err != nil {
		return nil, nil, false, err
	}
	if s.skipping || s.pos-s.start > s.max {
		return nil, nil, false, s.errorf("key longer than %d bytes", s.max)
	}
	s.key = append(s.key[:0], s.buf[s.start+1:s.pos-1]...)
	if c, err = s.skipSpace(); err != nil {
		return nil, nil, false, s.eofIsTruncation(err)
	}
	if c != ':' {
		return nil, nil, false, s.errorf("want ':' after a key, found %q", c)
	}
	s.pos++
	if _, err = s.skipSpace(); err != nil {
		return nil, nil, false, s.eofIsTruncation(err)
	}
	s.start = s.pos
	if err := s.value(); err != nil {
		return nil, nil, false, err
	}
	s.members++
	if s.skipping || s.pos-s.start > s.max {
		s.skipping = false
		s.start = s.pos
		return s.key, nil, true, nil
	}
	val = s.buf[s.start:s.pos]
	s.start = s.pos
	return s.key, val, false, nil
}

func (s *storeScanner) eofIsTruncation(err error) error {
	if errors.Is(err, io.EOF) {
		return s.errorf("unexpected end of file (truncated?)")
	}
	return err
}

// finish consumes the closing brace and checks that only blanks follow.
func (s *storeScanner) finish() error {
	s.pos++
	s.start = s.pos
	c, err := s.skipSpace()
	if errors.Is(err, io.EOF) {
		return io.EOF
	}
	if err != nil {
		return err
	}
	return s.errorf("data after the end of the object (%q)", c)
}

// keyMark is what the reader remembers of one member between reads: 32
// bytes of hashes, never the strings. A sessions.json is not pruned by
// Clawdbot, so at 150,000 sessions the strings (key, id, channel, peer) and
// their maps held 16 MiB; the hashes hold 4.8 MiB. An entry whose bytes are
// unchanged is known from its hashes; one that changed is parsed while its
// bytes are in the read buffer, which is when its strings are needed.
type keyMark struct {
	key   uint64 // of the raw key, the sort order
	val   uint64 // of the raw value
	sid   uint64 // of the sessionId; 0: the entry names no session
	entry uint64 // of the storeEntry it gave (entryHash)
}

// sessMark is the entry last handed out for one session, as a hash.
type sessMark struct {
	sid, entry uint64
}

// storeCache is what one sessions.json said at its last successful read,
// both slices sorted by their first field.
type storeCache struct {
	keys     []keyMark
	sessions []sessMark // what was handed out, per sessionId
}

// sessOcc is one member naming a session during a read, in file order.
type sessOcc struct {
	sid, entry uint64
	seq        int
}

// storeResult is one read of a sessions.json.
type storeResult struct {
	path string
	// entries are the sessions whose attribution changed since the last
	// successful read of path (all of them on the first read).
	entries []storeEntry
	// oversized lists the keys of entries too big to read (skipped).
	oversized []string
	err       error
	// priorErr says the store could not tell what was handed out before
	// this start: every session was handed out instead.
	priorErr error
	// what the read cost, for the debug log
	bytes  int64
	parsed int64
	took   time.Duration
}

// storeReader reads sessions.json files incrementally: it streams the
// file, hashes each entry's raw bytes and parses only entries whose bytes
// changed, then hands out only sessions whose attribution changed. Memory
// is one entry plus 48 bytes of hashes per session between reads, whatever
// the file size; CPU is one pass over the bytes. Safe for one goroutine at
// a time (the mutex makes misuse harmless, not concurrent).
type storeReader struct {
	mu     sync.Mutex
	seed   maphash.Seed
	caches map[string]*storeCache
	sc     storeScanner
	p      fastjson.Parser
	// per read, reused: sessions named in file order, and the entries
	// that differ from what was handed out (by sessionId hash)
	occ     []sessOcc
	pending map[uint64]storeEntry
	// counters for tests and benchmarks
	reads  atomic.Int64 // files read
	parsed atomic.Int64 // entries parsed (changed bytes)
	// hook, when set, runs at the start of every read (tests).
	hook atomic.Pointer[func(path string)]
	// prior, when set, reads what the store holds of an agent's sessions
	// attributed by a session store. The first read of an agent's
	// sessions.json after a start compares its entries with that instead
	// of handing out every one: each session handed out is read back from
	// the store, which was 44 % of a 150,000-file catch-up. An entry that
	// changed while nothing ran differs from what the store holds and is
	// handed out as before.
	prior  func(ctx context.Context, agent string, fn func(storeEntry)) error
	primed map[string]bool // agents whose prior was taken (once each)
	// handed counts the sessions handed out (tests and benchmarks).
	handed atomic.Int64
}

func newStoreReader() *storeReader {
	return &storeReader{seed: maphash.MakeSeed(), caches: map[string]*storeCache{},
		pending: map[uint64]storeEntry{}, primed: map[string]bool{}}
}

// releaseScratch drops what the reader keeps between reads only to save
// allocations: the read buffer (256 KiB) and the per-read scratch. What it
// remembers of each file (storeCache) stays. run calls it with the scan's
// release, so a follow with no sessions.json changes holds none of it; a
// read after it allocates them again.
func (r *storeReader) releaseScratch() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.sc.buf = nil
	r.occ, r.pending = nil, nil
}

// priorOf is what the store says was handed out for agent's sessions, as
// the hashes a read compares with, the first time agent's sessions are
// asked for; nil after that (a second sessions.json of the agent starts
// from nothing, as every read did before, since the first one's changes
// may not be committed yet). r.mu is held.
func (r *storeReader) priorOf(ctx context.Context, agent string) ([]sessMark, error) {
	if r.prior == nil || r.primed[agent] {
		return nil, nil
	}
	var ms []sessMark
	err := r.prior(ctx, agent, func(e storeEntry) {
		ms = append(ms, sessMark{sid: r.sidHash(e.SessionID), entry: r.entryHash(e)})
	})
	if err != nil {
		return nil, err
	}
	r.primed[agent] = true
	slices.SortFunc(ms, func(a, b sessMark) int { return cmp.Compare(a.sid, b.sid) })
	return slices.Clip(ms), nil
}

// read reads path and reports what changed. A missing file is no change;
// any failure leaves the remembered state untouched, so the next read
// compares against the last good version.
func (r *storeReader) read(ctx context.Context, path string) storeResult {
	r.mu.Lock()
	defer r.mu.Unlock()
	if h := r.hook.Load(); h != nil {
		(*h)(path)
	}
	f, err := openSessionStore(path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			err = nil
		}
		return storeResult{path: path, err: err}
	}
	defer f.Close()
	return r.readStream(ctx, path, f)
}

// readStream is read over an open stream; r.mu is held.
func (r *storeReader) readStream(ctx context.Context, path string, src io.Reader) (res storeResult) {
	res = storeResult{path: path}
	start, parsed := time.Now(), r.parsed.Load()
	defer func() {
		res.took, res.parsed = time.Since(start), r.parsed.Load()-parsed
	}()
	r.reads.Add(1)
	c := r.caches[path]
	if c == nil {
		// Without what the store holds, every session is handed out: the
		// old first read, slower but as exact.
		c = &storeCache{}
		c.sessions, res.priorErr = r.priorOf(ctx, agentOf(path))
		r.caches[path] = c
	}
	r.occ = r.occ[:0]
	if r.pending == nil {
		r.pending = map[uint64]storeEntry{}
	}
	defer func() {
		// A first read hands out every session: its scratch (a map keeps
		// its size after clear) is not kept for the next read.
		if cap(r.occ) > 4096 {
			r.occ = nil
		}
		if len(r.pending) > 256 {
			r.pending = nil
		} else {
			clear(r.pending)
		}
	}()
	keys := make([]keyMark, 0, len(c.keys)+16)
	lim := &io.LimitedReader{R: src, N: MaxSessionStoreBytes + 1}
	r.sc.reset(ctx, lim)
	defer r.sc.release()
	err := r.pass(c, &keys, &res)
	if lim.N <= 0 {
		err = fmt.Errorf("grew past the %d-byte limit while being read", int64(MaxSessionStoreBytes))
	}
	res.bytes = r.sc.base + int64(r.sc.end)
	if err != nil {
		res.oversized = nil
		res.err = err
		return res
	}
	// Later entries for one session win, as when the whole file was
	// applied in order; sessions are handed out in order of first mention.
	slices.SortStableFunc(r.occ, func(a, b sessOcc) int { return cmp.Compare(a.sid, b.sid) })
	sessions := make([]sessMark, 0, len(c.sessions)+16)
	type out struct {
		seq int
		e   storeEntry
	}
	var changed []out
	for i := 0; i < len(r.occ); {
		j := i + 1
		for j < len(r.occ) && r.occ[j].sid == r.occ[i].sid {
			j++
		}
		last := r.occ[j-1]
		sessions = append(sessions, sessMark{sid: last.sid, entry: last.entry})
		if e, ok := r.pending[last.sid]; ok {
			changed = append(changed, out{r.occ[i].seq, e})
		}
		i = j
	}
	slices.SortFunc(changed, func(a, b out) int { return cmp.Compare(a.seq, b.seq) })
	for _, o := range changed {
		res.entries = append(res.entries, o.e)
	}
	r.handed.Add(int64(len(changed)))
	slices.SortStableFunc(keys, func(a, b keyMark) int { return cmp.Compare(a.key, b.key) })
	// A key named twice: the later member is what a whole parse keeps.
	w := 0
	for i := range keys {
		if w > 0 && keys[w-1].key == keys[i].key {
			keys[w-1] = keys[i]
			continue
		}
		keys[w] = keys[i]
		w++
	}
	c.keys, c.sessions = fitted(keys[:w]), fitted(sessions)
	return res
}

// fitted is s, copied to its length when appends (a first read's) left
// more than 1/32 of it unused: what a read keeps is kept until the next.
func fitted[E any](s []E) []E {
	if cap(s)-len(s) <= len(s)/32+16 {
		return s
	}
	return slices.Clone(s)
}

func (c *storeCache) key(h uint64) (keyMark, bool) {
	i, ok := slices.BinarySearchFunc(c.keys, h, func(k keyMark, h uint64) int { return cmp.Compare(k.key, h) })
	if !ok {
		return keyMark{}, false
	}
	return c.keys[i], true
}

// handedOut is the hash of the entry last handed out for session sid.
func (c *storeCache) handedOut(sid uint64) (uint64, bool) {
	i, ok := slices.BinarySearchFunc(c.sessions, sid, func(s sessMark, h uint64) int { return cmp.Compare(s.sid, h) })
	if !ok {
		return 0, false
	}
	return c.sessions[i].entry, true
}

func (r *storeReader) pass(c *storeCache, keys *[]keyMark, res *storeResult) error {
	if err := r.sc.begin(); err != nil {
		return err
	}
	for seq := 0; ; seq++ {
		rawKey, val, oversized, err := r.sc.next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		kh := maphash.Bytes(r.seed, rawKey)
		old, found := c.key(kh)
		if oversized {
			res.oversized = append(res.oversized, string(rawKey))
			if found {
				// Keep what the entry said while it was readable.
				*keys = append(*keys, old)
				if old.sid != 0 {
					// Its strings are gone with its bytes: if it now wins a
					// session another entry had, that session keeps what
					// was handed out (attribution kept as it was).
					if h, ok := c.handedOut(old.sid); ok && h != old.entry {
						old.entry = h
					}
					r.occ = append(r.occ, sessOcc{sid: old.sid, entry: old.entry, seq: seq})
					delete(r.pending, old.sid)
				}
			}
			continue
		}
		vh := maphash.Bytes(r.seed, val)
		km := old
		var e storeEntry
		parsedNow := false
		if !found || old.val != vh {
			var ok bool
			if e, ok, err = r.parseEntry(rawKey, val); err != nil {
				return fmt.Errorf("entry %q: %w", rawKey, err)
			}
			km = keyMark{key: kh, val: vh}
			if ok {
				km.sid, km.entry = r.sidHash(e.SessionID), r.entryHash(e)
			}
			parsedNow = true
		}
		*keys = append(*keys, km)
		if km.sid == 0 {
			continue
		}
		r.occ = append(r.occ, sessOcc{sid: km.sid, entry: km.entry, seq: seq})
		if h, ok := c.handedOut(km.sid); ok && h == km.entry {
			delete(r.pending, km.sid)
			continue
		}
		if !parsedNow {
			// Unchanged bytes that now win a session another entry had
			// (that entry changed or went): parse them again, rare.
			if e, _, err = r.parseEntry(rawKey, val); err != nil {
				return fmt.Errorf("entry %q: %w", rawKey, err)
			}
		}
		r.pending[km.sid] = e
	}
}

// sidHash is the hash of a sessionId, never 0 (0 marks "no session").
func (r *storeReader) sidHash(id string) uint64 {
	return max(maphash.String(r.seed, id), 1)
}

// entryHash is the hash of everything attribution takes from an entry.
func (r *storeReader) entryHash(e storeEntry) uint64 {
	var h maphash.Hash
	h.SetSeed(r.seed)
	for _, s := range [...]string{e.SessionID, e.Key, e.Channel, e.Peer} {
		var n [8]byte
		binary.LittleEndian.PutUint64(n[:], uint64(len(s)))
		h.Write(n[:])
		h.WriteString(s)
	}
	return h.Sum64()
}

// parseEntry reads what attribution needs from one entry: the sessionId,
// and channel and peer from the key, else from the entry's own fields. ok
// is false for an entry that names no session.
func (r *storeReader) parseEntry(rawKeyBytes, val []byte) (se storeEntry, ok bool, err error) {
	r.parsed.Add(1)
	rawKey := string(rawKeyBytes)
	key := rawKey
	if strings.IndexByte(rawKey, '\\') >= 0 {
		// Rare: an escaped key. Let fastjson unescape it.
		v, err := r.p.Parse(`"` + rawKey + `"`)
		if err != nil {
			return se, false, fmt.Errorf("key: %w", err)
		}
		b, err := v.StringBytes()
		if err != nil {
			return se, false, fmt.Errorf("key: %w", err)
		}
		key = string(b)
	}
	e, err := r.p.ParseBytes(val)
	if err != nil {
		return se, false, err
	}
	id := string(e.GetStringBytes("sessionId"))
	if id == "" {
		return se, false, nil
	}
	ki := ParseSessionKey(key)
	se = storeEntry{SessionID: id, Key: key, Channel: ki.Channel, Peer: ki.Peer}
	if se.Channel == "" {
		for _, path := range [][]string{{"channel"}, {"origin", "provider"}, {"lastChannel"}, {"deliveryContext", "channel"}} {
			if c := e.GetStringBytes(path...); len(c) > 0 && string(c) != "webchat" {
				se.Channel = string(c)
				break
			}
		}
	}
	if se.Peer == "" && !ki.Shared {
		// Keys without a peer (cron, hooks) may still say whom they talk to.
		if f := e.GetStringBytes("origin", "from"); len(f) > 0 {
			se.Peer = string(f)
		}
	}
	return se, true, nil
}

// storeWorker reads sessions.json files off the main loop, at most once per
// storeDebounce per file: a change seen while a file is cooling down is
// read when the cool-down ends, so the last version is always applied.
type storeWorker struct {
	rd       *storeReader
	interval time.Duration
	results  chan storeResult
	wake     chan struct{}
	mu       sync.Mutex
	pending  map[string]bool
	last     map[string]time.Time // when each file's last read started
	done     chan struct{}
}

func newStoreWorker(rd *storeReader, interval time.Duration) *storeWorker {
	return &storeWorker{rd: rd, interval: interval, results: make(chan storeResult),
		wake: make(chan struct{}, 1), pending: map[string]bool{}, last: map[string]time.Time{}}
}

// readNow reads synchronously (the first catch-up, before the worker runs)
// and starts the file's cool-down.
func (w *storeWorker) readNow(ctx context.Context, path string) storeResult {
	w.mu.Lock()
	w.last[path] = time.Now()
	delete(w.pending, path)
	w.mu.Unlock()
	return w.rd.read(ctx, path)
}

// request asks for path to be read; it never blocks.
func (w *storeWorker) request(path string) {
	w.mu.Lock()
	w.pending[path] = true
	w.mu.Unlock()
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

// start runs the worker until ctx ends; wait waits for it to return.
func (w *storeWorker) start(ctx context.Context) {
	w.done = make(chan struct{})
	go w.loop(ctx)
}

func (w *storeWorker) wait() {
	if w.done != nil {
		<-w.done
	}
}

func (w *storeWorker) loop(ctx context.Context) {
	defer close(w.done)
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		now := time.Now()
		var due []string
		var next time.Time
		w.mu.Lock()
		for p := range w.pending {
			at := w.last[p].Add(w.interval)
			if !at.After(now) {
				due = append(due, p)
				delete(w.pending, p)
				w.last[p] = now
			} else if next.IsZero() || at.Before(next) {
				next = at
			}
		}
		w.mu.Unlock()
		sort.Strings(due)
		for _, p := range due {
			res := w.rd.read(ctx, p)
			select {
			case w.results <- res:
			case <-ctx.Done():
				return
			}
		}
		if len(due) > 0 {
			continue // more may have been asked for meanwhile
		}
		var tc <-chan time.Time
		if !next.IsZero() {
			timer.Reset(time.Until(next)) // Go ≥ 1.23 timers: no drain needed
			tc = timer.C
		}
		select {
		case <-ctx.Done():
			return
		case <-w.wake:
		case <-tc:
		}
	}
}

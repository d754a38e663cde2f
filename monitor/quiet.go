package monitor

import (
	"cmp"
	"slices"

	"github.com/quotawatch/quotawatch/store"
)

// quietFile is what is held of a file no read touched since the last
// settle: its mark, with the modification and change times it had when it
// was last verified (by this process, or by the one that stored the mark;
// 0 = unknown), so a stat that shows the same size and times skips it; and
// whether this process has counted it yet.
type quietFile struct {
	store.FileMark
	seen bool
}

// quietRec is one quiet file as the set stores it: 56 bytes (the mark's
// FPLen is always min(headLen, Offset), see seal; seen is the low bit of
// offSeen, so that it costs no padding).
type quietRec struct {
	id           store.FileID
	offSeen      int64 // Offset<<1 | seen; -1: deleted, dropped at the next merge
	head, tail   uint64
	mtime, ctime int64
}

func (r *quietRec) off() int64 { return r.offSeen >> 1 }

func (r *quietRec) dead() bool { return r.offSeen < 0 }

func recOf(id store.FileID, q quietFile) quietRec {
	os := q.Offset << 1
	if q.seen {
		os |= 1
	}
	return quietRec{id: id, offSeen: os, head: q.FPHead, tail: q.TailHash, mtime: q.MtimeNs, ctime: q.CtimeNs}
}

// quietSet holds the quiet files of a history of any size compactly: a
// slice sorted by identity (56 bytes a file; a Go map of the same took
// ~115) plus the few added since the last merge.
type quietSet struct {
	recs  []quietRec
	added map[store.FileID]quietFile
	dead  int
}

func newQuietSet() *quietSet { return &quietSet{added: map[store.FileID]quietFile{}} }

func cmpID(a, b store.FileID) int {
	if c := cmp.Compare(a.Dev, b.Dev); c != 0 {
		return c
	}
	return cmp.Compare(a.Ino, b.Ino)
}

func (s *quietSet) find(id store.FileID) (int, bool) {
	i, ok := slices.BinarySearchFunc(s.recs, id, func(r quietRec, id store.FileID) int { return cmpID(r.id, id) })
	return i, ok && !s.recs[i].dead()
}

// len is the number of quiet files.
func (s *quietSet) len() int { return len(s.recs) - s.dead + len(s.added) }

func (s *quietSet) get(id store.FileID) (quietFile, bool) {
	if q, ok := s.added[id]; ok {
		return q, true
	}
	i, ok := s.find(id)
	if !ok {
		return quietFile{}, false
	}
	r := &s.recs[i]
	off := r.off()
	return quietFile{FileMark: store.FileMark{FPLen: min(int64(headLen), off), FPHead: r.head, Offset: off, TailHash: r.tail,
		MtimeNs: r.mtime, CtimeNs: r.ctime}, seen: r.offSeen&1 == 1}, true
}

func (s *quietSet) set(id store.FileID, q quietFile) {
	if i, ok := s.find(id); ok {
		s.recs[i] = recOf(id, q)
		return
	}
	s.added[id] = q
}

func (s *quietSet) delete(id store.FileID) {
	delete(s.added, id)
	if i, ok := s.find(id); ok {
		s.recs[i].offSeen = -1
		s.dead++
	}
}

// load appends a stored file's mark (before the first merge).
func (s *quietSet) load(id store.FileID, fm store.FileMark) {
	s.recs = append(s.recs, recOf(id, quietFile{FileMark: fm}))
}

// merge folds the added files into the sorted slice and drops the deleted.
func (s *quietSet) merge() {
	if len(s.added) == 0 && s.dead == 0 && slices.IsSortedFunc(s.recs, func(a, b quietRec) int { return cmpID(a.id, b.id) }) {
		return
	}
	recs := s.recs
	if s.dead > 0 {
		recs = slices.DeleteFunc(recs, func(r quietRec) bool { return r.dead() })
		s.dead = 0
	}
	for id, q := range s.added {
		recs = append(recs, recOf(id, q))
	}
	s.added = map[store.FileID]quietFile{} // clear would keep its size
	slices.SortFunc(recs, func(a, b quietRec) int { return cmpID(a.id, b.id) })
	s.recs = slices.Clip(recs)
}

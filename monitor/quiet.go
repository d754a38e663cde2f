package monitor

import (
	"cmp"
	"slices"

	"github.com/quotawatch/quotawatch/store"
)

// quietFile is what is held of a file no read touched since the last
// settle: its mark and, once this process has verified the file, the
// modification time it had (0 before), so a rescan skips it after one stat.
type quietFile struct {
	store.FileMark
	mtime int64 // UnixNano
}

// quietRec is one quiet file as the set stores it: 48 bytes (the mark's
// FPLen is always min(headLen, Offset), see seal).
type quietRec struct {
	id         store.FileID
	off        int64 // -1: deleted, dropped at the next merge
	head, tail uint64
	mtime      int64
}

// quietSet holds the quiet files of a history of any size compactly: a
// slice sorted by identity (48 bytes a file; a Go map of the same took
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
	return i, ok && s.recs[i].off >= 0
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
	return quietFile{FileMark: store.FileMark{FPLen: min(int64(headLen), r.off), FPHead: r.head, Offset: r.off, TailHash: r.tail}, mtime: r.mtime}, true
}

func (s *quietSet) set(id store.FileID, q quietFile) {
	if i, ok := s.find(id); ok {
		s.recs[i] = quietRec{id: id, off: q.Offset, head: q.FPHead, tail: q.TailHash, mtime: q.mtime}
		return
	}
	s.added[id] = q
}

func (s *quietSet) delete(id store.FileID) {
	delete(s.added, id)
	if i, ok := s.find(id); ok {
		s.recs[i].off = -1
		s.dead++
	}
}

// load appends a stored file's mark (before the first merge).
func (s *quietSet) load(id store.FileID, fm store.FileMark) {
	s.recs = append(s.recs, quietRec{id: id, off: fm.Offset, head: fm.FPHead, tail: fm.TailHash})
}

// merge folds the added files into the sorted slice and drops the deleted.
func (s *quietSet) merge() {
	if len(s.added) == 0 && s.dead == 0 && slices.IsSortedFunc(s.recs, func(a, b quietRec) int { return cmpID(a.id, b.id) }) {
		return
	}
	recs := s.recs
	if s.dead > 0 {
		recs = slices.DeleteFunc(recs, func(r quietRec) bool { return r.off < 0 })
		s.dead = 0
	}
	for id, q := range s.added {
		recs = append(recs, quietRec{id: id, off: q.Offset, head: q.FPHead, tail: q.TailHash, mtime: q.mtime})
	}
	s.added = map[store.FileID]quietFile{} // clear would keep its size
	slices.SortFunc(recs, func(a, b quietRec) int { return cmpID(a.id, b.id) })
	s.recs = slices.Clip(recs)
}

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
// whether this process has counted it yet. The set keeps only the offset
// and the times of the mark: what get returns has FPLen, FPHead and
// TailHash 0, and a file whose stat differs reads them from its stored
// checkpoint (wake), which the mark was taken from.
type quietFile struct {
	store.FileMark
	seen bool
}

// quietRec is one quiet file as the set stores it: 32 bytes. The
// fingerprints are not held (they are in the file's stored checkpoint,
// read once the file changes); the device is an index into the set's
// table of devices, packed with the offset and seen into one word.
type quietRec struct {
	ino          uint64
	word         uint64 // dev index << offBits+1 | Offset << 1 | seen; low bits deadBits: deleted
	mtime, ctime int64
}

const (
	// offBits bounds the offsets a packed record holds (128 TiB); a file
	// past it, or on a device past devBits, is held unpacked (wide).
	offBits = 47
	devBits = 64 - offBits - 1
	// deadBits in the low bits mark a deleted record, dropped at the next
	// merge: an offset of all ones is never packed. The device index stays,
	// so the slice stays sorted for the binary search.
	deadBits = 1<<(offBits+1) - 1
)

func (r *quietRec) off() int64 { return int64(r.word>>1) & (1<<offBits - 1) }

func (r *quietRec) dev() int { return int(r.word >> (offBits + 1)) }

func (r *quietRec) dead() bool { return r.word&deadBits == deadBits }

func (r *quietRec) kill() { r.word |= deadBits }

// quietSet holds the quiet files of a history of any size compactly: a
// slice sorted by (device index, inode) (32 bytes a file; a Go map of the
// whole marks took ~115) plus the few added since the last merge.
type quietSet struct {
	recs  []quietRec
	added map[store.FileID]quietFile
	// devs are the devices of recs, by index; devIdx is its inverse.
	devs   []uint64
	devIdx map[uint64]int
	// wide holds the marks a record cannot pack (never in practice).
	wide map[store.FileID]quietFile
	dead int
}

func newQuietSet() *quietSet {
	return &quietSet{added: map[store.FileID]quietFile{}, devIdx: map[uint64]int{}, wide: map[store.FileID]quietFile{}}
}

func cmpRec(a, b quietRec) int {
	if c := cmp.Compare(a.word>>(offBits+1), b.word>>(offBits+1)); c != 0 {
		return c
	}
	return cmp.Compare(a.ino, b.ino)
}

// pack makes id's record; ok is false when it cannot be packed. A device
// seen for the first time is given the next index.
func (s *quietSet) pack(id store.FileID, q quietFile) (quietRec, bool) {
	if q.Offset < 0 || q.Offset >= 1<<offBits-1 {
		return quietRec{}, false
	}
	d, ok := s.devIdx[id.Dev]
	if !ok {
		if len(s.devs) >= 1<<devBits {
			return quietRec{}, false
		}
		d = len(s.devs)
		s.devs = append(s.devs, id.Dev)
		s.devIdx[id.Dev] = d
	}
	w := uint64(d)<<(offBits+1) | uint64(q.Offset)<<1
	if q.seen {
		w |= 1
	}
	return quietRec{ino: id.Ino, word: w, mtime: q.MtimeNs, ctime: q.CtimeNs}, true
}

func (s *quietSet) find(id store.FileID) (int, bool) {
	d, ok := s.devIdx[id.Dev]
	if !ok {
		return 0, false
	}
	key := quietRec{ino: id.Ino, word: uint64(d) << (offBits + 1)}
	i, ok := slices.BinarySearchFunc(s.recs, key, cmpRec)
	return i, ok && !s.recs[i].dead()
}

// len is the number of quiet files.
func (s *quietSet) len() int { return len(s.recs) - s.dead + len(s.added) + len(s.wide) }

// get returns id's mark (its fingerprints 0: see quietFile).
func (s *quietSet) get(id store.FileID) (quietFile, bool) {
	if q, ok := s.added[id]; ok {
		return q, true
	}
	if q, ok := s.wide[id]; ok {
		return q, true
	}
	i, ok := s.find(id)
	if !ok {
		return quietFile{}, false
	}
	r := &s.recs[i]
	return quietFile{FileMark: store.FileMark{Offset: r.off(), MtimeNs: r.mtime, CtimeNs: r.ctime}, seen: r.word&1 == 1}, true
}

// strip drops what the set does not hold, so a mark read back is the mark
// stored whichever way it is held.
func strip(q quietFile) quietFile {
	q.FPLen, q.FPHead, q.TailHash = 0, 0, 0
	return q
}

func (s *quietSet) set(id store.FileID, q quietFile) {
	q = strip(q)
	if i, ok := s.find(id); ok {
		if r, ok := s.pack(id, q); ok {
			s.recs[i] = r
			return
		}
		s.recs[i].kill()
		s.dead++
	}
	if _, ok := s.wide[id]; ok {
		s.wide[id] = q
		return
	}
	s.added[id] = q
}

func (s *quietSet) delete(id store.FileID) {
	delete(s.added, id)
	delete(s.wide, id)
	if i, ok := s.find(id); ok {
		s.recs[i].kill()
		s.dead++
	}
}

// load appends a stored file's mark (before the first merge).
func (s *quietSet) load(id store.FileID, fm store.FileMark) {
	q := strip(quietFile{FileMark: fm})
	if r, ok := s.pack(id, q); ok {
		s.recs = append(s.recs, r)
		return
	}
	s.wide[id] = q
}

// merge folds the added files into the sorted slice and drops the deleted.
func (s *quietSet) merge() {
	if len(s.added) == 0 && s.dead == 0 && slices.IsSortedFunc(s.recs, cmpRec) {
		return
	}
	recs := s.recs
	if s.dead > 0 {
		recs = slices.DeleteFunc(recs, func(r quietRec) bool { return r.dead() })
		s.dead = 0
	}
	recs = roomFor(recs, len(s.added))
	for id, q := range s.added {
		if r, ok := s.pack(id, q); ok {
			recs = append(recs, r)
		} else {
			s.wide[id] = q
		}
	}
	s.added = map[store.FileID]quietFile{} // clear would keep its size
	slices.SortFunc(recs, cmpRec)
	s.recs = recs
}

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

// quietRec is one quiet file as the set stores it: 24 bytes. The
// fingerprints are not held (they are in the file's stored checkpoint,
// read once the file changes); the device is an index into the set's
// table of devices, packed with the offset and seen into one word. A
// write leaves a file's mtime and ctime equal (the kernel takes both from
// one clock reading), so one time stands for both; a file whose times
// differ (renamed, chmod-ed, its mtime set by touch or a copy that keeps
// times) is a splitRec, which holds its mtime as well: both times are
// kept exactly either way, so a stat that differs from the mark in either
// one is still told apart.
type quietRec struct {
	ino  uint64
	word uint64 // dev index << offBits+1 | Offset << 1 | seen; low bits deadBits: deleted
	// time is the mark's ctime, and its mtime too in recs (see splitRec).
	time int64
}

// splitRec is the record of a quiet file whose mtime differs from its
// ctime: 32 bytes, as every record was before times were folded.
type splitRec struct {
	quietRec
	mtime int64
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

// quietSet holds the quiet files of a history of any size compactly: two
// slices sorted by (device index, inode), recs for files whose mtime
// equals their ctime (24 bytes a file) and split for the others (32; a Go
// map of the whole marks took ~115), plus the few added since the last
// merge. A file is in at most one of them.
type quietSet struct {
	recs  []quietRec
	split []splitRec
	added map[store.FileID]quietFile
	// devs are the devices of recs and split, by index; devIdx is its
	// inverse.
	devs   []uint64
	devIdx map[uint64]int
	// wide holds the marks a record cannot pack (never in practice).
	wide map[store.FileID]quietFile
	dead int // deleted records in recs and split
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

func cmpSplit(a, b splitRec) int { return cmpRec(a.quietRec, b.quietRec) }

// pack makes id's record; split says it needs a splitRec (its mtime is
// r.mtime, its ctime r.time), and ok is false when it cannot be packed. A
// device seen for the first time is given the next index.
func (s *quietSet) pack(id store.FileID, q quietFile) (r splitRec, split, ok bool) {
	if q.Offset < 0 || q.Offset >= 1<<offBits-1 {
		return splitRec{}, false, false
	}
	d, ok := s.devIdx[id.Dev]
	if !ok {
		if len(s.devs) >= 1<<devBits {
			return splitRec{}, false, false
		}
		d = len(s.devs)
		s.devs = append(s.devs, id.Dev)
		s.devIdx[id.Dev] = d
	}
	w := uint64(d)<<(offBits+1) | uint64(q.Offset)<<1
	if q.seen {
		w |= 1
	}
	return splitRec{quietRec: quietRec{ino: id.Ino, word: w, time: q.CtimeNs}, mtime: q.MtimeNs}, q.MtimeNs != q.CtimeNs, true
}

// find returns id's live record, and its splitRec when it is in split
// (nil when in recs); r is nil when id has no record.
func (s *quietSet) find(id store.FileID) (r *quietRec, sp *splitRec) {
	d, ok := s.devIdx[id.Dev]
	if !ok {
		return nil, nil
	}
	key := quietRec{ino: id.Ino, word: uint64(d) << (offBits + 1)}
	if i, ok := slices.BinarySearchFunc(s.recs, key, cmpRec); ok && !s.recs[i].dead() {
		return &s.recs[i], nil
	}
	if i, ok := slices.BinarySearchFunc(s.split, splitRec{quietRec: key}, cmpSplit); ok && !s.split[i].dead() {
		return &s.split[i].quietRec, &s.split[i]
	}
	return nil, nil
}

// len is the number of quiet files.
func (s *quietSet) len() int {
	return len(s.recs) + len(s.split) - s.dead + len(s.added) + len(s.wide)
}

// get returns id's mark (its fingerprints 0: see quietFile).
func (s *quietSet) get(id store.FileID) (quietFile, bool) {
	if q, ok := s.added[id]; ok {
		return q, true
	}
	if q, ok := s.wide[id]; ok {
		return q, true
	}
	r, sp := s.find(id)
	if r == nil {
		return quietFile{}, false
	}
	q := quietFile{FileMark: store.FileMark{Offset: r.off(), MtimeNs: r.time, CtimeNs: r.time}, seen: r.word&1 == 1}
	if sp != nil {
		q.MtimeNs = sp.mtime
	}
	return q, true
}

// strip drops what the set does not hold, so a mark read back is the mark
// stored whichever way it is held.
func strip(q quietFile) quietFile {
	q.FPLen, q.FPHead, q.TailHash = 0, 0, 0
	return q
}

func (s *quietSet) set(id store.FileID, q quietFile) {
	q = strip(q)
	if r, sp := s.find(id); r != nil {
		// In place while it stays in the same slice; else re-added, and
		// the next merge sorts it into the other.
		if nr, split, ok := s.pack(id, q); ok && split == (sp != nil) {
			if sp != nil {
				*sp = nr
			} else {
				*r = nr.quietRec
			}
			return
		}
		r.kill()
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
	if r, _ := s.find(id); r != nil {
		r.kill()
		s.dead++
	}
}

// load appends a stored file's mark (before the first merge).
func (s *quietSet) load(id store.FileID, fm store.FileMark) {
	q := strip(quietFile{FileMark: fm})
	r, split, ok := s.pack(id, q)
	switch {
	case !ok:
		s.wide[id] = q
	case split:
		s.split = append(s.split, r)
	default:
		s.recs = append(s.recs, r.quietRec)
	}
}

// merge folds the added files into the sorted slices and drops the deleted.
func (s *quietSet) merge() {
	if len(s.added) == 0 && s.dead == 0 && slices.IsSortedFunc(s.recs, cmpRec) && slices.IsSortedFunc(s.split, cmpSplit) {
		return
	}
	recs, split := s.recs, s.split
	if s.dead > 0 {
		recs = slices.DeleteFunc(recs, func(r quietRec) bool { return r.dead() })
		split = slices.DeleteFunc(split, func(r splitRec) bool { return r.dead() })
		s.dead = 0
	}
	nsplit := 0
	for _, q := range s.added {
		if q.MtimeNs != q.CtimeNs {
			nsplit++
		}
	}
	recs = roomFor(recs, len(s.added)-nsplit)
	split = roomFor(split, nsplit)
	for id, q := range s.added {
		r, sp, ok := s.pack(id, q)
		switch {
		case !ok:
			s.wide[id] = q
		case sp:
			split = append(split, r)
		default:
			recs = append(recs, r.quietRec)
		}
	}
	s.added = map[store.FileID]quietFile{} // clear would keep its size
	slices.SortFunc(recs, cmpRec)
	slices.SortFunc(split, cmpSplit)
	s.recs, s.split = recs, split
}

// fit gives back what load's sizing left unused: recs is sized for every
// stored file, and the files whose times differ went to split instead.
func (s *quietSet) fit() {
	s.recs = fitted(s.recs)
	s.split = fitted(s.split)
}

package store

import (
	"context"
	"testing"
)

// TestReadBackGivesWhatWasCommitted: what the monitor no longer holds in
// memory (a quiet file's checkpoint, a session) reads back from the store
// exactly as committed, large identities included; the marks and session
// ids stream every stored row; a file or session never stored is not found.
func TestReadBackGivesWhatWasCommitted(t *testing.T) {
	s, _ := openTemp(t)
	ctx := context.Background()
	big := FileID{Dev: 1<<63 + 5, Ino: 1<<64 - 1} // stored as negative int64s
	cps := []Checkpoint{
		{FileID: FileID{1, 2}, Path: "/a/1.jsonl", Agent: "main", SessionID: "s1", FPLen: 1024, FPHead: 1<<64 - 3, Offset: 4096, TailHash: 7, Lines: 10, Events: 4, Synthetic: 1, Bad: 2},
		{FileID: big, Path: "/a/2.jsonl", Agent: "ops", SessionID: "s2", FPLen: 10, FPHead: 9, Offset: 10, TailHash: 1 << 63, Lines: 1},
	}
	sess := Session{Agent: "main", SessionID: "s1", Key: "agent:main:whatsapp:dm:+9665", Channel: "whatsapp", Peer: "+9665", Origin: "store", Customer: "omar", FirstMs: 42}
	if _, err := s.Commit(ctx, &Batch{Checkpoints: cps, Sessions: []Session{sess}}, period); err != nil {
		t.Fatal(err)
	}
	for _, want := range cps {
		got, ok, err := s.Checkpoint(ctx, want.FileID)
		if err != nil || !ok || got != want {
			t.Errorf("Checkpoint(%v) = %+v, %v, %v; want %+v", want.FileID, got, ok, err, want)
		}
	}
	if _, ok, err := s.Checkpoint(ctx, FileID{9, 9}); ok || err != nil {
		t.Errorf("a file never stored: found %v, err %v", ok, err)
	}
	marks := map[FileID]FileMark{}
	if err := s.EachFileMark(ctx, func(id FileID, m FileMark) { marks[id] = m }); err != nil {
		t.Fatal(err)
	}
	for _, c := range cps {
		if m := marks[c.FileID]; m != (FileMark{FPLen: c.FPLen, FPHead: c.FPHead, Offset: c.Offset, TailHash: c.TailHash}) || len(marks) != len(cps) {
			t.Errorf("mark of %v = %+v (of %d marks)", c.FileID, m, len(marks))
		}
	}
	got, ok, err := s.Session(ctx, "main", "s1")
	if err != nil || !ok || got != sess {
		t.Errorf("Session = %+v, %v, %v; want %+v", got, ok, err, sess)
	}
	if _, ok, err := s.Session(ctx, "ops", "s1"); ok || err != nil {
		t.Errorf("a session never stored: found %v, err %v", ok, err)
	}
	var ids []string
	if err := s.EachSessionID(ctx, func(agent, id string) { ids = append(ids, agent+"/"+id) }); err != nil || len(ids) != 1 || ids[0] != "main/s1" {
		t.Errorf("session ids %v, %v", ids, err)
	}
}

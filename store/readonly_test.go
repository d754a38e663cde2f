package store

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
)

func TestReadOnlyStoreCreatesNothingAndRefusesWrites(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	path := filepath.Join(dir, "q.db")
	if _, err := OpenReadOnly(ctx, path); !errors.Is(err, ErrNoDatabase) {
		t.Fatalf("OpenReadOnly of a missing file: %v, want ErrNoDatabase", err)
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 0 {
		t.Fatalf("OpenReadOnly of a missing file created %v", ents)
	}
	w, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.SetMeta(ctx, "k", "v"); err != nil {
		t.Fatal(err)
	}
	w.Close()
	r, err := OpenReadOnly(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if v, err := r.Meta(ctx, "k"); err != nil || v != "v" {
		t.Fatalf("read through the read-only store: %q, %v", v, err)
	}
	if err := r.SetMeta(ctx, "k", "w"); err == nil {
		t.Fatal("a write through the read-only store succeeded")
	}
	if _, err := os.Stat(path + "-wal"); err == nil {
		t.Fatal("the read-only store created a -wal file")
	}
}

func TestWriterLockIsExclusiveAndNamesTheHolder(t *testing.T) {
	path := filepath.Join(t.TempDir(), "q.db")
	l, err := LockWriter(path, "run")
	if err != nil {
		t.Fatal(err)
	}
	if h, held := Held(path); !held || h.PID != os.Getpid() || h.Command != "run" {
		t.Fatalf("Held while locked: %+v %v", h, held)
	}
	_, err = LockWriter(path, "run")
	var le *LockedError
	if !errors.As(err, &le) || !errors.Is(err, ErrLocked) || le.Holder.PID != os.Getpid() {
		t.Fatalf("second LockWriter: %v, want a LockedError naming pid %d", err, os.Getpid())
	}
	if err := l.Release(); err != nil {
		t.Fatal(err)
	}
	if _, held := Held(path); held {
		t.Fatal("Held after Release")
	}
	l2, err := LockWriter(path, "run")
	if err != nil {
		t.Fatalf("LockWriter after Release: %v", err)
	}
	l2.Release()
}

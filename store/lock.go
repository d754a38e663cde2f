package store

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// ErrLocked is returned by LockWriter when another process holds the
// database's writer lock.
var ErrLocked = errors.New("database is in use")

// Holder describes the process holding a writer lock, as it wrote itself
// into the lock file.
type Holder struct {
	PID     int
	Host    string
	Command string
	Since   time.Time
}

func (h Holder) String() string {
	if h.PID == 0 {
		return "another process (it wrote no details)"
	}
	s := "quotawatch " + h.Command + " (pid " + strconv.Itoa(h.PID)
	if h.Host != "" {
		s += " on host " + h.Host
	}
	if !h.Since.IsZero() {
		s += ", since " + h.Since.UTC().Format(time.RFC3339)
	}
	return s + ")"
}

// LockedError names the holder of a writer lock.
type LockedError struct {
	Path   string
	Holder Holder
}

func (e *LockedError) Error() string {
	return fmt.Sprintf("database %s is in use by %s: one `quotawatch run` per database", e.Path, e.Holder)
}

// Unwrap makes errors.Is(err, ErrLocked) true.
func (e *LockedError) Unwrap() error { return ErrLocked }

// WriterLock is an exclusive advisory lock beside the database
// (<db>.lock). It is an flock(2): the kernel drops it when its process
// dies, so a lock left by kill -9 never blocks the restart, and a PID in
// the file is only there to name the holder.
type WriterLock struct {
	f *os.File
}

// LockPath is where the writer lock of a database lives.
func LockPath(dbPath string) string { return dbPath + ".lock" }

// LockWriter takes the writer lock of the database at dbPath for command
// (e.g. "run"), or returns a *LockedError naming the holder at once.
func LockWriter(dbPath, command string) (*WriterLock, error) {
	p := LockPath(dbPath)
	f, err := os.OpenFile(p, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open writer lock %s: %w", p, err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			h, _ := ReadHolder(dbPath)
			return nil, &LockedError{Path: dbPath, Holder: h}
		}
		return nil, fmt.Errorf("take writer lock %s: %w", p, err)
	}
	host, _ := os.Hostname()
	info := fmt.Sprintf("pid=%d\nhost=%s\ncommand=%s\nsince=%s\n", os.Getpid(), host, command, time.Now().UTC().Format(time.RFC3339))
	if err := f.Truncate(0); err == nil {
		f.WriteAt([]byte(info), 0)
	}
	return &WriterLock{f: f}, nil
}

// ReadHolder reads who holds (or last held) the writer lock of dbPath.
func ReadHolder(dbPath string) (Holder, error) {
	b, err := os.ReadFile(LockPath(dbPath))
	if err != nil {
		return Holder{}, fmt.Errorf("read writer lock: %w", err)
	}
	var h Holder
	for _, line := range strings.Split(string(b), "\n") {
		k, v, _ := strings.Cut(line, "=")
		switch k {
		case "pid":
			h.PID, _ = strconv.Atoi(v)
		case "host":
			h.Host = v
		case "command":
			h.Command = v
		case "since":
			h.Since, _ = time.Parse(time.RFC3339, v)
		}
	}
	return h, nil
}

// Held reports whether some process holds the writer lock of dbPath now,
// and who, without taking it.
func Held(dbPath string) (Holder, bool) {
	f, err := os.Open(LockPath(dbPath))
	if err != nil {
		return Holder{}, false
	}
	defer f.Close()
	// A shared lock is refused only while an exclusive one is held.
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_SH|syscall.LOCK_NB); err == nil {
		syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
		return Holder{}, false
	}
	h, _ := ReadHolder(dbPath)
	return h, true
}

// Release drops the lock. The file stays: removing it would race with a
// process that has just opened it.
func (l *WriterLock) Release() error {
	if l == nil || l.f == nil {
		return nil
	}
	err := l.f.Close()
	l.f = nil
	return err
}

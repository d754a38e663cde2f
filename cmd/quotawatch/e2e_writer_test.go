package main

// End-to-end tests of issue 7's process guarantees on the real binary: one
// writer per database, read commands that never write, a clean stop before
// work begins, and a backup that is safe while run writes.

import (
	"bytes"
	"crypto/sha256"
	"database/sql"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	_ "modernc.org/sqlite"
)

// e2eRunFixture copies the sample into a temp dir and writes a config whose
// source is that copy.
func e2eRunFixture(t *testing.T) (dir, cfg, db string) {
	t.Helper()
	dir = t.TempDir()
	state := filepath.Join(dir, "state")
	e2eCopyTree(t, e2eSampleDir, state)
	cfg = e2eConfig(t, dir, e2eSourceYAML(state))
	return dir, cfg, filepath.Join(dir, "q.db")
}

func TestE2ESecondRunRefusesAndNamesTheHolder(t *testing.T) {
	_, cfg, db := e2eRunFixture(t)
	first := e2eStart(t, "--config", cfg, "--db", db, "run")
	first.waitLog(t, "caught up; following", time.Minute)

	second := e2eStart(t, "--config", cfg, "--db", db, "run")
	if code := second.wait(t, 20*time.Second); code != 1 {
		t.Fatalf("second run on the same database: exit %d, want 1\nstderr:\n%s", code, second.stderr.String())
	}
	msg := second.stderr.String()
	want := fmt.Sprintf("in use by quotawatch run (pid %d", first.cmd.Process.Pid)
	if !strings.Contains(msg, want) {
		t.Fatalf("second run: stderr does not name the holder (%q):\n%s", want, msg)
	}
	if strings.Contains(msg, "caught up") || strings.Contains(msg, "quotawatch running") {
		t.Fatalf("second run started working before refusing:\n%s", msg)
	}

	// backfill beside run is allowed (events are keyed) and says so.
	st, r := e2eBackfill(t, cfg, db)
	if st.NewEvents != 0 {
		t.Fatalf("backfill beside run added %d events already counted by run", st.NewEvents)
	}
	if !strings.Contains(r.Stderr, "backfill shares it safely") {
		t.Fatalf("backfill beside run: no note about the other writer:\n%s", r.Stderr)
	}

	// A lock left by kill -9 never blocks the restart.
	if err := first.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	<-first.done
	again := e2eStart(t, "--config", cfg, "--db", db, "run")
	again.waitLog(t, "caught up; following", time.Minute)
	if code := again.signal(t, syscall.SIGTERM, 30*time.Second); code != 0 {
		t.Fatalf("run after a kill -9 of the holder: exit %d\nstderr:\n%s", code, again.stderr.String())
	}
	e2eWaitUsage(t, cfg, db, e2eExpected(t), 10*time.Second, nil)
}

// e2eDirState is every file of a directory with its content hash.
func e2eDirState(t *testing.T, dir string) map[string]string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, e := range ents {
		if e.IsDir() {
			continue
		}
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		out[e.Name()] = fmt.Sprintf("%x", sha256.Sum256(b))
	}
	return out
}

func TestE2EReadCommandsNeverWrite(t *testing.T) {
	dir, cfg, _ := e2eRunFixture(t)
	dbDir := filepath.Join(dir, "db")
	if err := os.Mkdir(dbDir, 0o700); err != nil {
		t.Fatal(err)
	}
	db := filepath.Join(dbDir, "q.db")

	// No database: one line naming the path, exit 1, nothing created.
	for _, args := range [][]string{{"usage"}, {"usage", "--format", "json"}, {"alerts"}, {"check", "--dry-run"}, {"db", "backup", filepath.Join(dir, "b.db")}} {
		r := e2eExec(t, append([]string{"--config", cfg, "--db", db}, args...)...)
		want := "quotawatch: no database at " + db + ": run `quotawatch backfill` or `quotawatch run` first\n"
		if r.Code != 1 || r.Stderr != want || r.Stdout != "" {
			t.Fatalf("%v without a database: exit %d, stdout %q, stderr %q; want exit 1 and %q", args, r.Code, r.Stdout, r.Stderr, want)
		}
		if got := e2eDirState(t, dbDir); len(got) != 0 {
			t.Fatalf("%v without a database created %v", args, got)
		}
	}
	if r := e2eExec(t, "--config", cfg, "--db", db, "config", "check"); r.Code != 0 {
		t.Fatalf("config check: exit %d\n%s", r.Code, r.Stderr)
	}
	if got := e2eDirState(t, dbDir); len(got) != 0 {
		t.Fatalf("config check created %v", got)
	}

	e2eBackfill(t, cfg, db)
	before := e2eDirState(t, dbDir)

	// Another mapping: everything to one customer. A read with it must not
	// re-attribute the stored history.
	other := filepath.Join(dir, "other.yaml")
	otherYAML := "timezone: UTC\ntiers: {pro: {}}\ncustomers:\n  - {id: everyone, name: E, tier: pro}\ndefault_customer: everyone\n"
	if err := os.WriteFile(other, []byte(otherYAML), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, c := range []string{other, cfg} {
		for _, args := range [][]string{{"usage", "--month", e2eMonth}, {"usage", "--format", "json", "--month", e2eMonth}, {"usage", "--format", "csv", "--month", e2eMonth}, {"alerts", "--all"}, {"check", "--dry-run"}} {
			r := e2eExec(t, append([]string{"--config", c, "--db", db}, args...)...)
			if r.Code != 0 {
				t.Fatalf("%v with %s: exit %d\n%s", args, c, r.Code, r.Stderr)
			}
		}
	}
	r := e2eExec(t, "--config", other, "--db", db, "usage", "--month", e2eMonth)
	if !strings.Contains(r.Stderr, "mapping differs") {
		t.Fatalf("usage with another mapping gives no warning:\n%s", r.Stderr)
	}
	if after := e2eDirState(t, dbDir); fmt.Sprint(after) != fmt.Sprint(before) {
		t.Fatalf("read commands changed the database directory:\nbefore %v\nafter  %v", before, after)
	}
	e2eWaitUsage(t, cfg, db, e2eExpected(t), 30*time.Second, nil)

	// A database written by a newer schema: said so, exit 1, untouched.
	sqldb, err := sql.Open("sqlite", db)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := sqldb.Exec("PRAGMA user_version = 999"); err != nil {
		t.Fatal(err)
	}
	sqldb.Close()
	before = e2eDirState(t, dbDir)
	r = e2eExec(t, "--config", cfg, "--db", db, "usage")
	if r.Code != 1 || !strings.Contains(r.Stderr, "schema version 999") || !strings.Contains(r.Stderr, "newer") {
		t.Fatalf("usage on a newer schema: exit %d, stderr %q", r.Code, r.Stderr)
	}
	if after := e2eDirState(t, dbDir); fmt.Sprint(after) != fmt.Sprint(before) {
		t.Fatalf("usage on a newer schema changed the database directory")
	}
}

// e2eHoldsLock reports whether pid has written itself into the database's
// writer lock: from then on its signal handler is installed (the Go runtime
// catches SIGTERM from the first instruction, so /proc's SigCgt cannot tell).
func e2eHoldsLock(db string, pid int) bool {
	b, err := os.ReadFile(db + ".lock")
	return err == nil && strings.HasPrefix(string(b), "pid="+strconv.Itoa(pid)+"\n")
}

func TestE2ESIGTERMBeforeWorkBeginsIsACleanStop(t *testing.T) {
	_, cfg, db := e2eRunFixture(t)
	seed := e2eSeed(t)
	rng := rand.New(rand.NewPCG(seed, seed^0x5eed))
	var early int
	for i := 0; i < 16; i++ {
		p := e2eStart(t, "--config", cfg, "--db", db, "run")
		for !e2eHoldsLock(db, p.cmd.Process.Pid) && !p.exited() {
			time.Sleep(200 * time.Microsecond)
		}
		// Delays skewed short: most stops land in the open, migration,
		// checkpoint and session reads that come before any ingest.
		// Every other stop comes at once: on a quiet host the catch-up
		// of this fixture can finish within the shortest delays.
		if i%2 != 0 {
			time.Sleep(time.Duration(rng.IntN(40)*rng.IntN(40)) * 50 * time.Microsecond)
		}
		code := p.signal(t, syscall.SIGTERM, 30*time.Second)
		if code != 0 {
			t.Fatalf("stop %d: SIGTERM early in run: exit %d, want 0\nstderr:\n%s", i, code, p.stderr.String())
		}
		if !strings.Contains(p.stderr.String(), "caught up") {
			early++
		}
	}
	t.Logf("%d of 16 stops came before the first catch-up", early)
	if early == 0 {
		t.Fatal("no stop landed before the first catch-up: the test proved nothing")
	}
	// Whatever the stops left behind, a run allowed to catch up counts
	// everything exactly once (under load all 16 stops may land before any
	// ingest, so the last run is the one that reads).
	p := e2eStart(t, "--config", cfg, "--db", db, "run")
	p.waitLog(t, "caught up", 60*time.Second)
	if code := p.signal(t, syscall.SIGTERM, 30*time.Second); code != 0 {
		t.Fatalf("last run: exit %d\nstderr:\n%s", code, p.stderr.String())
	}
	e2eWaitUsage(t, cfg, db, e2eExpected(t), 30*time.Second, nil)
}

func TestE2EDBBackupIsCompleteWhileRunWrites(t *testing.T) {
	dir, cfg, db := e2eRunFixture(t)
	p := e2eStart(t, "--config", cfg, "--db", db, "run")
	p.waitLog(t, "caught up; following", time.Minute)
	e2eWaitUsage(t, cfg, db, e2eExpected(t), 10*time.Second, p)
	if _, err := os.Stat(db + "-wal"); err != nil {
		t.Fatalf("run has no WAL file (%v): the test would not show a backup that includes it", err)
	}

	backup := filepath.Join(dir, "backup.db")
	r := e2eExec(t, "--config", cfg, "--db", db, "db", "backup", backup)
	if r.Code != 0 {
		t.Fatalf("db backup: exit %d\n%s", r.Code, r.Stderr)
	}
	fi, err := os.Stat(backup)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Fatalf("backup mode %v, want 0600", fi.Mode().Perm())
	}
	// The copy alone (no -wal beside it) holds every event.
	for _, f := range []string{backup + "-wal", backup + "-shm"} {
		if _, err := os.Stat(f); err == nil {
			t.Fatalf("backup left %s beside the copy", f)
		}
	}
	e2eWaitUsage(t, cfg, backup, e2eExpected(t), 30*time.Second, nil)

	// Never overwrites.
	old, _ := os.ReadFile(backup)
	r = e2eExec(t, "--config", cfg, "--db", db, "db", "backup", backup)
	if r.Code != 1 || !strings.Contains(r.Stderr, "file exists") {
		t.Fatalf("db backup onto an existing file: exit %d, stderr %q", r.Code, r.Stderr)
	}
	if now, _ := os.ReadFile(backup); !bytes.Equal(now, old) {
		t.Fatal("db backup onto an existing file changed it")
	}
	if code := p.signal(t, syscall.SIGTERM, 30*time.Second); code != 0 {
		t.Fatalf("run: exit %d", code)
	}
}

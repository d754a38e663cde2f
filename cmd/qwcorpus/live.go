package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"sync"
	"time"

	"github.com/quotawatch/quotawatch/internal/corpus"
)

// liveResult is what `qwcorpus live` prints (JSON) on stdout.
type liveResult struct {
	Lines      int     `json:"lines"`
	Files      int     `json:"files"`
	Rate       float64 `json:"rate_lines_per_s"`
	Seen       int     `json:"seen"`
	P50ms      float64 `json:"p50_ms"`
	P99ms      float64 `json:"p99_ms"`
	Maxms      float64 `json:"max_ms"`
	PollMedian float64 `json:"poll_median_ms"`
	Polls      int     `json:"polls"`
	// Exact is true when every followed customer gained exactly the calls
	// appended (no loss, no double count).
	Exact bool `json:"exact"`
}

// quotawatchUsage runs `quotawatch usage --format json` for month.
func quotawatchUsage(ctx context.Context, qw, cfg, db, month string) (map[string]corpus.Totals, error) {
	cmd := exec.CommandContext(ctx, qw, "--config", cfg, "--db", db, "--log-level", "error",
		"usage", "--format", "json", "--month", month)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("quotawatch usage: %w: %s", err, stderr.String())
	}
	return readUsage(&stdout)
}

// live appends usage lines to live transcripts at a fixed rate while
// polling `quotawatch usage --format json`, and reports how long each line
// took to become visible there. The quotawatch run process must already be
// following the corpus.
func live(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("qwcorpus live", flag.ContinueOnError)
	fs.String("kind", "clawdbot", "clawdbot or openclaw (see qwcorpus live -kind openclaw -h)")
	out := fs.String("out", "", "generated state directory (holds expected.json)")
	qw := fs.String("qw", "bin/quotawatch", "quotawatch binary")
	cfg := fs.String("config", "", "quotawatch config")
	db := fs.String("db", "", "quotawatch database")
	rate := fs.Float64("rate", 100, "lines appended per second, over all files")
	dur := fs.Duration("duration", 20*time.Second, "how long to append")
	nfiles := fs.Int("files", 10, "number of transcripts appended to (one customer each)")
	prefix := fs.String("prefix", "q", "entry id prefix; give each live run over one corpus its own, or its lines are duplicates")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *out == "" || *cfg == "" || *db == "" {
		return errors.New("usage: qwcorpus live -out DIR -qw BIN -config FILE -db FILE")
	}
	exp, err := corpus.ReadExpected(filepath.Join(*out, "expected.json"))
	if err != nil {
		return err
	}
	follow := exp.Follow
	if len(follow) > *nfiles {
		follow = follow[:*nfiles]
	}
	if len(follow) == 0 {
		return errors.New("expected.json lists no live files to follow")
	}
	loc, err := time.LoadLocation(exp.Timezone)
	if err != nil {
		return fmt.Errorf("timezone: %w", err)
	}
	month, err := time.ParseInLocation("2006-01", exp.Month, loc)
	if err != nil {
		return fmt.Errorf("month: %w", err)
	}
	at := month.AddDate(0, 0, 14).Add(12 * time.Hour) // inside the billing month
	usage := func() (map[string]corpus.Totals, error) { return quotawatchUsage(ctx, *qw, *cfg, *db, exp.Month) }
	base, err := usage()
	if err != nil {
		return err
	}
	files := make([]*os.File, len(follow))
	for i, f := range follow {
		if files[i], err = os.OpenFile(f.Path, os.O_WRONLY|os.O_APPEND, 0); err != nil {
			return fmt.Errorf("open %s: %w", f.Path, err)
		}
		defer files[i].Close()
	}
	total := int(*rate * dur.Seconds())
	appended := make([]time.Time, total) // when line i was written
	var mu sync.Mutex
	count := make([]int, len(follow)) // lines appended per file
	perFile := make([][]int, len(follow))
	done := make(chan error, 1)
	go func() {
		tick := time.NewTicker(time.Duration(float64(time.Second) / *rate))
		defer tick.Stop()
		for i := 0; i < total; i++ {
			select {
			case <-ctx.Done():
				done <- ctx.Err()
				return
			case <-tick.C:
			}
			k := i % len(follow)
			line, _ := corpus.UsageLine(fmt.Sprintf("%s%07d", *prefix, i), "", at.Add(time.Duration(i)*time.Millisecond), 100+int64(i%50), 10)
			mu.Lock()
			appended[i] = time.Now()
			perFile[k] = append(perFile[k], i)
			count[k]++
			mu.Unlock()
			// One write per line, as Clawdbot's appendFileSync does.
			if _, err := files[k].Write(line); err != nil {
				done <- fmt.Errorf("append: %w", err)
				return
			}
		}
		done <- nil
	}()
	lat := make([]time.Duration, 0, total)
	seen := make([]int, len(follow))
	var polls []time.Duration
	appendDone := false
	deadline := time.Now().Add(*dur + 30*time.Second)
	for {
		if !appendDone {
			select {
			case err := <-done:
				if err != nil {
					return err
				}
				appendDone = true
			default:
			}
		}
		t0 := time.Now()
		got, err := usage()
		if err != nil {
			return err
		}
		t1 := time.Now()
		polls = append(polls, t1.Sub(t0))
		mu.Lock()
		all := appendDone
		for k, f := range follow {
			n := int(got[f.Customer].Requests - base[f.Customer].Requests)
			for ; seen[k] < n && seen[k] < len(perFile[k]); seen[k]++ {
				lat = append(lat, t1.Sub(appended[perFile[k][seen[k]]]))
			}
			if seen[k] < count[k] || n != count[k] {
				all = false
			}
		}
		mu.Unlock()
		if all || time.Now().After(deadline) {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	res := liveResult{Lines: total, Files: len(follow), Rate: *rate, Seen: len(lat), Polls: len(polls)}
	// A final read: every customer gained exactly what was appended.
	final, err := usage()
	if err != nil {
		return err
	}
	res.Exact = true
	for k, f := range follow {
		if final[f.Customer].Requests-base[f.Customer].Requests != int64(count[k]) {
			res.Exact = false
		}
	}
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	sort.Slice(polls, func(i, j int) bool { return polls[i] < polls[j] })
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
	if len(lat) > 0 {
		res.P50ms = ms(lat[len(lat)/2])
		res.P99ms = ms(lat[min(len(lat)-1, len(lat)*99/100)])
		res.Maxms = ms(lat[len(lat)-1])
	}
	res.PollMedian = ms(polls[len(polls)/2])
	enc := json.NewEncoder(os.Stdout)
	if err := enc.Encode(res); err != nil {
		return fmt.Errorf("print result: %w", err)
	}
	if res.Seen != total || !res.Exact {
		return fmt.Errorf("saw %d of %d lines (exact=%v)", res.Seen, total, res.Exact)
	}
	return nil
}

package store_test

import (
	"context"
	"errors"
	"strconv"
	"testing"
	"time"

	"github.com/quotawatch/quotawatch/store"
)

// TestReattributionStoppedByItsContextSaysSo: SIGTERM during the start-up
// re-attribution cancels its context while the events' days are being
// recomputed. database/sql then rolls the transaction back and closes its
// statements, so the next read fails with "sql: statement is closed";
// the error must still be the context's (a clean stop, exit 0), not a
// database failure (exit 1).
func TestReattributionStoppedByItsContextSaysSo(t *testing.T) {
	st := openStore(t)
	ctx := context.Background()
	utc := func(_ string, ms int64) string { return time.UnixMilli(ms).UTC().Format("2006-01-02") }
	var b store.Batch
	for i := range 20_500 { // more than one read of recomputeRows (20,000)
		ts := time.Date(2026, 11, 1+i%28, 12, 0, 0, 0, time.UTC)
		b.Events = append(b.Events, store.Event{Key: "cb/main/s" + strconv.Itoa(i%7) + "/" + strconv.Itoa(i), Agent: "main",
			SessionID: "s" + strconv.Itoa(i%7), TimeMs: ts.UnixMilli(), Day: utc("", ts.UnixMilli()), Period: "2026-11", Customer: "c", Input: 1})
	}
	if _, err := st.Commit(ctx, &b, utc); err != nil {
		t.Fatal(err)
	}
	// The context ends as the first read of days reaches its last row,
	// and database/sql's clean-up has run before the next read starts.
	for _, at := range []int{1, 19_999, 20_000} {
		cctx, cancel := context.WithCancel(ctx)
		calls := 0
		day := func(c string, ms int64) string {
			if calls++; calls == at {
				cancel()
				time.Sleep(50 * time.Millisecond)
			}
			return utc(c, ms)
		}
		_, err := st.Reattribute(cctx, "fingerprint-"+strconv.Itoa(at), func(store.Session) string { return "c" }, day)
		cancel()
		if !errors.Is(err, context.Canceled) {
			t.Errorf("stopped at day %d: re-attribution returned %v, want an error that is context.Canceled", at, err)
		}
	}
}

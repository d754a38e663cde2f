package web

import (
	"context"
	"encoding/json"
	"regexp"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/quotawatch/quotawatch/report"
	"github.com/quotawatch/quotawatch/store"
)

var khalidRow = regexp.MustCompile(`<tr class="row" data-customer="khalid" data-percent="([^"]*)">`)

// TestDashboardShowsANewCommitOnTheNextRequest proves the caches never
// serve numbers from before a commit: the front page, /metrics and
// /api/usage are read (and so cached), one event is committed to the real
// database with the clock standing still (same minute), and the very next
// request of each shows it.
func TestDashboardShowsANewCommitOnTheNextRequest(t *testing.T) {
	f := newFixture(t)
	srv := f.server(t, nil)
	const khalid = `quotawatch_requests_total{customer="khalid",period="2026-11"}`
	read := func() (page string, metric float64, api int64) {
		t.Helper()
		// Twice each: the second answer comes from the cache.
		for range 2 {
			m := khalidRow.FindStringSubmatch(get(t, srv.URL+"/?month=2026-11").body)
			if m == nil {
				t.Fatal("no row of khalid on the front page")
			}
			page = m[1]
			metric = scrape(t, srv.URL+"/metrics")[khalid]
			var rows []usageRow
			if err := json.Unmarshal([]byte(get(t, srv.URL+"/api/usage?month=2026-11").body), &rows); err != nil {
				t.Fatal(err)
			}
			for _, r := range rows {
				if r.Customer == "khalid" {
					api = r.Requests
				}
			}
		}
		return page, metric, api
	}
	page, metric, api := read()
	if page != "75" || metric != 3 || api != 3 {
		t.Fatalf("before the commit: page %s %%, metric %v, api %d; want the sample's 75 %%, 3, 3", page, metric, api)
	}
	ts := time.Date(2026, 11, 27, 9, 0, 0, 0, riyadh).UnixMilli()
	b := &store.Batch{Events: []store.Event{{Key: "test/new-commit", Agent: "main", SessionID: "s-new", TimeMs: ts, Period: "2026-11",
		Customer: "khalid", Provider: "anthropic", Model: "claude-sonnet-4", Input: 10, Output: 5}}}
	if _, err := f.st.Commit(context.Background(), b, func(_ string, ms int64) string { return report.DayOf(time.UnixMilli(ms), riyadh) }); err != nil {
		t.Fatal(err)
	}
	page, metric, api = read()
	if page != "100" || metric != 4 || api != 4 {
		t.Errorf("after the commit: page %s %%, metric %v, api %d; want 100 %%, 4, 4 (a cached answer outlived the commit)", page, metric, api)
	}
}

var omarForecast = regexp.MustCompile(`(?s)<tr class="row" data-customer="omar".*?</td>\s*<td class="n num">([^<]*)</td>\s*<td class="num muted">`)

// TestTheCachedFrontPageMovesWithTheClock proves a page is not kept past
// its minute: with no commit at all, an hour later omar's forecast (which
// the clock moves) is a new one, in the page and in /metrics.
func TestTheCachedFrontPageMovesWithTheClock(t *testing.T) {
	f := newFixture(t)
	// Enough requests for omar to have a forecast.
	b := &store.Batch{}
	for i := range 40 {
		ts := time.Date(2026, 11, 20+i%8, 10, i, 0, 0, riyadh).UnixMilli()
		b.Events = append(b.Events, store.Event{Key: "test/clock/" + strconv.Itoa(i), Agent: "main", SessionID: "s-clock", TimeMs: ts,
			Period: "2026-11", Customer: "omar", Provider: "anthropic", Model: "claude-sonnet-4", Input: 10, Output: 5})
	}
	if _, err := f.st.Commit(context.Background(), b, func(_ string, ms int64) string { return report.DayOf(time.UnixMilli(ms), riyadh) }); err != nil {
		t.Fatal(err)
	}
	var now atomic.Int64
	now.Store(inNovember().UnixNano())
	srv := f.server(t, func(o *Options) { o.Clock = func() time.Time { return time.Unix(0, now.Load()) } })
	const proj = `quotawatch_limit_projected_percent{customer="omar",period="2026-11"}`
	forecast := func() (string, float64) {
		t.Helper()
		m := omarForecast.FindStringSubmatch(get(t, srv.URL+"/?month=2026-11").body)
		if m == nil || m[1] == "—" {
			t.Fatalf("no forecast for omar on the front page: %v", m)
		}
		return m[1], scrape(t, srv.URL+"/metrics")[proj]
	}
	page0, metric0 := forecast()
	if p, m := forecast(); p != page0 || m != metric0 {
		t.Fatalf("the same minute gave two forecasts: %s %v, then %s %v", page0, metric0, p, m)
	}
	now.Add(int64(6 * time.Hour))
	page1, metric1 := forecast()
	if page1 == page0 || metric1 == metric0 {
		t.Errorf("six hours later the forecast is still %s (page) %v (metrics): served from the cache", page0, metric0)
	}
}

// TestConcurrentRequestsForOneEntryRenderItOnce proves the singleflight:
// many requests for one key while it renders run the render once and all
// get its result; an error is given to the waiting ones and not kept.
func TestConcurrentRequestsForOneEntryRenderItOnce(t *testing.T) {
	var c renderCache[int, string, string]
	var fills atomic.Int32
	release := make(chan struct{})
	var wg sync.WaitGroup
	got := make([]string, 16)
	for i := range got {
		wg.Add(1)
		go func() {
			defer wg.Done()
			got[i], _ = c.get(1, "k", func() (string, error) {
				fills.Add(1)
				<-release
				return "page", nil
			})
		}()
	}
	// Let every goroutine reach the cache before the render ends.
	for fills.Load() == 0 {
		time.Sleep(time.Millisecond)
	}
	time.Sleep(20 * time.Millisecond)
	close(release)
	wg.Wait()
	if n := fills.Load(); n != 1 {
		t.Errorf("%d renders for one key, want 1", n)
	}
	for i, g := range got {
		if g != "page" {
			t.Errorf("request %d got %q", i, g)
		}
	}
	if _, err := c.get(2, "k", func() (string, error) { return "", context.DeadlineExceeded }); err == nil {
		t.Fatal("the render's error was not returned")
	}
	v, err := c.get(2, "k", func() (string, error) { return "again", nil })
	if err != nil || v != "again" {
		t.Errorf("after an error the entry was kept: %q %v", v, err)
	}
	if v, _ := c.get(3, "k", func() (string, error) { return "new", nil }); v != "new" {
		t.Errorf("a new generation served %q", v)
	}
}

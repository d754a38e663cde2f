package main

import (
	"encoding/csv"
	"encoding/json"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestE2EAlertsCSVAndCustomerFilterShowTheOutbox(t *testing.T) {
	e := newE2EEnv(t, buildQuotawatch(t), "")
	now := time.Now()
	e.appendCalls("main", "11111111-1111-4111-8111-111111111111", 3600, now)
	e.mustRun("backfill", "--no-progress")
	e.mustRun("check")
	all := e.alerts()
	if len(all) < 2 {
		t.Fatalf("want the 100 %% and 120 %% rows (80 %% skipped), got %+v", all)
	}
	if got := e.alerts("--customer", "omar"); len(got) != len(all) {
		t.Fatalf("--customer omar: %d rows, want %d", len(got), len(all))
	}
	if got := e.alerts("--customer", "salon"); len(got) != 0 {
		t.Fatalf("--customer salon: %+v, want none", got)
	}
	if _, errOut, code := e.run("alerts", "--customer", "nobody"); code != 2 || !strings.Contains(errOut, "--customer") {
		t.Fatalf("--customer nobody: exit %d, %s", code, errOut)
	}

	out := e.mustRun("alerts", "--format", "csv", "--customer", "omar")
	recs, err := csv.NewReader(strings.NewReader(out)).ReadAll()
	if err != nil {
		t.Fatalf("csv: %v\n%s", err, out)
	}
	if len(recs) != len(all)+1 || recs[0][0] != "id" || recs[0][15] != "status" {
		t.Fatalf("csv: %d records, header %v; want %d rows after the header", len(recs), recs[0], len(all))
	}
	for i, r := range recs[1:] {
		a := all[i]
		if r[1] != "warning" || r[2] != a.Customer || r[3] != a.Period || r[6] != a.To || r[15] != a.Status {
			t.Errorf("csv row %d = %v, json %+v", i, r, a)
		}
	}
}

// e2eMoneyRows decodes usage JSON keeping cost_usd as the exact decimal it
// was printed as.
type e2eHistRow struct {
	Customer         string      `json:"customer"`
	Day              string      `json:"day"`
	Model            string      `json:"model"`
	Requests         int64       `json:"requests"`
	FailedRequests   int64       `json:"failed_requests"`
	InputTokens      int64       `json:"input_tokens"`
	OutputTokens     int64       `json:"output_tokens"`
	CacheReadTokens  int64       `json:"cache_read_tokens"`
	CacheWriteTokens int64       `json:"cache_write_tokens"`
	TotalTokens      int64       `json:"total_tokens"`
	CostUSD          json.Number `json:"cost_usd"`
	UnpricedRequests int64       `json:"unpriced_requests"`
}

type e2eHistSum struct {
	req, failed, in, out, cr, cw, total, unpriced int64
	cost                                          *big.Rat
}

func e2eHistory(t *testing.T, cfg, db string, args ...string) map[string]e2eHistSum {
	t.Helper()
	r := e2eExec(t, append([]string{"--config", cfg, "--db", db, "usage", "--format", "json"}, args...)...)
	if r.Code != 0 {
		t.Fatalf("usage %v: exit %d\n%s", args, r.Code, r.Stderr)
	}
	dec := json.NewDecoder(strings.NewReader(r.Stdout))
	dec.UseNumber()
	var rows []e2eHistRow
	if err := dec.Decode(&rows); err != nil {
		t.Fatalf("usage %v: %v\n%s", args, err, r.Stdout)
	}
	out := map[string]e2eHistSum{}
	for _, x := range rows {
		if strings.Count(x.CostUSD.String(), ".") == 1 && len(strings.SplitN(x.CostUSD.String(), ".", 2)[1]) > 9 {
			t.Errorf("usage %v: cost %s of %s has more digits than nano-dollars: float noise", args, x.CostUSD, x.Customer)
		}
		c, ok := new(big.Rat).SetString(x.CostUSD.String())
		if !ok {
			t.Fatalf("cost %q is not a decimal", x.CostUSD)
		}
		s := out[x.Customer]
		if s.cost == nil {
			s.cost = new(big.Rat)
		}
		s.req += x.Requests
		s.failed += x.FailedRequests
		s.in += x.InputTokens
		s.out += x.OutputTokens
		s.cr += x.CacheReadTokens
		s.cw += x.CacheWriteTokens
		s.total += x.TotalTokens
		s.unpriced += x.UnpricedRequests
		s.cost.Add(s.cost, c)
		out[x.Customer] = s
	}
	return out
}

func TestE2EDailyAndByModelSumExactlyToTheMonth(t *testing.T) {
	dir := t.TempDir()
	state := filepath.Join(dir, "state")
	e2eCopyTree(t, e2eSampleDir, state)
	cfg := e2eAbs(t, e2eDemoConfig)
	db := filepath.Join(dir, "quotawatch.db")
	e2eBackfill(t, cfg, db, state)

	month := e2eHistory(t, cfg, db, "--month", e2eMonth)
	if len(month) < 3 {
		t.Fatalf("the sample bills at least 3 customers, got %v", month)
	}
	from, to := e2eMonth+"-01", e2eMonth+"-30"
	for _, args := range [][]string{
		{"--daily", "--month", e2eMonth},
		{"--by", "model", "--month", e2eMonth},
		{"--by", "provider", "--month", e2eMonth},
		{"--daily", "--by", "model", "--from", from, "--to", to},
		{"--from", from, "--to", to},
	} {
		got := e2eHistory(t, cfg, db, args...)
		for id, want := range month {
			g, ok := got[id]
			if want.req+want.failed == 0 {
				if ok && g.req+g.failed != 0 {
					t.Errorf("usage %v: %s has usage %+v, the month none", args, id, g)
				}
				continue
			}
			if !ok || g.req != want.req || g.failed != want.failed || g.in != want.in || g.out != want.out || g.cr != want.cr ||
				g.cw != want.cw || g.total != want.total || g.unpriced != want.unpriced || g.cost.Cmp(want.cost) != 0 {
				t.Errorf("usage %v: %s sums to %+v (cost %v), the month is %+v (cost %v)", args, id, g, g.cost, want, want.cost)
			}
		}
	}
}

func TestE2EUsageCostCarriesNoFloatNoise(t *testing.T) {
	dir := t.TempDir()
	state := filepath.Join(dir, "state")
	sessions := filepath.Join(state, "agents", "main", "sessions")
	if err := os.MkdirAll(sessions, 0o755); err != nil {
		t.Fatal(err)
	}
	// 0.1 + 0.00131 is 0.10131000000000001 in float64.
	a, b := 0.1, 0.00131
	if a+b == 0.10131 {
		t.Fatal("the float sum no longer shows the noise this test is about")
	}
	const sid = "0c0570c0-0000-4000-8000-00000000e2e5"
	lines := []string{
		fmt.Sprintf(`{"type":"session","version":3,"id":%q,"timestamp":"2026-11-27T00:30:00.000Z","cwd":"/tmp/e2e"}`, sid),
		`{"type":"message","id":"u0000001","parentId":null,"timestamp":"2026-11-27T00:30:00.000Z","message":{"role":"user","content":[{"type":"text","text":"[WhatsApp +966500000002 2026-11-27 03:30 GMT+3] hi"}],"timestamp":1795739400000}}`,
		e2eCall("cost0001", 1000, 10, 0.1),
		e2eCall("cost0002", 1000, 10, 0.00131),
	}
	if err := os.WriteFile(filepath.Join(sessions, sid+".jsonl"), []byte(strings.Join(lines, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg := e2eAbs(t, e2eDemoConfig)
	db := filepath.Join(dir, "quotawatch.db")
	e2eBackfill(t, cfg, db, state)
	for _, format := range []string{"json", "csv", "table"} {
		r := e2eExec(t, "--config", cfg, "--db", db, "usage", "--format", format, "--month", e2eMonth, "--customer", "layla")
		if r.Code != 0 {
			t.Fatalf("usage --format %s: exit %d\n%s", format, r.Code, r.Stderr)
		}
		if !strings.Contains(r.Stdout, "0.10131") || strings.Contains(r.Stdout, "0.1013100") {
			t.Errorf("usage --format %s: want cost 0.10131 exactly:\n%s", format, r.Stdout)
		}
	}
	if r := e2eExec(t, "--config", cfg, "--db", db, "usage", "--format", "json", "--daily", "--month", e2eMonth); !strings.Contains(r.Stdout, `"cost_usd": 0.10131`) {
		t.Errorf("usage --daily: want cost 0.10131 exactly:\n%s", r.Stdout)
	}
}

package main

import (
	"encoding/csv"
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
	if len(recs) != len(all)+1 || recs[0][0] != "id" || recs[0][14] != "status" {
		t.Fatalf("csv: %d records, header %v; want %d rows after the header", len(recs), recs[0], len(all))
	}
	for i, r := range recs[1:] {
		a := all[i]
		if r[1] != a.Customer || r[2] != a.Period || r[5] != a.To || r[14] != a.Status {
			t.Errorf("csv row %d = %v, json %+v", i, r, a)
		}
	}
}

package main

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/quotawatch/quotawatch/alerts"
	"github.com/quotawatch/quotawatch/store"
)

// usageRow is one customer's line of `usage`; the JSON keys are the CLI
// contract in DESIGN.md.
type usageRow struct {
	Customer         string   `json:"customer"`
	Name             string   `json:"name"`
	Tier             string   `json:"tier"`
	Period           string   `json:"period"`
	Requests         int64    `json:"requests"`
	FailedRequests   int64    `json:"failed_requests"`
	InputTokens      int64    `json:"input_tokens"`
	OutputTokens     int64    `json:"output_tokens"`
	CacheReadTokens  int64    `json:"cache_read_tokens"`
	CacheWriteTokens int64    `json:"cache_write_tokens"`
	TotalTokens      int64    `json:"total_tokens"`
	CostUSD          float64  `json:"cost_usd"`
	UnpricedRequests int64    `json:"unpriced_requests"`
	LimitRequests    *int64   `json:"limit_requests"`
	LimitTokens      *int64   `json:"limit_tokens"`
	LimitCostUSD     *float64 `json:"limit_cost_usd"`
	Percent          *float64 `json:"percent"`
	ProjectedPercent *float64 `json:"projected_percent"`
	Flagged          bool     `json:"flagged"`
}

func (a *app) usageCmd() *cobra.Command {
	var month, customer, format string
	cmd := &cobra.Command{
		Use:   "usage",
		Short: "Print each customer's usage for a month",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			switch format {
			case "table", "json", "csv":
			default:
				return usageErr("--format: want table, json or csv, got %q", format)
			}
			c, err := a.setup()
			if err != nil {
				return err
			}
			if month == "" {
				month = alerts.PeriodOf(a.now(), c.loc)
			} else if _, err := time.Parse("2006-01", month); err != nil {
				return usageErr("--month: want YYYY-MM, got %q", month)
			}
			if customer != "" {
				if _, ok := c.customers[customer]; !ok && customer != "unassigned" {
					return usageErr("--customer: %q is not a configured customer", customer)
				}
			}
			st, err := a.openReader(cmd.Context(), c)
			if err != nil {
				return err
			}
			defer st.Close()
			rows, err := usageRows(cmd.Context(), st, c, month, customer, a.now())
			if err != nil {
				return err
			}
			return a.printUsage(format, rows)
		},
	}
	cmd.Flags().StringVar(&month, "month", "", "period YYYY-MM (default: this month in the configured timezone)")
	cmd.Flags().StringVar(&customer, "customer", "", "only this customer id")
	cmd.Flags().StringVar(&format, "format", "table", "table, json or csv")
	return cmd
}

// usageRows lists every configured customer (used or not) and any other
// customer id with usage in the period (unassigned, removed customers).
func usageRows(ctx context.Context, st *store.Store, c *Config, period, only string, now time.Time) ([]usageRow, error) {
	totals, err := st.UsageByPeriod(ctx, period, only)
	if err != nil {
		return nil, err
	}
	flagged, err := st.FlaggedCustomers(ctx, period)
	if err != nil {
		return nil, err
	}
	byID := map[string]store.Usage{}
	for _, u := range totals {
		byID[u.Customer] = u
	}
	var rows []usageRow
	add := func(id string, cu *CustomerConfig) {
		u := byID[id]
		r := usageRow{Customer: id, Period: period, Requests: u.Requests, FailedRequests: u.FailedRequests,
			InputTokens: u.Input, OutputTokens: u.Output, CacheReadTokens: u.CacheRead, CacheWriteTokens: u.CacheWrite,
			TotalTokens: u.TotalTokens(), CostUSD: u.CostUSD, UnpricedRequests: u.Unpriced, Flagged: flagged[id]}
		loc := c.loc
		if cu != nil {
			r.Name, r.Tier = cu.Name, cu.Tier
			if l := c.custLocs[id]; l != nil {
				loc = l
			}
			t := c.Tiers[cu.Tier]
			if t.Requests > 0 {
				r.LimitRequests = &t.Requests
			}
			if t.Tokens > 0 {
				r.LimitTokens = &t.Tokens
			}
			if t.CostUSD > 0 {
				r.LimitCostUSD = &t.CostUSD
			}
			if pct, ok := alerts.Percent(t, alerts.Used{Requests: u.Requests, Tokens: u.TotalTokens(), CostUSD: u.CostUSD}); ok {
				pct = round2(pct)
				r.Percent = &pct
				if start, end, err := alerts.PeriodBounds(period, loc); err == nil {
					if pp, ok := alerts.Projected(pct, start, end, now); ok {
						pp = round2(pp)
						r.ProjectedPercent = &pp
					}
				}
			}
		}
		rows = append(rows, r)
	}
	for i := range c.Customers {
		cu := &c.Customers[i]
		if only == "" || only == cu.ID {
			add(cu.ID, cu)
		}
	}
	var extra []string
	for id := range byID {
		if _, ok := c.customers[id]; !ok {
			extra = append(extra, id)
		}
	}
	sort.Strings(extra)
	for _, id := range extra {
		add(id, nil)
	}
	return rows, nil
}

func round2(f float64) float64 {
	v, _ := strconv.ParseFloat(strconv.FormatFloat(f, 'f', 2, 64), 64)
	return v
}

func (a *app) printUsage(format string, rows []usageRow) error {
	switch format {
	case "json":
		if rows == nil {
			rows = []usageRow{}
		}
		enc := json.NewEncoder(a.stdout)
		enc.SetIndent("", "  ")
		enc.SetEscapeHTML(false)
		return enc.Encode(rows)
	case "csv":
		w := csv.NewWriter(a.stdout)
		w.Write([]string{"customer", "name", "tier", "period", "requests", "failed_requests", "input_tokens", "output_tokens",
			"cache_read_tokens", "cache_write_tokens", "total_tokens", "cost_usd", "unpriced_requests", "limit_requests",
			"limit_tokens", "limit_cost_usd", "percent", "projected_percent", "flagged"})
		for _, r := range rows {
			w.Write([]string{r.Customer, r.Name, r.Tier, r.Period, itoa(r.Requests), itoa(r.FailedRequests), itoa(r.InputTokens),
				itoa(r.OutputTokens), itoa(r.CacheReadTokens), itoa(r.CacheWriteTokens), itoa(r.TotalTokens),
				strconv.FormatFloat(r.CostUSD, 'f', -1, 64), itoa(r.UnpricedRequests), optInt(r.LimitRequests), optInt(r.LimitTokens),
				optFloat(r.LimitCostUSD), optFloat(r.Percent), optFloat(r.ProjectedPercent), strconv.FormatBool(r.Flagged)})
		}
		w.Flush()
		return w.Error()
	}
	// Numbers align right; the customer column reads better left-aligned,
	// so its cells are padded to one width before the right-aligning writer.
	width := len("CUSTOMER")
	for _, r := range rows {
		width = max(width, len(r.Customer))
	}
	left := func(s string) string { return s + strings.Repeat(" ", width-len(s)) }
	tw := tabwriter.NewWriter(a.stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, left("CUSTOMER")+"\tTIER\tREQUESTS\tFAILED\tINPUT\tOUTPUT\tCACHE READ\tCACHE WRITE\tCOST USD\tLIMIT\tUSED %\tFORECAST %\tFLAGGED\t")
	for _, r := range rows {
		limit := "-"
		switch {
		case r.LimitRequests != nil:
			limit = itoa(*r.LimitRequests) + " req"
		case r.LimitTokens != nil:
			limit = itoa(*r.LimitTokens) + " tok"
		case r.LimitCostUSD != nil:
			limit = "$" + strconv.FormatFloat(*r.LimitCostUSD, 'f', 2, 64)
		case r.Tier != "":
			limit = "unlimited"
		}
		cost := strconv.FormatFloat(r.CostUSD, 'f', 6, 64)
		if r.UnpricedRequests > 0 {
			cost += fmt.Sprintf(" (+%d unpriced)", r.UnpricedRequests)
		}
		flag := ""
		if r.Flagged {
			flag = "FLAGGED"
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%d\t%d\t%d\t%d\t%s\t%s\t%s\t%s\t%s\t\n", left(r.Customer), dash(r.Tier), r.Requests, r.FailedRequests,
			r.InputTokens, r.OutputTokens, r.CacheReadTokens, r.CacheWriteTokens, cost, limit, optFloat(r.Percent), optFloat(r.ProjectedPercent), flag)
	}
	return tw.Flush()
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func optInt(p *int64) string {
	if p == nil {
		return ""
	}
	return itoa(*p)
}

func optFloat(p *float64) string {
	if p == nil {
		return ""
	}
	return strconv.FormatFloat(*p, 'f', -1, 64)
}

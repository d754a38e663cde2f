package main

import (
	"encoding/csv"
	"fmt"
	"strconv"
	"time"

	"github.com/quotawatch/quotawatch/report"
	"github.com/spf13/cobra"
)

func (a *app) usageCmd() *cobra.Command {
	var month, customer, format, by, from, to string
	var daily bool
	cmd := &cobra.Command{
		Use:   "usage",
		Short: "Print each customer's usage for a month, or its history by day, provider or model",
		Example: `  quotawatch usage                          # this month, one row per customer
  quotawatch usage --daily --customer omar  # omar's days this month
  quotawatch usage --by model --from 2026-09-01 --to 2026-11-30 --format csv`,
		Args: cobra.NoArgs,
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
			var g report.Grouping
			switch by {
			case "":
			case "model":
				g.Model = true
			case "provider":
				g.Provider = true
			default:
				return usageErr("--by: want model or provider, got %q", by)
			}
			g.Daily = daily
			history := daily || by != "" || from != "" || to != ""
			if history && month != "" && (from != "" || to != "") {
				return usageErr("--month and --from/--to: give one or the other")
			}
			for _, d := range []struct{ flag, v string }{{"--from", from}, {"--to", to}} {
				if d.v != "" {
					if _, err := report.ParseDay(d.v); err != nil {
						return usageErr("%s: %v", d.flag, err)
					}
				}
			}
			if from != "" && to != "" && from > to {
				return usageErr("--from %s is after --to %s", from, to)
			}
			if month == "" {
				month = report.PeriodOf(a.now(), c.loc)
			} else if _, err := time.Parse("2006-01", month); err != nil {
				return usageErr("--month: want YYYY-MM, got %q", month)
			}
			if customer != "" {
				if !c.hasCustomer(customer) && customer != "unassigned" {
					return usageErr("--customer: %q is not a configured customer", customer)
				}
			}
			st, err := a.openReader(cmd.Context(), c)
			if err != nil {
				return err
			}
			defer st.Close()
			if history {
				// No range: the month. An open range runs from the first
				// stored day, or to the last.
				if from == "" && to == "" {
					from, to, _ = report.MonthDays(month)
				} else if from == "" {
					from = "0000-01-01"
				} else if to == "" {
					to = "9999-12-31"
				}
				rows, err := report.History(cmd.Context(), st, c.book(), from, to, customer, g)
				if err != nil {
					return err
				}
				return a.printHistory(format, rows, g)
			}
			rows, err := report.Rows(cmd.Context(), st, c.book(), month, customer, a.now())
			if err != nil {
				return err
			}
			return a.printUsage(format, rows)
		},
	}
	cmd.Flags().StringVar(&month, "month", "", "period YYYY-MM (default: this month in the configured timezone)")
	cmd.Flags().StringVar(&customer, "customer", "", "only this customer id")
	formatFlag(cmd, &format, "table", "table", "json", "csv")
	cmd.Flags().BoolVar(&daily, "daily", false, "one row per customer per day (days in the customer's timezone)")
	cmd.Flags().StringVar(&by, "by", "", "break down by model or provider")
	cmd.Flags().StringVar(&from, "from", "", "first day YYYY-MM-DD (history across months)")
	cmd.Flags().StringVar(&to, "to", "", "last day YYYY-MM-DD, inclusive (default: the last stored day)")
	return cmd
}

func (a *app) printUsage(format string, rows []report.Row) error {
	switch format {
	case "json":
		return report.WriteRowsJSON(a.stdout, rows)
	case "csv":
		w := csv.NewWriter(a.stdout)
		w.Write([]string{"customer", "name", "tier", "period", "requests", "failed_requests", "input_tokens", "output_tokens",
			"cache_read_tokens", "cache_write_tokens", "total_tokens", "cost_usd", "unpriced_requests", "limit_requests",
			"limit_tokens", "limit_cost_usd", "percent", "projected_percent", "flagged"})
		for _, r := range rows {
			w.Write([]string{r.Customer, r.Name, r.Tier, r.Period, itoa(r.Requests), itoa(r.FailedRequests), itoa(r.InputTokens),
				itoa(r.OutputTokens), itoa(r.CacheReadTokens), itoa(r.CacheWriteTokens), itoa(r.TotalTokens),
				r.CostUSD.String(), itoa(r.UnpricedRequests), optInt(r.LimitRequests), optInt(r.LimitTokens),
				optMoney(r.LimitCostUSD), optFloat(r.Percent), optFloat(r.ProjectedPercent), strconv.FormatBool(r.Flagged)})
		}
		w.Flush()
		return w.Error()
	}
	// Numbers align right; the customer column reads better left-aligned.
	t := newTable([]string{"CUSTOMER", "TIER", "REQUESTS", "FAILED", "INPUT", "OUTPUT", "CACHE READ", "CACHE WRITE", "COST USD",
		"LIMIT", "USED %", "FORECAST %", "FLAGGED"}, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12)
	for _, r := range rows {
		limit := "-"
		switch {
		case r.LimitRequests != nil:
			limit = itoa(*r.LimitRequests) + " req"
		case r.LimitTokens != nil:
			limit = itoa(*r.LimitTokens) + " tok"
		case r.LimitCostUSD != nil:
			limit = "$" + r.LimitCostUSD.String()
		case r.Tier != "":
			limit = "unlimited"
		}
		cost := r.CostUSD.String()
		if r.UnpricedRequests > 0 {
			cost += fmt.Sprintf(" (+%d unpriced)", r.UnpricedRequests)
		}
		flag := ""
		if r.Flagged {
			flag = "FLAGGED"
		}
		t.add(r.Customer, dash(r.Tier), itoa(r.Requests), itoa(r.FailedRequests), itoa(r.InputTokens), itoa(r.OutputTokens),
			itoa(r.CacheReadTokens), itoa(r.CacheWriteTokens), cost, limit, optFloat(r.Percent), optFloat(r.ProjectedPercent), flag)
	}
	return t.write(a.stdout)
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

func optMoney(p *report.Money) string {
	if p == nil {
		return ""
	}
	return p.String()
}

// printHistory renders history rows; only the grouping's columns are shown.
func (a *app) printHistory(format string, rows []report.HistoryRow, g report.Grouping) error {
	switch format {
	case "json":
		if rows == nil {
			rows = []report.HistoryRow{}
		}
		return report.WriteJSON(a.stdout, rows)
	case "csv":
		w := csv.NewWriter(a.stdout)
		w.Write([]string{"customer", "name", "day", "from", "to", "provider", "model", "requests", "failed_requests", "input_tokens",
			"output_tokens", "cache_read_tokens", "cache_write_tokens", "total_tokens", "cost_usd", "unpriced_requests"})
		for _, r := range rows {
			w.Write([]string{r.Customer, r.Name, r.Day, r.From, r.To, r.Provider, r.Model, itoa(r.Requests), itoa(r.FailedRequests),
				itoa(r.InputTokens), itoa(r.OutputTokens), itoa(r.CacheReadTokens), itoa(r.CacheWriteTokens), itoa(r.TotalTokens),
				r.CostUSD.String(), itoa(r.UnpricedRequests)})
		}
		w.Flush()
		return w.Error()
	}
	head := []string{"CUSTOMER"}
	if g.Daily {
		head = append(head, "DAY")
	} else {
		head = append(head, "FROM", "TO")
	}
	if g.Provider || g.Model {
		head = append(head, "PROVIDER")
	}
	if g.Model {
		head = append(head, "MODEL")
	}
	first := len(head)
	head = append(head, "REQUESTS", "FAILED", "INPUT", "OUTPUT", "CACHE READ", "CACHE WRITE", "COST USD")
	var right []int
	for c := first; c < len(head); c++ {
		right = append(right, c)
	}
	t := newTable(head, right...)
	for _, r := range rows {
		line := []string{r.Customer}
		if g.Daily {
			line = append(line, r.Day)
		} else {
			line = append(line, r.From, r.To)
		}
		if g.Provider || g.Model {
			line = append(line, dash(r.Provider))
		}
		if g.Model {
			line = append(line, dash(r.Model))
		}
		cost := r.CostUSD.String()
		if r.UnpricedRequests > 0 {
			cost += fmt.Sprintf(" (+%d unpriced)", r.UnpricedRequests)
		}
		t.add(append(line, itoa(r.Requests), itoa(r.FailedRequests), itoa(r.InputTokens), itoa(r.OutputTokens),
			itoa(r.CacheReadTokens), itoa(r.CacheWriteTokens), cost)...)
	}
	return t.write(a.stdout)
}

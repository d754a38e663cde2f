package main

import (
	"encoding/csv"
	"fmt"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/quotawatch/quotawatch/report"
	"github.com/spf13/cobra"
)

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
				month = report.PeriodOf(a.now(), c.loc)
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
			rows, err := report.Rows(cmd.Context(), st, c.book(), month, customer, a.now())
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

func optMoney(p *report.Money) string {
	if p == nil {
		return ""
	}
	return p.String()
}

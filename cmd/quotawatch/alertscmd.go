package main

import (
	"encoding/csv"
	"fmt"
	"strconv"
	"time"

	"github.com/spf13/cobra"

	"github.com/quotawatch/quotawatch/alerts"
	"github.com/quotawatch/quotawatch/report"
)

func (a *app) alertsCmd() *cobra.Command {
	var month, format, customer string
	var all bool
	cmd := &cobra.Command{
		Use:   "alerts",
		Short: "List the alert outbox: decisions and their delivery state",
		Example: `  quotawatch alerts                            # this month's warnings and their delivery
  quotawatch alerts --all --customer omar --format csv`,
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
			if all {
				month = ""
			} else if month == "" {
				month = report.PeriodOf(a.now(), c.loc)
			} else if _, err := time.Parse("2006-01", month); err != nil {
				return usageErr("--month: want YYYY-MM, got %q", month)
			}
			st, err := a.openReader(cmd.Context(), c)
			if err != nil {
				return err
			}
			defer st.Close()
			if customer != "" {
				if !c.hasCustomer(customer) && customer != report.Unassigned {
					return usageErr("--customer: %q is not a configured customer", customer)
				}
			}
			rows, err := report.AlertRows(cmd.Context(), st, month, customer, c.loc)
			if err != nil {
				return err
			}
			switch format {
			case "csv":
				w := csv.NewWriter(a.stdout)
				w.Write(report.AlertCSVHeader)
				for _, r := range rows {
					w.Write(r.CSV())
				}
				w.Flush()
				return w.Error()
			case "json":
				return report.WriteJSON(a.stdout, rows)
			}
			t := newTable([]string{"ID", "CUSTOMER", "PERIOD", "THRESHOLD", "TO", "USED", "STATUS", "ATTEMPTS", "CREATED",
				"SENT / NEXT ATTEMPT", "PROVIDER ID", "REASON", "LAST ERROR"}, 0, 3, 7)
			for _, r := range rows {
				sent := "-"
				if r.SentAt != nil {
					sent = *r.SentAt
				} else if r.NextAttemptAt != nil {
					sent = "next " + *r.NextAttemptAt
				}
				used := fmt.Sprintf("%.2f%% (%s/%s %s)", r.Percent, alerts.FormatRecorded(r.Used, r.Unit), alerts.FormatRecorded(r.LimitValue, r.Unit), r.Unit)
				threshold := alerts.FormatThreshold(r.Threshold) + "%"
				if r.Kind == "digest" {
					// A digest is no one's usage: say which part of which day.
					used, threshold = r.Limit, "digest"
				}
				t.add(strconv.FormatInt(r.ID, 10), dash(r.Customer), r.Period, threshold, r.To, used, r.Status,
					strconv.Itoa(r.Attempts), r.CreatedAt, sent, dash(r.ProviderID), dash(r.Reason), dash(oneLine(r.LastError)))
			}
			return t.write(a.stdout)
		},
	}
	cmd.Flags().StringVar(&month, "month", "", "period YYYY-MM (default: this month in the configured timezone)")
	cmd.Flags().BoolVar(&all, "all", false, "every period")
	formatFlag(cmd, &format, "table", "table", "json", "csv")
	cmd.Flags().StringVar(&customer, "customer", "", "only this customer id")
	return cmd
}

package main

import (
	"fmt"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/quotawatch/quotawatch/alerts"
	"github.com/quotawatch/quotawatch/report"
)

func (a *app) alertsCmd() *cobra.Command {
	var month, format string
	var all bool
	cmd := &cobra.Command{
		Use:   "alerts",
		Short: "List the alert outbox: decisions and their delivery state",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if format != "table" && format != "json" {
				return usageErr("--format: want table or json, got %q", format)
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
			rows, err := report.AlertRows(cmd.Context(), st, month, "", c.loc)
			if err != nil {
				return err
			}
			if format == "json" {
				return report.WriteJSON(a.stdout, rows)
			}
			tw := tabwriter.NewWriter(a.stdout, 0, 0, 2, ' ', 0)
			fmt.Fprintln(tw, "ID\tCUSTOMER\tPERIOD\tTHRESHOLD\tTO\tUSED\tSTATUS\tATTEMPTS\tCREATED\tSENT / NEXT ATTEMPT\tPROVIDER ID\tLAST ERROR")
			for _, r := range rows {
				sent := "-"
				if r.SentAt != nil {
					sent = *r.SentAt
				} else if r.NextAttemptAt != nil {
					sent = "next " + *r.NextAttemptAt
				}
				used := fmt.Sprintf("%.2f%% (%s/%s %s)", r.Percent, alerts.FormatRecorded(r.Used, r.Unit), alerts.FormatRecorded(r.LimitValue, r.Unit), r.Unit)
				fmt.Fprintf(tw, "%d\t%s\t%s\t%s%%\t%s\t%s\t%s\t%d\t%s\t%s\t%s\t%s\n", r.ID, r.Customer, r.Period,
					alerts.FormatPercent(r.Threshold), r.To, used, r.Status, r.Attempts, r.CreatedAt, sent, dash(r.ProviderID), dash(oneLine(r.LastError)))
			}
			return tw.Flush()
		},
	}
	cmd.Flags().StringVar(&month, "month", "", "period YYYY-MM (default: this month in the configured timezone)")
	cmd.Flags().BoolVar(&all, "all", false, "every period")
	cmd.Flags().StringVar(&format, "format", "table", "table or json")
	return cmd
}

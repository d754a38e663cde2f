package main

import (
	"encoding/json"
	"fmt"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/quotawatch/quotawatch/alerts"
	"github.com/quotawatch/quotawatch/report"
	"github.com/quotawatch/quotawatch/store"
)

// alertRow is one outbox row as `alerts --format json` prints it.
type alertRow struct {
	ID            int64   `json:"id"`
	Customer      string  `json:"customer"`
	Period        string  `json:"period"`
	Threshold     float64 `json:"threshold"`
	Limit         string  `json:"limit_in_force"`
	To            string  `json:"to"`
	Recipient     string  `json:"recipient"`
	Channel       string  `json:"channel"`
	Language      string  `json:"language"`
	Percent       float64 `json:"percent"`
	Used          float64 `json:"used"`
	LimitValue    float64 `json:"limit"`
	Unit          string  `json:"unit"`
	Flag          bool    `json:"flag"`
	Status        string  `json:"status"`
	Attempts      int     `json:"attempts"`
	LastError     string  `json:"last_error"`
	ProviderID    string  `json:"provider_message_id"`
	CreatedAt     string  `json:"created_at"`
	SentAt        *string `json:"sent_at"`
	NextAttemptAt *string `json:"next_attempt_at"`
	Message       string  `json:"message"`
}

func msTime(ms int64, loc *time.Location) *string {
	if ms <= 0 {
		return nil
	}
	s := time.UnixMilli(ms).In(loc).Format(time.RFC3339)
	return &s
}

func toAlertRow(a store.Alert, loc *time.Location) alertRow {
	r := alertRow{ID: a.ID, Customer: a.Customer, Period: a.Period, Threshold: a.Threshold, Limit: a.LimitKey, To: a.To,
		Recipient: a.Recipient, Channel: a.Channel, Language: a.Language, Percent: report.RoundFloat2(a.Percent), Used: a.Used,
		LimitValue: a.Limit, Unit: a.Unit, Flag: a.Flag, Status: a.Status, Attempts: a.Attempts, LastError: a.LastError,
		ProviderID: a.ProviderID, SentAt: msTime(a.SentMs, loc), Message: a.Message}
	if c := msTime(a.CreatedMs, loc); c != nil {
		r.CreatedAt = *c
	}
	if a.Status == store.AlertPending {
		r.NextAttemptAt = msTime(a.NextAttemptMs, loc)
	}
	return r
}

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
			list, err := st.Alerts(cmd.Context(), month, "")
			if err != nil {
				return err
			}
			rows := make([]alertRow, 0, len(list))
			for _, x := range list {
				rows = append(rows, toAlertRow(x, c.loc))
			}
			if format == "json" {
				enc := json.NewEncoder(a.stdout)
				enc.SetIndent("", "  ")
				enc.SetEscapeHTML(false)
				return enc.Encode(rows)
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
					alerts.FormatThreshold(r.Threshold), r.To, used, r.Status, r.Attempts, r.CreatedAt, sent, dash(r.ProviderID), dash(oneLine(r.LastError)))
			}
			return tw.Flush()
		},
	}
	cmd.Flags().StringVar(&month, "month", "", "period YYYY-MM (default: this month in the configured timezone)")
	cmd.Flags().BoolVar(&all, "all", false, "every period")
	cmd.Flags().StringVar(&format, "format", "table", "table or json")
	return cmd
}

package main

import (
	"fmt"
	"strconv"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/quotawatch/quotawatch/report"
)

// statusCmd prints the facts /api/status serves, read the same way
// (report.ReadStatus) from a read-only database.
func (a *app) statusCmd() *cobra.Command {
	var format string
	cmd := &cobra.Command{
		Use:   "status",
		Short: "Show what is followed, the newest event and lag, bad lines, pending and failed alerts, database size",
		Example: `  quotawatch status
  quotawatch status --format json | jq .lag_seconds`,
		Annotations: exitCodes("0    the status was printed",
			"1    runtime failure (no database, or one written by a newer quotawatch)",
			exitLineUsage),
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if format != "table" && format != "json" {
				return usageErr("--format: want table or json, got %q", format)
			}
			c, err := a.setup()
			if err != nil {
				return err
			}
			st, err := a.openReader(cmd.Context(), c)
			if err != nil {
				return err
			}
			defer st.Close()
			s, err := report.ReadStatus(cmd.Context(), st, digestSources(c), a.now(), c.loc)
			if err != nil {
				return err
			}
			if format == "json" {
				return report.WriteJSON(a.stdout, s)
			}
			return a.printStatus(s)
		},
	}
	formatFlag(cmd, &format, "table", "table", "json")
	return cmd
}

func (a *app) printStatus(s report.Status) error {
	opt := func(p *string) string {
		if p == nil {
			return "-"
		}
		return *p
	}
	lag := "-"
	if s.LagSeconds != nil {
		lag = strconv.FormatFloat(*s.LagSeconds, 'f', -1, 64) + " s"
	}
	fmt.Fprintf(a.stdout, "database:      %s (%d bytes)\n", s.Database, s.DatabaseBytes)
	fmt.Fprintf(a.stdout, "newest event:  %s\n", opt(s.NewestEvent))
	fmt.Fprintf(a.stdout, "lag:           %s\n", lag)
	fmt.Fprintf(a.stdout, "last read:     %s\n", opt(s.LastRead))
	fmt.Fprintf(a.stdout, "followed:      %d files, %d databases\n", s.Files, s.Databases)
	fmt.Fprintf(a.stdout, "bad lines:     %d\n", s.BadLines)
	fmt.Fprintf(a.stdout, "alerts:        %d pending, %d failed, %d sent, %d skipped (%d failed attempts)\n",
		s.Alerts.Pending, s.Alerts.Failed, s.Alerts.Sent, s.Alerts.Skipped, s.Alerts.FailedAttempts)
	fmt.Fprintln(a.stdout)
	tw := tabwriter.NewWriter(a.stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "SOURCE\tKIND\tFILES\tDATABASES\tLINES\tEVENTS\tBAD\tLAST READ")
	for _, src := range s.Sources {
		fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%d\t%d\t%d\t%s\n", src.Source, src.Kind, src.Files, src.Databases, src.Lines, src.Events, src.BadLines, opt(src.LastRead))
	}
	return tw.Flush()
}

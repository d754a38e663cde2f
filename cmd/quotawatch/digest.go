package main

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/quotawatch/quotawatch/alerts"
	"github.com/quotawatch/quotawatch/report"
	"github.com/quotawatch/quotawatch/store"
)

// digester builds the daily digest's composer over an open store.
func (a *app) digester(c *Config, st *store.Store) *alerts.Digester {
	return &alerts.Digester{Store: st, Book: c.book(), Sources: digestSources(c), Language: c.Alerts.Language,
		OperatorPhone: c.Alerts.OperatorPhone, Channel: c.Notify.Channel, Now: a.now}
}

// digestSources names the configured sources the way the monitor labels
// them, for the digest's health section.
func digestSources(c *Config) []report.DigestSource {
	out := make([]report.DigestSource, 0, len(c.Sources))
	for _, s := range c.Sources {
		ds := report.DigestSource{Kind: s.Type, Dir: s.Dir, Glob: s.Path, Label: s.Type + ":" + s.Dir}
		if s.Type == "jsonl" {
			ds.Dir, ds.Label = "", "jsonl:"+s.Name
		}
		out = append(out, ds)
	}
	return out
}

// withDigest adds the daily digest to the daemon of `run`. An empty
// alerts.digest_schedule turns it off; so does a notifier that needs a
// phone when alerts.operator_phone is not set (said once, at start,
// rather than recorded as a failure every day).
func (a *app) withDigest(c *Config, st *store.Store, d *alerts.Daemon) (*alerts.Daemon, error) {
	spec := c.Alerts.DigestSchedule
	if spec == "" {
		a.log.Info("no daily digest: alerts.digest_schedule is empty")
		return d, nil
	}
	if _, err := alerts.ParseDigestSchedule(spec); err != nil {
		return nil, cfgErr("alerts.digest_schedule", "bad cron spec %q: %v", spec, errors.Unwrap(err))
	}
	if d.Deliverer != nil && d.Deliverer.Notifier.NeedsPhone() && c.Alerts.OperatorPhone == "" {
		a.log.Warn("no daily digest: alerts.operator_phone is not set and notify.channel " + c.Notify.Channel + " needs a phone number")
		return d, nil
	}
	d.Digest, d.DigestSchedule = a.digester(c, st), spec
	return d, nil
}

func (a *app) digestCmd() *cobra.Command {
	var dryRun bool
	var lang, at string
	cmd := &cobra.Command{
		Use:   "digest",
		Short: "Compose the operator's daily digest and send it now, once per day (--dry-run: print it, record and send nothing)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if lang != "" && !alerts.KnownLanguage(lang) {
				return usageErr("--lang: want ar or en, got %q", lang)
			}
			if at != "" {
				if !dryRun {
					return usageErr("--at: only with --dry-run (a digest is sent for today only)")
				}
				t, err := time.Parse(time.RFC3339, at)
				if err != nil {
					return usageErr("--at: want RFC 3339, e.g. 2026-11-28T09:00:00+03:00, got %q", at)
				}
				a.now = func() time.Time { return t }
			}
			c, err := a.setup()
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			// --dry-run only reads, like `check --dry-run`.
			open := a.openStore
			if dryRun {
				open = a.openReader
			}
			st, err := open(ctx, c)
			if err != nil {
				return err
			}
			defer st.Close()
			g := a.digester(c, st)
			if dryRun {
				_, parts, err := g.Compose(ctx, lang)
				if err != nil {
					return err
				}
				for i, p := range parts {
					if i > 0 {
						fmt.Fprintln(a.stdout)
					}
					fmt.Fprintln(a.stdout, p)
				}
				to := c.Alerts.OperatorPhone
				if to == "" {
					to = "(no alerts.operator_phone)"
				}
				fmt.Fprintf(a.stdout, "(dry run: %d message(s) to the operator %s via %s; nothing recorded, nothing sent)\n", len(parts), to, c.Notify.Channel)
				return nil
			}
			// The notifier is built before recording: a missing token must
			// not leave a digest behind that nothing can send.
			dl, err := a.deliverer(c, st)
			if err != nil {
				return err
			}
			if dl.Notifier.NeedsPhone() && c.Alerts.OperatorPhone == "" {
				return cfgErr("alerts.operator_phone", "required to send the digest through notify.channel %s", c.Notify.Channel)
			}
			day := g.Day(a.now())
			rows, err := g.Record(ctx, lang)
			switch {
			case errors.Is(err, store.ErrDigestRecorded):
				parts, perr := st.DigestParts(ctx, day)
				if perr != nil {
					return perr
				}
				fmt.Fprintf(a.stdout, "today's digest (%s) was already recorded%s; not sent again\n", day, digestState(parts, c.loc))
			case err != nil:
				return err
			default:
				ids := make([]string, len(rows))
				for i, r := range rows {
					ids[i] = fmt.Sprintf("#%d", r.ID)
				}
				fmt.Fprintf(a.stdout, "digest %s recorded: %d message(s) %s -> operator %s\n", day, len(rows), strings.Join(ids, " "), c.Alerts.OperatorPhone)
			}
			// Deliver what is due, this digest first among equals (it is
			// the newest row, so older due warnings go before it).
			ds, err := dl.DeliverDue(ctx)
			if err != nil {
				return err
			}
			failed, halted := 0, false
			for _, d := range ds {
				what := d.Alert.Customer + " " + alerts.FormatPercent(d.Alert.Threshold) + "%"
				if d.Alert.Customer == store.NoticeCustomer {
					what = d.Alert.LimitKey
				}
				line := fmt.Sprintf("delivery #%d %s -> %s via %s (attempt %d): %s", d.Alert.ID, what, d.Alert.To, d.Alert.Channel, d.Alert.Attempts, d.Status)
				switch {
				case d.Status == store.AlertSkipped:
					line += ": " + d.Alert.LastError
				case d.Halted:
					halted = true
					line += " (halted: stays pending, attempt not counted)"
				}
				if d.ID != "" {
					line += " id=" + d.ID
				}
				if d.Err != nil {
					line += ": " + oneLine(d.Err.Error())
				}
				if d.Status == store.AlertFailed {
					failed++
				}
				fmt.Fprintln(a.stdout, line)
			}
			if failed > 0 {
				return fmt.Errorf("digest: %d message(s) failed for good; see `quotawatch alerts`", failed)
			}
			if halted {
				return errors.New("digest: deliveries halted by an account-level error (token, permission or account); the digest stays pending and goes out once it is fixed")
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&dryRun, "dry-run", false, "print the digest; record and send nothing")
	cmd.Flags().StringVar(&lang, "lang", "", "ar or en (default: alerts.language)")
	cmd.Flags().StringVar(&at, "at", "", "with --dry-run: compose the digest as of this time (RFC 3339), e.g. to read the bundled sample's month")
	return cmd
}

// digestState says when a recorded digest was recorded and where its parts
// stand: " at 09:00:02 (2 parts: sent, sent)".
func digestState(parts []store.Alert, loc *time.Location) string {
	if len(parts) == 0 {
		return ""
	}
	st := make([]string, len(parts))
	for i, p := range parts {
		st[i] = p.Status
	}
	return fmt.Sprintf(" at %s (%d part(s): %s)", time.UnixMilli(parts[0].CreatedMs).In(loc).Format(time.RFC3339), len(parts), strings.Join(st, ", "))
}

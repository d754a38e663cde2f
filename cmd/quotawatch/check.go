package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/quotawatch/quotawatch/alerts"
	"github.com/quotawatch/quotawatch/store"
)

// checker builds the threshold checker over an open store.
func (a *app) checker(c *Config, st *store.Store) (*alerts.Checker, error) {
	ts, err := alerts.NewTemplates(c.Alerts.Templates)
	if err != nil {
		return nil, cfgErr("alerts.templates", "%v", err)
	}
	return &alerts.Checker{Store: st, Config: c.Alerts, Customers: c.Customers, Location: c.loc,
		Channel: c.Notify.Channel, Templates: ts, Now: a.now}, nil
}

// parseDur reads an optional duration key (validate has checked it).
func parseDur(s string, def time.Duration) time.Duration {
	if d, err := time.ParseDuration(s); err == nil && d > 0 {
		return d
	}
	return def
}

// notifier builds the configured notifier. The WhatsApp token is read here
// and lives only inside the notifier: it is never logged or printed.
func (a *app) notifier(c *Config) (alerts.Notifier, error) {
	n := c.Notify
	switch n.Channel {
	case "whatsapp":
		if err := c.tokenError(); err != nil {
			return nil, err
		}
		tok, err := alerts.ReadToken(n.WhatsApp)
		if err != nil {
			return nil, cfgErr("notify.whatsapp.token_env", "%v", err)
		}
		wn := &alerts.WhatsAppNotifier{Config: n.WhatsApp, Token: tok,
			Client: &http.Client{Timeout: parseDur(n.WhatsApp.Timeout, 20*time.Second)}}
		if alerts.TokenFromFile(n.WhatsApp) {
			// Re-read before each send and while halted: replacing an
			// expired token in the file resumes deliveries without a restart.
			wn.TokenFile = n.WhatsApp.TokenFile
		}
		return wn, nil
	case "clawdbot":
		return &alerts.ClawdbotNotifier{Command: n.Clawdbot.Command, Args: n.Clawdbot.Args,
			Timeout: parseDur(n.Clawdbot.Timeout, 30*time.Second)}, nil
	case "webhook":
		return &alerts.WebhookNotifier{URL: n.Webhook.URL, Client: &http.Client{Timeout: parseDur(n.Webhook.Timeout, 20*time.Second)}}, nil
	}
	return &alerts.LogNotifier{Log: a.log}, nil
}

// deliverer builds the outbox sender.
func (a *app) deliverer(c *Config, st *store.Store) (*alerts.Deliverer, error) {
	nt, err := a.notifier(c)
	if err != nil {
		return nil, err
	}
	b := alerts.DefaultBackoff()
	b.Base = parseDur(c.Notify.Retry.Base, b.Base)
	b.Max = parseDur(c.Notify.Retry.Max, b.Max)
	if c.Notify.Retry.Attempts > 0 {
		b.Attempts = c.Notify.Retry.Attempts
	}
	// The lease outlives the longest single send, so a live sender never
	// has its row taken over by another process.
	lease := 2 * time.Minute
	for _, s := range []string{c.Notify.WhatsApp.Timeout, c.Notify.Clawdbot.Timeout, c.Notify.Webhook.Timeout} {
		if d := parseDur(s, 0); 2*d+10*time.Second > lease {
			lease = 2*d + 10*time.Second
		}
	}
	return &alerts.Deliverer{Store: st, Notifier: nt, Backoff: b, Lease: lease, Now: a.now, Log: a.log}, nil
}

// alertsDaemon wires the checker and the deliverer for `run`.
func (a *app) alertsDaemon(c *Config, st *store.Store) (*alerts.Daemon, error) {
	ch, err := a.checker(c, st)
	if err != nil {
		return nil, err
	}
	dl, err := a.deliverer(c, st)
	if err != nil {
		return nil, err
	}
	return a.withDigest(c, st, &alerts.Daemon{Checker: ch, Deliverer: dl, Schedule: c.Alerts.Schedule, Location: c.loc, Log: a.log})
}

func (a *app) checkCmd() *cobra.Command {
	var dryRun bool
	cmd := &cobra.Command{
		Use:   "check",
		Short: "Evaluate thresholds now and deliver due alerts (--dry-run: print what would be sent, send nothing)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := a.setup()
			if err != nil {
				return err
			}
			// --dry-run only reads: it must not create, migrate or
			// re-attribute the database any more than `usage` does.
			open := a.openStore
			if dryRun {
				open = a.openReader
			}
			st, err := open(cmd.Context(), c)
			if err != nil {
				return err
			}
			defer st.Close()
			ch, err := a.checker(c, st)
			if err != nil {
				return err
			}
			if dryRun {
				plan, err := ch.Plan(cmd.Context())
				if err != nil {
					return err
				}
				return a.printPlan(c, plan)
			}
			// The notifier is built before deciding: a missing token must
			// not leave decisions behind that nothing can send.
			dl, err := a.deliverer(c, st)
			if err != nil {
				return err
			}
			rows, err := ch.Check(cmd.Context())
			if err != nil {
				return err
			}
			for _, r := range rows {
				fmt.Fprintf(a.stdout, "decided  #%d %s %s %s%% -> %s: %s\n", r.ID, r.Customer, r.Period, alerts.FormatThreshold(r.Threshold), r.To, r.Status)
			}
			ds, err := dl.DeliverDue(cmd.Context())
			if err != nil {
				return err
			}
			failed, halted := 0, false
			for _, d := range ds {
				var line string
				switch {
				case d.Status == store.AlertSkipped:
					line = fmt.Sprintf("delivery #%d %s %s%% -> %s: skipped: %s", d.Alert.ID, d.Alert.Customer,
						alerts.FormatThreshold(d.Alert.Threshold), d.Alert.To, d.Alert.LastError)
				case d.Halted:
					halted = true
					line = fmt.Sprintf("delivery #%d %s %s%% -> %s via %s: halted (stays pending, attempt not counted)", d.Alert.ID,
						d.Alert.Customer, alerts.FormatThreshold(d.Alert.Threshold), d.Alert.To, d.Alert.Channel)
				default:
					line = fmt.Sprintf("delivery #%d %s %s%% -> %s via %s (attempt %d): %s", d.Alert.ID, d.Alert.Customer,
						alerts.FormatThreshold(d.Alert.Threshold), d.Alert.To, d.Alert.Channel, d.Alert.Attempts, d.Status)
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
			if len(rows) == 0 && len(ds) == 0 {
				fmt.Fprintln(a.stdout, "nothing due")
			}
			if failed > 0 {
				return fmt.Errorf("check: %d alert(s) failed for good; see `quotawatch alerts`", failed)
			}
			if halted {
				// Nothing is lost, but nothing can be sent either: a script
				// running check must not read this as success.
				return errors.New("check: deliveries halted by an account-level error (token, permission or account); the alerts stay pending and go out once it is fixed")
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&dryRun, "dry-run", false, "print what would be sent and to whom; record and send nothing")
	return cmd
}

// printPlan prints a dry run: each decision with its recipient and text.
func (a *app) printPlan(c *Config, plan []store.Alert) error {
	if len(plan) == 0 {
		fmt.Fprintln(a.stdout, "nothing due")
		return nil
	}
	for _, r := range plan {
		to := r.Recipient
		if to == "" {
			to = "(no phone)"
		}
		verb := "would send"
		if r.Status == store.AlertSkipped {
			verb = "would skip"
		}
		fmt.Fprintf(a.stdout, "%s %s%% %s %s (%.2f%%, %s of %s %s) to %s %s via %s\n", verb, alerts.FormatThreshold(r.Threshold),
			r.Customer, r.Period, r.Percent, alerts.FormatRecorded(r.Used, r.Unit), alerts.FormatRecorded(r.Limit, r.Unit), r.Unit,
			r.To, to, c.Notify.Channel)
		if r.Status != store.AlertSkipped {
			for _, l := range strings.Split(r.Message, "\n") {
				fmt.Fprintln(a.stdout, "    "+l)
			}
		}
	}
	fmt.Fprintln(a.stdout, "(dry run: nothing recorded, nothing sent)")
	return nil
}

// runAlerts starts the alerts daemon for `run`; the returned function stops
// it and waits for it.
func (a *app) runAlerts(ctx context.Context, d *alerts.Daemon) (stop func()) {
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := d.Run(ctx); err != nil {
			a.log.Error("alerts", "err", err)
		}
	}()
	return func() {
		cancel()
		<-done
	}
}

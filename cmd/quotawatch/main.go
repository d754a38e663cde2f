// Command quotawatch meters Clawdbot's AI provider calls per customer into
// SQLite and warns customers approaching their monthly limit.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"
	_ "time/tzdata" // timezones work on hosts without a zoneinfo database

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/quotawatch/quotawatch/monitor"
	"github.com/quotawatch/quotawatch/report"
	"github.com/quotawatch/quotawatch/store"
)

func main() {
	ctx, stop := signalContext(os.Interrupt, syscall.SIGTERM)
	stopProfile := cpuProfile()
	code := Main(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	stopProfile()
	os.Exit(code)
}

// signalCause is the cause of the context signalContext cancels: which
// signal stopped the work, so the exit code can say it (128 + its number).
type signalCause struct{ sig os.Signal }

func (s *signalCause) Error() string { return s.sig.String() + " signal received" }

// Is makes the cause a context.Canceled, as signal.NotifyContext's is.
func (s *signalCause) Is(target error) bool { return target == context.Canceled }

// signalContext is signal.NotifyContext with the signal kept as a typed
// cause (NotifyContext's cause is only text).
func signalContext(sigs ...os.Signal) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancelCause(context.Background())
	ch := make(chan os.Signal, 1)
	signal.Notify(ch, sigs...)
	done := make(chan struct{})
	go func() {
		select {
		case s := <-ch:
			cancel(&signalCause{sig: s})
		case <-done:
		}
	}()
	return ctx, func() {
		signal.Stop(ch)
		close(done)
		cancel(context.Canceled)
	}
}

// signalExitCode is the shell's code for a process stopped by the signal
// that cancelled ctx (SIGINT 130, SIGTERM 143), else 1.
func signalExitCode(ctx context.Context) int {
	var sc *signalCause
	if errors.As(context.Cause(ctx), &sc) {
		if n, ok := sc.sig.(syscall.Signal); ok {
			return 128 + int(n)
		}
	}
	return 1
}

// exitError carries an exit code through cobra.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

// usageErr is a bad command line: exit 2.
func usageErr(format string, args ...any) error {
	return &exitError{code: 2, err: fmt.Errorf(format, args...)}
}

// asUsage marks err, from cobra or pflag, as a bad command line.
func asUsage(err error) error {
	if err == nil {
		return nil
	}
	return &exitError{code: 2, err: err}
}

// app holds what the commands share.
type app struct {
	configFile string
	dbFile     string
	logLevel   string
	// logJSON is set once setup has built a JSON logger: the last error
	// is then a JSON line too, so stderr stays machine-readable.
	logJSON bool
	stdout  io.Writer
	stderr  io.Writer
	now     func() time.Time
	log     *slog.Logger
	arm     bool // run --arm: send what the history already crossed (see Checker.HoldBacklog)
}

// Main runs the CLI and returns the process exit code: 0 ok, 1 runtime
// failure, 2 bad usage or bad configuration, 130/143 for a backfill stopped
// by SIGINT/SIGTERM before its end. The code comes from the error's type,
// never from its text.
func Main(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	a := &app{stdout: stdout, stderr: stderr, now: time.Now}
	root := a.rootCmd()
	root.SetArgs(args)
	root.SetOut(stdout)
	root.SetErr(stderr)
	err := root.ExecuteContext(ctx)
	if err == nil {
		return 0
	}
	code := exitCode(err)
	if a.logJSON && a.log != nil {
		a.log.Error(oneLine(err.Error()), "exit_code", code)
		return code
	}
	fmt.Fprintln(stderr, "quotawatch: "+oneLine(err.Error()))
	return code
}

// exitCode chooses the exit code by the error's type.
func exitCode(err error) int {
	var ce *ConfigError
	var ee *exitError
	switch {
	case err == nil:
		return 0
	case errors.As(err, &ee):
		return ee.code
	case errors.As(err, &ce):
		return 2
	}
	return 1
}

// strictArgs makes every command's argument errors usage errors (exit 2),
// and makes a command with subcommands refuse an unknown one: cobra would
// print its help and exit 0 (or, at the root, return an untyped error).
func strictArgs(cmd *cobra.Command) {
	// A group (no Run of its own) refuses what is not one of its
	// subcommands even when it declares Args (cobra's completion command
	// has NoArgs, yet shows its help and exits 0 for `completion bogus`).
	if cmd.HasSubCommands() && (cmd.Args == nil || !cmd.Runnable()) {
		cmd.Args = func(cmd *cobra.Command, args []string) error {
			if len(args) == 0 {
				return nil
			}
			hint := ""
			if s := cmd.SuggestionsFor(args[0]); len(s) > 0 {
				hint = fmt.Sprintf(" (did you mean %q?)", s[0])
			}
			return usageErr("unknown command %q for %q%s", args[0], cmd.CommandPath(), hint)
		}
		if cmd.Run == nil && cmd.RunE == nil {
			cmd.RunE = func(cmd *cobra.Command, _ []string) error { return cmd.Help() }
		}
	} else if args := cmd.Args; args != nil {
		cmd.Args = func(cmd *cobra.Command, a []string) error { return asUsage(args(cmd, a)) }
	}
	for _, sub := range cmd.Commands() {
		strictArgs(sub)
	}
}

func (a *app) rootCmd() *cobra.Command {
	root := &cobra.Command{
		Use:   "quotawatch",
		Short: "Meter Clawdbot's AI calls per customer and warn before the monthly limit",
		Example: `  quotawatch config check                 # which config file, and is it right
  quotawatch backfill ~/.clawdbot          # read the history once
  quotawatch run                           # follow, meter and warn until stopped`,
		SilenceUsage:  true,
		SilenceErrors: true,
		Annotations: exitCodes(exitLineOK, exitLineRuntime, exitLineUsage,
			"130  backfill stopped by SIGINT before its end (143: by SIGTERM)"),
	}
	root.PersistentFlags().StringVar(&a.configFile, "config", "", "config file (default: $QUOTAWATCH_CONFIG, ./quotawatch.yaml, $XDG_CONFIG_HOME/quotawatch/config.yaml or ~/.config/quotawatch/config.yaml, "+systemConfigFile+", the first that exists)")
	root.PersistentFlags().StringVar(&a.dbFile, "db", "", "database file (overrides store.path)")
	root.PersistentFlags().StringVar(&a.logLevel, "log-level", "", "debug, info, warn or error (overrides log.level)")
	root.AddCommand(a.runCmd(), a.backfillCmd(), a.usageCmd(), a.configCmd(), a.versionCmd())
	root.AddCommand(a.checkCmd(), a.alertsCmd(), a.dbCmd())
	root.AddCommand(a.digestCmd(), a.statusCmd())
	root.Version = buildVersion().String()
	root.SetVersionTemplate("quotawatch {{.Version}}\n")
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return asUsage(err) })
	// cobra would add its completion command only inside Execute, after
	// the walks below: add it now so it gets their exit codes and help.
	root.InitDefaultCompletionCmd()
	documentCompletion(root)
	strictArgs(root)
	a.completeValues(root)
	defaultExitCodes(root)
	root.SetUsageTemplate(usageTemplate(root.UsageTemplate()))
	return root
}

// setup loads the configuration and the logger.
func (a *app) setup() (*Config, error) {
	c, err := loadConfig(a.configFile, a.dbFile)
	if err != nil {
		return nil, err
	}
	level := c.Log.Level
	if a.logLevel != "" {
		level = a.logLevel
	}
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(level)); err != nil {
		return nil, cfgErr("log.level", "unknown level %q", level)
	}
	a.log = newLogger(a.stderr, c.Log.Format, lv)
	a.logJSON = c.Log.Format == "json"
	for _, w := range c.warnings {
		a.log.Warn(w)
	}
	return c, nil
}

// newLogger is the logger log.format names: slog's text (key=value) or
// JSON handler on w. Every time it writes, the record's own and any time
// attribute, is in UTC (RFC 3339, ending in Z), whatever the host's zone:
// lines from two hosts, or from before and after a TZ change, compare as
// they are. (The configured timezone is for months and schedules; a log
// line says which zone it is in by its Z.)
func newLogger(w io.Writer, format string, lv slog.Level) *slog.Logger {
	opts := &slog.HandlerOptions{Level: lv, ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
		if a.Value.Kind() == slog.KindTime {
			a.Value = slog.TimeValue(a.Value.Time().UTC())
		}
		return a
	}}
	if format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// openStore opens the database for writing and applies the current customer
// mapping to the stored history (a no-op unless the mapping changed).
func (a *app) openStore(ctx context.Context, c *Config) (*store.Store, error) {
	st, err := store.Open(ctx, c.Store.Path)
	if err != nil {
		return nil, err
	}
	attr := c.attributor()
	changed, err := st.Reattribute(ctx, attr.Fingerprint(), attr.CustomerOf, attr.DayOf)
	if err != nil {
		st.Close()
		return nil, err
	}
	if changed {
		a.log.Info("customer mapping changed; stored history re-attributed")
	}
	return st, nil
}

// openReader opens the database read-only for the read commands: nothing
// is created, migrated or re-attributed, so `usage` with another config (or
// as another user) never rewrites the history `run` keeps.
func (a *app) openReader(ctx context.Context, c *Config) (*store.Store, error) {
	st, err := store.OpenReadOnly(ctx, c.Store.Path)
	if errors.Is(err, store.ErrNoDatabase) {
		return nil, fmt.Errorf("%w: run `quotawatch backfill` or `quotawatch run` first", err)
	}
	if err != nil {
		return nil, err
	}
	if fp, err := st.Meta(ctx, "attribution"); err == nil && fp != "" && fp != c.attributor().Fingerprint() {
		a.log.Warn("this config's customer mapping differs from the one the database was attributed with; " +
			"showing the history as stored (a restart of `quotawatch run` with this config re-attributes it)")
	}
	return st, nil
}

// cleanStop turns an error caused only by SIGINT/SIGTERM arriving before the
// work began (`read checkpoints: context canceled`) into a clean stop.
func cleanStop(ctx context.Context, err error) bool {
	return err != nil && ctx.Err() != nil && errors.Is(err, context.Canceled)
}

func (a *app) runCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "run",
		Short: "Follow the configured sources until SIGINT/SIGTERM",
		Example: `  quotawatch run                                   # the first config discovery finds
  quotawatch run --config /etc/quotawatch/config.yaml --log-level debug`,
		Annotations: exitCodes("0    stopped by SIGINT or SIGTERM",
			"1    runtime failure, or another `quotawatch run` already writes this database",
			exitLineUsage+", or a configured source that does not exist"),
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			err := a.run(cmd.Context())
			if cleanStop(cmd.Context(), err) {
				// A stop before work began is a clean stop: nothing was
				// half-done (every write is a transaction).
				if a.log != nil {
					a.log.Info("stopped by signal before work was done", "reason", context.Cause(cmd.Context()))
				}
				return nil
			}
			return err
		},
	}
	cmd.Flags().BoolVar(&a.arm, "arm", false, "on a database whose alerts were never armed, send the warnings the history already crossed (default: record them as held, send only what is crossed from now on)")
	return cmd
}

func (a *app) run(ctx context.Context) error {
	c, err := a.setup()
	if err != nil {
		return err
	}
	if err := c.sourcesReady("quotawatch run"); err != nil {
		return err
	}
	webToken, err := c.webToken()
	if err != nil {
		return err
	}
	// One writer per database: a second run would ingest and alert twice
	// over. The lock is taken before the database is touched.
	lock, err := store.LockWriter(c.Store.Path, "run")
	if err != nil {
		return err
	}
	defer lock.Release()
	st, err := a.openStore(ctx, c)
	if err != nil {
		return err
	}
	defer st.Close()
	m := monitor.New(c.monitorConfig(), st, c.attributor(), a.log)
	ad, err := a.alertsDaemon(c, st)
	if err != nil {
		return err
	}
	p2, err := a.startPhase2(ctx, c, st)
	if err != nil {
		return err
	}
	defer p2.stop()
	// OnCommit runs on the ingest writer: Kick and committed never block it.
	m.OnCommit = func(r store.CommitResult) { ad.Kick(); p2.committed(r) }
	caughtUp, stopWeb, err := a.startWeb(c, st, m, webToken)
	if err != nil {
		return err
	}
	defer stopWeb()
	stopAlerts := a.runAlerts(ctx, ad)
	a.log.Info("quotawatch running", "version", buildVersion().String(), "db", c.Store.Path, "sources", len(c.Sources), "notify", c.Notify.Channel)
	err = m.Run(ctx, func() {
		ss := m.Stats().Sources
		a.logFollowing(c, ss)
		a.logSources("read at catch-up", ss)
		ad.Ready()
		caughtUp()
	})
	stopAlerts()
	s := m.Stats()
	a.log.Info("stopped", "lines", s.Lines, "new_events", s.Inserted, "duplicates", s.Duplicates, "bad_lines", s.Bad)
	a.logSources("read until stop", s.Sources)
	return err
}

// logFollowing says, once the first catch-up is done, how many files and
// databases run follows, and warns when that is none: a sidecar that
// meters nothing must not look like one that meters everything.
func (a *app) logFollowing(c *Config, ss []monitor.SourceStats) {
	var files, dbs int64
	for _, s := range ss {
		files += s.Files
		dbs += s.Databases
	}
	if files+dbs == 0 {
		var where []string
		for _, s := range ss {
			where = append(where, s.Source)
		}
		a.log.Warn("caught up; following nothing: no transcript, log file or agent database in any source yet "+
			"(they are read as soon as they appear; check sources[] if they should be there)",
			"files", files, "databases", dbs, "sources", strings.Join(where, ", "))
		return
	}
	a.log.Info("caught up; following", "files", files, "databases", dbs, "sources", len(c.Sources))
}

// logSources logs what each source read, one line per source.
func (a *app) logSources(msg string, ss []monitor.SourceStats) {
	for _, s := range ss {
		args := []any{"source", s.Source, "kind", s.Kind, "files", s.Files, "items", s.Items, "lines", s.Lines, "events", s.Events, "bad", s.Bad}
		if s.Databases > 0 || s.Rows > 0 || s.Archives > 0 {
			args = append(args, "databases", s.Databases, "rows", s.Rows, "compressed_rows", s.CompressedRows, "archives", s.Archives)
		}
		a.log.Info(msg, args...)
	}
}

// sourceLine is one source's line in the text summary.
func sourceLine(s monitor.SourceStats) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s: %d files", s.Source, s.Files)
	if s.Databases > 0 || s.Rows > 0 || s.Archives > 0 {
		fmt.Fprintf(&b, ", %d databases, %d sessions, %d rows (%d compressed), %d archives", s.Databases, s.Items, s.Rows, s.CompressedRows, s.Archives)
	}
	fmt.Fprintf(&b, ", %d lines, %d events, %d bad", s.Lines, s.Events, s.Bad)
	return b.String()
}

func (a *app) backfillCmd() *cobra.Command {
	var format string
	var noProgress bool
	cmd := &cobra.Command{
		Use:   "backfill [PATH...]",
		Short: "Ingest old transcripts once (a state dir, a sessions dir, files, or a configured jsonl source's logs; default: the configured sources)",
		Example: `  quotawatch backfill                                   # every configured source, once
  quotawatch backfill ~/.clawdbot/agents/main/sessions --format json`,
		Annotations: exitCodes("0    every source read to its end",
			exitLineRuntime,
			exitLineUsage+", a PATH of no supported kind, or an OpenClaw database of unknown schema (the rest is read)",
			"130  stopped by SIGINT before the end (143: by SIGTERM); what was read is stored"),
		RunE: func(cmd *cobra.Command, paths []string) error {
			if format != "text" && format != "json" {
				return usageErr("--format: want text or json, got %q", format)
			}
			c, err := a.setup()
			if err != nil {
				return err
			}
			if len(paths) == 0 {
				if err := c.sourcesReady("quotawatch backfill without PATH"); err != nil {
					return err
				}
			}
			ctx := cmd.Context()
			// A stop by SIGINT/SIGTERM before the end exits 128+signal, as
			// a shell does: what was read is committed, but not all of it.
			interrupted := func() error {
				return &exitError{code: signalExitCode(ctx), err: fmt.Errorf("backfill interrupted before the end (%v); what was read is stored, run backfill again to read the rest", context.Cause(ctx))}
			}
			if h, held := store.Held(c.Store.Path); held {
				// Safe alongside run: events are keyed, so a file both read
				// counts once, and SQLite serialises the two writers.
				a.log.Info("the database is also being written by "+h.String()+"; backfill shares it safely", "db", c.Store.Path)
			}
			st, err := a.openStore(ctx, c)
			if err != nil {
				if ctx.Err() != nil {
					return interrupted()
				}
				return err
			}
			defer st.Close()
			m := monitor.New(c.monitorConfig(), st, c.attributor(), a.log)
			var tally billedTally
			m.OnCommit = tally.add
			var bar *backfillBar
			if f, ok := a.stderr.(*os.File); ok && !noProgress && term.IsTerminal(int(f.Fd())) {
				m.Progress = func(n int64) { bar.add(n) }
			}
			defer lowerGCTarget(os.Getenv)()
			start := a.now()
			stats, err := m.Backfill(ctx, paths, func(total int64) {
				if m.Progress != nil {
					bar = newBackfillBar(a.stderr, total)
				}
			})
			if bar != nil {
				bar.end(err == nil && ctx.Err() == nil)
			}
			sum := func() backfillSummary { return tally.summary(stats, c) }
			if err != nil && ctx.Err() != nil {
				// The signal cut the work short (while loading checkpoints,
				// or a write it cancelled): that is the reason to report.
				a.log.Debug("backfill stopped by signal", "err", err)
				return interrupted()
			}
			if err != nil {
				if errors.Is(err, monitor.ErrNoSources) {
					return usageErr("backfill: nothing to read")
				}
				if errors.Is(err, monitor.ErrUnsupportedPath) {
					return &exitError{code: 2, err: err}
				}
				var us *monitor.UnknownSchemaError
				if errors.As(err, &us) {
					// The other sources are read and stored: say what they
					// gave, then name the database that was not read.
					if perr := a.printBackfill(format, sum(), a.now().Sub(start)); perr != nil {
						return perr
					}
					return &exitError{code: 2, err: err}
				}
				return err
			}
			if err := a.printBackfill(format, sum(), a.now().Sub(start)); err != nil {
				return err
			}
			if ctx.Err() != nil {
				// Stopped by SIGINT/SIGTERM: the summary is not the whole
				// of PATH, so it must not look like a success.
				return interrupted()
			}
			return nil
		},
	}
	formatFlag(cmd, &format, "text", "text", "json")
	cmd.Flags().BoolVar(&noProgress, "no-progress", false, "never draw a progress bar")
	return cmd
}

func (a *app) printBackfill(format string, s backfillSummary, took time.Duration) error {
	if format == "json" {
		return report.WriteJSON(a.stdout, s)
	}
	fmt.Fprintf(a.stdout, "files:             %d\n", s.Files)
	fmt.Fprintf(a.stdout, "lines:             %d\n", s.Lines)
	fmt.Fprintf(a.stdout, "new events:        %d\n", s.Inserted)
	fmt.Fprintf(a.stdout, "duplicates:        %d\n", s.Duplicates)
	fmt.Fprintf(a.stdout, "synthetic skipped: %d\n", s.Synthetic)
	fmt.Fprintf(a.stdout, "bad lines:         %d\n", s.Bad)
	fmt.Fprintf(a.stdout, "unreadable files:  %d\n", s.Unreadable)
	fmt.Fprintf(a.stdout, "took:              %s\n", took.Round(time.Millisecond))
	fmt.Fprintf(a.stdout, "sources:           %d\n", len(s.Sources))
	for _, src := range s.Sources {
		fmt.Fprintf(a.stdout, "  - %s\n", sourceLine(src))
	}
	// Warnings go to stdout too: an empty source or a skipped directory
	// changes what the numbers above mean.
	fmt.Fprintf(a.stdout, "warnings:          %d\n", len(s.Warnings))
	for _, w := range s.Warnings {
		fmt.Fprintf(a.stdout, "  - %s\n", w)
	}
	// Who was billed what, so an operator sees at once what went to no
	// customer (before, only `usage` told).
	fmt.Fprintf(a.stdout, "customers:         %d\n", len(s.Customers))
	for _, cc := range s.Customers {
		fmt.Fprintf(a.stdout, "  - %s: %s\n", cc.Customer, requestCounts(cc.Requests, cc.Failed))
	}
	u := s.Unassigned
	note := "matched no customer: see customers[].match and default_customer"
	switch {
	case u.DefaultCustomer != "":
		note = "default_customer " + u.DefaultCustomer + " takes every call no rule matches"
	case u.Requests == 0 && u.Failed == 0:
		note = "every call matched a customer"
	}
	fmt.Fprintf(a.stdout, "unassigned:        %s (%s)\n", requestCounts(u.Requests, u.Failed), note)
	return nil
}

// requestCounts is "12 requests" or "12 requests, 3 failed".
func requestCounts(requests, failed int64) string {
	s := fmt.Sprintf("%d requests", requests)
	if failed != 0 {
		s += fmt.Sprintf(", %d failed", failed)
	}
	return s
}

func (a *app) configCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "config", Short: "Configuration commands",
		Example: "  quotawatch config check"}
	cmd.AddCommand(&cobra.Command{
		Use:   "check",
		Short: "Validate the configuration and print it with secrets redacted",
		Example: `  quotawatch config check                                  # the file discovery finds
  quotawatch --config ./staging.yaml config check > effective.json`,
		Annotations: exitCodes("0    the configuration is valid (it is printed as JSON on stdout)",
			exitLineRuntime,
			"2    bad configuration (the key and the reason), or no config file found"),
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := a.setup()
			if err != nil {
				return err
			}
			if c.file == "" {
				// Defaults alone configure no source and no customer: an
				// "ok" would hide that the intended file was not found.
				return cfgErr("", "no config file found (looked for %s); name one with --config or $%s", strings.Join(c.tried, ", "), envConfigFile)
			}
			if err := c.tokenError(); err != nil {
				return err
			}
			for _, e := range c.sourceErrs {
				a.log.Warn("source not there yet: run and backfill refuse to start until it is", "problem", oneLine(e.Error()))
			}
			return a.printConfig(c)
		},
	})
	return cmd
}

func (a *app) printConfig(c *Config) error {
	out := struct {
		File   string  `json:"file"`
		Config *Config `json:"config"`
		Token  string  `json:"whatsapp_token"`
	}{File: c.file, Config: c, Token: redacted(c)}
	if out.File == "" {
		out.File = "(none: defaults and environment only)"
	}
	if err := report.WriteJSON(a.stdout, out); err != nil {
		return fmt.Errorf("print config: %w", err)
	}
	if a.logJSON {
		a.log.Info("config ok", "file", c.file, "found_as", c.fileFrom)
		return nil
	}
	fmt.Fprintf(a.stderr, "config ok: %s (found as %s)\n", c.file, c.fileFrom)
	return nil
}

// redacted says whether a WhatsApp token is available, never what it is.
func redacted(c *Config) string {
	w := c.Notify.WhatsApp
	if w.TokenEnv != "" && os.Getenv(w.TokenEnv) != "" {
		return "[redacted] (from $" + w.TokenEnv + ")"
	}
	if w.TokenFile != "" {
		if _, err := os.Stat(expandHome(w.TokenFile)); err == nil {
			return "[redacted] (from " + w.TokenFile + ")"
		}
	}
	return "(not set)"
}

func (a *app) versionCmd() *cobra.Command {
	var format string
	cmd := &cobra.Command{
		Use:   "version",
		Short: "Print the version (also: quotawatch --version)",
		Example: `  quotawatch version
  quotawatch version --format json`,
		Annotations: exitCodes(exitLineOK, "2    bad --format or an extra argument"),
		Args:        cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			v := buildVersion()
			switch format {
			case "text":
				fmt.Fprintln(a.stdout, "quotawatch "+v.String())
			case "json":
				if err := report.WriteJSON(a.stdout, v); err != nil {
					return fmt.Errorf("print version: %w", err)
				}
			default:
				return usageErr("--format: want text or json, got %q", format)
			}
			return nil
		},
	}
	formatFlag(cmd, &format, "text", "text", "json")
	return cmd
}

package main

import (
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/quotawatch/quotawatch/report"
)

// exitCodesKey is the command annotation that holds the command's exit
// codes; the usage template prints it after the flags, so every --help
// names them.
const exitCodesKey = "exit_codes"

// The exit code lines most commands share (DESIGN.md, CLI contract).
const (
	exitLineOK      = "0    success"
	exitLineRuntime = "1    runtime failure (database, file system, network)"
	exitLineUsage   = "2    bad usage (unknown command or flag, bad flag value or argument) or bad configuration"
)

// exitCodes is the annotation naming a command's exit codes, one line each.
func exitCodes(lines ...string) map[string]string {
	var b strings.Builder
	for i, l := range lines {
		if i > 0 {
			b.WriteByte('\n')
		}
		b.WriteString("  " + l)
	}
	return map[string]string{exitCodesKey: b.String()}
}

// usageTemplate is cobra's own usage template with an "Exit codes:"
// section after the flags.
func usageTemplate(base string) string {
	return strings.TrimSuffix(base, "\n") + `{{with index .Annotations "` + exitCodesKey + `"}}

Exit codes:
{{.}}{{end}}
`
}

// defaultExitCodes gives every command that names none the codes of the
// CLI contract, so a command added later still documents them.
func defaultExitCodes(cmd *cobra.Command) {
	if _, ok := cmd.Annotations[exitCodesKey]; !ok {
		if cmd.Annotations == nil {
			cmd.Annotations = map[string]string{}
		}
		cmd.Annotations[exitCodesKey] = exitCodes(exitLineOK, exitLineRuntime, exitLineUsage)[exitCodesKey]
	}
	for _, sub := range cmd.Commands() {
		defaultExitCodes(sub)
	}
}

// documentCompletion adds how to install the scripts to cobra's own
// completion command (added before the exit-code walk, so `completion
// bogus` is a usage error like any other).
func documentCompletion(root *cobra.Command) {
	for _, c := range root.Commands() {
		if c.Name() != "completion" {
			continue
		}
		c.Long += `
Completion covers commands and flags, and the values of --format, --customer
(the configured customer ids, from the same config discovery as every command)
and --month (this month and the twelve before it, in the configured timezone).`
		c.Example = `  source <(quotawatch completion bash)          # this shell only
  quotawatch completion bash > /etc/bash_completion.d/quotawatch
  quotawatch completion zsh > "${fpath[1]}/_quotawatch"
  quotawatch completion fish > ~/.config/fish/completions/quotawatch.fish`
		c.Annotations = exitCodes(exitLineOK, "2    unknown shell or extra argument")
		for _, sh := range c.Commands() {
			sh.Annotations = exitCodes(exitLineOK, "2    extra argument")
			sh.Example = shellExamples[sh.Name()]
		}
	}
}

// shellExamples are the install lines of each shell's completion script.
var shellExamples = map[string]string{
	"bash": `  source <(quotawatch completion bash)                       # this shell only
  quotawatch completion bash > /etc/bash_completion.d/quotawatch  # every new shell`,
	"zsh":        `  quotawatch completion zsh > "${fpath[1]}/_quotawatch"`,
	"fish":       `  quotawatch completion fish > ~/.config/fish/completions/quotawatch.fish`,
	"powershell": `  quotawatch completion powershell | Out-String | Invoke-Expression`,
}

// formatFlag defines a command's --format flag with its values, which are
// also what completion offers.
func formatFlag(cmd *cobra.Command, p *string, def string, values ...string) {
	usage := strings.Join(values, ", ")
	if n := len(values); n > 1 {
		usage = strings.Join(values[:n-1], ", ") + " or " + values[n-1]
	}
	cmd.Flags().StringVar(p, "format", def, usage)
	_ = cmd.RegisterFlagCompletionFunc("format", cobra.FixedCompletions(values, cobra.ShellCompDirectiveNoFileComp))
}

// completeValues registers value completion for --customer and --month on
// every command that has them and does not complete them already.
func (a *app) completeValues(cmd *cobra.Command) {
	for name, f := range map[string]cobra.CompletionFunc{"customer": a.completeCustomer, "month": a.completeMonth} {
		if cmd.Flags().Lookup(name) == nil {
			continue
		}
		if _, ok := cmd.GetFlagCompletionFunc(name); !ok {
			_ = cmd.RegisterFlagCompletionFunc(name, f)
		}
	}
	for _, sub := range cmd.Commands() {
		a.completeValues(sub)
	}
}

// completeCustomer offers the configured customer ids (name and tier as
// the description) and unassigned. It reads the config the command would
// read (--config is parsed by then) and never the database, so it is quick
// and works before the first run. A config that does not load offers
// nothing rather than file names.
func (a *app) completeCustomer(_ *cobra.Command, _ []string, prefix string) ([]cobra.Completion, cobra.ShellCompDirective) {
	c, err := loadConfig(a.configFile, a.dbFile)
	if err != nil {
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	var out []cobra.Completion
	for _, cu := range c.Customers {
		if !strings.HasPrefix(cu.ID, prefix) {
			continue
		}
		desc := cu.Name
		if cu.Tier != "" {
			desc = strings.TrimSpace(desc + " (tier " + cu.Tier + ")")
		}
		if desc == "" {
			out = append(out, cu.ID)
			continue
		}
		out = append(out, cobra.CompletionWithDesc(cu.ID, desc))
	}
	if strings.HasPrefix(report.Unassigned, prefix) {
		out = append(out, cobra.CompletionWithDesc(report.Unassigned, "calls that matched no customer"))
	}
	return out, cobra.ShellCompDirectiveNoFileComp | cobra.ShellCompDirectiveKeepOrder
}

// completionMonths is how many months before this one --month offers.
const completionMonths = 12

// completeMonth offers this month and the twelve before it, newest first,
// in the configured timezone (UTC when the config does not load): the
// months a bill is usually asked for, without opening the database.
func (a *app) completeMonth(_ *cobra.Command, _ []string, prefix string) ([]cobra.Completion, cobra.ShellCompDirective) {
	loc := time.UTC
	if c, err := loadConfig(a.configFile, a.dbFile); err == nil && c.loc != nil {
		loc = c.loc
	}
	now := a.now().In(loc)
	first := time.Date(now.Year(), now.Month(), 1, 12, 0, 0, 0, loc)
	var out []cobra.Completion
	for i := 0; i <= completionMonths; i++ {
		m := first.AddDate(0, -i, 0).Format("2006-01")
		if !strings.HasPrefix(m, prefix) {
			continue
		}
		switch i {
		case 0:
			out = append(out, cobra.CompletionWithDesc(m, fmt.Sprintf("this month (%s)", loc)))
		case 1:
			out = append(out, cobra.CompletionWithDesc(m, "last month"))
		default:
			out = append(out, m)
		}
	}
	return out, cobra.ShellCompDirectiveNoFileComp | cobra.ShellCompDirectiveKeepOrder
}

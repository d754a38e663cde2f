package alerts

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os/exec"
	"time"
)

// ClawdbotNotifier runs Clawdbot's own sender, which already owns the
// instance's WhatsApp link:
//
//	<command> message send --channel whatsapp --target <E.164> --message <text> --json [args...]
type ClawdbotNotifier struct {
	Command string
	Args    []string // appended after the standard arguments
	Timeout time.Duration
}

// Channel implements Notifier.
func (c *ClawdbotNotifier) Channel() string { return "clawdbot" }

// NeedsPhone implements Notifier.
func (c *ClawdbotNotifier) NeedsPhone() bool { return true }

// Send implements Notifier: exit status 0 is success, anything else (or the
// timeout) a failure worth retrying. The message goes as one argument, never
// through a shell.
func (c *ClawdbotNotifier) Send(ctx context.Context, n Notification) (string, error) {
	if n.To == "" {
		return "", permanent(0, "no phone number for the %s", n.Kind)
	}
	timeout := c.Timeout
	if timeout <= 0 {
		timeout = 30 * time.Second
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	args := append([]string{"message", "send", "--channel", "whatsapp", "--target", n.To, "--message", n.Text, "--json"}, c.Args...)
	cmd := exec.CommandContext(ctx, c.Command, args...)
	cmd.WaitDelay = 2 * time.Second
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	if ctx.Err() == context.DeadlineExceeded {
		return "", transient(0, "%s message send: timed out after %s", c.Command, timeout)
	}
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return "", transient(ee.ExitCode(), "%s message send exited %d: %s", c.Command, ee.ExitCode(), oneLine(stderr.String()+" "+stdout.String()))
		}
		// Not found or not executable: a configuration error, and retrying
		// cannot help until the operator fixes it.
		return "", permanent(0, "run %s: %w", c.Command, err)
	}
	return clawdbotMessageID(stdout.Bytes()), nil
}

// clawdbotMessageID picks a message id out of the --json output, if any.
func clawdbotMessageID(out []byte) string {
	var v map[string]any
	if json.Unmarshal(bytes.TrimSpace(out), &v) != nil {
		return ""
	}
	for _, k := range []string{"messageId", "message_id", "id"} {
		if s, ok := v[k].(string); ok && s != "" {
			return s
		}
	}
	if r, ok := v["result"].(map[string]any); ok {
		for _, k := range []string{"messageId", "message_id", "id"} {
			if s, ok := r[k].(string); ok && s != "" {
				return s
			}
		}
	}
	return ""
}

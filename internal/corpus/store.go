package corpus

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// StoreOptions says what sessions.json WriteStore writes.
type StoreOptions struct {
	// Agent is the agent id in the keys (default "main").
	Agent string
	// Entries is the number of sessions (default 10,000).
	Entries int
	// Bytes is the approximate file size; 0 means Entries × 10 KB, the
	// size of a real entry with skillsSnapshot and systemPromptReport.
	Bytes int64
	// StateDir is the state directory the sessionFile paths point into.
	StateDir string
	// Seed makes the output reproducible.
	Seed uint64
	// Keep holds raw entries (key → JSON value) written first, unchanged:
	// a corpus's real sessions padded with generated ones.
	Keep map[string]json.RawMessage
}

// StoreSession is a session a generated store names.
type StoreSession struct {
	Key       string
	SessionID string
}

// Real entries carry the agent's whole skill prompt and a report of the
// system prompt; both are mostly the same across the sessions of an agent,
// which is why a 10k-session file reaches 100 MB.
var (
	skillNames = []string{"bluebubbles", "github", "notion", "skill-creator", "slack", "tmux", "weather",
		"apple-notes", "1password", "camsnap", "gemini", "himalaya", "nano-pdf", "openai-whisper", "peekaboo",
		"sag", "songsee", "spotify-player", "summarize", "video-frames", "wacli", "gog", "goplaces", "obsidian"}
	skillBlurbs = []string{
		"Build or update the BlueBubbles external channel plugin for Clawdbot (extension package, REST send/probe, webhook inbound).",
		"Interact with GitHub using the `gh` CLI. Use `gh issue`, `gh pr`, `gh run`, and `gh api` for issues, PRs, CI runs, and advanced queries.",
		"Notion API for creating and managing pages, databases, and blocks.",
		`Create or update AgentSkills. Use when designing, structuring, or packaging skills with "scripts", {references} and [assets].`,
		"Use when you need to control Slack from Clawdbot via the slack tool, including reacting to messages or pinning/unpinning items.",
		`Remote-control tmux sessions: send keys like "C-c" or "\"q\"" and scrape pane output (regex: ^\s*\$ ).`,
		"Get current weather and forecasts (no API key required). الطقس اليوم في الرياض 🌤",
		`Windows paths work too: C:\Users\clawd\skills\{name}\SKILL.md — and so do "}{" in text.`,
	}
	storeTools = []string{"read", "edit", "write", "exec", "process", "browser", "canvas", "nodes", "cron", "message",
		"tts", "gateway", "agents_list", "sessions_list", "sessions_history", "sessions_send", "sessions_spawn",
		"session_status", "web_search", "web_fetch", "image", "memory_search", "memory_get"}
	workspaceFiles = []string{"AGENTS.md", "SOUL.md", "TOOLS.md", "IDENTITY.md", "USER.md", "HEARTBEAT.md", "BOOTSTRAP.md"}
)

type storeTemplate struct {
	skills         int
	skillsSnapshot map[string]any
	report         func(sessionID, key string, at int64) map[string]any
}

func newStoreTemplate(r *rand.Rand, stateDir string, skills int) storeTemplate {
	var prompt strings.Builder
	prompt.WriteString("\n\nThe following skills provide specialized instructions for specific tasks.\nUse the read tool to load a skill's file when the task matches its description.\n\n<available_skills>\n")
	var list, resolved []map[string]any
	var entries []map[string]any
	for i := 0; i < skills; i++ {
		name := skillNames[i%len(skillNames)]
		if i >= len(skillNames) {
			name = fmt.Sprintf("%s-%d", name, i/len(skillNames))
		}
		blurb := skillBlurbs[r.IntN(len(skillBlurbs))]
		path := "/srv/clawdbot/node_modules/clawdbot/skills/" + name + "/SKILL.md"
		block := fmt.Sprintf("  <skill>\n    <name>%s</name>\n    <description>%s</description>\n    <location>%s</location>\n  </skill>\n", name, blurb, path)
		prompt.WriteString(block)
		list = append(list, map[string]any{"name": name})
		resolved = append(resolved, map[string]any{"name": name, "description": blurb, "filePath": path,
			"baseDir": filepath.Dir(path), "source": "clawdbot-bundled"})
		entries = append(entries, map[string]any{"name": name, "blockChars": len(block)})
	}
	prompt.WriteString("</available_skills>")
	snap := map[string]any{"prompt": prompt.String(), "skills": list, "resolvedSkills": resolved, "version": 0}
	var tools []map[string]any
	for _, t := range storeTools {
		tools = append(tools, map[string]any{"name": t, "summaryChars": 30 + r.IntN(1300), "schemaChars": 30 + r.IntN(3000), "propertiesCount": r.IntN(80)})
	}
	ws := filepath.Join(stateDir, "workspace")
	var files []map[string]any
	for _, f := range workspaceFiles {
		n := 100 + r.IntN(8000)
		files = append(files, map[string]any{"name": f, "path": filepath.Join(ws, f), "missing": false, "rawChars": n, "injectedChars": n, "truncated": false})
	}
	report := func(sessionID, key string, at int64) map[string]any {
		return map[string]any{"source": "run", "generatedAt": at, "sessionId": sessionID, "sessionKey": key,
			"provider": "anthropic", "model": "claude-sonnet-4-5", "workspaceDir": ws, "bootstrapMaxChars": 20000,
			"sandbox":                map[string]any{"mode": "off", "sandboxed": false},
			"systemPrompt":           map[string]any{"chars": 22855, "projectContextChars": 13336, "nonProjectContextChars": 9519},
			"injectedWorkspaceFiles": files,
			"skills":                 map[string]any{"promptChars": prompt.Len(), "entries": entries},
			"tools":                  map[string]any{"listChars": 1926, "schemaChars": 13801, "entries": tools}}
	}
	return storeTemplate{skills: skills, skillsSnapshot: snap, report: report}
}

// WriteStore writes a sessions.json shaped like Clawdbot's (pretty JSON,
// two spaces, one entry per session key) to w, entry by entry, and returns
// the sessions it names in file order. Entries mix per-peer WhatsApp DMs,
// groups, the shared main session, cron and hook sessions; every entry
// carries a skillsSnapshot and a systemPromptReport padded to the size
// asked for, with escapes, Arabic, an emoji and braces inside strings so a
// naive scanner breaks.
func WriteStore(w io.Writer, o StoreOptions) ([]StoreSession, error) {
	if o.Agent == "" {
		o.Agent = "main"
	}
	if o.Entries <= 0 {
		o.Entries = 10000
	}
	if o.Bytes <= 0 {
		o.Bytes = int64(o.Entries) * 10_000
	}
	r := rand.New(rand.NewPCG(o.Seed, 0x5e551045))
	keep := make([]string, 0, len(o.Keep))
	for k := range o.Keep {
		keep = append(keep, k)
	}
	sort.Strings(keep)
	gen := o.Entries - len(keep)
	var kept int64
	for _, k := range keep {
		kept += int64(len(o.Keep[k]) + len(k) + 8)
	}
	per := (o.Bytes - kept) / int64(max(gen, 1))
	// Find the number of skills that makes an entry about per bytes.
	tpl := newStoreTemplate(rand.New(rand.NewPCG(o.Seed, 1)), o.StateDir, 1)
	for s := 2; s < 400; s++ {
		probe, _ := json.MarshalIndent(storeEntryOf(r, tpl, o, 0, "agent:main:whatsapp:dm:+966500000000"), "  ", "  ")
		if int64(len(probe)) >= per {
			break
		}
		tpl = newStoreTemplate(rand.New(rand.NewPCG(o.Seed, 1)), o.StateDir, s)
	}
	bw := bufio.NewWriterSize(w, 1<<20)
	bw.WriteString("{")
	var out []StoreSession
	first := true
	sep := func() {
		if !first {
			bw.WriteString(",")
		}
		first = false
		bw.WriteString("\n  ")
	}
	for _, k := range keep {
		sep()
		kb, _ := json.Marshal(k)
		bw.Write(kb)
		bw.WriteString(": ")
		var ind bytes.Buffer
		if err := json.Indent(&ind, o.Keep[k], "  ", "  "); err != nil {
			return nil, fmt.Errorf("corpus: store entry %q: %w", k, err)
		}
		bw.Write(ind.Bytes())
		var id struct {
			SessionID string `json:"sessionId"`
		}
		json.Unmarshal(o.Keep[k], &id)
		out = append(out, StoreSession{Key: k, SessionID: id.SessionID})
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false) // as JSON.stringify writes
	enc.SetIndent("  ", "  ")
	for i := 0; i < gen; i++ {
		key := storeKey(r, o.Agent, i)
		e := storeEntryOf(r, tpl, o, i, key)
		sep()
		kb, _ := json.Marshal(key)
		bw.Write(kb)
		bw.WriteString(": ")
		buf.Reset()
		if err := enc.Encode(e); err != nil {
			return nil, fmt.Errorf("corpus: store entry: %w", err)
		}
		bw.Write(bytes.TrimRight(buf.Bytes(), "\n"))
		out = append(out, StoreSession{Key: key, SessionID: e["sessionId"].(string)})
	}
	bw.WriteString("\n}")
	if err := bw.Flush(); err != nil {
		return nil, fmt.Errorf("corpus: write store: %w", err)
	}
	return out, nil
}

func storeKey(r *rand.Rand, agent string, i int) string {
	switch x := r.IntN(100); {
	case x < 70:
		return fmt.Sprintf("agent:%s:whatsapp:dm:+9665%08d", agent, 10_000_000+i)
	case x < 85:
		return fmt.Sprintf("agent:%s:whatsapp:group:1203630%013d@g.us", agent, i)
	case x < 93:
		return fmt.Sprintf("agent:%s:telegram:group:-100%010d:topic:%d", agent, i, r.IntN(50))
	case x < 97:
		return fmt.Sprintf("cron:%s-job-%d", agent, i)
	default:
		return fmt.Sprintf("hook:%s", uuid(r))
	}
}

func storeEntryOf(r *rand.Rand, tpl storeTemplate, o StoreOptions, i int, key string) map[string]any {
	id := uuid(r)
	at := int64(1795738000000 + i*1000 + r.IntN(1000))
	peer := ""
	if j := strings.LastIndex(key, ":dm:"); j >= 0 {
		peer = key[j+4:]
	} else if j := strings.Index(key, ":group:"); j >= 0 {
		peer = strings.SplitN(key[j+7:], ":", 2)[0]
	}
	channel := "whatsapp"
	if strings.Contains(key, ":telegram:") {
		channel = "telegram"
	}
	e := map[string]any{
		"sessionId":       id,
		"updatedAt":       at,
		"systemSent":      true,
		"abortedLastRun":  false,
		"chatType":        map[bool]string{true: "direct", false: "group"}[strings.Contains(key, ":dm:")],
		"deliveryContext": map[string]any{"channel": channel, "to": peer, "accountId": "default"},
		"lastChannel":     channel,
		"lastTo":          peer,
		"origin": map[string]any{"label": `عميل "VIP" {` + fmt.Sprint(i) + `}`, "provider": channel, "surface": channel,
			"chatType": "direct", "from": peer, "to": "+966110000000", "accountId": "default"},
		"sessionFile":        filepath.Join(o.StateDir, "agents", o.Agent, "sessions", id+".jsonl"),
		"compactionCount":    r.IntN(3),
		"skillsSnapshot":     tpl.skillsSnapshot,
		"modelProvider":      "anthropic",
		"model":              "claude-sonnet-4-5",
		"contextTokens":      200000,
		"inputTokens":        r.IntN(20000),
		"outputTokens":       r.IntN(500),
		"totalTokens":        r.IntN(40000),
		"systemPromptReport": tpl.report(id, key, at),
	}
	if strings.HasPrefix(key, "cron:") || strings.HasPrefix(key, "hook:") {
		e["origin"] = map[string]any{"provider": "cron", "from": "+9665" + fmt.Sprintf("%08d", i)}
		delete(e, "chatType")
	}
	return e
}

// ReadStoreEntries reads a (small) sessions.json into raw entries, for
// padding it with WriteStore.
func ReadStoreEntries(path string) (map[string]json.RawMessage, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("corpus: %w", err)
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(data, &m); err != nil {
		return nil, fmt.Errorf("corpus: parse %s: %w", path, err)
	}
	return m, nil
}

package corpus

import (
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"time"
)

type lineKind uint8

const (
	lineOther lineKind = iota
	lineUsage
	lineSynthetic
)

type usage struct {
	input, output, cacheRead, cacheWrite int64
	cost                                 float64
}

// session writes one transcript (two for a compacted session) line by line.
type session struct {
	g   *gen
	p   *plan
	r   *rand.Rand
	buf []byte
	// line starts and kinds of buf, and of the previous file (compaction).
	offs, prevOffs   []int
	kinds, prevKinds []lineKind
	prev             []byte
	ids              map[string]bool
	parent           string
	t                int64 // ms, the time of the last line
	m                model
	ctx              int64 // context tokens so far
	prevPrompt       int64
	lastInbound      int64
	started          bool
	greeted          bool
	written          int64
	// uuids gives entries full UUIDs, as OpenClaw 2026.9 writes them
	// (Clawdbot wrote 8 hex digits).
	uuids bool
}

func newSession(g *gen, p *plan) *session {
	return &session{g: g, p: p, r: g.r, t: p.start, m: pickModel(g.r), ids: map[string]bool{},
		ctx: 3000 + g.r.Int64N(9000)}
}

// advance moves the clock forward by lo..hi ms, never past the window's end.
func (s *session) advance(lo, hi int64) {
	gap := lo
	if hi > lo {
		gap += s.r.Int64N(hi - lo)
	}
	gap = min(gap, (s.g.to-s.t)/20)
	s.t += max(gap, 0)
}

func (s *session) newID() string {
	for {
		var id string
		if s.uuids {
			id = uuid(s.r)
		} else {
			id = hexID(s.r, 8)
		}
		if !s.ids[id] {
			s.ids[id] = true
			return id
		}
	}
}

func iso(b []byte, ms int64) []byte {
	b = append(b, '"')
	b = time.UnixMilli(ms).UTC().AppendFormat(b, "2006-01-02T15:04:05.000Z")
	return append(b, '"')
}

// begin starts an entry line: type, id, parentId, timestamp.
func (s *session) begin(typ string) {
	s.offs = append(s.offs, len(s.buf))
	b := append(s.buf, `{"type":"`...)
	b = append(b, typ...)
	b = append(b, `","id":"`...)
	id := s.newID()
	b = append(b, id...)
	b = append(b, `","parentId":`...)
	if s.parent == "" {
		b = append(b, "null"...)
	} else {
		b = appendJSONString(b, s.parent)
	}
	b = append(b, `,"timestamp":`...)
	b = iso(b, s.t)
	s.buf = b
	s.parent = id
}

// end closes the line and counts it.
func (s *session) end(k lineKind) {
	s.buf = append(s.buf, '\n')
	s.kinds = append(s.kinds, k)
	s.g.exp.Lines++
	switch k {
	case lineUsage:
		s.g.exp.UsageLines++
	case lineSynthetic:
		s.g.exp.Synthetic++
	}
}

func (s *session) header() {
	s.offs = append(s.offs, len(s.buf))
	b := append(s.buf, `{"type":"session","version":3,"id":"`...)
	b = append(b, s.p.id...)
	b = append(b, `","timestamp":`...)
	b = iso(b, s.t)
	ws := "/home/clawd/.clawdbot/workspace"
	if s.p.agent != "main" {
		ws += "-" + s.p.agent
	}
	b = append(b, `,"cwd":`...)
	b = appendJSONString(b, ws)
	s.buf = append(b, '}')
	s.end(lineOther)
	s.modelChange()
	s.begin("thinking_level_change")
	s.buf = append(s.buf, `,"thinkingLevel":"`...)
	s.buf = append(s.buf, [...]string{"off", "off", "low", "medium"}[s.r.IntN(4)]...)
	s.buf = append(s.buf, `"}`...)
	s.end(lineOther)
	s.snapshot()
}

func (s *session) modelChange() {
	s.begin("model_change")
	s.buf = append(s.buf, `,"provider":`...)
	s.buf = appendJSONString(s.buf, s.m.provider)
	s.buf = append(s.buf, `,"modelId":`...)
	s.buf = appendJSONString(s.buf, s.m.id)
	s.buf = append(s.buf, '}')
	s.end(lineOther)
}

// snapshot writes Clawdbot's custom model-snapshot entry (data before id, as observed).
func (s *session) snapshot() {
	s.offs = append(s.offs, len(s.buf))
	b := append(s.buf, `{"type":"custom","customType":"model-snapshot","data":{"timestamp":`...)
	b = strconv.AppendInt(b, s.t+1, 10)
	b = append(b, `,"provider":`...)
	b = appendJSONString(b, s.m.provider)
	b = append(b, `,"modelApi":`...)
	b = appendJSONString(b, s.m.api)
	b = append(b, `,"modelId":`...)
	b = appendJSONString(b, s.m.id)
	id := s.newID()
	b = append(b, `},"id":"`...)
	b = append(b, id...)
	b = append(b, `","parentId":`...)
	b = appendJSONString(b, s.parent)
	b = append(b, `,"timestamp":`...)
	b = iso(b, s.t+1)
	s.buf = append(b, '}')
	s.parent = id
	s.end(lineOther)
}

func elapsed(ms int64) string {
	sec := ms / 1000
	switch {
	case sec < 60:
		return "+" + strconv.FormatInt(max(sec, 1), 10) + "s"
	case sec < 3600:
		return "+" + strconv.FormatInt(sec/60, 10) + "m"
	case sec < 86400:
		return "+" + strconv.FormatInt(sec/3600, 10) + "h"
	}
	return "+" + strconv.FormatInt(sec/86400, 10) + "d"
}

// envelope is Clawdbot's inbound WhatsApp envelope (clawdbot-formats.md §7).
func (s *session) envelope(body string) string {
	t := time.UnixMilli(s.t).In(s.g.loc)
	_, off := t.Zone()
	zone := "GMT+" + strconv.Itoa(off/3600)
	if off < 0 {
		zone = "GMT-" + strconv.Itoa(-off/3600)
	}
	if m := (off % 3600) / 60; m != 0 {
		zone += fmt.Sprintf(":%02d", max(m, -m))
	}
	head := "[WhatsApp " + s.p.peer
	if s.lastInbound > 0 {
		head += " " + elapsed(s.t-s.lastInbound)
	}
	head += " " + t.Format("2006-01-02 15:04") + " " + zone + "] "
	s.lastInbound = s.t
	if s.p.kind == kindGroup {
		names := []string{"عمر", "Layla", "خالد", "Sara", "نورة", "Faisal"}
		head += names[s.r.IntN(len(names))] + " (+9665" + fmt.Sprintf("%08d", s.r.IntN(100_000_000)) + "): "
	}
	if s.r.IntN(3) == 0 {
		body += "\n[message_id: 3EB0" + hexID(s.r, 16) + "]"
	}
	return head + body
}

func (s *session) user() {
	var txt string
	u := s.r.Float64()
	n := 40 + int(1400*u*u)
	switch {
	case s.p.greeting && !s.greeted:
		s.greeted = true
		txt = "A new session was started via /new or /reset. Say hi briefly (1-2 sentences) and ask what the user wants to do next."
	case s.p.kind == kindMain:
		txt = systemNotes[s.r.IntN(len(systemNotes))]
	default:
		txt = s.envelope(text(s.r, userPhrases, s.g.short(n)))
	}
	s.begin("message")
	b := append(s.buf, `,"message":{"role":"user","content":[{"type":"text","text":`...)
	b = appendJSONString(b, txt)
	b = append(b, `}],"timestamp":`...)
	b = strconv.AppendInt(b, s.t-1-s.r.Int64N(8), 10)
	s.buf = append(b, "}}"...)
	s.end(lineOther)
	s.ctx += int64(len(txt)/3) + 4
}

// usage invents a provider's report for one call over the current context,
// mapped the way pi-ai maps it (clawdbot-formats.md §2.3).
func (s *session) usage(outLo, outHi int64) usage {
	var u usage
	prompt := s.ctx
	if s.m.anthropic {
		if s.prevPrompt > 0 && s.r.IntN(100) < 85 {
			u.cacheRead = min(s.prevPrompt, prompt)
		}
		u.input = min(3+s.r.Int64N(60), prompt-u.cacheRead)
		u.cacheWrite = prompt - u.cacheRead - u.input
	} else {
		if s.prevPrompt > 0 && s.r.IntN(100) < 80 {
			u.cacheRead = min(s.prevPrompt, prompt) / 128 * 128
		}
		u.input = prompt - u.cacheRead
	}
	u.output = outLo + s.r.Int64N(outHi-outLo)
	if s.m.thinking && s.r.IntN(5) == 0 {
		u.output += s.r.Int64N(400) // reasoning tokens, counted in output
	}
	s.prevPrompt = prompt
	s.ctx += u.output
	return u
}

// call writes one assistant line (a provider call) and books it.
func (s *session) call(content []byte, u usage, stop, errMsg string) {
	start := s.t
	s.advance(300, 12_000)
	cin := s.m.in / 1e6 * float64(u.input)
	cout := s.m.out / 1e6 * float64(u.output)
	ccr := s.m.cr / 1e6 * float64(u.cacheRead)
	ccw := s.m.cw / 1e6 * float64(u.cacheWrite)
	u.cost = cin + cout + ccr + ccw
	s.begin("message")
	b := append(s.buf, `,"message":{"role":"assistant","content":`...)
	b = append(b, content...)
	b = append(b, `,"api":`...)
	b = appendJSONString(b, s.m.api)
	b = append(b, `,"provider":`...)
	b = appendJSONString(b, s.m.provider)
	b = append(b, `,"model":`...)
	b = appendJSONString(b, s.m.id)
	b = appendUsage(b, u.input, u.output, u.cacheRead, u.cacheWrite, cin, cout, ccr, ccw, u.cost)
	b = append(b, `,"stopReason":"`...)
	b = append(b, stop...)
	b = append(b, `","timestamp":`...)
	b = strconv.AppendInt(b, start, 10)
	if errMsg != "" {
		b = append(b, `,"errorMessage":`...)
		b = appendJSONString(b, errMsg)
	}
	s.buf = append(b, "}}"...)
	s.end(lineUsage)
	s.g.addCall(s.p.customer, u, stop == "error")
}

func appendUsage(b []byte, in, out, cr, cw int64, cin, cout, ccr, ccw, total float64) []byte {
	b = append(b, `,"usage":{"input":`...)
	b = strconv.AppendInt(b, in, 10)
	b = append(b, `,"output":`...)
	b = strconv.AppendInt(b, out, 10)
	b = append(b, `,"cacheRead":`...)
	b = strconv.AppendInt(b, cr, 10)
	b = append(b, `,"cacheWrite":`...)
	b = strconv.AppendInt(b, cw, 10)
	b = append(b, `,"totalTokens":`...)
	b = strconv.AppendInt(b, in+out+cr+cw, 10)
	b = append(b, `,"cost":{"input":`...)
	b = appendJSNumber(b, cin)
	b = append(b, `,"output":`...)
	b = appendJSNumber(b, cout)
	b = append(b, `,"cacheRead":`...)
	b = appendJSNumber(b, ccr)
	b = append(b, `,"cacheWrite":`...)
	b = appendJSNumber(b, ccw)
	b = append(b, `,"total":`...)
	b = appendJSNumber(b, total)
	return append(b, "}}"...)
}

func (s *session) textContent(n int) []byte {
	var b []byte
	b = append(b, '[')
	if s.m.thinking && s.r.IntN(4) == 0 {
		b = append(b, `{"type":"thinking","thinking":`...)
		b = appendJSONString(b, text(s.r, toolResultPhrases, 80+s.r.IntN(600)))
		b = append(b, `,"thinkingSignature":"`...)
		b = append(b, hexID(s.r, 48)...)
		b = append(b, `"},`...)
	}
	b = append(b, `{"type":"text","text":`...)
	b = appendJSONString(b, text(s.r, assistantPhrases, n))
	return append(b, "}]"...)
}

func (s *session) reply() {
	u := s.r.Float64()
	content := s.textContent(s.g.short(60 + int(3200*u*u)))
	stop := "stop"
	if s.r.IntN(200) == 0 {
		stop = "length"
	}
	s.call(content, s.usage(8, 700), stop, "")
}

// toolLoop writes 1-3 tool calls, each answered by a tool result.
func (s *session) toolLoop() {
	for range 1 + s.r.IntN(3) {
		name := toolNames[s.r.IntN(len(toolNames))]
		callID := "call_" + hexID(s.r, 12)
		var c []byte
		c = append(c, `[{"type":"toolCall","id":"`...)
		c = append(c, callID...)
		c = append(c, `","name":"`...)
		c = append(c, name...)
		c = append(c, `","arguments":{"query":`...)
		c = appendJSONString(c, text(s.r, userPhrases, 20+s.r.IntN(200)))
		c = append(c, `}}]`...)
		s.call(c, s.usage(12, 120), "toolUse", "")
		s.advance(50, 4000)
		u := s.r.Float64()
		res := text(s.r, toolResultPhrases, s.g.short(200+int(6800*u*u*u)))
		s.begin("message")
		b := append(s.buf, `,"message":{"role":"toolResult","toolCallId":"`...)
		b = append(b, callID...)
		b = append(b, `","toolName":"`...)
		b = append(b, name...)
		b = append(b, `","content":[{"type":"text","text":`...)
		b = appendJSONString(b, res)
		b = append(b, `}],"details":{"ok":true,"durationMs":`...)
		b = strconv.AppendInt(b, 20+s.r.Int64N(3000), 10)
		b = append(b, `},"isError":false,"timestamp":`...)
		b = strconv.AppendInt(b, s.t, 10)
		s.buf = append(b, "}}"...)
		s.end(lineOther)
		s.ctx += int64(len(res) / 3)
	}
}

var errorMessages = []string{"500 upstream failure", "429 Rate limit reached for requests", "Connection error.",
	`529 {"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}`, "Request timed out."}

// failures writes 1-4 failed attempts (no usage), as the agent retries.
func (s *session) failures() (gaveUp bool) {
	msg := errorMessages[s.r.IntN(len(errorMessages))]
	for range 1 + s.r.IntN(4) {
		s.call([]byte("[]"), usage{}, "error", msg)
		s.advance(3000, 9000)
	}
	return s.r.IntN(2) == 0
}

func (s *session) injected() {
	id := s.newID()
	s.offs = append(s.offs, len(s.buf))
	b := append(s.buf, `{"type":"message","id":"`...)
	b = append(b, id...)
	b = append(b, `","timestamp":`...)
	b = iso(b, s.t)
	b = append(b, `,"message":{"role":"assistant","content":[{"type":"text","text":`...)
	b = appendJSONString(b, "💸 Usage cost\nSession $0.03 · 11k tokens\nToday $0.15\nLast 30d $"+strconv.Itoa(1+s.r.IntN(90)))
	b = append(b, `}],"timestamp":`...)
	b = strconv.AppendInt(b, s.t, 10)
	s.buf = append(b, `,"stopReason":"injected","usage":{"input":0,"output":0,"totalTokens":0}}}`...)
	s.end(lineSynthetic)
}

func (s *session) mirror() { s.mirrorAs("clawdbot") }

// mirrorAs writes a delivery mirror line of the given provider (Clawdbot
// wrote "clawdbot", OpenClaw writes "openclaw").
func (s *session) mirrorAs(provider string) {
	s.begin("message")
	b := append(s.buf, `,"message":{"role":"assistant","content":[{"type":"text","text":`...)
	b = appendJSONString(b, text(s.r, assistantPhrases, 100+s.r.IntN(400)))
	b = append(b, `}],"api":"openai-responses","provider":"`...)
	b = append(b, provider...)
	b = append(b, `","model":"delivery-mirror"`...)
	b = appendUsage(b, 0, 0, 0, 0, 0, 0, 0, 0, 0)
	b = append(b, `,"stopReason":"stop","timestamp":`...)
	b = strconv.AppendInt(b, s.t, 10)
	s.buf = append(b, "}}"...)
	s.end(lineSynthetic)
}

func (s *session) compaction() {
	s.begin("compaction")
	b := append(s.buf, `,"summary":`...)
	b = appendJSONString(b, "## Goal\n"+text(s.r, assistantPhrases, 300+s.r.IntN(1500)))
	b = append(b, `,"firstKeptEntryId":`...)
	b = appendJSONString(b, s.parent)
	b = append(b, `,"tokensBefore":`...)
	b = strconv.AppendInt(b, s.ctx, 10)
	s.buf = append(b, `,"details":{"readFiles":[],"modifiedFiles":[]},"fromHook":false}`...)
	s.end(lineOther)
	s.ctx = 3000 + s.r.Int64N(2000)
	s.prevPrompt = 0
}

// turn is one inbound message and everything the agent did about it.
func (s *session) turn() {
	s.advance(20_000, 4*3600_000)
	s.user()
	s.advance(5, 50)
	if s.r.IntN(100) < 3 && s.failures() {
		return
	}
	if s.r.IntN(100) < min(90, int(30*s.g.density)) {
		s.toolLoop()
	}
	s.reply()
	switch x := s.r.IntN(1000); {
	case x < 20:
		s.advance(1000, 60_000)
		s.injected()
	case x < 30:
		s.advance(1000, 60_000)
		s.mirror()
	case x < 35:
		s.advance(1000, 60_000)
		s.compaction()
	case x < 45:
		s.m = pickModel(s.r)
		s.modelChange()
		s.snapshot()
	}
}

// run writes turns until the current file holds about target bytes.
func (s *session) run(target int) {
	if !s.started {
		s.started = true
		s.header()
	}
	for len(s.buf) < target || (s.p.greeting && !s.greeted) {
		s.turn()
	}
	// A session that began with the /new greeting must carry an envelope
	// too, or it could not be attributed once forgotten.
	if s.p.greeting && s.lastInbound == 0 {
		s.turn()
	}
}

// flush writes the current file and starts an empty one.
func (s *session) flush(path string) error {
	if err := os.WriteFile(path, s.buf, 0o600); err != nil {
		return fmt.Errorf("corpus: %w", err)
	}
	s.written += int64(len(s.buf))
	s.g.exp.Bytes += int64(len(s.buf))
	s.prev, s.prevOffs, s.prevKinds = s.buf, s.offs, s.kinds
	s.buf, s.offs, s.kinds = nil, nil, nil
	return nil
}

// copyTail starts the new file with the previous file's last n lines, ids
// unchanged and without a header, as sessions.compact does.
func (s *session) copyTail(n int) {
	n = min(n, len(s.prevOffs)-1) // never the header
	first := len(s.prevOffs) - n
	for i := first; i < len(s.prevOffs); i++ {
		end := len(s.prev)
		if i+1 < len(s.prevOffs) {
			end = s.prevOffs[i+1]
		}
		s.offs = append(s.offs, len(s.buf))
		s.buf = append(s.buf, s.prev[s.prevOffs[i]:end]...)
		// Counted as lines again, but the calls are the same calls.
		s.kinds = append(s.kinds, s.prevKinds[i])
		s.g.exp.Lines++
		switch s.prevKinds[i] {
		case lineUsage:
			s.g.exp.UsageLines++
		case lineSynthetic:
			s.g.exp.Synthetic++
		}
	}
}

// Sample returns about n bytes of transcript lines (whole sessions, header
// first), for parser benchmarks. Same seed, same bytes.
func Sample(seed uint64, n int) []byte {
	g, err := newGen(Options{Seed: seed, Agents: 3, Month: "2026-11", Timezone: "UTC"})
	if err != nil {
		panic(err) // fixed, valid options
	}
	var out []byte
	for len(out) < n {
		p := &plan{agent: "main", kind: kindDM, id: uuid(g.r), peer: fmt.Sprintf("+9665%08d", g.r.IntN(100_000_000)),
			start: g.from + g.r.Int64N(20*86400_000), customer: "x"}
		s := newSession(g, p)
		s.run(min(8<<10+g.r.IntN(60<<10), n-len(out)))
		out = append(out, s.buf...)
	}
	return out
}

// UsageLine returns one assistant line (a provider call, with its newline)
// like those in the corpus, and its cost: a follower benchmark appends it.
// parent may be "".
func UsageLine(id, parent string, at time.Time, input, output int64) (line []byte, cost float64) {
	m := models[0]
	cin := m.in / 1e6 * float64(input)
	cout := m.out / 1e6 * float64(output)
	cost = cin + cout
	b := []byte(`{"type":"message","id":`)
	b = appendJSONString(b, id)
	b = append(b, `,"parentId":`...)
	if parent == "" {
		b = append(b, "null"...)
	} else {
		b = appendJSONString(b, parent)
	}
	b = append(b, `,"timestamp":`...)
	b = iso(b, at.UnixMilli())
	b = append(b, `,"message":{"role":"assistant","content":[{"type":"text","text":"تم، شكراً لتواصلك معنا."}],"api":`...)
	b = appendJSONString(b, m.api)
	b = append(b, `,"provider":`...)
	b = appendJSONString(b, m.provider)
	b = append(b, `,"model":`...)
	b = appendJSONString(b, m.id)
	b = appendUsage(b, input, output, 0, 0, cin, cout, 0, 0, cost)
	b = append(b, `,"stopReason":"stop","timestamp":`...)
	b = strconv.AppendInt(b, at.UnixMilli()-900, 10)
	b = append(b, "}}\n"...)
	return b, cost
}

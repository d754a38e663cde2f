package corpus

import (
	"bytes"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/valyala/fastjson"
)

// ocCall is a provider call written into a transcript, booked once its
// line is known to survive (in a row, an archive or a cold file).
type ocCall struct {
	u      usage
	failed bool
}

// ocSession writes one OpenClaw 2026.9.6 transcript (one session window):
// header version 4, full-UUID entry ids, user messages with idempotency keys,
// assistant calls with responseId, reasoningTokens and __openclaw.runId, a
// bootstrap-context custom line after every run and attempt, one error line
// per failed turn, `reset` lines, and the synthetic forms provider "openclaw"
// (gateway-injected, delivery-mirror). It reuses the Clawdbot session's
// clock, usage model, ids and text (openclaw-formats.md §2).
type ocSession struct {
	*session
	// calls maps a line index of s.buf to the call it records.
	calls map[int]ocCall
	// longReply is the chance that a reply is long enough to be stored
	// compressed; longResult the same for a tool result.
	longReply, longResult float64
	// name and nameForm select the envelope `[WhatsApp <name> id:<peer> …]`.
	name     string
	nameForm bool
	// legacy sessions were imported from Clawdbot by `openclaw doctor --fix`:
	// their lines are Clawdbot's (version 3, 8-hex ids, old synthetic forms).
	legacy bool
	ws     string
}

var ocNames = []string{"Omar", "ليلى", "Khalid", "نورة", "Fahad", "ريم", "Sara", "عبدالله", "Huda"}

var ocGroupLabels = []string{"صالون الورد", "Bakery team", "فريق التوصيل", "Clinic front desk"}

func newOCSession(g *gen, p *plan, longReply, longResult float64) *ocSession {
	s := newSession(g, p)
	s.uuids = true
	o := &ocSession{session: s, calls: map[int]ocCall{}, longReply: longReply, longResult: longResult}
	if p.kind == kindGroup {
		o.name = ocGroupLabels[g.r.IntN(len(ocGroupLabels))]
	} else {
		o.name = ocNames[g.r.IntN(len(ocNames))]
	}
	o.nameForm = p.kind != kindMain && g.r.IntN(2) == 0
	o.ws = "/home/openclaw/.openclaw/workspace"
	if p.agent != "main" {
		o.ws += "-" + p.agent
	}
	return o
}

// header writes what OpenClaw writes when a session window starts: the
// session line, model_change (parentId null), thinking_level_change and the
// model snapshot.
func (o *ocSession) header() {
	s := o.session
	s.offs = append(s.offs, len(s.buf))
	b := append(s.buf, `{"type":"session","version":4,"id":"`...)
	b = append(b, s.p.id...)
	b = append(b, `","timestamp":`...)
	b = iso(b, s.t)
	b = append(b, `,"cwd":`...)
	b = appendJSONString(b, o.ws)
	s.buf = append(b, '}')
	s.end(lineOther)
	s.advance(5, 60)
	o.modelChange()
	s.advance(20, 300)
	o.thinkingLevel()
	s.advance(20, 120)
	s.snapshot()
}

// fieldsFirst writes an entry whose own fields come before id, parentId and
// timestamp, as OpenClaw writes model_change, thinking_level_change and
// custom entries.
func (o *ocSession) fieldsFirst(typ string, fields func(b []byte) []byte) {
	s := o.session
	s.offs = append(s.offs, len(s.buf))
	b := append(s.buf, `{"type":`...)
	b = appendJSONString(b, typ)
	b = fields(b)
	id := s.newID()
	b = append(b, `,"id":"`...)
	b = append(b, id...)
	b = append(b, `","parentId":`...)
	if s.parent == "" {
		b = append(b, "null"...)
	} else {
		b = appendJSONString(b, s.parent)
	}
	b = append(b, `,"timestamp":`...)
	b = iso(b, s.t)
	s.buf = append(b, '}')
	s.parent = id
	s.end(lineOther)
}

func (o *ocSession) modelChange() {
	m := o.m
	o.fieldsFirst("model_change", func(b []byte) []byte {
		b = append(b, `,"provider":`...)
		b = appendJSONString(b, m.provider)
		b = append(b, `,"modelId":`...)
		return appendJSONString(b, m.id)
	})
}

func (o *ocSession) thinkingLevel() {
	level := [...]string{"off", "off", "low", "medium"}[o.r.IntN(4)]
	o.fieldsFirst("thinking_level_change", func(b []byte) []byte {
		b = append(b, `,"thinkingLevel":"`...)
		b = append(b, level...)
		return append(b, '"')
	})
}

// customData writes a custom entry (data before id: model-snapshot,
// bootstrap-context).
func (o *ocSession) customData(customType string, data func(b []byte) []byte) {
	o.fieldsFirst("custom", func(b []byte) []byte {
		b = append(b, `,"customType":`...)
		b = appendJSONString(b, customType)
		b = append(b, `,"data":`...)
		return data(b)
	})
}

// bootstrap is the openclaw:bootstrap-context:full entry written after every
// run and every attempt of a failing one.
func (o *ocSession) bootstrap(run string) {
	s := o.session
	s.advance(5, 80)
	o.customData("openclaw:bootstrap-context:full", func(b []byte) []byte {
		b = append(b, `{"timestamp":`...)
		b = strconv.AppendInt(b, s.t, 10)
		b = append(b, `,"runId":`...)
		b = appendJSONString(b, run)
		b = append(b, `,"sessionId":`...)
		b = appendJSONString(b, s.p.id)
		return append(b, '}')
	})
}

// envelope is the inbound envelope in either of OpenClaw's forms:
// `[WhatsApp +9665… …] body` (the older one) or
// `[WhatsApp <name> id:+9665… …] <name>: body` (formatInboundFromLabel).
func (o *ocSession) envelope(body string) string {
	env := o.session.envelope(body)
	if !o.nameForm {
		return env
	}
	const head = "[WhatsApp "
	env = head + o.name + " id:" + env[len(head):]
	if o.p.kind == kindDM {
		if i := strings.Index(env, "] "); i >= 0 {
			env = env[:i+2] + o.name + ": " + env[i+2:]
		}
	}
	return env
}

func (o *ocSession) user(txt, run string) {
	s := o.session
	s.begin("message")
	b := append(s.buf, `,"message":{"role":"user","content":`...)
	b = appendJSONString(b, txt)
	b = append(b, `,"timestamp":`...)
	b = strconv.AppendInt(b, s.t-1-s.r.Int64N(3000), 10)
	b = append(b, `,"idempotencyKey":`...)
	b = appendJSONString(b, run+":user")
	if s.p.kind == kindMain {
		b = append(b, `,"__openclaw":{"transport":{"clients":[{"id":"cli","mode":"cli"}]}}}}`...)
	} else {
		b = append(b, `,"__openclaw":{"senderIsOwner":false}}}`...)
	}
	s.buf = b
	s.end(lineOther)
	s.ctx += int64(len(txt)/3) + 4
}

// ocUsage appends OpenClaw's usage object: reasoningTokens (a part of
// output, reported beside it) only for OpenAI-style APIs.
func ocUsage(b []byte, m model, u usage, reasoning int64, cin, cout, ccr, ccw float64) []byte {
	b = append(b, `,"usage":{"input":`...)
	b = strconv.AppendInt(b, u.input, 10)
	b = append(b, `,"output":`...)
	b = strconv.AppendInt(b, u.output, 10)
	b = append(b, `,"cacheRead":`...)
	b = strconv.AppendInt(b, u.cacheRead, 10)
	b = append(b, `,"cacheWrite":`...)
	b = strconv.AppendInt(b, u.cacheWrite, 10)
	if m.api == "openai-completions" {
		b = append(b, `,"reasoningTokens":`...)
		b = strconv.AppendInt(b, reasoning, 10)
	}
	b = append(b, `,"totalTokens":`...)
	b = strconv.AppendInt(b, u.input+u.output+u.cacheRead+u.cacheWrite, 10)
	b = append(b, `,"cost":{"input":`...)
	b = appendJSNumber(b, cin)
	b = append(b, `,"output":`...)
	b = appendJSNumber(b, cout)
	b = append(b, `,"cacheRead":`...)
	b = appendJSNumber(b, ccr)
	b = append(b, `,"cacheWrite":`...)
	b = appendJSNumber(b, ccw)
	b = append(b, `,"total":`...)
	b = appendJSNumber(b, cin+cout+ccr+ccw)
	return append(b, "}}"...)
}

// call writes one assistant line that is a provider call and remembers it
// for booking. errMsg != "" makes it the one error line of a failed turn.
func (o *ocSession) call(content []byte, u usage, stop, run, errMsg string) {
	s := o.session
	start := s.t
	s.advance(300, 12_000)
	cin := s.m.in / 1e6 * float64(u.input)
	cout := s.m.out / 1e6 * float64(u.output)
	ccr := s.m.cr / 1e6 * float64(u.cacheRead)
	ccw := s.m.cw / 1e6 * float64(u.cacheWrite)
	u.cost = cin + cout + ccr + ccw
	var reasoning int64
	if s.m.thinking && u.output > 40 && s.r.IntN(3) == 0 {
		reasoning = u.output / 3
	}
	s.begin("message")
	b := append(s.buf, `,"message":{"role":"assistant","content":`...)
	b = append(b, content...)
	b = append(b, `,"api":`...)
	b = appendJSONString(b, s.m.api)
	b = append(b, `,"provider":`...)
	b = appendJSONString(b, s.m.provider)
	b = append(b, `,"model":`...)
	b = appendJSONString(b, s.m.id)
	b = ocUsage(b, s.m, u, reasoning, cin, cout, ccr, ccw)
	b = append(b, `,"stopReason":"`...)
	b = append(b, stop...)
	b = append(b, `","timestamp":`...)
	b = strconv.AppendInt(b, start, 10)
	if errMsg != "" {
		b = append(b, `,"errorMessage":`...)
		b = appendJSONString(b, errMsg)
		b = append(b, `,"errorCode":"500","errorType":"server_error","idempotencyKey":`...)
		b = appendJSONString(b, run+":terminal-error")
	} else if s.m.anthropic {
		b = append(b, `,"responseId":"msg_`...)
		b = append(b, hexID(s.r, 24)...)
		b = append(b, `","responseModel":`...)
		b = appendJSONString(b, s.m.id)
	} else {
		b = append(b, `,"responseId":"chatcmpl-`...)
		b = append(b, hexID(s.r, 24)...)
		b = append(b, '"')
	}
	b = append(b, `,"__openclaw":{"runId":`...)
	b = appendJSONString(b, run)
	s.buf = append(b, "}}}"...)
	s.end(lineUsage)
	o.calls[len(s.offs)-1] = ocCall{u: u, failed: stop == "error"}
}

// reply is the run's final answer; a long one (3.5–9 KB of text) is the kind
// OpenClaw stores compressed.
func (o *ocSession) reply(run string) {
	s := o.session
	u := s.r.Float64()
	n := 40 + int(900*u*u)
	if s.r.Float64() < o.longReply {
		n = 3500 + s.r.IntN(5500)
	}
	stop := "stop"
	if s.r.IntN(200) == 0 {
		stop = "length"
	}
	o.call(s.textContent(n), s.usage(8, 700), stop, run, "")
}

// ansi is what an exec tool returns from a coloured terminal: JSON.stringify
// writes ESC as \u001b, and a \u escape keeps the row uncompressed.
const ansi = "\x1b[32m✔\x1b[0m "

func (o *ocSession) toolLoop(run string) {
	s := o.session
	for range 1 + s.r.IntN(3) {
		name := toolNames[s.r.IntN(len(toolNames))]
		callID := "call_" + hexID(s.r, 24)
		var c []byte
		c = append(c, `[{"type":"toolCall","id":"`...)
		c = append(c, callID...)
		c = append(c, `","name":"`...)
		c = append(c, name...)
		c = append(c, `","arguments":{"query":`...)
		c = appendJSONString(c, text(s.r, userPhrases, 20+s.r.IntN(200)))
		c = append(c, `}}]`...)
		o.call(c, s.usage(12, 120), "toolUse", run, "")
		s.advance(50, 4000)
		u := s.r.Float64()
		n := 120 + int(900*u*u)
		if s.r.Float64() < o.longResult {
			n = 3500 + s.r.IntN(9000)
		}
		res := text(s.r, toolResultPhrases, n)
		if name == "exec" && s.r.IntN(2) == 0 {
			res = ansi + res
		}
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

// failedTurn is what one failing turn leaves (openclaw-formats.md §2): one
// bootstrap-context entry per attempt (8 HTTP 500s observed) and a single
// error line with zero usage.
func (o *ocSession) failedTurn(run string) {
	s := o.session
	for range 1 + s.r.IntN(8) {
		o.bootstrap(run)
		s.advance(1000, 30_000)
	}
	msg := errorMessages[s.r.IntN(len(errorMessages))]
	o.call([]byte("[]"), usage{}, "error", run, msg)
}

// injected is a gateway-injected reply (`/usage cost`, chat.inject):
// provider "openclaw", model "gateway-injected", stopReason stop, zero usage.
func (o *ocSession) injected(run string) {
	s := o.session
	o.user("/usage cost", run)
	s.advance(5, 40)
	body := "💸 Usage cost\nSession $0.0" + strconv.Itoa(1+s.r.IntN(9)) + " · " + strconv.Itoa(5+s.r.IntN(40)) + "k tokens\nToday $0.19\nLast 30d $" + strconv.Itoa(1+s.r.IntN(90))
	s.begin("message")
	b := append(s.buf, `,"message":{"role":"assistant","content":[{"type":"text","text":`...)
	b = appendJSONString(b, body)
	b = append(b, `}],"openclawDisplayContent":[{"type":"text","text":`...)
	b = appendJSONString(b, body)
	b = append(b, `}],"timestamp":`...)
	b = strconv.AppendInt(b, s.t, 10)
	b = append(b, `,"stopReason":"stop"`...)
	b = appendUsage(b, 0, 0, 0, 0, 0, 0, 0, 0, 0)
	b = append(b, `,"api":"openai-responses","provider":"openclaw","model":"gateway-injected","idempotencyKey":`...)
	b = appendJSONString(b, run)
	s.buf = append(b, "}}"...)
	s.end(lineSynthetic)
}

// mirror is the delivery mirror: provider "openclaw", model "delivery-mirror".
func (o *ocSession) mirror() { o.session.mirrorAs("openclaw") }

// resetLine is what sessions.reset appends (same session id): a `reset`
// entry, whose id OpenClaw writes as 8 hex digits, then a new model_change
// and thinking level.
func (o *ocSession) resetLine() {
	s := o.session
	id := hexID(s.r, 8)
	s.offs = append(s.offs, len(s.buf))
	b := append(s.buf, `{"type":"reset","id":"`...)
	b = append(b, id...)
	b = append(b, `","parentId":`...)
	b = appendJSONString(b, s.parent)
	b = append(b, `,"timestamp":`...)
	b = iso(b, s.t)
	s.buf = append(b, `,"reason":"reset"}`...)
	s.parent = id
	s.end(lineOther)
	s.advance(2000, 9000)
	o.modelChange()
	s.advance(20, 300)
	o.thinkingLevel()
	s.ctx = 3000 + s.r.Int64N(2000)
	s.prevPrompt = 0
}

// turn is one inbound message and what the agent did about it.
func (o *ocSession) turn() {
	s := o.session
	s.advance(20_000, 4*3600_000)
	run := uuid(s.r)
	u := s.r.Float64()
	n := 30 + int(700*u*u)
	if s.p.kind == kindMain {
		o.user(systemNotes[s.r.IntN(len(systemNotes))], run)
	} else {
		o.user(o.envelope(text(s.r, userPhrases, n)), run)
	}
	s.advance(5, 50)
	if s.r.IntN(100) < 3 {
		o.failedTurn(run)
		return
	}
	if s.r.IntN(100) < 30 {
		o.toolLoop(run)
	}
	o.reply(run)
	o.bootstrap(run)
	switch x := s.r.IntN(1000); {
	case x < 20:
		s.advance(1000, 60_000)
		o.injected(uuid(s.r))
	case x < 30:
		s.advance(1000, 60_000)
		o.mirror()
	case x < 35:
		s.advance(1000, 60_000)
		s.compaction()
	case x < 45:
		s.m = pickModel(s.r)
		o.modelChange()
		s.snapshot()
	case x < 50:
		s.advance(1000, 600_000)
		o.resetLine()
	}
}

// run writes turns until the transcript holds about target bytes.
func (o *ocSession) run(target int) {
	s := o.session
	if o.legacy {
		s.run(target)
		return
	}
	if !s.started {
		s.started = true
		o.header()
	}
	for len(s.buf) < target {
		o.turn()
	}
}

// ocEvent is one transcript event and what OpenClaw's tables record beside
// its JSON.
type ocEvent struct {
	json   []byte // without the newline
	typ    string
	id     string // entry id; the session id for the header
	parent string // "" for null or absent
	idem   string // message idempotency key ("" for none)
	at     int64  // created_at, ms
	kind   lineKind
	call   *ocCall // the call it records, booked by whoever keeps it
}

// events splits the written transcript into events and reads back the
// fields the identity table needs.
func (o *ocSession) events() ([]ocEvent, error) {
	s := o.session
	evs := make([]ocEvent, len(s.offs))
	var p fastjson.Parser
	for i, off := range s.offs {
		end := len(s.buf)
		if i+1 < len(s.offs) {
			end = s.offs[i+1]
		}
		line := s.buf[off : end-1]
		v, err := p.ParseBytes(line)
		if err != nil {
			return nil, fmt.Errorf("corpus: generated an invalid line: %w", err)
		}
		e := ocEvent{json: line, typ: string(v.GetStringBytes("type")), id: string(v.GetStringBytes("id")),
			parent: string(v.GetStringBytes("parentId")), idem: string(v.GetStringBytes("message", "idempotencyKey")),
			kind: s.kinds[i]}
		if t, err := time.Parse(time.RFC3339Nano, string(v.GetStringBytes("timestamp"))); err == nil {
			e.at = t.UnixMilli()
		}
		if c, ok := o.calls[i]; ok {
			c := c
			e.call = &c
		}
		evs[i] = e
	}
	return evs, nil
}

// compactInPlace does what sessions.compact {maxLines} does to a SQLite
// transcript: only the header and the last keep events stay, the first kept
// event loses its parent, and nothing is copied anywhere. It returns the
// calls that are gone.
func (o *ocSession) compactInPlace(keep int) []ocCall {
	s := o.session
	if keep >= len(s.offs)-1 {
		return nil
	}
	first := len(s.offs) - keep
	var gone []ocCall
	for i := 1; i < first; i++ {
		if c, ok := o.calls[i]; ok {
			gone = append(gone, c)
		}
	}
	buf := append([]byte(nil), s.buf[:s.offs[1]]...)
	offs := []int{0}
	kinds := []lineKind{s.kinds[0]}
	calls := map[int]ocCall{}
	for i := first; i < len(s.offs); i++ {
		end := len(s.buf)
		if i+1 < len(s.offs) {
			end = s.offs[i+1]
		}
		line := s.buf[s.offs[i]:end]
		if i == first {
			line = orphan(line)
		}
		offs = append(offs, len(buf))
		buf = append(buf, line...)
		kinds = append(kinds, s.kinds[i])
		if c, ok := o.calls[i]; ok {
			calls[len(offs)-1] = c
		}
	}
	s.buf, s.offs, s.kinds, o.calls = buf, offs, kinds, calls
	return gone
}

// orphan rewrites an event's parentId to null.
func orphan(line []byte) []byte {
	const key = `"parentId":"`
	i := bytes.Index(line, []byte(key))
	if i < 0 {
		return line
	}
	j := bytes.IndexByte(line[i+len(key):], '"')
	if j < 0 {
		return line
	}
	out := append([]byte(nil), line[:i]...)
	out = append(out, `"parentId":null`...)
	return append(out, line[i+len(key)+j+1:]...)
}

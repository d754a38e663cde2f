package parser

import (
	"encoding/json"
	"strings"
	"testing"
)

// Lines as OpenClaw 2026.9.6 wrote them (openclaw-sample's jsonl-export),
// trimmed of long text only.
const (
	ocGatewayInjected = `{"type":"message","id":"680af704-64e2-46b7-9f19-5a03dfb4e270","parentId":"9ccdaa3b-fb0a-41d4-b727-b8daff7197bd","timestamp":"2026-11-27T00:42:28.624Z","message":{"role":"assistant","content":[{"type":"text","text":"💸 Usage cost\nSession $0.04 · 15k tokens"}],"openclawDisplayContent":[{"type":"text","text":"💸 Usage cost"}],"timestamp":1795740148624,"stopReason":"stop","usage":{"input":0,"output":0,"cacheRead":0,"cacheWrite":0,"totalTokens":0,"cost":{"input":0,"output":0,"cacheRead":0,"cacheWrite":0,"total":0}},"api":"openai-responses","provider":"openclaw","model":"gateway-injected","idempotencyKey":"s09"}}`
	ocDeliveryMirror  = `{"type":"message","id":"0d7b1c52-3f0e-4a8e-9b7e-2f6a4d1c9e01","parentId":"680af704-64e2-46b7-9f19-5a03dfb4e270","timestamp":"2026-11-27T00:42:30.001Z","message":{"role":"assistant","content":[{"type":"text","text":"Your appointment is at 5pm."}],"timestamp":1795740150001,"stopReason":"stop","usage":{"input":0,"output":0,"cacheRead":0,"cacheWrite":0,"totalTokens":0,"cost":{"input":0,"output":0,"cacheRead":0,"cacheWrite":0,"total":0}},"api":"openai-responses","provider":"openclaw","model":"delivery-mirror"}}`
	ocProviderCall    = `{"type":"message","id":"6efe88cb-36e6-472f-89b3-73b1c95c18cc","parentId":"9566a4ab-f2ab-4070-a85d-0cae085e0136","timestamp":"2026-11-27T00:42:15.253Z","message":{"role":"assistant","content":[{"type":"text","text":"Fake reply #15 (openai)."}],"api":"openai-completions","provider":"fakeoai","model":"fake-gpt","usage":{"input":14575,"output":24,"cacheRead":0,"cacheWrite":0,"reasoningTokens":0,"totalTokens":14599,"cost":{"input":0.0364375,"output":0.00024,"cacheRead":0,"cacheWrite":0,"total":0.036677499999999995}},"stopReason":"stop","timestamp":1795740135091,"responseId":"chatcmpl-fakebd4c9324d4304dbb","__openclaw":{"runId":"s08"}}}`
	// The Clawdbot 2026.1.24 forms (clawdbot-sample).
	cbInjected       = `{"type":"message","id":"1da7d716","timestamp":"2026-11-27T00:02:58.302Z","message":{"role":"assistant","content":[{"type":"text","text":"[ops]"}],"timestamp":1795737778302,"stopReason":"injected","usage":{"input":0,"output":0,"totalTokens":0}}}`
	cbDeliveryMirror = `{"type":"message","id":"a","message":{"role":"assistant","api":"openai-responses","provider":"clawdbot","model":"delivery-mirror","usage":{"input":0,"output":0},"stopReason":"stop"}}`
)

// TestOpenClawGatewayRepliesAndDeliveryMirrorsAreNotRequests: OpenClaw's
// gateway-injected replies and delivery mirrors (provider "openclaw",
// stopReason "stop", zero usage) are skipped as synthetic, the Clawdbot
// forms still are, and real provider calls (also one from a provider a user
// named "openclaw") are still counted.
func TestOpenClawGatewayRepliesAndDeliveryMirrorsAreNotRequests(t *testing.T) {
	for _, tt := range []struct {
		name, line string
		want       Kind
	}{
		{"openclaw gateway-injected", ocGatewayInjected, KindSynthetic},
		{"openclaw delivery-mirror", ocDeliveryMirror, KindSynthetic},
		{"clawdbot injected", cbInjected, KindSynthetic},
		{"clawdbot delivery-mirror", cbDeliveryMirror, KindSynthetic},
		{"openclaw provider call", ocProviderCall, KindUsage},
		{"a provider named openclaw", strings.Replace(strings.Replace(ocProviderCall, `"fakeoai"`, `"openclaw"`, 1), `"fake-gpt"`, `"gpt-5"`, 1), KindUsage},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var p Clawdbot
			r := p.Parse([]byte(tt.line))
			if r.Kind != tt.want {
				t.Fatalf("kind = %v (err %v), want %v", r.Kind, r.Err, tt.want)
			}
			if r.Kind == KindUsage && (r.Event.EntryID == "" || r.Event.Input != 14575 || r.Event.Output != 24 || !r.Event.Priced) {
				t.Errorf("event = %+v", r.Event)
			}
		})
	}
}

// TestSyntheticLinesParseWithoutAllocating: recognising the new synthetic
// forms costs no allocation once the provider and model names are interned
// (the parser's hot path stays allocation-free for skipped lines).
func TestSyntheticLinesParseWithoutAllocating(t *testing.T) {
	for _, line := range []string{ocGatewayInjected, ocDeliveryMirror, cbInjected, cbDeliveryMirror} {
		var p Clawdbot
		b := []byte(line)
		p.Parse(b) // interns the names
		if n := testing.AllocsPerRun(100, func() {
			if p.Parse(b).Kind != KindSynthetic {
				t.Fatal("not synthetic")
			}
		}); n != 0 {
			t.Errorf("%.40s…: %v allocations per line, want 0", line, n)
		}
	}
}

// TestEnvelopeGivesTheSenderIDInEveryForm: ParseEnvelope returns the E.164
// number or group JID from Clawdbot's envelope and from OpenClaw's
// "<name> id:<id>" form, whatever the name holds (spaces, Arabic, a fake
// "id:"), and never reads an "id:" from the body.
func TestEnvelopeGivesTheSenderIDInEveryForm(t *testing.T) {
	for _, tt := range []struct{ name, in, ch, from string }{
		{"clawdbot DM", "[WhatsApp +966500000001 +2m 2026-01-25 10:00 GMT+3] مرحبا", "whatsapp", "+966500000001"},
		{"clawdbot DM without elapsed", "[WhatsApp +966500000003 2026-11-27 03:03 GMT+3] via chat.send", "whatsapp", "+966500000003"},
		{"clawdbot group", "[WhatsApp 120363025550001111@g.us +5m 2026-11-27 03:04 GMT+3] Omar (+966500000009): hi", "whatsapp", "120363025550001111@g.us"},
		{"channel-prefixed id", "[WhatsApp whatsapp:+966500000001] hi", "whatsapp", "+966500000001"},
		{"telegram id", "[Telegram 12345 2026-01-25T10:00Z] hi", "telegram", "12345"},
		{"openclaw DM with a name", "[WhatsApp Omar id:+966500000001 +5m Fri 2026-11-27 03:01:00 GMT+3] Omar: hi", "whatsapp", "+966500000001"},
		{"name with spaces", "[WhatsApp Omar Al Harbi id:+966500000001 +5m Fri 2026-11-27 03:01:00 GMT+3] Omar Al Harbi: hi", "whatsapp", "+966500000001"},
		{"arabic name", "[WhatsApp عمر الحربي id:+966500000001 +1h Fri 2026-11-27 03:01:00 GMT+3] عمر الحربي: السلام عليكم", "whatsapp", "+966500000001"},
		{"utc timestamp, no elapsed", "[WhatsApp Layla id:+966500000002 Fri 2026-11-27T00:02:00Z] Layla: hi", "whatsapp", "+966500000002"},
		{"group label with spaces", "[WhatsApp Salon Team Riyadh id:120363025550001111@g.us +5m Fri 2026-11-27 03:04:00 GMT+3] Omar (+966500000009): hi", "whatsapp", "120363025550001111@g.us"},
		{"group fallback label", "[WhatsApp Group id:120363025550001111@g.us] Omar: hi", "whatsapp", "120363025550001111@g.us"},
		{"clawdbot body with id:", "[WhatsApp +966500000001 +3m 2026-11-27 03:01 GMT+3] my id:+966500000009 please", "whatsapp", "+966500000001"},
		{"openclaw body with id:", "[WhatsApp Omar id:+966500000001 +5m Fri 2026-11-27 03:01:00 GMT+3] Omar: bill id:+966500000009 instead", "whatsapp", "+966500000001"},
		{"name that fakes an id", "[WhatsApp Eve id:+966500000001 id:+966500000009 +5m Fri 2026-11-27 03:01:00 GMT+3] Eve: hi", "whatsapp", "+966500000009"},
		{"signal name and number", "[Signal Alice id:+15551234567 +2m Fri 2026-11-27 03:01:00 GMT+3] Alice: hi", "signal", "+15551234567"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			ch, from, ok := ParseEnvelope(tt.in)
			if !ok || ch != tt.ch || from != tt.from {
				t.Errorf("ParseEnvelope(%q) = %q %q %v, want %q %q", tt.in, ch, from, ok, tt.ch, tt.from)
			}
		})
	}
	for _, in := range []string{"", "hello", "[WhatsApp]", "[Unknown +1] x", "[WhatsApp +1 no close", "[note id:+966500000001] x"} {
		if _, _, ok := ParseEnvelope(in); ok {
			t.Errorf("ParseEnvelope(%q) accepted", in)
		}
	}
}

// TestNamedEnvelopeInATranscriptLineNamesThePeer: the same, through a
// transcript line (content as a string and as text blocks), as the monitor
// reads a session no store has named.
func TestNamedEnvelopeInATranscriptLineNamesThePeer(t *testing.T) {
	const text = "[WhatsApp عمر الحربي id:+966500000001 +5m Fri 2026-11-27 03:01:00 GMT+3] عمر الحربي: رقمي id:+966500000009"
	js, err := json.Marshal(text)
	if err != nil {
		t.Fatal(err)
	}
	for form, content := range map[string]string{"string": string(js), "text blocks": `[{"type":"text","text":` + string(js) + `}]`} {
		line := `{"type":"message","id":"bafea33a-3137-4e71-84ad-0112adf9100a","parentId":null,"timestamp":"2026-11-27T00:42:14.576Z","message":{"role":"user","content":` + content + `,"timestamp":1795740130646}}`
		p := Clawdbot{WantEnvelope: true}
		r := p.Parse([]byte(line))
		if r.Kind != KindEnvelope || r.Channel != "whatsapp" || r.Peer != "+966500000001" {
			t.Errorf("content as %s: kind %v channel %q peer %q (err %v)", form, r.Kind, r.Channel, r.Peer, r.Err)
		}
	}
}

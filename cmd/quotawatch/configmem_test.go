package main

import (
	"fmt"
	"github.com/quotawatch/quotawatch/report"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"strings"
	"testing"
	"unsafe"
)

// largeConfig is a config the size of issue 13's benchmark: n customers,
// one per WhatsApp group, ~70 bytes of YAML each.
func largeConfig(n int) string {
	var b strings.Builder
	b.WriteString("timezone: Asia/Riyadh\nsources: [{type: clawdbot, dir: STATE}]\ntiers: {basic: {requests: 100000}, pro: {}}\ncustomers:\n")
	for i := range n {
		fmt.Fprintf(&b, "  - {id: g%018d, tier: basic, match: {peer: \"%018d@g.us\"}}\n", 120363000000000000+i, 120363000000000000+i)
	}
	return b.String()
}

// heapFree is the heap memory the runtime holds but no object uses and
// that it has not returned to the OS: resident, and of no use to anyone.
func heapFree() uint64 {
	s := []metrics.Sample{{Name: "/memory/classes/heap/free:bytes"}}
	metrics.Read(s)
	return s[0].Value.Uint64()
}

func TestLoadConfigReturnsTheParseGarbageToTheOS(t *testing.T) {
	t.Setenv("GOGC", "")
	path := writeConfig(t, largeConfig(8250))
	c, err := loadConfig(path, "")
	if err != nil {
		t.Fatal(err)
	}
	// Collect what the test itself left since, so that only memory the
	// parse freed and kept could be left over.
	runtime.GC()
	const limit = 4 << 20
	if free := heapFree(); free > limit {
		t.Errorf("after loading %d customers the runtime keeps %.1f MiB of freed heap resident, want at most %d MiB: the parse's garbage stays in the RSS of an idle run", len(c.Customers), float64(free)/(1<<20), limit>>20)
	}
	if len(c.Customers) != 8250 {
		t.Fatalf("loaded %d customers, want 8250", len(c.Customers))
	}
}

func TestLoadConfigRestoresTheGCTarget(t *testing.T) {
	t.Setenv("GOGC", "")
	path := writeConfig(t, goodConfig)
	old := debug.SetGCPercent(137)
	defer debug.SetGCPercent(old)
	if _, err := loadConfig(path, ""); err != nil {
		t.Fatal(err)
	}
	if got := debug.SetGCPercent(137); got != 137 {
		t.Errorf("GC percent after loadConfig = %d, want the 137 set before it", got)
	}
	bad := writeConfig(t, strings.Replace(goodConfig, "tier: basic", "tier: gold", 1))
	if _, err := loadConfig(bad, ""); err == nil {
		t.Fatal("a config naming an unknown tier loaded")
	}
	if got := debug.SetGCPercent(137); got != 137 {
		t.Errorf("GC percent after a failed loadConfig = %d, want the 137 set before it", got)
	}
}

func TestParseMemoryLeavesAUserGOGCAlone(t *testing.T) {
	t.Setenv("GOGC", "300")
	old := debug.SetGCPercent(300)
	defer debug.SetGCPercent(old)
	release := parseMemory()
	during := debug.SetGCPercent(300)
	release()
	if during != 300 {
		t.Errorf("GC percent during the parse = %d with GOGC=300 set, want 300: the user's choice wins", during)
	}
}

func TestEveryConsumerSharesTheOneCustomerBook(t *testing.T) {
	c, err := loadConfig(writeConfig(t, goodConfig), "")
	if err != nil {
		t.Fatal(err)
	}
	// run hands a Book to the digester, the enforcer, the mirror and the
	// dashboard: one index each would be 0.4 MiB apiece at 8,250 customers.
	if b1, b2 := c.book(), c.book(); b1 != b2 {
		t.Errorf("book() built a second Book (%p, %p): every consumer must share the one validate built", b1, b2)
	}
	cu, ok := c.book().Customer("a")
	if !ok || cu != &c.Customers[0] {
		t.Errorf("Book.Customer(\"a\") = %p, %v; want &Customers[0] = %p: the Book must index the decoded list, not a copy", cu, ok, &c.Customers[0])
	}
	if cu.Limits.Requests != 500 {
		t.Errorf("customer a's limits through the Book = %+v, want the basic tier's 500 requests", cu.Limits)
	}
	if !c.hasCustomer("b") || c.hasCustomer("nobody") {
		t.Errorf("hasCustomer(b) = %v, hasCustomer(nobody) = %v; want true, false", c.hasCustomer("b"), c.hasCustomer("nobody"))
	}
}

// BenchmarkLoadConfig8250Customers measures the parse of issue 13's
// benchmark config: allocations per load, the garbage the GC target and
// FreeOSMemory deal with.
func BenchmarkLoadConfig8250Customers(b *testing.B) {
	path := writeConfig(b, largeConfig(8250))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := loadConfig(path, ""); err != nil {
			b.Fatal(err)
		}
	}
}

// TestTheCustomersOfATierShareOneCopyOfItsLimits: a customer points at its
// tier's limits instead of holding a copy (88 bytes of a 264-byte customer,
// 0.66 MB of run's idle heap at 8,250 customers); a customer with no tier
// reads as unlimited.
func TestTheCustomersOfATierShareOneCopyOfItsLimits(t *testing.T) {
	if size := unsafe.Sizeof(report.Customer{}); size > 192 {
		t.Errorf("a customer is %d bytes; want at most 192 (no copy of its tier's limits)", size)
	}
	cfg := strings.Replace(goodConfig, "  - {id: b, tier: pro}", "  - {id: b, tier: basic}\n  - {id: c}", 1)
	c, err := loadConfig(writeConfig(t, cfg), "")
	if err != nil {
		t.Fatal(err)
	}
	a, _ := c.book().Customer("a")
	b, _ := c.book().Customer("b")
	if a.Limits == nil || a.Limits != b.Limits || a.TierLimits().Requests != 500 {
		t.Errorf("customers a and b of tier basic: limits %p and %p (%+v); want one shared copy with 500 requests", a.Limits, b.Limits, a.TierLimits())
	}
	if cu, _ := c.book().Customer("c"); !cu.TierLimits().Unlimited() {
		t.Errorf("customer c with no tier has limits %+v; want unlimited", cu.TierLimits())
	}
}

package main

import (
	"fmt"
	"net/http"
	"sync/atomic"
	"testing"

	"github.com/cxbot/cxbot/bot/telegram/telegramtest"
)

// BenchmarkWebhookAnswers measures answers per second end to end: a
// Telegram tap posted to the webhook over HTTP, deduplicated, locked, run
// through the state machine, committed to SQL, replied to through the fake
// Bot API over HTTP, and acknowledged. Allocations include the in-process
// fake Telegram server's.
func BenchmarkWebhookAnswers(b *testing.B) {
	for _, st := range stacks(b) {
		for _, parallel := range []bool{false, true} {
			name := st.name + map[bool]string{false: "/serial", true: "/parallel"}[parallel]
			b.Run(name, func(b *testing.B) {
				h := start(b, st, options{webhook: true})
				taps := make([]telegramtest.Update, b.N)
				for i := range b.N {
					chat := int64(100_000 + i)
					h.invite("post_purchase_nps", fmt.Sprintf("B-%d", i), chat, "en")
					h.waitSent(chat, 1)
					tap, err := h.tg.TapButton(chat, "9")
					if err != nil {
						b.Fatal(err)
					}
					taps[i] = tap
				}
				b.ReportAllocs()
				b.ResetTimer()
				if parallel {
					var next atomic.Int64
					b.RunParallel(func(pb *testing.PB) {
						for pb.Next() {
							if code := h.deliver(taps[next.Add(1)-1]); code != http.StatusOK {
								b.Errorf("webhook answered %d", code)
							}
						}
					})
				} else {
					for i := range b.N {
						if code := h.deliver(taps[i]); code != http.StatusOK {
							b.Fatalf("webhook answered %d", code)
						}
					}
				}
				b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "answers/s")
			})
		}
	}
}

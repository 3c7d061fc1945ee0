package main

import (
	"io"
	"net/http"
	"strings"
	"testing"
)

// TestChatInboundLimitAcknowledgesAndDrops, on each stack over the real
// webhook: a chat over CXBOT_CHAT_INBOUND_RATE gets 200 for every update
// (so Telegram does not retry), but only the first ones are answered; the
// rest are counted in /metrics and logged once.
func TestChatInboundLimitAcknowledgesAndDrops(t *testing.T) {
	for _, st := range stacks(t) {
		t.Run(st.name, func(t *testing.T) {
			h := start(t, st, options{webhook: true, env: map[string]string{"CXBOT_CHAT_INBOUND_RATE": "3/min"}})
			const chat = 3201
			h.invite("post_purchase_nps", "C-flood", chat, "en")
			h.waitSent(chat, 1)
			for i := 0; i < 6; i++ {
				h.say(chat, "hello", "en") // fails the test unless the webhook answers 200
			}
			answered := len(h.waitSent(chat, 4)) // the question, and a re-prompt for each of the first three
			if answered != 4 {
				t.Errorf("chat got %d messages, want 4 (the excess dropped)", answered)
			}
			resp, err := http.Get(h.base + "/metrics")
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if !strings.Contains(string(body), `cxbot_inbound_dropped_total{channel="telegram"} 3`) {
				t.Errorf("metrics lack 3 dropped updates:\n%s", grepLines(string(body), "inbound"))
			}
			if n := strings.Count(h.logs.String(), "over its inbound limit"); n != 1 {
				t.Errorf("logged %d times, want once per window", n)
			}
			// Another chat is not limited by this one.
			h.invite("post_purchase_nps", "C-calm", 3202, "en")
			h.waitSent(3202, 1)
			h.say(3202, "hello", "en")
			h.waitSent(3202, 2)
		})
	}
}

func grepLines(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

package conversation_test

import (
	"testing"

	"github.com/cxbot/cxbot/conversation"
	"github.com/cxbot/cxbot/flows"
)

// completingSteps counts the written steps that finish a response, and
// those of them asking for the response.completed webhook.
func completingSteps(h *harness) (finishing, hooked int) {
	h.records.mu.Lock()
	defer h.records.mu.Unlock()
	for _, w := range h.records.steps {
		if w.Finish == flows.ResponseCompleted {
			finishing++
			if w.CompletedWebhook {
				hooked++
			}
		}
	}
	return finishing, hooked
}

func TestCompletingStepAsksForTheWebhookWhenOn(t *testing.T) {
	for _, on := range []bool{true, false} {
		h := newHarness(t, func(c *conversation.Config) { c.Webhooks = on })
		h.invite("42", "C-1")
		h.mustSay("42", "9")
		finishing, hooked := completingSteps(h)
		want := 0
		if on {
			want = 1
		}
		if finishing != 1 || hooked != want {
			t.Errorf("webhooks %v: %d completing steps, %d asking for the webhook; want 1 and %d", on, finishing, hooked, want)
		}
	}
}

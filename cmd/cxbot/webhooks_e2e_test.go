package main

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/cxbot/cxbot/webhooks"
)

const testWebhookSecret = "e2e-webhook-secret-0123"

// hookReceiver is the business's CRM: a real HTTP server that keeps what
// it is sent.
type hookReceiver struct {
	mu  sync.Mutex
	got []hookRequest
	srv *httptest.Server
}

type hookRequest struct {
	header http.Header
	body   []byte
}

func newHookReceiver(t *testing.T) *hookReceiver {
	r := &hookReceiver{}
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		b, _ := io.ReadAll(req.Body)
		r.mu.Lock()
		r.got = append(r.got, hookRequest{header: req.Header.Clone(), body: b})
		r.mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(r.srv.Close)
	return r
}

func (r *hookReceiver) requests() []hookRequest {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]hookRequest(nil), r.got...)
}

// poll waits up to 10 s for cond, which watches something other than the
// fake Telegram (h.waitFor wakes only on its changes).
func poll(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !cond(); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("waiting for %s: timed out", what)
		}
	}
}

// A promoter's completed survey reaches the business's receiver as one
// signed response.completed, and the delivery log shows it delivered.
func TestSurveyCompletionReachesWebhookReceiver(t *testing.T) {
	for _, st := range stacks(t) {
		t.Run(st.name, func(t *testing.T) {
			rcv := newHookReceiver(t)
			h := start(t, st, options{webhook: true, env: map[string]string{
				"CXBOT_WEBHOOK_URL": rcv.srv.URL, "CXBOT_WEBHOOK_SECRET": testWebhookSecret,
			}})
			const chat = 3001
			h.invite("post_purchase_nps", "C-hook", chat, "en")
			h.waitSent(chat, 1)
			h.tap(chat, "9")
			h.waitSent(chat, 2)
			poll(t, "the webhook", func() bool { return len(rcv.requests()) > 0 })

			got := rcv.requests()
			if len(got) != 1 {
				t.Fatalf("receiver got %d requests, want 1", len(got))
			}
			req := got[0]
			if err := webhooks.Verify(testWebhookSecret, req.header.Get(webhooks.HeaderTimestamp), req.body, req.header.Get(webhooks.HeaderSignature)); err != nil {
				t.Fatalf("signature: %v (headers %v)", err, req.header)
			}
			if req.header.Get(webhooks.HeaderEvent) != "response.completed" || req.header.Get("Content-Type") != "application/json" {
				t.Fatalf("headers %v", req.header)
			}
			var body struct {
				Event string `json:"event"`
				Data  struct {
					SurveyID    string            `json:"survey_id"`
					CustomerRef string            `json:"customer_ref"`
					Channel     string            `json:"channel"`
					Context     map[string]string `json:"context"`
					Answers     []struct {
						QuestionID string `json:"question_id"`
						Score      *int   `json:"score"`
						Class      string `json:"class"`
					} `json:"answers"`
				} `json:"data"`
			}
			if err := json.Unmarshal(req.body, &body); err != nil {
				t.Fatalf("body %s: %v", req.body, err)
			}
			d := body.Data
			if body.Event != "response.completed" || d.SurveyID != "post_purchase_nps" || d.CustomerRef != "C-hook" || d.Channel != "telegram" ||
				d.Context["store"] != "SH-01" || len(d.Answers) != 1 || d.Answers[0].Score == nil || *d.Answers[0].Score != 9 || d.Answers[0].Class != "promoter" {
				t.Fatalf("body = %s", req.body)
			}

			var log struct {
				Deliveries []struct {
					ID         int64  `json:"id"`
					Event      string `json:"event"`
					Status     string `json:"status"`
					LastStatus int    `json:"last_status"`
				} `json:"deliveries"`
			}
			poll(t, "the delivery recorded", func() bool {
				code := h.api("GET", "/api/v1/webhooks/deliveries?status=delivered", nil, &log)
				return code == http.StatusOK && len(log.Deliveries) == 1
			})
			if l := log.Deliveries[0]; l.Event != "response.completed" || l.LastStatus != http.StatusNoContent ||
				req.header.Get(webhooks.HeaderDelivery) == "" {
				t.Fatalf("log = %+v, delivery header %q", log, req.header.Get(webhooks.HeaderDelivery))
			}
		})
	}
}

// Without CXBOT_WEBHOOK_URL nothing is queued.
func TestNoWebhookURLQueuesNothing(t *testing.T) {
	st := stacks(t)[0]
	h := start(t, st, options{webhook: true})
	const chat = 3002
	h.invite("post_purchase_nps", "C-nohook", chat, "en")
	h.waitSent(chat, 1)
	h.tap(chat, "9")
	h.waitSent(chat, 2)
	var log struct {
		Deliveries []json.RawMessage `json:"deliveries"`
	}
	if code := h.api("GET", "/api/v1/webhooks/deliveries", nil, &log); code != http.StatusOK || len(log.Deliveries) != 0 {
		t.Fatalf("deliveries = %d %v; want none", code, log.Deliveries)
	}
}

package httpapi

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/cxbot/cxbot/bot"
	"github.com/cxbot/cxbot/conversation"
	"github.com/cxbot/cxbot/flows"
)

var (
	sentAt    = time.Date(2026, 1, 20, 9, 31, 0, 0, time.UTC)
	createdAt = time.Date(2026, 1, 20, 9, 30, 0, 0, time.UTC)
)

// testSurveys are two surveys as the conversation layer loads them.
func testSurveys() map[string]*flows.Survey {
	return map[string]*flows.Survey{
		"post_service_csat": {
			ID: "post_service_csat", Version: 1, DefaultLanguage: "zh-CN",
			Title:     flows.Text{"zh-CN": "服务满意度"},
			Questions: []flows.Question{{ID: "csat", Kind: flows.KindCSAT, Prompt: flows.Text{"zh-CN": "满意吗？"}}},
		},
		"post_purchase_nps": {
			ID: "post_purchase_nps", Version: 3, DefaultLanguage: "en",
			Title: flows.Text{"en": "After your purchase", "zh-CN": "购买之后"},
			Questions: []flows.Question{
				{ID: "nps", Kind: flows.KindNPS, Prompt: flows.Text{"en": "Recommend us?", "zh-CN": "推荐吗？"}},
				{ID: "why", Kind: flows.KindText, Prompt: flows.Text{"en": "Why?", "zh-CN": "为什么？"}},
			},
		},
	}
}

// sentInvitation is what Invite returns for a request.
func sentInvitation(req conversation.InviteRequest) flows.Invitation {
	return flows.Invitation{
		ID: 7, WaveID: flows.WaveAPI, CustomerID: 3, CustomerRef: req.CustomerRef, EventID: req.EventID,
		SurveyID: req.SurveyID, SurveyVersion: 3, Channel: req.Channel, ExternalID: req.ChatID, Language: "en",
		Context: req.Context, Status: flows.InvitationSent, SentAt: &sentAt, CreatedAt: createdAt,
	}
}

func TestCreateInvitation(t *testing.T) {
	a := newFakeAPI(t)
	var got []conversation.InviteRequest
	a.convs.InviteFn = func(_ context.Context, req conversation.InviteRequest) (flows.Invitation, bool, error) {
		got = append(got, req)
		return sentInvitation(req), req.EventID != "ord-1-again", nil
	}

	r := a.do(http.MethodPost, "/api/v1/invitations",
		`{"survey":"post_purchase_nps","customer_ref":"C-1","telegram_chat_id":42,"language":"en","event_id":"ord-1","context":{"order_id":"1001"}}`)
	want := `{"id":7,"survey":"post_purchase_nps","survey_version":3,"customer_ref":"C-1","channel":"telegram","chat_id":"42",` +
		`"wave_id":"api","event_id":"ord-1","language":"en","status":"sent","context":{"order_id":"1001"},` +
		`"sent_at":"2026-01-20T09:31:00Z","created_at":"2026-01-20T09:30:00Z"}` + "\n"
	if r.code != http.StatusCreated || r.body != want {
		t.Fatalf("invite = %d %s\nwant %s", r.code, r.body, want)
	}
	wantReq := conversation.InviteRequest{SurveyID: "post_purchase_nps", CustomerRef: "C-1", Channel: flows.ChannelTelegram, ChatID: "42",
		Language: "en", EventID: "ord-1", Context: map[string]string{"order_id": "1001"}}
	if !reflect.DeepEqual(got[0], wantReq) {
		t.Fatalf("Invite got %+v\nwant       %+v", got[0], wantReq)
	}

	// A chat id as a string of digits, and the same event again: 200, nothing sent again.
	r = a.do(http.MethodPost, "/api/v1/invitations", `{"survey":"post_purchase_nps","customer_ref":"C-1","telegram_chat_id":"100123","event_id":"ord-1-again"}`)
	if r.code != http.StatusOK || got[1].ChatID != "100123" || got[1].Channel != flows.ChannelTelegram {
		t.Fatalf("repeated invite = %d %s (request %+v)", r.code, r.body, got[1])
	}

	r = a.do(http.MethodPost, "/api/v1/invitations", `{"survey":"post_service_csat","customer_ref":"C-2","wechat_openid":"oAbC123"}`)
	var inv invitationJSON
	r.json(t, &inv)
	if r.code != http.StatusCreated || got[2].Channel != flows.ChannelWeChat || got[2].ChatID != "oAbC123" || inv.Channel != flows.ChannelWeChat ||
		strings.Contains(r.body, `"context"`) || strings.Contains(r.body, `"error"`) {
		t.Fatalf("WeChat invite = %d %s (request %+v)", r.code, r.body, got[2])
	}
	if len(got) != 3 {
		t.Fatalf("Invite called %d times", len(got))
	}
}

func TestCreateInvitationRefusals(t *testing.T) {
	for _, tc := range []struct {
		name, body string
		err        error // returned by Invite; nil = Invite must not be called
		code       int
		want       string
	}{
		{"both chats", `{"survey":"s","customer_ref":"C","telegram_chat_id":1,"wechat_openid":"o"}`, nil, http.StatusBadRequest,
			"give telegram_chat_id or wechat_openid, not both"},
		{"no chat", `{"survey":"s","customer_ref":"C"}`, nil, http.StatusBadRequest, "telegram_chat_id or wechat_openid is required"},
		{"chat id text", `{"survey":"s","customer_ref":"C","telegram_chat_id":"abc"}`, nil, http.StatusBadRequest, `chat id "abc" is not an integer`},
		{"chat id float", `{"survey":"s","customer_ref":"C","telegram_chat_id":4.5}`, nil, http.StatusBadRequest, `chat id "4.5" is not an integer`},
		{"chat id bool", `{"survey":"s","customer_ref":"C","telegram_chat_id":true}`, nil, http.StatusBadRequest, "chat id must be an integer"},
		{"context number", `{"survey":"s","customer_ref":"C","telegram_chat_id":1,"context":{"n":1}}`, nil, http.StatusBadRequest, `field "context" must be a string, not a number`},
		{"bad JSON", `{"survey":`, nil, http.StatusBadRequest, "the body ends too early"},
		{"unknown survey", `{"survey":"nope","customer_ref":"C","telegram_chat_id":1}`, fmt.Errorf("%w: survey %q", flows.ErrNotFound, "nope"),
			http.StatusNotFound, `survey "nope" not found`},
		{"invalid for the survey", `{"survey":"s","customer_ref":"","telegram_chat_id":1}`, fmt.Errorf("%w: customer_ref is required", flows.ErrInvalid),
			http.StatusBadRequest, "customer_ref is required"},
		{"opted out", `{"survey":"s","customer_ref":"C","telegram_chat_id":1}`, fmt.Errorf("%w: customer opted out", flows.ErrConflict),
			http.StatusConflict, "customer opted out"},
		{"redis down", `{"survey":"s","customer_ref":"C","telegram_chat_id":1}`, fmt.Errorf("lock chat: %w", flows.ErrUnavailable),
			http.StatusServiceUnavailable, "lock chat: unavailable"},
		{"platform limit", `{"survey":"s","customer_ref":"C","telegram_chat_id":1}`, &bot.RateLimitedError{RetryAfter: 3 * time.Second},
			http.StatusTooManyRequests, "rate limited by the platform: retry after 3s"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := newFakeAPI(t)
			if tc.err != nil {
				a.convs.InviteFn = func(context.Context, conversation.InviteRequest) (flows.Invitation, bool, error) {
					return flows.Invitation{}, false, tc.err
				}
			}
			r := a.do(http.MethodPost, "/api/v1/invitations", tc.body)
			if r.code != tc.code || !strings.Contains(r.errorText(t), tc.want) {
				t.Fatalf("= %d %s; want %d with %q", r.code, r.body, tc.code, tc.want)
			}
		})
	}
}

func TestListSurveys(t *testing.T) {
	a := newFakeAPI(t)
	a.convs.SurveysFn = testSurveys
	r := a.do(http.MethodGet, "/api/v1/surveys", "")
	want := `{"surveys":[` +
		`{"id":"post_purchase_nps","version":3,"title":"After your purchase","titles":[{"language":"en","title":"After your purchase"},{"language":"zh-CN","title":"购买之后"}],"languages":["en","zh-CN"],"questions":2},` +
		`{"id":"post_service_csat","version":1,"title":"服务满意度","titles":[{"language":"zh-CN","title":"服务满意度"}],"languages":["zh-CN"],"questions":1}]}` + "\n"
	if r.code != http.StatusOK || r.body != want {
		t.Fatalf("surveys = %d %s\nwant %s", r.code, r.body, want)
	}

	a.convs.SurveysFn = func() map[string]*flows.Survey { return nil }
	if r := a.do(http.MethodGet, "/api/v1/surveys", ""); r.code != http.StatusOK || r.body != `{"surveys":[]}`+"\n" {
		t.Fatalf("no surveys = %d %s; want an empty list", r.code, r.body)
	}
}

func TestListHandoffs(t *testing.T) {
	a := newFakeAPI(t)
	var calls []flows.HandoffQuery
	a.desk.CasesFn = func(_ context.Context, q flows.HandoffQuery) ([]flows.Handoff, error) {
		calls = append(calls, q)
		return []flows.Handoff{{
			ID: 9, ResponseID: 4, CustomerID: 3, CustomerRef: "C-1", SurveyID: "post_purchase_nps", QuestionID: "nps",
			Kind: flows.KindNPS, Score: 2, Class: flows.ClassDetractor, Comment: "late", Channel: flows.ChannelTelegram,
			ExternalID: "42", Context: map[string]string{"order_id": "1001"}, Status: flows.HandoffOpen,
			NotifiedAt: &sentAt, CreatedAt: createdAt,
		}}, nil
	}
	r := a.do(http.MethodGet, "/api/v1/handoffs", "")
	want := `{"handoffs":[{"id":9,"response_id":4,"customer_ref":"C-1","survey":"post_purchase_nps","question":"nps","kind":"nps",` +
		`"score":2,"class":"detractor","comment":"late","channel":"telegram","chat_id":"42","context":{"order_id":"1001"},` +
		`"status":"open","notified_at":"2026-01-20T09:31:00Z","created_at":"2026-01-20T09:30:00Z"}]}` + "\n"
	if r.code != http.StatusOK || r.body != want || calls[0] != (flows.HandoffQuery{Limit: 100}) {
		t.Fatalf("handoffs = %d %s\nwant %s (call %+v)", r.code, r.body, want, calls[0])
	}
	r = a.do(http.MethodGet, "/api/v1/handoffs?status=claimed&agent=7&from=2026-01-01&to=2026-02-01T00:00:00Z&limit=1&before=50", "")
	wantQ := flows.HandoffQuery{Status: flows.HandoffClaimed, AgentID: 7, Limit: 1, BeforeID: 50,
		From: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), To: time.Date(2026, 2, 1, 0, 0, 0, 0, time.UTC)}
	if r.code != http.StatusOK || !calls[1].From.Equal(wantQ.From) || !calls[1].To.Equal(wantQ.To) || calls[1].Status != wantQ.Status ||
		calls[1].AgentID != 7 || calls[1].Limit != 1 || calls[1].BeforeID != 50 || !strings.Contains(r.body, `"next_before":9`) {
		t.Fatalf("filtered handoffs = %d %s (call %+v)", r.code, r.body, calls[1])
	}

	var names []string
	for _, st := range flows.HandoffStatuses() {
		names = append(names, string(st))
	}
	for _, tc := range []struct{ query, want string }{
		{"status=lost", "status must be one of " + strings.Join(names, ", ")},
		{"limit=0", "limit must be an integer from 1 to 1000"},
		{"limit=1001", "limit must be an integer from 1 to 1000"},
		{"limit=ten", "limit must be an integer from 1 to 1000"},
		{"agent=x", "agent must be an integer from 1 to 4611686018427387904"},
		{"from=yesterday", "from must be an RFC 3339 time or a YYYY-MM-DD date"},
		{"from=2026-12-05&to=2026-12-01", "from (2026-12-05T00:00:00Z) must be before to (2026-12-01T00:00:00Z)"},
		{"from=2026-12-01&to=2026-12-01", "from (2026-12-01T00:00:00Z) must be before to (2026-12-01T00:00:00Z)"},
	} {
		r := a.do(http.MethodGet, "/api/v1/handoffs?"+tc.query, "")
		if r.code != http.StatusBadRequest || r.errorText(t) != tc.want {
			t.Errorf("?%s = %d %s; want 400 %q", tc.query, r.code, r.body, tc.want)
		}
	}
	if len(calls) != 2 {
		t.Fatalf("Cases called %d times; refused queries must not reach it", len(calls))
	}

	a.desk.CasesFn = func(context.Context, flows.HandoffQuery) ([]flows.Handoff, error) { return nil, nil }
	if r := a.do(http.MethodGet, "/api/v1/handoffs", ""); r.code != http.StatusOK || r.body != `{"handoffs":[]}`+"\n" {
		t.Fatalf("no handoffs = %d %s; want an empty list", r.code, r.body)
	}
	a.desk.CasesFn = func(context.Context, flows.HandoffQuery) ([]flows.Handoff, error) {
		return nil, errors.New("sql: connection is already closed")
	}
	if r := a.do(http.MethodGet, "/api/v1/handoffs", ""); r.code != http.StatusInternalServerError || r.errorText(t) != "internal error" {
		t.Fatalf("handoffs with a broken store = %d %s", r.code, r.body)
	}
}

func TestCreateLink(t *testing.T) {
	a := newFakeAPI(t)
	expires := time.Date(2026, 12, 8, 10, 0, 0, 0, time.UTC)
	a.links.IssueFn = func(ref string, reusable bool) (conversation.IssuedLink, error) {
		if ref == "" {
			return conversation.IssuedLink{}, fmt.Errorf("%w: customer_ref is required", flows.ErrInvalid)
		}
		return conversation.IssuedLink{Token: "tok-" + ref, ExpiresAt: expires, Reusable: reusable}, nil
	}
	r := a.do(http.MethodPost, "/api/v1/links", `{"customer_ref":"C-1"}`)
	want := `{"customer_ref":"C-1","start_command":"/start tok-C-1","token":"tok-C-1","expires_at":"2026-12-08T10:00:00Z","reusable":false}` + "\n"
	if r.code != http.StatusCreated || r.body != want {
		t.Fatalf("link = %d %s\nwant %s", r.code, r.body, want)
	}
	if r := a.do(http.MethodPost, "/api/v1/links", `{"customer_ref":"C-1","reusable":true}`); r.code != http.StatusCreated || !strings.Contains(r.body, `"reusable":true`) {
		t.Fatalf("reusable link = %d %s", r.code, r.body)
	}
	if r := a.do(http.MethodPost, "/api/v1/links", `{}`); r.code != http.StatusBadRequest || r.errorText(t) != "customer_ref is required" {
		t.Fatalf("link without a reference = %d %s", r.code, r.body)
	}
}

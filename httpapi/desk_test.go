package httpapi

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/cxbot/cxbot/flows"
)

func TestDeskRoutes(t *testing.T) {
	a := newFakeAPI(t)
	h := flows.Handoff{ID: 12, Status: flows.HandoffClaimed, Case: flows.Case{ClaimedBy: 3, ClaimedByName: "Li"}}
	a.desk.CaseFn = func(_ context.Context, id int64) (flows.Handoff, []flows.CaseMessage, error) {
		if id != 12 {
			return flows.Handoff{}, nil, fmt.Errorf("handoff %d: %w", id, flows.ErrNotFound)
		}
		return h, []flows.CaseMessage{{ID: 1, Author: flows.AuthorCustomer, Text: "hi"}}, nil
	}
	if r := a.do(http.MethodGet, "/api/v1/handoffs/12", ""); r.code != 200 || !strings.Contains(r.body, `"messages":[{"id":1,"author":"customer","text":"hi"`) || !strings.Contains(r.body, `"claimed_by_name":"Li"`) {
		t.Fatalf("get case = %d %s", r.code, r.body)
	}
	if r := a.do(http.MethodGet, "/api/v1/handoffs/13", ""); r.code != 404 {
		t.Fatalf("unknown case = %d %s", r.code, r.body)
	}
	if r := a.do(http.MethodGet, "/api/v1/handoffs/abc", ""); r.code != 400 || !strings.Contains(r.errorText(t), `id "abc" is not a positive integer`) {
		t.Fatalf("bad id = %d %s", r.code, r.body)
	}

	var claimedBy int64
	a.desk.ClaimFn = func(_ context.Context, id, agentID int64) (flows.Handoff, error) {
		claimedBy = agentID
		if agentID == 4 {
			return h, fmt.Errorf("claim: %w", errors.Join(flows.ErrConflict, errors.New("the case is owned by another agent")))
		}
		return h, nil
	}
	if r := a.do(http.MethodPost, "/api/v1/handoffs/12/claim", `{"agent_id":3}`); r.code != 200 || claimedBy != 3 {
		t.Fatalf("claim = %d %s", r.code, r.body)
	}
	if r := a.do(http.MethodPost, "/api/v1/handoffs/12/claim", `{"agent_id":4}`); r.code != 409 {
		t.Fatalf("claim taken = %d %s", r.code, r.body)
	}
	for _, body := range []string{`{}`, `{"agent":3}`, `[]`, ``} {
		if r := a.do(http.MethodPost, "/api/v1/handoffs/12/claim", body); r.code != 400 {
			t.Errorf("claim %q = %d %s, want 400", body, r.code, r.body)
		}
	}

	a.desk.ReplyFn = func(_ context.Context, _, _ int64, text string) (flows.CaseMessage, error) {
		if text == "blocked" {
			return flows.CaseMessage{ID: 8, Text: text, Error: "blocked"}, fmt.Errorf("%w: the customer blocked the bot", flows.ErrConflict)
		}
		if text == "" {
			return flows.CaseMessage{}, fmt.Errorf("%w: nothing to send", flows.ErrInvalid)
		}
		return flows.CaseMessage{ID: 7, Text: text, Delivered: true}, nil
	}
	if r := a.do(http.MethodPost, "/api/v1/handoffs/12/reply", `{"agent_id":3,"text":"hello"}`); r.code != 201 || !strings.Contains(r.body, `"delivered":true`) {
		t.Fatalf("reply = %d %s", r.code, r.body)
	}
	if r := a.do(http.MethodPost, "/api/v1/handoffs/12/reply", `{"agent_id":3,"text":"blocked"}`); r.code != 409 || !strings.Contains(r.body, `"message":{"id":8`) || !strings.Contains(r.body, "blocked the bot") {
		t.Fatalf("undelivered reply = %d %s", r.code, r.body)
	}
	if r := a.do(http.MethodPost, "/api/v1/handoffs/12/reply", `{"agent_id":3,"text":""}`); r.code != 400 {
		t.Fatalf("empty reply = %d %s", r.code, r.body)
	}
	if r := a.do(http.MethodPost, "/api/v1/handoffs/12/reply", `{"text":"x"}`); r.code != 400 || !strings.Contains(r.body, "agent_id is required") {
		t.Fatalf("reply without agent = %d %s", r.code, r.body)
	}

	var gotOutcome flows.CaseOutcome
	a.desk.ResolveFn = func(_ context.Context, _, _ int64, o flows.CaseOutcome, note string) (flows.Handoff, error) {
		gotOutcome = o
		if !o.Valid() {
			return flows.Handoff{}, fmt.Errorf("%w: outcome must be one of resolved, no_answer, not_actionable", flows.ErrInvalid)
		}
		r := h
		r.Status, r.Outcome, r.Note = flows.HandoffResolved, o, note
		return r, nil
	}
	if r := a.do(http.MethodPost, "/api/v1/handoffs/12/resolve", `{"outcome":"no_answer","note":"3 calls"}`); r.code != 200 || gotOutcome != flows.OutcomeNoAnswer || !strings.Contains(r.body, `"note":"3 calls"`) {
		t.Fatalf("resolve = %d %s", r.code, r.body)
	}
	if r := a.do(http.MethodPost, "/api/v1/handoffs/12/resolve", `{"outcome":"fixed"}`); r.code != 400 || !strings.Contains(r.body, "outcome must be one of") {
		t.Fatalf("bad outcome = %d %s", r.code, r.body)
	}
}

func TestAgentRoutes(t *testing.T) {
	a := newFakeAPI(t)
	var added flows.Agent
	a.agents.AddFn = func(_ context.Context, ag flows.Agent) (flows.Agent, error) {
		if err := ag.Validate(); err != nil {
			return flows.Agent{}, err
		}
		added = ag
		ag.ID = 5
		return ag, nil
	}
	if r := a.do(http.MethodPost, "/api/v1/agents", `{"telegram_user_id":77,"name":"Li"}`); r.code != 201 || added.Role != flows.RoleAgent || !strings.Contains(r.body, `"id":5`) {
		t.Fatalf("add = %d %s (%+v)", r.code, r.body, added)
	}
	for _, body := range []string{`{"telegram_user_id":-1,"name":"Li"}`, `{"telegram_user_id":7,"name":""}`, `{"telegram_user_id":7,"name":"x","role":"boss"}`, `{"user":7}`} {
		if r := a.do(http.MethodPost, "/api/v1/agents", body); r.code != 400 {
			t.Errorf("add %s = %d %s, want 400", body, r.code, r.body)
		}
	}
	a.agents.ListFn = func(context.Context) ([]flows.Agent, error) { return nil, nil }
	if r := a.do(http.MethodGet, "/api/v1/agents", ""); r.code != 200 || r.body != `{"agents":[]}`+"\n" {
		t.Fatalf("list = %d %s", r.code, r.body)
	}
	a.agents.RemoveFn = func(_ context.Context, id int64) error {
		if id != 77 {
			return fmt.Errorf("%w: not an agent", flows.ErrNotFound)
		}
		return nil
	}
	if r := a.do(http.MethodDelete, "/api/v1/agents/77", ""); r.code != 200 {
		t.Fatalf("remove = %d %s", r.code, r.body)
	}
	if r := a.do(http.MethodDelete, "/api/v1/agents/78", ""); r.code != 404 {
		t.Fatalf("remove unknown = %d %s", r.code, r.body)
	}
}

func TestDeskRoutesWithoutDesk(t *testing.T) {
	a := newFakeAPI(t, func(c *Config) { c.Desk, c.Agents = nil, nil })
	for _, rq := range [][2]string{{"GET", "/api/v1/handoffs"}, {"GET", "/api/v1/handoffs/1"}, {"POST", "/api/v1/handoffs/1/claim"}, {"GET", "/api/v1/agents"}, {"POST", "/api/v1/agents"}, {"DELETE", "/api/v1/agents/1"}} {
		if r := a.do(rq[0], rq[1], `{}`); r.code != 503 {
			t.Errorf("%s %s without a desk = %d %s", rq[0], rq[1], r.code, r.body)
		}
	}
}

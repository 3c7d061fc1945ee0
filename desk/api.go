package desk

import (
	"context"

	"github.com/cxbot/cxbot/flows"
)

// Case returns a case and its thread, oldest message first.
func (s *Service) Case(ctx context.Context, id int64) (flows.Handoff, []flows.CaseMessage, error) {
	h, err := s.records.Handoff(ctx, id)
	if err != nil {
		return flows.Handoff{}, nil, err
	}
	all, err := s.records.CaseMessages(ctx, id)
	if err != nil {
		return flows.Handoff{}, nil, err
	}
	msgs := all[:0]
	for _, m := range all {
		if m.Author != flows.AuthorDesk { // only a bookmark of cxbot's own line in the agents' chat
			msgs = append(msgs, m)
		}
	}
	return h, msgs, nil
}

// Cases lists cases.
func (s *Service) Cases(ctx context.Context, q flows.HandoffQuery) ([]flows.Handoff, error) {
	return s.records.QueryHandoffs(ctx, q)
}

// ClaimAs claims a case for the agent with id agentID (the API).
func (s *Service) ClaimAs(ctx context.Context, id, agentID int64) (flows.Handoff, error) {
	agent, err := s.records.Agent(ctx, agentID)
	if err != nil {
		return flows.Handoff{}, err
	}
	return s.Claim(ctx, id, agent)
}

// ReplyAs sends an agent's text to the case's customer (the API); the
// agents' chat sees it in the case's thread too.
func (s *Service) ReplyAs(ctx context.Context, id, agentID int64, text string) (flows.CaseMessage, error) {
	agent, err := s.records.Agent(ctx, agentID)
	if err != nil {
		return flows.CaseMessage{}, err
	}
	h, err := s.records.Handoff(ctx, id)
	if err != nil {
		return flows.CaseMessage{}, err
	}
	m, err := s.Reply(ctx, h, agent, text, "", 0)
	if err == nil {
		s.tellThread(ctx, h, say(s.lang, "via_api", "name", esc(agent.Name))+"\n"+quote(text, 3000))
	}
	return m, err
}

// ResolveAs closes a case from the API: by an agent when agentID is set
// (the owner or a supervisor), else by the API's caller.
func (s *Service) ResolveAs(ctx context.Context, id, agentID int64, outcome flows.CaseOutcome, note string) (flows.Handoff, error) {
	r := flows.Resolution{Outcome: outcome, Note: note, By: flows.ResolvedByAPI}
	if err := r.Validate(); err != nil {
		return flows.Handoff{}, err
	}
	var agent *flows.Agent
	if agentID != 0 {
		a, err := s.records.Agent(ctx, agentID)
		if err != nil {
			return flows.Handoff{}, err
		}
		agent, r.By = &a, a.Name
	}
	return s.Resolve(ctx, id, agent, r)
}

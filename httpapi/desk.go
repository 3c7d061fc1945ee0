package httpapi

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/cxbot/cxbot/flows"
)

// Desk is the handoff desk as the API works it (a dashboard or another
// helpdesk), next to the agents' own chat.
type Desk interface {
	Cases(ctx context.Context, q flows.HandoffQuery) ([]flows.Handoff, error)
	Case(ctx context.Context, id int64) (flows.Handoff, []flows.CaseMessage, error)
	ClaimAs(ctx context.Context, id, agentID int64) (flows.Handoff, error)
	ReplyAs(ctx context.Context, id, agentID int64, text string) (flows.CaseMessage, error)
	ResolveAs(ctx context.Context, id, agentID int64, outcome flows.CaseOutcome, note string) (flows.Handoff, error)
}

// Agents registers the people who work the desk.
type Agents interface {
	AddAgent(ctx context.Context, a flows.Agent) (flows.Agent, error)
	Agents(ctx context.Context) ([]flows.Agent, error)
	AgentByTelegramUser(ctx context.Context, telegramUserID int64) (flows.Agent, error)
	RemoveAgent(ctx context.Context, telegramUserID int64) error
}

var errNoDesk = fmt.Errorf("%w: the handoff desk is not configured", flows.ErrUnavailable)

type handoffJSON struct {
	ID            int64               `json:"id"`
	ResponseID    int64               `json:"response_id"`
	CustomerRef   string              `json:"customer_ref"`
	Survey        string              `json:"survey"`
	Question      string              `json:"question"`
	Kind          flows.Kind          `json:"kind"`
	Score         int                 `json:"score"`
	Class         flows.Class         `json:"class"`
	Comment       string              `json:"comment"`
	Channel       flows.Channel       `json:"channel"`
	ChatID        string              `json:"chat_id"`
	Context       map[string]string   `json:"context,omitempty"`
	Status        flows.HandoffStatus `json:"status"`
	NotifiedAt    *time.Time          `json:"notified_at,omitempty"`
	CreatedAt     time.Time           `json:"created_at"`
	ClaimedBy     int64               `json:"claimed_by,omitempty"`
	ClaimedByName string              `json:"claimed_by_name,omitempty"`
	ClaimedAt     *time.Time          `json:"claimed_at,omitempty"`
	ResolvedAt    *time.Time          `json:"resolved_at,omitempty"`
	Outcome       flows.CaseOutcome   `json:"outcome,omitempty"`
	Note          string              `json:"note,omitempty"`
	ResolvedBy    string              `json:"resolved_by,omitempty"`
	EscalatedAt   *time.Time          `json:"escalated_at,omitempty"`
	FollowUpAt    *time.Time          `json:"follow_up_sent_at,omitempty"`
	RecoveryScore *int                `json:"recovery_score,omitempty"`
	Recovered     *bool               `json:"recovered,omitempty"`
	Reopened      int                 `json:"reopened,omitempty"`
}

func toHandoffJSON(h flows.Handoff) handoffJSON {
	return handoffJSON{
		ID: h.ID, ResponseID: h.ResponseID, CustomerRef: h.CustomerRef, Survey: h.SurveyID, Question: h.QuestionID,
		Kind: h.Kind, Score: h.Score, Class: h.Class, Comment: h.Comment, Channel: h.Channel, ChatID: h.ExternalID,
		Context: h.Context, Status: h.Status, NotifiedAt: h.NotifiedAt, CreatedAt: h.CreatedAt,
		ClaimedBy: h.ClaimedBy, ClaimedByName: h.ClaimedByName, ClaimedAt: h.ClaimedAt, ResolvedAt: h.ResolvedAt,
		Outcome: h.Outcome, Note: h.Note, ResolvedBy: h.ResolvedBy, EscalatedAt: h.EscalatedAt, FollowUpAt: h.FollowUpSentAt,
		RecoveryScore: h.RecoveryScore, Recovered: h.Recovered, Reopened: h.Reopened,
	}
}

type handoffsJSON struct {
	Handoffs []handoffJSON `json:"handoffs"`
	// NextBefore pages on: pass it as before= for older cases.
	NextBefore int64 `json:"next_before,omitempty"`
}

// listHandoffs lists cases newest first: ?status=&agent=&from=&to=&limit=&before=.
func (s *Server) listHandoffs(w http.ResponseWriter, r *http.Request) {
	if s.cfg.Desk == nil {
		s.fail(w, r, errNoDesk)
		return
	}
	q, err := handoffQuery(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	handoffs, err := s.cfg.Desk.Cases(r.Context(), q)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	out := handoffsJSON{Handoffs: make([]handoffJSON, 0, len(handoffs))}
	for _, h := range handoffs {
		out.Handoffs = append(out.Handoffs, toHandoffJSON(h))
	}
	if len(handoffs) == q.Limit {
		out.NextBefore = handoffs[len(handoffs)-1].ID
	}
	writeJSON(w, http.StatusOK, out)
}

func handoffQuery(r *http.Request) (flows.HandoffQuery, error) {
	v := r.URL.Query()
	q := flows.HandoffQuery{Status: flows.HandoffStatus(v.Get("status")), Limit: 100}
	if q.Status != "" && !q.Status.Valid() {
		names := make([]string, 0, len(flows.HandoffStatuses()))
		for _, st := range flows.HandoffStatuses() {
			names = append(names, string(st))
		}
		return q, fmt.Errorf("%w: status must be one of %s", flows.ErrInvalid, strings.Join(names, ", "))
	}
	number := func(name string, min, max int64) (int64, error) {
		s := v.Get(name)
		if s == "" {
			return 0, nil
		}
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil || n < min || n > max {
			return 0, fmt.Errorf("%w: %s must be an integer from %d to %d", flows.ErrInvalid, name, min, max)
		}
		return n, nil
	}
	var err error
	if q.AgentID, err = number("agent", 1, 1<<62); err != nil {
		return q, err
	}
	if q.BeforeID, err = number("before", 1, 1<<62); err != nil {
		return q, err
	}
	limit, err := number("limit", 1, 1000)
	if err != nil {
		return q, err
	}
	if limit > 0 {
		q.Limit = int(limit)
	}
	for name, dst := range map[string]*time.Time{"from": &q.From, "to": &q.To} {
		if s := v.Get(name); s != "" {
			t, err := parseDay(s)
			if err != nil {
				return q, fmt.Errorf("%w: %s must be an RFC 3339 time or a YYYY-MM-DD date", flows.ErrInvalid, name)
			}
			*dst = t
		}
	}
	if !q.From.IsZero() && !q.To.IsZero() && !q.From.Before(q.To) {
		return q, fmt.Errorf("%w: from (%s) must be before to (%s)", flows.ErrInvalid, q.From.Format(time.RFC3339), q.To.Format(time.RFC3339))
	}
	return q, nil
}

// parseDay reads an RFC 3339 time or a date (midnight UTC).
func parseDay(s string) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	return time.Parse("2006-01-02", s)
}

func pathID(r *http.Request, name string) (int64, error) {
	id, err := strconv.ParseInt(r.PathValue(name), 10, 64)
	if err != nil || id <= 0 {
		return 0, fmt.Errorf("%w: %s %q is not a positive integer", flows.ErrInvalid, name, r.PathValue(name))
	}
	return id, nil
}

type caseMessageJSON struct {
	ID        int64               `json:"id"`
	Author    flows.MessageAuthor `json:"author"`
	AgentID   int64               `json:"agent_id,omitempty"`
	AgentName string              `json:"agent_name,omitempty"`
	Text      string              `json:"text"`
	PhotoID   string              `json:"photo_id,omitempty"`
	Delivered bool                `json:"delivered"`
	Error     string              `json:"error,omitempty"`
	CreatedAt time.Time           `json:"created_at"`
}

func toCaseMessageJSON(m flows.CaseMessage) caseMessageJSON {
	return caseMessageJSON{ID: m.ID, Author: m.Author, AgentID: m.AgentID, AgentName: m.AgentName, Text: m.Text,
		PhotoID: m.PhotoID, Delivered: m.Delivered, Error: m.Error, CreatedAt: m.CreatedAt}
}

type caseJSON struct {
	handoffJSON
	Messages []caseMessageJSON `json:"messages"`
}

func (s *Server) getHandoff(w http.ResponseWriter, r *http.Request) {
	if s.cfg.Desk == nil {
		s.fail(w, r, errNoDesk)
		return
	}
	id, err := pathID(r, "id")
	if err != nil {
		s.fail(w, r, err)
		return
	}
	h, msgs, err := s.cfg.Desk.Case(r.Context(), id)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	out := caseJSON{handoffJSON: toHandoffJSON(h), Messages: make([]caseMessageJSON, 0, len(msgs))}
	for _, m := range msgs {
		out.Messages = append(out.Messages, toCaseMessageJSON(m))
	}
	writeJSON(w, http.StatusOK, out)
}

// actingAgent is the agent a case move acts as: for a token bound to an
// agent, that agent (agent_id may be left out; another one is refused
// with 403), else agent_id as given (0: none).
func (s *Server) actingAgent(ctx context.Context, agentID int64) (int64, error) {
	bound := callerOf(ctx).AgentTelegramUserID
	if bound == 0 {
		return agentID, nil
	}
	if s.cfg.Agents == nil {
		return 0, errNoDesk
	}
	a, err := s.cfg.Agents.AgentByTelegramUser(ctx, bound)
	switch {
	case errors.Is(err, flows.ErrNotFound):
		return 0, &forbiddenError{fmt.Sprintf("this token is bound to telegram user %d, who is no longer an agent", bound)}
	case err != nil:
		return 0, err
	case agentID != 0 && agentID != a.ID:
		return 0, &forbiddenError{fmt.Sprintf("this token acts only as agent %d (%s, telegram user %d), not as agent %d", a.ID, a.Name, bound, agentID)}
	}
	return a.ID, nil
}

// deskRequest reads a case move's id and body.
func (s *Server) deskRequest(w http.ResponseWriter, r *http.Request, body any) (int64, bool) {
	if s.cfg.Desk == nil {
		s.fail(w, r, errNoDesk)
		return 0, false
	}
	id, err := pathID(r, "id")
	if err == nil {
		err = decodeBody(w, r, body)
	}
	if err != nil {
		s.fail(w, r, err)
		return 0, false
	}
	return id, true
}

func (s *Server) claimHandoff(w http.ResponseWriter, r *http.Request) {
	var req struct {
		AgentID int64 `json:"agent_id"`
	}
	id, ok := s.deskRequest(w, r, &req)
	if !ok {
		return
	}
	var err error
	if req.AgentID, err = s.actingAgent(r.Context(), req.AgentID); err != nil {
		s.fail(w, r, err)
		return
	}
	if req.AgentID <= 0 {
		s.fail(w, r, fmt.Errorf("%w: agent_id is required", flows.ErrInvalid))
		return
	}
	h, err := s.cfg.Desk.ClaimAs(r.Context(), id, req.AgentID)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, toHandoffJSON(h))
}

func (s *Server) replyHandoff(w http.ResponseWriter, r *http.Request) {
	var req struct {
		AgentID int64  `json:"agent_id"`
		Text    string `json:"text"`
	}
	id, ok := s.deskRequest(w, r, &req)
	if !ok {
		return
	}
	var err error
	if req.AgentID, err = s.actingAgent(r.Context(), req.AgentID); err != nil {
		s.fail(w, r, err)
		return
	}
	if req.AgentID <= 0 {
		s.fail(w, r, fmt.Errorf("%w: agent_id is required", flows.ErrInvalid))
		return
	}
	m, err := s.cfg.Desk.ReplyAs(r.Context(), id, req.AgentID, req.Text)
	if err != nil && m.ID == 0 {
		s.fail(w, r, err)
		return
	}
	if err != nil {
		// Stored, not delivered: say why, with the stored message.
		writeJSON(w, http.StatusConflict, undeliveredReplyJSON{err.Error(), toCaseMessageJSON(m)})
		return
	}
	writeJSON(w, http.StatusCreated, toCaseMessageJSON(m))
}

func (s *Server) resolveHandoff(w http.ResponseWriter, r *http.Request) {
	var req struct {
		AgentID int64             `json:"agent_id"`
		Outcome flows.CaseOutcome `json:"outcome"`
		Note    string            `json:"note"`
	}
	id, ok := s.deskRequest(w, r, &req)
	if !ok {
		return
	}
	var err error
	if req.AgentID, err = s.actingAgent(r.Context(), req.AgentID); err != nil {
		s.fail(w, r, err)
		return
	}
	h, err := s.cfg.Desk.ResolveAs(r.Context(), id, req.AgentID, req.Outcome, req.Note)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, toHandoffJSON(h))
}

type agentJSON struct {
	ID             int64           `json:"id"`
	TelegramUserID int64           `json:"telegram_user_id"`
	Name           string          `json:"name"`
	Role           flows.AgentRole `json:"role"`
	CreatedAt      time.Time       `json:"created_at"`
}

func toAgentJSON(a flows.Agent) agentJSON {
	return agentJSON{ID: a.ID, TelegramUserID: a.TelegramUserID, Name: a.Name, Role: a.Role, CreatedAt: a.CreatedAt}
}

func (s *Server) listAgents(w http.ResponseWriter, r *http.Request) {
	if s.cfg.Agents == nil {
		s.fail(w, r, errNoDesk)
		return
	}
	agents, err := s.cfg.Agents.Agents(r.Context())
	if err != nil {
		s.fail(w, r, err)
		return
	}
	out := agentsJSON{Agents: make([]agentJSON, 0, len(agents))}
	for _, a := range agents {
		out.Agents = append(out.Agents, toAgentJSON(a))
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) addAgent(w http.ResponseWriter, r *http.Request) {
	if s.cfg.Agents == nil {
		s.fail(w, r, errNoDesk)
		return
	}
	var req struct {
		TelegramUserID int64           `json:"telegram_user_id"`
		Name           string          `json:"name"`
		Role           flows.AgentRole `json:"role"`
	}
	if err := decodeBody(w, r, &req); err != nil {
		s.fail(w, r, err)
		return
	}
	if req.Role == "" {
		req.Role = flows.RoleAgent
	}
	a, err := s.cfg.Agents.AddAgent(r.Context(), flows.Agent{TelegramUserID: req.TelegramUserID, Name: req.Name, Role: req.Role})
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, toAgentJSON(a))
}

func (s *Server) removeAgent(w http.ResponseWriter, r *http.Request) {
	if s.cfg.Agents == nil {
		s.fail(w, r, errNoDesk)
		return
	}
	id, err := pathID(r, "telegram_user_id")
	if err == nil {
		err = s.cfg.Agents.RemoveAgent(r.Context(), id)
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, removedAgentJSON{id, true})
}

// undeliveredReplyJSON is a 409 to an agent's reply that was stored but not
// delivered: why, with the stored message.
type undeliveredReplyJSON struct {
	Error   string          `json:"error"`
	Message caseMessageJSON `json:"message"`
}

// agentsJSON is GET /api/v1/agents.
type agentsJSON struct {
	Agents []agentJSON `json:"agents"`
}

// removedAgentJSON is DELETE /api/v1/agents/{telegram_user_id}.
type removedAgentJSON struct {
	TelegramUserID int64 `json:"telegram_user_id"`
	Removed        bool  `json:"removed"`
}

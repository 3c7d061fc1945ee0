package httpapi

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/cxbot/cxbot/conversation"
	"github.com/cxbot/cxbot/flows"
	"github.com/cxbot/cxbot/scheduler"
)

// Hand-written fakes of the interfaces server.go and waves.go declare. Each
// method calls its function field, so a test says only what the route it
// drives needs; an unset field fails the test that reached it.

type fakeConversations struct {
	t         *testing.T
	InviteFn  func(ctx context.Context, req conversation.InviteRequest) (flows.Invitation, bool, error)
	SurveysFn func() map[string]*flows.Survey
}

func (f *fakeConversations) Invite(ctx context.Context, req conversation.InviteRequest) (flows.Invitation, bool, error) {
	if f.InviteFn == nil {
		f.t.Error("unexpected call to Conversations.Invite")
		return flows.Invitation{}, false, nil
	}
	return f.InviteFn(ctx, req)
}

func (f *fakeConversations) Surveys() map[string]*flows.Survey {
	if f.SurveysFn == nil {
		f.t.Error("unexpected call to Conversations.Surveys")
		return nil
	}
	return f.SurveysFn()
}

type fakeDesk struct {
	t         *testing.T
	CasesFn   func(ctx context.Context, q flows.HandoffQuery) ([]flows.Handoff, error)
	CaseFn    func(ctx context.Context, id int64) (flows.Handoff, []flows.CaseMessage, error)
	ClaimFn   func(ctx context.Context, id, agentID int64) (flows.Handoff, error)
	ReplyFn   func(ctx context.Context, id, agentID int64, text string) (flows.CaseMessage, error)
	ResolveFn func(ctx context.Context, id, agentID int64, outcome flows.CaseOutcome, note string) (flows.Handoff, error)
}

func unexpected[T any](t *testing.T, what string) T {
	t.Error("unexpected call to " + what)
	var zero T
	return zero
}

func (f *fakeDesk) Cases(ctx context.Context, q flows.HandoffQuery) ([]flows.Handoff, error) {
	if f.CasesFn == nil {
		return unexpected[[]flows.Handoff](f.t, "Desk.Cases"), nil
	}
	return f.CasesFn(ctx, q)
}

func (f *fakeDesk) Case(ctx context.Context, id int64) (flows.Handoff, []flows.CaseMessage, error) {
	if f.CaseFn == nil {
		return unexpected[flows.Handoff](f.t, "Desk.Case"), nil, nil
	}
	return f.CaseFn(ctx, id)
}

func (f *fakeDesk) ClaimAs(ctx context.Context, id, agentID int64) (flows.Handoff, error) {
	if f.ClaimFn == nil {
		return unexpected[flows.Handoff](f.t, "Desk.ClaimAs"), nil
	}
	return f.ClaimFn(ctx, id, agentID)
}

func (f *fakeDesk) ReplyAs(ctx context.Context, id, agentID int64, text string) (flows.CaseMessage, error) {
	if f.ReplyFn == nil {
		return unexpected[flows.CaseMessage](f.t, "Desk.ReplyAs"), nil
	}
	return f.ReplyFn(ctx, id, agentID, text)
}

func (f *fakeDesk) ResolveAs(ctx context.Context, id, agentID int64, outcome flows.CaseOutcome, note string) (flows.Handoff, error) {
	if f.ResolveFn == nil {
		return unexpected[flows.Handoff](f.t, "Desk.ResolveAs"), nil
	}
	return f.ResolveFn(ctx, id, agentID, outcome, note)
}

type fakeAgentsAPI struct {
	t        *testing.T
	ByUserFn func(ctx context.Context, telegramUserID int64) (flows.Agent, error)
	AddFn    func(ctx context.Context, a flows.Agent) (flows.Agent, error)
	ListFn   func(ctx context.Context) ([]flows.Agent, error)
	RemoveFn func(ctx context.Context, telegramUserID int64) error
}

func (f *fakeAgentsAPI) AddAgent(ctx context.Context, a flows.Agent) (flows.Agent, error) {
	if f.AddFn == nil {
		return unexpected[flows.Agent](f.t, "Agents.AddAgent"), nil
	}
	return f.AddFn(ctx, a)
}

func (f *fakeAgentsAPI) Agents(ctx context.Context) ([]flows.Agent, error) {
	if f.ListFn == nil {
		return unexpected[[]flows.Agent](f.t, "Agents.Agents"), nil
	}
	return f.ListFn(ctx)
}

func (f *fakeAgentsAPI) AgentByTelegramUser(ctx context.Context, telegramUserID int64) (flows.Agent, error) {
	if f.ByUserFn == nil {
		return unexpected[flows.Agent](f.t, "Agents.AgentByTelegramUser"), nil
	}
	return f.ByUserFn(ctx, telegramUserID)
}

func (f *fakeAgentsAPI) RemoveAgent(ctx context.Context, telegramUserID int64) error {
	if f.RemoveFn == nil {
		return unexpected[error](f.t, "Agents.RemoveAgent")
	}
	return f.RemoveFn(ctx, telegramUserID)
}

type fakeLinks struct {
	t       *testing.T
	IssueFn func(customerRef string, reusable bool) (conversation.IssuedLink, error)
}

func (f *fakeLinks) Issue(_ context.Context, customerRef string, reusable bool) (conversation.IssuedLink, error) {
	if f.IssueFn == nil {
		f.t.Error("unexpected call to LinkTokens.Issue")
		return conversation.IssuedLink{}, nil
	}
	return f.IssueFn(customerRef, reusable)
}

type fakeEvents struct {
	t            *testing.T
	SaveEventsFn func(ctx context.Context, events []flows.Event) ([]flows.EventResult, error)
}

func (f *fakeEvents) SaveEvents(ctx context.Context, events []flows.Event) ([]flows.EventResult, error) {
	if f.SaveEventsFn == nil {
		f.t.Error("unexpected call to EventSaver.SaveEvents")
		return nil, nil
	}
	return f.SaveEventsFn(ctx, events)
}

type fakeWaves struct {
	t           *testing.T
	ListFn      func(ctx context.Context) ([]scheduler.WaveStatus, error)
	GetFn       func(ctx context.Context, id string) (scheduler.WaveStatus, error)
	CreateFn    func(ctx context.Context, definition []byte, paused bool) (scheduler.WaveStatus, error)
	CheckFn     func(ctx context.Context, definition []byte) (scheduler.WaveCheck, error)
	SetPausedFn func(ctx context.Context, id string, paused bool) (scheduler.WaveStatus, error)
	PutFn       func(ctx context.Context, id string, definition []byte) (scheduler.WaveStatus, bool, error)
	RetireFn    func(ctx context.Context, id string) (scheduler.WaveStatus, error)
	PreviewFn   func(ctx context.Context, id string) (scheduler.PlanResult, error)
}

func (f *fakeWaves) List(ctx context.Context) ([]scheduler.WaveStatus, error) {
	if f.ListFn == nil {
		f.t.Error("unexpected call to WaveAdmin.List")
		return nil, nil
	}
	return f.ListFn(ctx)
}

func (f *fakeWaves) Get(ctx context.Context, id string) (scheduler.WaveStatus, error) {
	if f.GetFn == nil {
		f.t.Error("unexpected call to WaveAdmin.Get")
		return scheduler.WaveStatus{}, nil
	}
	return f.GetFn(ctx, id)
}

func (f *fakeWaves) Create(ctx context.Context, definition []byte, paused bool) (scheduler.WaveStatus, error) {
	if f.CreateFn == nil {
		f.t.Error("unexpected call to WaveAdmin.Create")
		return scheduler.WaveStatus{}, nil
	}
	return f.CreateFn(ctx, definition, paused)
}

func (f *fakeWaves) Check(ctx context.Context, definition []byte) (scheduler.WaveCheck, error) {
	if f.CheckFn == nil {
		f.t.Error("unexpected call to WaveAdmin.Check")
		return scheduler.WaveCheck{}, nil
	}
	return f.CheckFn(ctx, definition)
}

func (f *fakeWaves) SetPaused(ctx context.Context, id string, paused bool) (scheduler.WaveStatus, error) {
	if f.SetPausedFn == nil {
		f.t.Error("unexpected call to WaveAdmin.SetPaused")
		return scheduler.WaveStatus{}, nil
	}
	return f.SetPausedFn(ctx, id, paused)
}

func (f *fakeWaves) Put(ctx context.Context, id string, definition []byte) (scheduler.WaveStatus, bool, error) {
	if f.PutFn == nil {
		f.t.Error("unexpected call to WaveAdmin.Put")
		return scheduler.WaveStatus{}, false, nil
	}
	return f.PutFn(ctx, id, definition)
}

func (f *fakeWaves) Retire(ctx context.Context, id string) (scheduler.WaveStatus, error) {
	if f.RetireFn == nil {
		f.t.Error("unexpected call to WaveAdmin.Retire")
		return scheduler.WaveStatus{}, nil
	}
	return f.RetireFn(ctx, id)
}

func (f *fakeWaves) Preview(ctx context.Context, id string) (scheduler.PlanResult, error) {
	if f.PreviewFn == nil {
		f.t.Error("unexpected call to WaveAdmin.Preview")
		return scheduler.PlanResult{}, nil
	}
	return f.PreviewFn(ctx, id)
}

// fakeAPI is the API over fakes; tests set the fakes' functions before
// calling.
type fakeAPI struct {
	t       *testing.T
	srv     *httptest.Server
	convs   *fakeConversations
	insight *fakeInsight
	resps   *fakeResponses
	notes   *fakeComments
	links   *fakeLinks
	events  *fakeEvents
	waves   *fakeWaves
	desk    *fakeDesk
	agents  *fakeAgentsAPI
	privacy *fakePrivacy
	logs    *logBuffer
}

// newFakeAPI serves the API over fresh fakes; edit may change the config
// (the checks, the token) before the server is made.
func newFakeAPI(t *testing.T, edit ...func(*Config)) *fakeAPI {
	t.Helper()
	a := &fakeAPI{
		t: t, convs: &fakeConversations{t: t}, insight: &fakeInsight{t: t}, resps: &fakeResponses{t: t}, notes: &fakeComments{t: t}, links: &fakeLinks{t: t},
		events: &fakeEvents{t: t}, waves: &fakeWaves{t: t}, desk: &fakeDesk{t: t}, agents: &fakeAgentsAPI{t: t}, privacy: &fakePrivacy{t: t}, logs: &logBuffer{},
	}
	cfg := Config{
		Token: testToken, Conversations: a.convs, Insight: a.insight, Responses: a.resps, Comments: a.notes, Words: spaceWords{}, Links: a.links, Events: a.events, Waves: a.waves,
		Desk: a.desk, Agents: a.agents, Privacy: a.privacy,
		Logger: slog.New(slog.NewTextHandler(a.logs, nil)),
	}
	for _, e := range edit {
		e(&cfg)
	}
	a.srv = httptest.NewServer(New(cfg))
	t.Cleanup(a.srv.Close)
	return a
}

// logBuffer collects the server's log lines; handlers write from the
// server's goroutines while the test reads.
type logBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// response is an answer read whole.
type response struct {
	code   int
	header http.Header
	body   string
}

// json decodes the body into v, failing the test if it is not JSON.
func (r response) json(t *testing.T, v any) {
	t.Helper()
	if err := json.Unmarshal([]byte(r.body), v); err != nil {
		t.Fatalf("body is not JSON (%v): %s", err, r.body)
	}
}

// errorText is the "error" of an error body.
func (r response) errorText(t *testing.T) string {
	t.Helper()
	var e errorBody
	r.json(t, &e)
	return e.Error
}

// do sends a request with the test token.
func (a *fakeAPI) do(method, path, body string) response {
	a.t.Helper()
	return a.doWith(method, path, body, "Bearer "+testToken)
}

// doWith sends a request with the given Authorization header ("" = none).
func (a *fakeAPI) doWith(method, path, body, authorization string) response {
	a.t.Helper()
	req, err := http.NewRequest(method, a.srv.URL+path, strings.NewReader(body))
	if err != nil {
		a.t.Fatal(err)
	}
	if authorization != "" {
		req.Header.Set("Authorization", authorization)
	}
	resp, err := a.srv.Client().Do(req)
	if err != nil {
		a.t.Fatal(err)
	}
	defer resp.Body.Close()
	text, err := io.ReadAll(resp.Body)
	if err != nil {
		a.t.Fatal(err)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "application/json; charset=utf-8" && !(resp.StatusCode == http.StatusOK && (strings.Contains(path, "/exports/") || !strings.HasPrefix(path, "/api/"))) {
		a.t.Errorf("%s %s: Content-Type = %q", method, path, ct)
	}
	return response{code: resp.StatusCode, header: resp.Header, body: string(text)}
}

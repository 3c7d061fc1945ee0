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

type fakeReports struct {
	t              *testing.T
	ListHandoffsFn func(ctx context.Context, status flows.HandoffStatus, limit int) ([]flows.Handoff, error)
}

func (f *fakeReports) ListHandoffs(ctx context.Context, status flows.HandoffStatus, limit int) ([]flows.Handoff, error) {
	if f.ListHandoffsFn == nil {
		f.t.Error("unexpected call to Reports.ListHandoffs")
		return nil, nil
	}
	return f.ListHandoffsFn(ctx, status, limit)
}

type fakeLinks struct {
	t       *testing.T
	TokenFn func(customerRef string) (string, error)
}

func (f *fakeLinks) Token(customerRef string) (string, error) {
	if f.TokenFn == nil {
		f.t.Error("unexpected call to LinkTokens.Token")
		return "", nil
	}
	return f.TokenFn(customerRef)
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
	CreateFn    func(ctx context.Context, definition []byte) (scheduler.WaveStatus, error)
	SetPausedFn func(ctx context.Context, id string, paused bool) (scheduler.WaveStatus, error)
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

func (f *fakeWaves) Create(ctx context.Context, definition []byte) (scheduler.WaveStatus, error) {
	if f.CreateFn == nil {
		f.t.Error("unexpected call to WaveAdmin.Create")
		return scheduler.WaveStatus{}, nil
	}
	return f.CreateFn(ctx, definition)
}

func (f *fakeWaves) SetPaused(ctx context.Context, id string, paused bool) (scheduler.WaveStatus, error) {
	if f.SetPausedFn == nil {
		f.t.Error("unexpected call to WaveAdmin.SetPaused")
		return scheduler.WaveStatus{}, nil
	}
	return f.SetPausedFn(ctx, id, paused)
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
	reports *fakeReports
	insight *fakeInsight
	resps   *fakeResponses
	notes   *fakeComments
	links   *fakeLinks
	events  *fakeEvents
	waves   *fakeWaves
	logs    *logBuffer
}

// newFakeAPI serves the API over fresh fakes; edit may change the config
// (the checks, the token) before the server is made.
func newFakeAPI(t *testing.T, edit ...func(*Config)) *fakeAPI {
	t.Helper()
	a := &fakeAPI{
		t: t, convs: &fakeConversations{t: t}, reports: &fakeReports{t: t}, insight: &fakeInsight{t: t}, resps: &fakeResponses{t: t}, notes: &fakeComments{t: t}, links: &fakeLinks{t: t},
		events: &fakeEvents{t: t}, waves: &fakeWaves{t: t}, logs: &logBuffer{},
	}
	cfg := Config{
		Token: testToken, Conversations: a.convs, Reports: a.reports, Insight: a.insight, Responses: a.resps, Comments: a.notes, Words: spaceWords{}, Links: a.links, Events: a.events, Waves: a.waves,
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

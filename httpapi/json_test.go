package httpapi

import (
	"context"
	"encoding"
	"encoding/json"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"net/http"
	"path/filepath"
	"reflect"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/cxbot/cxbot/bot/telegram"
	"github.com/cxbot/cxbot/bot/wechat"
	"github.com/cxbot/cxbot/conversation"
	"github.com/cxbot/cxbot/flows"
	"github.com/cxbot/cxbot/scheduler"
)

// snakeCase is the only spelling of a JSON key the API writes.
var snakeCase = regexp.MustCompile(`^[a-z][a-z0-9]*(_[a-z0-9]+)*$`)

// responseTypes is every type the API writes as a JSON body. A new
// response type belongs here; TestResponsesAreSnakeCase drives every route,
// so a body built some other way is caught there.
func responseTypes() []any {
	return []any{
		errorBody{}, healthJSON{}, liveJSON{}, invitationJSON{}, npsReportJSON{}, responsesJSON{}, flows.ScoreReport{}, flows.FunnelReport{}, flows.TermsReport{}, flows.HandoffReport{}, surveysJSON{}, handoffsJSON{}, linkJSON{},
		eventsResponse{}, wavesJSON{}, scheduler.WaveStatus{}, scheduler.WaveCheck{}, previewJSON{}, surveyPreviewJSON{}, telegram.Preview{}, wechat.Preview{}, quietHoursBody{},
		caseJSON{}, caseMessageJSON{}, agentJSON{}, deliveriesJSON{}, deliveryJSON{},
		meJSON{}, tokensJSON{}, createdTokenJSON{}, revokedTokenJSON{},
		undeliveredReplyJSON{}, agentsJSON{}, removedAgentJSON{}, erasedCustomerJSON{}, privacyAuditListJSON{},
	}
}

// jsonKeyProblems walks a type as encoding/json marshals it and lists every
// key that is not snake_case, including untagged fields (which marshal
// under their Go name). Map keys are data, not field names; interfaces are
// refused because their keys cannot be known from the type.
func jsonKeyProblems(t reflect.Type) []string {
	var problems []string
	seen := map[reflect.Type]bool{}
	marshaler := reflect.TypeFor[json.Marshaler]()
	textMarshaler := reflect.TypeFor[encoding.TextMarshaler]()
	var walk func(t reflect.Type, path string)
	walk = func(t reflect.Type, path string) {
		if seen[t] {
			return
		}
		seen[t] = true
		if t.Implements(marshaler) || reflect.PointerTo(t).Implements(marshaler) ||
			t.Implements(textMarshaler) || reflect.PointerTo(t).Implements(textMarshaler) {
			return // marshals itself (time.Time): a string, no keys
		}
		switch t.Kind() {
		case reflect.Pointer, reflect.Slice, reflect.Array:
			walk(t.Elem(), path+"[]")
		case reflect.Map:
			walk(t.Elem(), path+"{}")
		case reflect.Interface:
			problems = append(problems, fmt.Sprintf("%s is an interface (%s): give it a concrete type", path, t))
		case reflect.Struct:
			for i := range t.NumField() {
				f := t.Field(i)
				tag := f.Tag.Get("json")
				if tag == "-" || (!f.IsExported() && !f.Anonymous) {
					continue
				}
				name, _, _ := strings.Cut(tag, ",")
				if name == "" && f.Anonymous {
					ft := f.Type
					if ft.Kind() == reflect.Pointer {
						ft = ft.Elem()
					}
					if ft.Kind() == reflect.Struct {
						walk(ft, path) // embedded: its fields are promoted
						continue
					}
				}
				if name == "" {
					name = f.Name
				}
				if !snakeCase.MatchString(name) {
					problems = append(problems, fmt.Sprintf("%s.%s (field %s.%s) is not snake_case", path, name, t, f.Name))
				}
				walk(f.Type, path+"."+name)
			}
		}
	}
	walk(t, t.String())
	return problems
}

// TestResponseBodiesAreNamedTypes keeps responseTypes complete: a body
// written as an anonymous struct literal would escape it, so the package's
// code may not build one.
func TestResponseBodiesAreNamedTypes(t *testing.T) {
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		ast.Inspect(f, func(n ast.Node) bool {
			if lit, ok := n.(*ast.CompositeLit); ok {
				if _, anonymous := lit.Type.(*ast.StructType); anonymous {
					t.Errorf("%s: an anonymous struct literal; name its type and list it in responseTypes", fset.Position(lit.Pos()))
				}
			}
			return true
		})
	}
}

func TestResponseTypesAreSnakeCase(t *testing.T) {
	for _, v := range responseTypes() {
		for _, p := range jsonKeyProblems(reflect.TypeOf(v)) {
			t.Error(p)
		}
	}
}

// TestJSONKeyProblemsFindsBadKeys proves the walk catches what it must.
func TestJSONKeyProblemsFindsBadKeys(t *testing.T) {
	type counts struct{ Planned int } // untagged, like the old store.WaveCounts
	type base struct {
		BaseID string `json:"baseId"`
	}
	type bad struct {
		base
		Counts  counts            `json:"counts"`
		Nested  []*counts         `json:"nested,omitempty"`
		ByName  map[string]counts `json:"by_name"`
		Any     any               `json:"any"`
		At      time.Time         `json:"at"`
		Skipped string            `json:"-"`
		hidden  string
	}
	_ = bad{}.hidden
	got := jsonKeyProblems(reflect.TypeFor[bad]())
	sort.Strings(got)
	want := []string{ // counts is reported once, though Nested and ByName hold it too
		"httpapi.bad.any is an interface (interface {}): give it a concrete type",
		"httpapi.bad.baseId (field httpapi.base.BaseID) is not snake_case",
		"httpapi.bad.counts.Planned (field httpapi.counts.Planned) is not snake_case",
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("problems:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// jsonKeysNotSnake lists the keys of a decoded JSON value that are not
// snake_case, walking nested objects and arrays. The values of "context"
// and "attributes" are the business's own attribute names, echoed back:
// not API fields.
func jsonKeysNotSnake(v any, path string) []string {
	var bad []string
	switch v := v.(type) {
	case map[string]any:
		for k, child := range v {
			if !snakeCase.MatchString(k) {
				bad = append(bad, path+"."+k)
			}
			if k == "context" || k == "attributes" {
				continue
			}
			bad = append(bad, jsonKeysNotSnake(child, path+"."+k)...)
		}
	case []any:
		for i, child := range v {
			bad = append(bad, jsonKeysNotSnake(child, fmt.Sprintf("%s[%d]", path, i))...)
		}
	}
	return bad
}

// TestResponsesAreSnakeCase calls every route with fakes that return every
// field set (so omitempty hides nothing) and checks the keys of what comes
// back, success and error bodies alike.
func TestResponsesAreSnakeCase(t *testing.T) {
	fullWave := testWave("w-1")
	fullWave.Paused = true
	a := newFakeAPI(t, func(c *Config) {
		c.Checks = []Check{{Name: "database", Probe: func(context.Context) error { return nil }}}
		c.Webhooks = newDeliveryLog(t)
		c.Tokens = newTokenDB(t) // holds token 1, for DELETE /api/v1/tokens/1
	})
	a.convs.SurveysFn = testSurveys
	a.convs.InviteFn = func(_ context.Context, req conversation.InviteRequest) (flows.Invitation, bool, error) {
		inv := sentInvitation(req)
		inv.Error = "first try failed"
		return inv, true, nil
	}
	a.insight.ScoreReportFn = func(_ context.Context, kind flows.Kind, q flows.ReportQuery) (flows.ScoreReport, error) {
		return flows.NewScoreReport(kind, q, []flows.ClassCount{{Class: flows.ClassPromoter, N: 1, ScoreSum: 10}}, nil), nil
	}
	a.resps.ListFn = func(context.Context, flows.ResponseFilter) ([]flows.ResponseRecord, error) {
		score := 9
		return []flows.ResponseRecord{{ID: 1, Survey: "post_purchase_nps", Attributes: map[string]string{"Store": "1"},
			Answers: []flows.RecordAnswer{{QuestionID: "nps", Kind: flows.KindNPS, Score: &score, Class: flows.ClassPromoter}}}}, nil
	}
	a.resps.AttributesFn = func(context.Context, flows.ResponseFilter) ([]string, error) { return []string{"Store"}, nil }
	a.notes.EachFn = func(_ context.Context, _ flows.ReportQuery, fn func(flows.Class, string) error) error {
		for _, c := range []string{"slow delivery", "slow", "fast"} {
			class := flows.ClassDetractor
			if c == "fast" {
				class = flows.ClassPromoter
			}
			if err := fn(class, c); err != nil {
				return err
			}
		}
		return nil
	}
	claimedAt := sentAt.Add(time.Minute)
	recovered, score := true, 5
	handoff := flows.Handoff{ID: 1, ResponseID: 2, CustomerRef: "C-1", SurveyID: "s", QuestionID: "q", Kind: flows.KindNPS, Score: 1,
		Class: flows.ClassDetractor, Comment: "c", Channel: flows.ChannelTelegram, ExternalID: "42",
		Context: map[string]string{"order_id": "1"}, Status: flows.HandoffResolved, NotifiedAt: &sentAt, CreatedAt: createdAt,
		Case: flows.Case{ClaimedBy: 3, ClaimedByName: "Li", ClaimedAt: &claimedAt, ResolvedAt: &claimedAt, Outcome: flows.OutcomeResolved,
			Note: "refunded", ResolvedBy: "Li", EscalatedAt: &claimedAt, FollowUpSentAt: &claimedAt, RecoveryScore: &score, Recovered: &recovered, Reopened: 1}}
	message := flows.CaseMessage{ID: 4, HandoffID: 1, Author: flows.AuthorAgent, AgentID: 3, AgentName: "Li", Text: "hi", PhotoID: "p", Delivered: true, CreatedAt: createdAt}
	agent := flows.Agent{ID: 3, TelegramUserID: 77, Name: "Li", Role: flows.RoleSupervisor, CreatedAt: createdAt}
	a.desk.CasesFn = func(context.Context, flows.HandoffQuery) ([]flows.Handoff, error) {
		return []flows.Handoff{handoff}, nil
	}
	a.desk.CaseFn = func(context.Context, int64) (flows.Handoff, []flows.CaseMessage, error) {
		return handoff, []flows.CaseMessage{message}, nil
	}
	a.desk.ClaimFn = func(context.Context, int64, int64) (flows.Handoff, error) { return handoff, nil }
	a.desk.ReplyFn = func(context.Context, int64, int64, string) (flows.CaseMessage, error) { return message, nil }
	a.desk.ResolveFn = func(context.Context, int64, int64, flows.CaseOutcome, string) (flows.Handoff, error) {
		return handoff, nil
	}
	a.agents.ListFn = func(context.Context) ([]flows.Agent, error) { return []flows.Agent{agent}, nil }
	a.agents.AddFn = func(context.Context, flows.Agent) (flows.Agent, error) { return agent, nil }
	a.agents.RemoveFn = func(context.Context, int64) error { return nil }
	a.links.IssueFn = func(string, bool) (conversation.IssuedLink, error) {
		return conversation.IssuedLink{Token: "tok", ExpiresAt: createdAt}, nil
	}
	a.events.SaveEventsFn = func(_ context.Context, events []flows.Event) ([]flows.EventResult, error) {
		return []flows.EventResult{{ID: events[0].ID, Created: true}}, nil
	}
	a.waves.ListFn = func(context.Context) ([]scheduler.WaveStatus, error) { return []scheduler.WaveStatus{fullWave}, nil }
	a.waves.GetFn = func(context.Context, string) (scheduler.WaveStatus, error) { return fullWave, nil }
	a.waves.CreateFn = func(context.Context, []byte, bool) (scheduler.WaveStatus, error) { return fullWave, nil }
	a.waves.CheckFn = func(context.Context, []byte) (scheduler.WaveCheck, error) {
		info, err := scheduler.DescribeSchedule("CRON_TZ=Asia/Shanghai 0 10 * * 1-5", "", sentAt, 5)
		return scheduler.WaveCheck{ID: "w-1", Definition: fullWave.Definition, Schedule: info}, err
	}
	a.waves.SetPausedFn = func(context.Context, string, bool) (scheduler.WaveStatus, error) { return fullWave, nil }
	a.waves.PutFn = func(context.Context, string, []byte) (scheduler.WaveStatus, bool, error) { return fullWave, true, nil }
	a.waves.RetireFn = func(context.Context, string) (scheduler.WaveStatus, error) { return fullWave, nil }
	a.waves.PreviewFn = func(context.Context, string) (scheduler.PlanResult, error) {
		return scheduler.PlanResult{Considered: 7, Planned: 1, Sample: []flows.Invitation{sentInvitation(conversation.InviteRequest{CustomerRef: "C-1"})},
			Skipped: map[string]int{scheduler.SkipSample: 1, scheduler.SkipOptedOut: 1, scheduler.SkipUnreachable: 1,
				scheduler.SkipNoChannel: 1, scheduler.SkipFrequency: 1}}, nil
	}

	audit := flows.PrivacyAudit{ID: 1, Actor: "api", Action: flows.PrivacyErase, Subject: "erased-1", Rows: map[string]int64{"channel_identities": 1}, At: createdAt}
	a.privacy.EraseFn = func(context.Context, string, string) (flows.Erasure, error) {
		return flows.Erasure{Audit: audit, Chats: []flows.ChatRef{{Channel: flows.ChannelTelegram, ExternalID: "42"}}}, nil
	}
	a.privacy.AuditFn = func(context.Context, int) ([]flows.PrivacyAudit, error) { return []flows.PrivacyAudit{audit}, nil }

	// One request per route, a body or "?query": a route without a sample
	// fails the test.
	samples := map[string]string{
		"GET /healthz":                                "",
		"GET /livez":                                  "",
		"GET /readyz":                                 "",
		"GET /api/v1/openapi.json":                    "",
		"POST /api/v1/invitations":                    `{"survey":"post_purchase_nps","customer_ref":"C-1","telegram_chat_id":42,"context":{"order_id":"1"}}`,
		"GET /api/v1/reports/{report}":                "?survey=post_purchase_nps&group_by=day",
		"GET /{$}":                                    "",
		"GET /dashboard/":                             "",
		"GET /api/v1/reports/terms":                   "",
		"GET /api/v1/responses":                       "",
		"GET /api/v1/exports/responses.csv":           "?survey=post_purchase_nps",
		"GET /api/v1/exports/responses.xlsx":          "?survey=post_purchase_nps",
		"GET /api/v1/surveys":                         "",
		"GET /api/v1/surveys/{id}/preview":            "",
		"GET /api/v1/handoffs":                        "",
		"GET /api/v1/handoffs/{id}":                   "",
		"POST /api/v1/handoffs/{id}/claim":            `{"agent_id":3}`,
		"POST /api/v1/handoffs/{id}/reply":            `{"agent_id":3,"text":"hi"}`,
		"POST /api/v1/handoffs/{id}/resolve":          `{"outcome":"resolved","note":"n"}`,
		"GET /api/v1/agents":                          "",
		"POST /api/v1/agents":                         `{"telegram_user_id":77,"name":"Li","role":"supervisor"}`,
		"DELETE /api/v1/agents/{telegram_user_id}":    "",
		"POST /api/v1/links":                          `{"customer_ref":"C-1"}`,
		"POST /api/v1/events":                         eventsBody(t, goodEvent("e-1"), with(goodEvent("e-2"), "id", 2)),
		"GET /api/v1/waves":                           "",
		"POST /api/v1/waves":                          "id: w-1\n",
		"POST /api/v1/wave-checks":                    "id: w-1\n",
		"GET /api/v1/waves/{id}":                      "",
		"PUT /api/v1/waves/{id}":                      "id: w-1\n",
		"DELETE /api/v1/waves/{id}":                   "",
		"POST /api/v1/waves/{id}/pause":               "",
		"POST /api/v1/waves/{id}/resume":              "",
		"GET /api/v1/waves/{id}/preview":              "",
		"DELETE /api/v1/customers/{ref}":              "",
		"GET /api/v1/privacy/audit":                   "",
		"GET /api/v1/webhooks/deliveries":             "",
		"POST /api/v1/webhooks/deliveries/{id}/retry": "",
		"GET /api/v1/me":                              "",
		"GET /api/v1/tokens":                          "",
		"POST /api/v1/tokens":                         `{"name":"ops","role":"marketer"}`,
		"DELETE /api/v1/tokens/{id}":                  "",
		"/api/":                                       "",
	}
	for _, rt := range (&Server{}).routes() {
		method, path := requestFor(rt.pattern)
		body, ok := samples[rt.pattern]
		if !ok {
			t.Errorf("route %s has no sample request in this test", rt.pattern)
			continue
		}
		if rt.pattern == "GET /dashboard/" {
			path += "app.js"
		}
		if query, ok := strings.CutPrefix(body, "?"); ok {
			path, body = path+"?"+query, ""
		}
		r := a.do(method, path, body)
		if strings.Contains(rt.pattern, "/exports/") || !strings.Contains(rt.pattern, "/api/") && rt.pattern != "GET /healthz" && rt.pattern != "GET /livez" { // files, not JSON
			if r.code != http.StatusOK {
				t.Errorf("%s %s = %d %s", method, path, r.code, r.body)
			}
			continue
		}
		var decoded any
		r.json(t, &decoded)
		if rt.pattern != "GET /api/v1/openapi.json" { // OpenAPI's own keys (operationId, paths) are not ours to name
			for _, k := range jsonKeysNotSnake(decoded, "body") {
				t.Errorf("%s %s (%d): key %s is not snake_case", method, path, r.code, k)
			}
		}
		if r.code >= 400 && rt.pattern != "/api/" {
			t.Errorf("%s %s = %d %s; the sample should succeed", method, path, r.code, r.body)
		}
	}

	// Error bodies: 401, and a 4xx from a handler.
	for _, r := range []response{
		a.doWith(http.MethodGet, "/api/v1/waves", "", ""),
		a.do(http.MethodPost, "/api/v1/invitations", `{}`),
	} {
		var decoded any
		r.json(t, &decoded)
		if keys := jsonKeysNotSnake(decoded, "body"); len(keys) > 0 || r.code < 400 {
			t.Errorf("error body %d %s: keys %v", r.code, r.body, keys)
		}
	}
}

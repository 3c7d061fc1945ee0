package httpapi

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
)

// Every API route answers a method it does not serve with 405, an Allow
// header naming the methods it does, and the error shape.
func TestEveryRouteAnswersAWrongMethodWith405(t *testing.T) {
	a := newFakeAPI(t) // no fake function is set: a handler that runs fails the test
	allowed := map[string][]string{}
	for _, rt := range (&Server{}).routes() {
		method, path := requestFor(rt.pattern)
		if !strings.HasPrefix(path, "/api/v1/") {
			continue
		}
		allowed[path] = append(allowed[path], method)
	}
	for path, methods := range allowed {
		for _, m := range []string{http.MethodGet, http.MethodPost, http.MethodPut, http.MethodDelete, http.MethodPatch} {
			if strings.Contains(strings.Join(methods, ","), m) {
				continue
			}
			r := a.do(m, path, "")
			var body map[string]string
			if err := json.Unmarshal([]byte(r.body), &body); err != nil {
				t.Fatalf("%s %s: body %q is not JSON", m, path, r.body)
			}
			allow := r.header.Get("Allow")
			if r.code != http.StatusMethodNotAllowed || body["code"] != "method_not_allowed" || !strings.Contains(body["error"], "use ") {
				t.Errorf("%s %s = %d %s; want 405 method_not_allowed", m, path, r.code, r.body)
			}
			for _, want := range methods {
				if !strings.Contains(allow, want) {
					t.Errorf("%s %s: Allow %q lacks %s", m, path, allow, want)
				}
			}
		}
	}
}

// The bearer scheme is case-insensitive (RFC 9110); the token is not.
func TestBearerSchemeIsCaseInsensitive(t *testing.T) {
	a := newFakeAPI(t)
	a.convs.SurveysFn = testSurveys
	for _, auth := range []string{"Bearer " + testToken, "bearer " + testToken, "BEARER  " + testToken} {
		if r := a.doWith(http.MethodGet, "/api/v1/surveys", "", auth); r.code != http.StatusOK {
			t.Errorf("Authorization %q = %d %s", auth, r.code, r.body)
		}
	}
	if r := a.doWith(http.MethodGet, "/api/v1/surveys", "", "Bearer "+strings.ToUpper(testToken)); r.code != http.StatusUnauthorized {
		t.Errorf("a token in other case = %d", r.code)
	}
}

// Error bodies carry a stable code beside the message, and the message
// names JSON types and fields, never a Go type or an internal prefix.
func TestErrorBodiesHaveACodeAndNoGoTypes(t *testing.T) {
	a := newFakeAPI(t)
	for _, tc := range []struct{ path, body, code, want string }{
		{"/api/v1/invitations", `[]`, "invalid_request", "the body must be a JSON object, not an array"},
		{"/api/v1/invitations", `"x"`, "invalid_request", "the body must be a JSON object, not a string"},
		{"/api/v1/links", `{"customer_ref":["a"]}`, "invalid_request", `field "customer_ref" must be a string, not an array`},
		{"/api/v1/events", `[]`, "invalid_request", "the body must be a JSON object, not an array"},
		{"/api/v1/events", `{"events":[1]}`, "invalid_request", ""},
		{"/api/v1/invitations", `{"survey":"s","customer_ref":"C"}`, "invalid_request", "telegram_chat_id or wechat_openid is required"},
	} {
		r := a.do(http.MethodPost, tc.path, tc.body)
		var body map[string]any
		if err := json.Unmarshal([]byte(r.body), &body); err != nil {
			t.Fatalf("%s %s: %q is not JSON", tc.path, tc.body, r.body)
		}
		text := r.body
		if tc.code != "" && body["code"] != nil && body["code"] != tc.code {
			t.Errorf("%s %s: code %v, want %s", tc.path, tc.body, body["code"], tc.code)
		}
		if tc.want != "" && body["error"] != tc.want {
			t.Errorf("%s %s: error %v, want %q", tc.path, tc.body, body["error"], tc.want)
		}
		for _, leak := range []string{"Go value", "struct", "httpapi.", "[]json", "invalid: ", "conflict: ", "map["} {
			if strings.Contains(text, leak) {
				t.Errorf("%s %s: %s leaks %q", tc.path, tc.body, text, leak)
			}
		}
	}
}

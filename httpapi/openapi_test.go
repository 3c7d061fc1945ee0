package httpapi

import (
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/cxbot/cxbot/flows"
)

// The OpenAPI document at /api/v1/openapi.json lists exactly the routes
// the server registers, each with its documented errors.
func TestOpenAPIDocumentMatchesTheRoutes(t *testing.T) {
	a := newFakeAPI(t)
	r := a.doWith(http.MethodGet, "/api/v1/openapi.json", "", "")
	if r.code != http.StatusOK {
		t.Fatalf("openapi.json = %d", r.code)
	}
	var doc struct {
		OpenAPI string                                `json:"openapi"`
		Paths   map[string]map[string]json.RawMessage `json:"paths"`
	}
	if err := json.Unmarshal([]byte(r.body), &doc); err != nil || doc.OpenAPI != "3.1.0" {
		t.Fatalf("document: %v, openapi %q", err, doc.OpenAPI)
	}
	documented := map[string]bool{}
	permission := map[string]string{}
	for path, ops := range doc.Paths {
		for method, raw := range ops {
			if method == "parameters" {
				continue
			}
			documented[strings.ToUpper(method)+" "+path] = true
			var op struct {
				OperationID string                     `json:"operationId"`
				Permission  string                     `json:"x-cxbot-permission"`
				Security    *[]any                     `json:"security"`
				Responses   map[string]json.RawMessage `json:"responses"`
			}
			if err := json.Unmarshal(raw, &op); err != nil || op.OperationID == "" {
				t.Errorf("%s %s: %v, operationId %q", method, path, err, op.OperationID)
			}
			permission[strings.ToUpper(method)+" "+path] = op.Permission
			if op.Security == nil { // behind the token
				for _, code := range []string{"401", "403", "405", "503"} {
					if _, ok := op.Responses[code]; !ok {
						t.Errorf("%s %s: %s not documented", method, path, code)
					}
				}
			}
		}
	}
	var routed []string
	for _, rt := range (&Server{}).routes() {
		if rt.pattern == "/api/" || rt.pattern == "GET /{$}" || rt.pattern == "GET /dashboard/" { // the dashboard's files are not API
			continue
		}
		routed = append(routed, rt.pattern)
		if !documented[rt.pattern] {
			t.Errorf("route %s is not in the OpenAPI document", rt.pattern)
		}
		if want := string(rt.perm); rt.perm != flows.PermPublic && permission[rt.pattern] != want {
			t.Errorf("route %s: x-cxbot-permission is %q, the route needs %q", rt.pattern, permission[rt.pattern], want)
		}
	}
	for op := range documented {
		if !slices.Contains(routed, op) {
			t.Errorf("the OpenAPI document has %s, which is not a route", op)
		}
	}
}

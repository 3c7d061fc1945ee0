package httpapi

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/cxbot/cxbot/flows"
)

type fakePrivacy struct {
	t       *testing.T
	EraseFn func(ctx context.Context, ref, actor string) (flows.Erasure, error)
	AuditFn func(ctx context.Context, limit int) ([]flows.PrivacyAudit, error)
}

func (f *fakePrivacy) EraseCustomer(ctx context.Context, ref, actor string) (flows.Erasure, error) {
	if f.EraseFn == nil {
		return unexpected[flows.Erasure](f.t, "Privacy.EraseCustomer"), nil
	}
	return f.EraseFn(ctx, ref, actor)
}

func (f *fakePrivacy) PrivacyAudit(ctx context.Context, limit int) ([]flows.PrivacyAudit, error) {
	if f.AuditFn == nil {
		return unexpected[[]flows.PrivacyAudit](f.t, "Privacy.PrivacyAudit"), nil
	}
	return f.AuditFn(ctx, limit)
}

// DELETE /api/v1/customers/{ref} erases as "api", maps the store's errors,
// and the audit's limit is checked.
func TestEraseCustomerAPI(t *testing.T) {
	a := newFakeAPI(t)
	var gotRef, gotActor string
	a.privacy.EraseFn = func(_ context.Context, ref, actor string) (flows.Erasure, error) {
		gotRef, gotActor = ref, actor
		switch ref {
		case "missing":
			return flows.Erasure{}, fmt.Errorf("erase customer: %w", flows.ErrNotFound)
		case "erased-1":
			return flows.Erasure{}, flows.CheckErasable(ref)
		}
		return flows.Erasure{Audit: flows.PrivacyAudit{Subject: "erased-9", Rows: map[string]int64{"answers": 2}},
			Chats: []flows.ChatRef{{Channel: flows.ChannelTelegram, ExternalID: "42"}}}, nil
	}
	r := a.do(http.MethodDelete, "/api/v1/customers/C%201", "")
	if r.code != http.StatusOK || gotRef != "C 1" || gotActor != "api" ||
		!strings.Contains(r.body, `"pseudonym":"erased-9"`) || !strings.Contains(r.body, `"chats_forgotten":1`) || !strings.Contains(r.body, `"answers":2`) {
		t.Errorf("erase = %d %s (ref %q actor %q)", r.code, r.body, gotRef, gotActor)
	}
	for path, want := range map[string]int{
		"/api/v1/customers/missing":  http.StatusNotFound,
		"/api/v1/customers/erased-1": http.StatusConflict,
	} {
		if r := a.do(http.MethodDelete, path, ""); r.code != want || !strings.Contains(r.body, `"code"`) {
			t.Errorf("DELETE %s = %d %s, want %d", path, r.code, r.body, want)
		}
	}
	if r := a.doWith(http.MethodDelete, "/api/v1/customers/C-1", "", ""); r.code != http.StatusUnauthorized {
		t.Errorf("erase without token = %d", r.code)
	}
	if r := a.do(http.MethodGet, "/api/v1/customers/C-1", ""); r.code != http.StatusMethodNotAllowed || r.header.Get("Allow") != "DELETE" {
		t.Errorf("GET customer = %d, Allow %q", r.code, r.header.Get("Allow"))
	}
	for _, q := range []string{"?limit=0", "?limit=abc", "?limit=1001"} {
		if r := a.do(http.MethodGet, "/api/v1/privacy/audit"+q, ""); r.code != http.StatusBadRequest {
			t.Errorf("audit%s = %d %s, want 400", q, r.code, r.body)
		}
	}
	if r := a.do(http.MethodPost, "/api/v1/privacy/audit", ""); r.code != http.StatusMethodNotAllowed {
		t.Errorf("POST audit = %d", r.code)
	}

	off := newFakeAPI(t, func(c *Config) { c.Privacy = nil })
	if r := off.do(http.MethodDelete, "/api/v1/customers/C-1", ""); r.code != http.StatusServiceUnavailable {
		t.Errorf("erase without privacy = %d", r.code)
	}
}

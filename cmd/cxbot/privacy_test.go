package main

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/cxbot/cxbot/flows"
)

// TestEraseCustomerOverHTTPAndCLI, on each stack: a detractor who wrote a
// comment and a customer halfway through a survey are erased, one through
// the API and one through the CLI; their chats, reference, text and chat
// state go, the NPS report is unchanged, and both erasures are in the
// audit with who did them.
func TestEraseCustomerOverHTTPAndCLI(t *testing.T) {
	for _, st := range stacks(t) {
		t.Run(st.name, func(t *testing.T) {
			dbURL := st.databaseURL(t)
			h := start(t, st, options{webhook: true, dbURL: dbURL})
			ctx := context.Background()
			const detractor, halfway = 3101, 3102
			h.invite("post_purchase_nps", "C-D", detractor, "en")
			h.invite("post_purchase_nps", "C-H", halfway, "en")
			h.waitSent(detractor, 1)
			h.waitSent(halfway, 1)
			h.tap(detractor, "2")
			h.waitSent(detractor, 2)
			h.say(detractor, "the courier was rude, call me on 555-0100", "en")
			h.waitSent(detractor, 3)
			h.waitSent(agentChat, 1)
			h.tap(halfway, "4")
			h.waitSent(halfway, 2) // asked why: the state waits in Redis
			if _, ok, err := h.app.states.LoadState(ctx, flows.ChannelTelegram, "3102"); err != nil || !ok {
				t.Fatalf("halfway chat has no state before the erase: %v %v", ok, err)
			}
			before := h.nps("post_purchase_nps")

			// The API erases the customer halfway through.
			var erased struct {
				Erased         bool   `json:"erased"`
				Pseudonym      string `json:"pseudonym"`
				ChatsForgotten int    `json:"chats_forgotten"`
				Audit          struct {
					Actor string           `json:"actor"`
					Rows  map[string]int64 `json:"rows"`
				} `json:"audit"`
			}
			if code := h.api("DELETE", "/api/v1/customers/C-H", nil, &erased); code != http.StatusOK {
				t.Fatalf("erase C-H: %d", code)
			}
			if !erased.Erased || !flows.IsErasedRef(erased.Pseudonym) || erased.ChatsForgotten != 1 || erased.Audit.Actor != "api" || erased.Audit.Rows["customers"] != 1 {
				t.Errorf("erase answer: %+v", erased)
			}
			if _, ok, err := h.app.states.LoadState(ctx, flows.ChannelTelegram, "3102"); err != nil || ok {
				t.Errorf("halfway chat's Redis state after the erase: %v %v", ok, err)
			}
			if code := h.api("DELETE", "/api/v1/customers/C-H", nil, nil); code != http.StatusNotFound {
				t.Errorf("erase C-H twice: %d, want 404", code)
			}
			if code := h.api("DELETE", "/api/v1/customers/"+erased.Pseudonym, nil, nil); code != http.StatusConflict {
				t.Errorf("erase the pseudonym: %d, want 409", code)
			}
			if code := h.apiWithToken("wrong", "DELETE", "/api/v1/customers/C-D", nil, nil); code != http.StatusUnauthorized {
				t.Errorf("erase with a wrong token: %d", code)
			}

			// The CLI erases the detractor, as the OS user.
			env := map[string]string{"CXBOT_DATABASE_URL": dbURL, "CXBOT_REDIS_URL": st.redisURL,
				"CXBOT_REDIS_PREFIX": h.app.cfg.RedisPrefix, "CXBOT_CONFIG_DIR": "../../configs", "USER": "ops-anna"}
			var out, errOut bytes.Buffer
			if code := run(ctx, []string{"customers", "erase", "--ref", "C-D"}, envOf(env), &out, &errOut); code != 0 {
				t.Fatalf("customers erase: exit %d\n%s", code, errOut.String())
			}
			if !strings.Contains(out.String(), "customer erased: now erased-") || !strings.Contains(out.String(), "handoffs=1") {
				t.Errorf("customers erase printed %q", out.String())
			}
			if _, err := h.app.db.CustomerByRef(ctx, "C-D"); !errors.Is(err, flows.ErrNotFound) {
				t.Errorf("C-D after the erase: %v", err)
			}
			if _, _, err := h.app.db.IdentityByExternal(ctx, flows.ChannelTelegram, "3101"); !errors.Is(err, flows.ErrNotFound) {
				t.Errorf("detractor's chat still linked: %v", err)
			}
			var handoffs struct {
				Handoffs []struct {
					CustomerRef string `json:"customer_ref"`
					Comment     string `json:"comment"`
					Score       int    `json:"score"`
				} `json:"handoffs"`
			}
			// Both are detractors (2, and 4 awaiting a comment): two cases, scores kept.
			if code := h.api("GET", "/api/v1/handoffs", nil, &handoffs); code != http.StatusOK || len(handoffs.Handoffs) != 2 {
				t.Fatalf("handoffs: %d %+v", code, handoffs)
			}
			scores := 0
			for _, hf := range handoffs.Handoffs {
				if !flows.IsErasedRef(hf.CustomerRef) || hf.Comment != "" {
					t.Errorf("handoff after the erase: %+v", hf)
				}
				scores += hf.Score
			}
			if scores != 6 {
				t.Errorf("handoff scores after the erase: %+v", handoffs.Handoffs)
			}
			if after := h.nps("post_purchase_nps"); after != before {
				t.Errorf("report changed by the erasures: %+v, was %+v", after, before)
			}

			// Both in the audit, through the API and the CLI.
			var audit struct {
				Audit []struct {
					Actor  string `json:"actor"`
					Action string `json:"action"`
				} `json:"audit"`
			}
			if code := h.api("GET", "/api/v1/privacy/audit", nil, &audit); code != http.StatusOK || len(audit.Audit) != 2 ||
				audit.Audit[0].Actor != "cli:ops-anna" || audit.Audit[1].Actor != "api" || audit.Audit[0].Action != "erase" {
				t.Errorf("audit: %+v", audit)
			}
			out.Reset()
			if code := run(ctx, []string{"customers", "audit"}, envOf(env), &out, &errOut); code != 0 ||
				!strings.Contains(out.String(), "cli:ops-anna") || !strings.Contains(out.String(), "channel_identities=1") {
				t.Errorf("customers audit: exit %d\n%s", code, out.String())
			}
			if code := run(ctx, []string{"customers", "erase"}, envOf(env), &out, &errOut); code == 0 {
				t.Error("customers erase without --ref succeeded")
			}
		})
	}
}

// The retention job runs (one replica per slot) and audits its run; what it
// blanks is tested in store/sqlstore.
func TestTextRetentionJobRunsAndIsAudited(t *testing.T) {
	st := stacks(t)[len(stacks(t))-1]
	h := start(t, st, options{env: map[string]string{"CXBOT_TEXT_RETENTION": "30d", "CXBOT_RETENTION_SWEEP": "@every 1s"}})
	h.waitFor("a retention run in the audit", func() bool {
		entries, err := h.app.db.PrivacyAudit(context.Background(), 10)
		return err == nil && len(entries) > 0 && entries[0].Actor == flows.PrivacyActorRetention
	})
	for _, bad := range []string{"30m", "-1d", "soon", "0d"} {
		if _, err := loadConfig(envOf(map[string]string{"CXBOT_TEXT_RETENTION": bad})); err == nil || !strings.Contains(err.Error(), "CXBOT_TEXT_RETENTION") {
			t.Errorf("CXBOT_TEXT_RETENTION=%s: %v, want an error naming it", bad, err)
		}
	}
}

// The housekeeping job deletes link tokens long past their expiry (what
// else it prunes is tested in store/sqlstore); its setting refuses values
// that would keep the delivery log for ever.
func TestHousekeepingJobPrunesExpiredLinkTokens(t *testing.T) {
	st := stacks(t)[len(stacks(t))-1]
	h := start(t, st, options{env: map[string]string{"CXBOT_RETENTION_SWEEP": "@every 1s"}})
	ctx := context.Background()
	token, rec, err := flows.NewLinkToken("OLD-1", false, time.Hour, time.Now().Add(-72*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if err := h.app.db.CreateLinkToken(ctx, rec); err != nil {
		t.Fatal(err)
	}
	h.waitFor("the expired link token pruned", func() bool {
		_, err := h.app.db.LinkToken(ctx, flows.LinkTokenHash(token))
		return errors.Is(err, flows.ErrNotFound)
	})
	for _, bad := range []string{"0", "0d", "2h", "-3d", "later"} {
		if _, err := loadConfig(envOf(map[string]string{"CXBOT_WEBHOOK_LOG_RETENTION": bad})); err == nil || !strings.Contains(err.Error(), "CXBOT_WEBHOOK_LOG_RETENTION") {
			t.Errorf("CXBOT_WEBHOOK_LOG_RETENTION=%q: %v, want an error naming it", bad, err)
		}
	}
}

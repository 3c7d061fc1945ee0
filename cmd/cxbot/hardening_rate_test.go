package main

import (
	"crypto/rand"
	"fmt"
	"net/http"
	"testing"
)

// TestAPIClientRateLimitIsShared: with CXBOT_API_RATE a client that calls
// too fast gets 429 with Retry-After, from every replica sharing the Redis
// (bad tokens count too, so guessing is throttled).
func TestAPIClientRateLimitIsShared(t *testing.T) {
	for _, st := range stacks(t) {
		t.Run(st.name, func(t *testing.T) {
			env := map[string]string{"CXBOT_API_RATE": "3/min"}
			var a, b *harness
			if st.redisURL == "" { // one replica: the embedded Redis is its own
				a = start(t, st, options{webhook: true, env: env})
				b = a
			} else { // two replicas on the same Redis and prefix
				shared := merged(env, map[string]string{"CXBOT_REDIS_PREFIX": "cx-rate-" + rand.Text()[:8] + ":"})
				dbURL := st.databaseURL(t)
				a = start(t, st, options{webhook: true, env: shared, dbURL: dbURL})
				b = start(t, st, options{webhook: true, env: shared, dbURL: dbURL, tg: a.tg})
			}
			call := func(h *harness, token string) *http.Response {
				t.Helper()
				req, _ := http.NewRequest(http.MethodGet, h.base+"/api/v1/surveys", nil)
				req.Header.Set("Authorization", "Bearer "+token)
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				resp.Body.Close()
				return resp
			}
			codes := fmt.Sprint(call(a, testAPIToken).StatusCode, call(b, "wrong").StatusCode, call(a, testAPIToken).StatusCode)
			if codes != "200 401 200" {
				t.Fatalf("the first three calls answered %s, want 200 401 200", codes)
			}
			for _, h := range []*harness{b, a} {
				resp := call(h, testAPIToken)
				if resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") == "" || resp.Header.Get("Retry-After") == "0" {
					t.Fatalf("fourth call: %d Retry-After %q, want 429 with a Retry-After", resp.StatusCode, resp.Header.Get("Retry-After"))
				}
			}
			// Health is not an API call: never limited.
			if resp, err := http.Get(a.base + "/livez"); err != nil || resp.StatusCode != http.StatusOK {
				t.Fatalf("livez while limited: %v %v", resp, err)
			}
		})
	}
}

package webhooks_test

import (
	"context"
	"crypto/rand"
	"database/sql"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib"

	"github.com/cxbot/cxbot/flows"
	"github.com/cxbot/cxbot/store/sqlstore"
	"github.com/cxbot/cxbot/webhooks"
)

const secret = "0123456789abcdef-secret"

// received is one POST as the receiver saw it.
type received struct {
	body                           string
	event, delivery, ts, signature string
	at                             time.Time // the deliverer's clock when sent
}

// receiver is a real HTTP server answering with statuses in turn (200 once
// they run out) and recording every request.
type receiver struct {
	mu       sync.Mutex
	statuses []int
	got      []received
	clock    *clock
	srv      *httptest.Server
}

func newReceiver(t *testing.T, c *clock, statuses ...int) *receiver {
	r := &receiver{statuses: statuses, clock: c}
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		b, _ := io.ReadAll(req.Body)
		r.mu.Lock()
		defer r.mu.Unlock()
		r.got = append(r.got, received{body: string(b), event: req.Header.Get(webhooks.HeaderEvent),
			delivery: req.Header.Get(webhooks.HeaderDelivery), ts: req.Header.Get(webhooks.HeaderTimestamp),
			signature: req.Header.Get(webhooks.HeaderSignature), at: r.clock.Now()})
		status := http.StatusOK
		if len(r.statuses) > 0 {
			status, r.statuses = r.statuses[0], r.statuses[1:]
		}
		if req.Header.Get("Content-Type") != "application/json" {
			status = http.StatusUnsupportedMediaType
		}
		w.WriteHeader(status)
		_, _ = io.WriteString(w, "answer "+strconv.Itoa(status))
	}))
	t.Cleanup(r.srv.Close)
	return r
}

func (r *receiver) requests() []received {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]received(nil), r.got...)
}

// clock is a settable test clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time  { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Set(t time.Time) { c.mu.Lock(); defer c.mu.Unlock(); c.t = t }

var t0 = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)

// databases are the dialects a test runs on: a fresh SQLite file and, when
// CXBOT_TEST_POSTGRES_URL is set (always in CI), a fresh PostgreSQL schema.
// Each returns a URL several handles may open.
func databases(t *testing.T) map[string]func(t *testing.T) string {
	out := map[string]func(t *testing.T) string{
		"sqlite": func(t *testing.T) string { return filepath.Join(t.TempDir(), "cxbot.db") },
	}
	pg := os.Getenv("CXBOT_TEST_POSTGRES_URL")
	switch {
	case pg != "":
		out["postgres"] = func(t *testing.T) string { return freshSchema(t, pg) }
	case os.Getenv("CI") != "":
		t.Fatal("CI: set CXBOT_TEST_POSTGRES_URL")
	}
	return out
}

func freshSchema(t *testing.T, base string) string {
	t.Helper()
	schema := "cx_wh_" + strings.ToLower(rand.Text()[:12])
	db, err := sql.Open("pgx", base)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec("CREATE SCHEMA " + schema); err != nil {
		t.Fatalf("create schema: %v", err)
	}
	t.Cleanup(func() {
		_, _ = db.Exec("DROP SCHEMA " + schema + " CASCADE")
		_ = db.Close()
	})
	sep := "?"
	if strings.Contains(base, "?") {
		sep = "&"
	}
	return base + sep + "search_path=" + schema
}

func openDB(t *testing.T, url string, migrate bool) *sqlstore.DB {
	t.Helper()
	db, err := sqlstore.Open(context.Background(), url, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	if migrate {
		if _, err := db.Migrate(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	return db
}

// queueHandoff queues a handoff.opened the way the desk does (the body
// built before the row).
func queueHandoff(t *testing.T, db *sqlstore.DB, id int64) []byte {
	t.Helper()
	h := flows.Handoff{ID: id, ResponseID: 7, CustomerRef: "C-1", SurveyID: "delivery", Kind: flows.KindNPS, Score: 2,
		Class: flows.ClassDetractor, Comment: "late", Channel: flows.ChannelTelegram, Status: flows.HandoffOpen, CreatedAt: t0}
	body, err := flows.HandoffWebhookPayload(flows.EventHandoffOpened, h, t0)
	if err != nil {
		t.Fatal(err)
	}
	if err := db.QueueWebhook(context.Background(), flows.OutboxEvent{Event: flows.EventHandoffOpened, SubjectID: id, Payload: body}, t0); err != nil {
		t.Fatal(err)
	}
	return body
}

func newDeliverer(t *testing.T, db webhooks.Outbox, url string, c *clock, maxAttempts int) *webhooks.Deliverer {
	t.Helper()
	d, err := webhooks.New(db, webhooks.Config{URL: url, Secret: secret, MaxAttempts: maxAttempts, Now: c.Now,
		BaseBackoff: 10 * time.Second, MaxBackoff: time.Hour, Jitter: func(d time.Duration) time.Duration { return d }})
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// drive runs the deliverer on the test clock: deliver what is due, then
// jump to the next due time, until nothing is pending.
func drive(t *testing.T, db *sqlstore.DB, d *webhooks.Deliverer, c *clock) {
	t.Helper()
	ctx := context.Background()
	for range 50 {
		if _, err := d.DeliverDue(ctx); err != nil {
			t.Fatal(err)
		}
		pending, err := db.WebhookDeliveries(ctx, flows.DeliveryQuery{Status: flows.DeliveryPending})
		if err != nil {
			t.Fatal(err)
		}
		if len(pending) == 0 {
			return
		}
		c.Set(pending[0].NextAttemptAt)
	}
	t.Fatal("still pending after 50 rounds")
}

func TestSignAndVerify(t *testing.T) {
	body := []byte(`{"event":"handoff.opened"}`)
	sig := webhooks.Sign(secret, "1740830400", body)
	if !strings.HasPrefix(sig, "sha256=") || len(sig) != len("sha256=")+64 {
		t.Fatalf("signature %q", sig)
	}
	if err := webhooks.Verify(secret, "1740830400", body, sig); err != nil {
		t.Fatalf("Verify(own signature) = %v", err)
	}
	for name, c := range map[string]struct{ secret, ts, body, sig string }{
		"other body":      {secret, "1740830400", `{"event":"handoff.claimed"}`, sig},
		"other timestamp": {secret, "1740830401", string(body), sig},
		"other secret":    {"another-secret-16+", "1740830400", string(body), sig},
		"no signature":    {secret, "1740830400", string(body), ""},
		"bad timestamp":   {secret, "soon", string(body), sig},
	} {
		if err := webhooks.Verify(c.secret, c.ts, []byte(c.body), c.sig); !errors.Is(err, webhooks.ErrBadSignature) {
			t.Errorf("%s: Verify = %v, want ErrBadSignature", name, err)
		}
	}
}

func TestNewRefusesBadConfig(t *testing.T) {
	db := openDB(t, filepath.Join(t.TempDir(), "x.db"), false)
	for name, cfg := range map[string]webhooks.Config{
		"short secret": {URL: "http://x", Secret: "short"},
		"no scheme":    {URL: "crm.example.com/hook", Secret: secret},
		"negative":     {URL: "http://x", Secret: secret, MaxAttempts: -1},
	} {
		if _, err := webhooks.New(db, cfg); err == nil {
			t.Errorf("%s: New accepted %+v", name, cfg)
		}
	}
}

func TestBackoff(t *testing.T) {
	want := []time.Duration{10 * time.Second, 20 * time.Second, 40 * time.Second, 80 * time.Second}
	for i, w := range want {
		if got := webhooks.Backoff(i+1, 10*time.Second, time.Hour); got != w {
			t.Errorf("Backoff(%d) = %v, want %v", i+1, got, w)
		}
	}
	if got := webhooks.Backoff(30, 10*time.Second, time.Hour); got != time.Hour {
		t.Errorf("Backoff(30) = %v, want the cap", got)
	}
}

// TestRetriesThenDelivered: 500, 500, 200: the same signed body three
// times, the gaps growing, then delivered.
func TestRetriesThenDelivered(t *testing.T) {
	for name, url := range databases(t) {
		t.Run(name, func(t *testing.T) {
			db := openDB(t, url(t), true)
			c := &clock{t: t0}
			rcv := newReceiver(t, c, 500, 500)
			body := queueHandoff(t, db, 41)
			d := newDeliverer(t, db, rcv.srv.URL, c, 5)
			drive(t, db, d, c)

			got := rcv.requests()
			if len(got) != 3 {
				t.Fatalf("receiver got %d requests, want 3", len(got))
			}
			for i, r := range got {
				if r.body != string(body) || r.event != "handoff.opened" || r.delivery != got[0].delivery {
					t.Fatalf("request %d = %+v; want the same body and delivery id each time", i, r)
				}
				if err := webhooks.Verify(secret, r.ts, []byte(r.body), r.signature); err != nil {
					t.Fatalf("request %d: %v", i, err)
				}
			}
			if gap1, gap2 := got[1].at.Sub(got[0].at), got[2].at.Sub(got[1].at); !(gap1 > 0 && gap2 > gap1) {
				t.Fatalf("gaps %v then %v; want growing", gap1, gap2)
			}
			ds, err := db.WebhookDeliveries(context.Background(), flows.DeliveryQuery{})
			if err != nil || len(ds) != 1 || ds[0].Status() != flows.DeliveryDelivered || ds[0].Attempts != 3 || ds[0].LastStatus != 200 {
				t.Fatalf("log = %+v, %v", ds, err)
			}
		})
	}
}

// TestGivesUp: a receiver that always fails is tried MaxAttempts times,
// then the delivery is failed with the last answer kept.
func TestGivesUp(t *testing.T) {
	for name, url := range databases(t) {
		t.Run(name, func(t *testing.T) {
			db := openDB(t, url(t), true)
			c := &clock{t: t0}
			rcv := newReceiver(t, c, 503, 503, 503, 503, 503, 503)
			queueHandoff(t, db, 1)
			drive(t, db, newDeliverer(t, db, rcv.srv.URL, c, 4), c)
			if n := len(rcv.requests()); n != 4 {
				t.Fatalf("receiver got %d requests, want 4", n)
			}
			ds, _ := db.WebhookDeliveries(context.Background(), flows.DeliveryQuery{Status: flows.DeliveryFailed})
			if len(ds) != 1 || ds[0].Attempts != 4 || ds[0].LastStatus != 503 || !strings.Contains(ds[0].LastError, "answer 503") {
				t.Fatalf("failed log = %+v", ds)
			}
		})
	}
}

// TestUnreachableReceiver: no answer at all is recorded (status 0) and
// retried.
func TestUnreachableReceiver(t *testing.T) {
	db := openDB(t, filepath.Join(t.TempDir(), "x.db"), true)
	c := &clock{t: t0}
	rcv := newReceiver(t, c)
	url := rcv.srv.URL
	rcv.srv.Close()
	queueHandoff(t, db, 1)
	if _, err := newDeliverer(t, db, url, c, 3).DeliverDue(context.Background()); err != nil {
		t.Fatal(err)
	}
	ds, _ := db.WebhookDeliveries(context.Background(), flows.DeliveryQuery{Status: flows.DeliveryPending})
	if len(ds) != 1 || ds[0].LastStatus != 0 || ds[0].LastError == "" || !ds[0].NextAttemptAt.After(t0) {
		t.Fatalf("log = %+v", ds)
	}
}

// TestTwoDeliverersNeverSendTwice: two replicas (two handles on one
// PostgreSQL database) running their loops over 200 rows: each row reaches
// the receiver once.
func TestTwoDeliverersNeverSendTwice(t *testing.T) {
	pg := os.Getenv("CXBOT_TEST_POSTGRES_URL")
	if pg == "" {
		if os.Getenv("CI") != "" {
			t.Fatal("CI: set CXBOT_TEST_POSTGRES_URL")
		}
		t.Skip("CXBOT_TEST_POSTGRES_URL not set")
	}
	url := freshSchema(t, pg)
	a, b := openDB(t, url, true), openDB(t, url, false)
	const n = 200
	for i := range n {
		queueHandoff(t, a, int64(i+1))
	}
	c := &clock{t: t0.Add(time.Second)}
	rcv := newReceiver(t, c)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for _, db := range []*sqlstore.DB{a, b} {
		d, err := webhooks.New(db, webhooks.Config{URL: rcv.srv.URL, Secret: secret, Now: c.Now, Batch: 7, Interval: 10 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		wg.Add(1)
		go func() { defer wg.Done(); d.Run(ctx) }()
	}
	deadline := time.Now().Add(30 * time.Second)
	for len(rcv.requests()) < n && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	time.Sleep(100 * time.Millisecond) // a duplicate would arrive now
	cancel()
	wg.Wait()
	seen := map[string]int{}
	for _, r := range rcv.requests() {
		seen[r.delivery]++
		if seen[r.delivery] > 1 {
			t.Fatalf("delivery %s sent twice", r.delivery)
		}
	}
	if len(seen) != n {
		t.Fatalf("receiver saw %d deliveries, want %d", len(seen), n)
	}
	ds, _ := a.WebhookDeliveries(context.Background(), flows.DeliveryQuery{Status: flows.DeliveryDelivered, Limit: 1000})
	if len(ds) != n {
		t.Fatalf("%d delivered in the log, want %d", len(ds), n)
	}
}

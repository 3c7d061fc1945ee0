package sqlstore

import (
	"encoding/json"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/cxbot/cxbot/flows"
)

func outboxRows(t *testing.T, db *DB) []outboxRow {
	t.Helper()
	var rows []outboxRow
	if err := db.gorm.Order("id").Find(&rows).Error; err != nil {
		t.Fatal(err)
	}
	return rows
}

// TestSQLStepQueuesResponseCompleted: the completing step queues exactly
// one response.completed (both ApplyStep paths), a replay none, a step
// without the flag none; the body is built at the first claim and kept.
func TestSQLStepQueuesResponseCompleted(t *testing.T) {
	eachSQL(t, func(t *testing.T, db *DB) {
		ctx := sqlTestCtx(t)
		_, r := newTestResponse(t, db, "cust-1", "delivery")
		at := sqlT0.Add(time.Minute)
		nps := flows.Answer{QuestionID: "nps", Kind: flows.KindNPS, Score: sqlScore(9), Class: flows.ClassPromoter, AnsweredAt: at}
		if _, err := db.ApplyStep(ctx, flows.StepWrite{ResponseID: r.ID, Answer: &nps, At: at, UpdateID: "u1", CompletedWebhook: true}); err != nil {
			t.Fatal(err)
		}
		if rows := outboxRows(t, db); len(rows) != 0 {
			t.Fatalf("a step that does not finish queued %d webhooks", len(rows))
		}
		done := at.Add(time.Minute)
		why := flows.Answer{QuestionID: "why", Kind: flows.KindText, Text: "fast", AnsweredAt: done}
		last := flows.StepWrite{ResponseID: r.ID, Answer: &why, Finish: flows.ResponseCompleted, At: done,
			UpdateID: "u2", ExpectUpdateID: "u1", CompletedWebhook: true}
		if _, err := db.ApplyStep(ctx, last); err != nil {
			t.Fatal(err)
		}
		_, err := db.ApplyStep(ctx, last)
		wantErrIs(t, "replayed step", err, flows.ErrApplied)
		// Finishing a finished response again (no update id) queues nothing.
		if _, err := db.ApplyStep(ctx, flows.StepWrite{ResponseID: r.ID, Finish: flows.ResponseCompleted, At: done.Add(time.Second), CompletedWebhook: true}); err != nil {
			t.Fatal(err)
		}
		rows := outboxRows(t, db)
		if len(rows) != 1 || rows[0].Event != string(flows.EventResponseCompleted) || rows[0].SubjectID != r.ID || rows[0].Payload != "" {
			t.Fatalf("outbox = %+v; want one response.completed of response %d with no body yet", rows, r.ID)
		}

		due, err := db.ClaimWebhooks(ctx, done, time.Minute, 10)
		if err != nil || len(due) != 1 || due[0].Attempt != 1 {
			t.Fatalf("ClaimWebhooks = %+v, %v", due, err)
		}
		var body struct {
			Event string `json:"event"`
			Data  struct {
				ResponseID  int64             `json:"response_id"`
				SurveyID    string            `json:"survey_id"`
				WaveID      string            `json:"wave_id"`
				CustomerRef string            `json:"customer_ref"`
				EventID     string            `json:"event_id"`
				Context     map[string]string `json:"context"`
				CompletedAt time.Time         `json:"completed_at"`
				Answers     []struct {
					QuestionID string `json:"question_id"`
					Score      *int   `json:"score"`
					Class      string `json:"class"`
					Text       string `json:"text"`
				} `json:"answers"`
			} `json:"data"`
		}
		if err := json.Unmarshal(due[0].Payload, &body); err != nil {
			t.Fatalf("body %s: %v", due[0].Payload, err)
		}
		d := body.Data
		if body.Event != "response.completed" || d.ResponseID != r.ID || d.SurveyID != "delivery" || d.WaveID != "wave-1" ||
			d.CustomerRef != "cust-1" || d.EventID != "order-cust-1" || d.Context["order"] != "A-cust-1" || !d.CompletedAt.Equal(done) ||
			len(d.Answers) != 2 || d.Answers[0].QuestionID != "nps" || *d.Answers[0].Score != 9 || d.Answers[0].Class != "promoter" || d.Answers[1].Text != "fast" {
			t.Fatalf("body = %s", due[0].Payload)
		}
		if rows := outboxRows(t, db); rows[0].Payload != string(due[0].Payload) {
			t.Fatalf("stored body %q, sent %q", rows[0].Payload, due[0].Payload)
		}
		// Leased: not due again before the lease ends; then the same bytes.
		if again, _ := db.ClaimWebhooks(ctx, done.Add(30*time.Second), time.Minute, 10); len(again) != 0 {
			t.Fatalf("claimed again during the lease: %+v", again)
		}
		again, err := db.ClaimWebhooks(ctx, done.Add(2*time.Minute), time.Minute, 10)
		if err != nil || len(again) != 1 || again[0].Attempt != 2 || string(again[0].Payload) != string(due[0].Payload) {
			t.Fatalf("after the lease: %+v, %v", again, err)
		}
	})
}

func TestSQLStepWithoutWebhooksQueuesNothing(t *testing.T) {
	eachSQL(t, func(t *testing.T, db *DB) {
		ctx := sqlTestCtx(t)
		_, r := newTestResponse(t, db, "cust-1", "delivery")
		nps := flows.Answer{QuestionID: "nps", Kind: flows.KindNPS, Score: sqlScore(9)}
		if _, err := db.ApplyStep(ctx, flows.StepWrite{ResponseID: r.ID, Answer: &nps, Finish: flows.ResponseCompleted, UpdateID: "u1"}); err != nil {
			t.Fatal(err)
		}
		if rows := outboxRows(t, db); len(rows) != 0 {
			t.Fatalf("webhooks off, outbox = %+v", rows)
		}
	})
}

// TestSQLWebhookLog: finish, give up, list with filters and cursor, retry.
func TestSQLWebhookLog(t *testing.T) {
	eachSQL(t, func(t *testing.T, db *DB) {
		ctx := sqlTestCtx(t)
		for i := range 3 {
			e := flows.OutboxEvent{Event: flows.EventHandoffOpened, SubjectID: int64(i + 1), Payload: []byte(`{"n":1}`)}
			if err := insertOutbox(db.gorm.WithContext(ctx), e, sqlT0); err != nil {
				t.Fatal(err)
			}
		}
		due, err := db.ClaimWebhooks(ctx, sqlT0, time.Minute, 10)
		if err != nil || len(due) != 3 {
			t.Fatalf("claim = %d, %v", len(due), err)
		}
		at := sqlT0.Add(time.Second)
		retry := at.Add(time.Hour)
		must := func(err error) {
			t.Helper()
			if err != nil {
				t.Fatal(err)
			}
		}
		must(db.FinishWebhook(ctx, due[0].ID, flows.DeliveryResult{Status: 200}, true, nil, at))
		must(db.FinishWebhook(ctx, due[1].ID, flows.DeliveryResult{Status: 500, Error: "boom"}, false, &retry, at))
		must(db.FinishWebhook(ctx, due[2].ID, flows.DeliveryResult{Status: 503, Error: "\x00\xff" + strings.Repeat("x", 2000)}, false, nil, at))

		list := func(q flows.DeliveryQuery) []int64 {
			t.Helper()
			ds, err := db.WebhookDeliveries(ctx, q)
			if err != nil {
				t.Fatal(err)
			}
			ids := make([]int64, len(ds))
			for i, d := range ds {
				ids[i] = d.ID
			}
			return ids
		}
		ids := func(v ...int64) []int64 { return v }
		eq := func(what string, got, want []int64) {
			t.Helper()
			if len(got) != len(want) {
				t.Fatalf("%s = %v, want %v", what, got, want)
			}
			for i := range got {
				if got[i] != want[i] {
					t.Fatalf("%s = %v, want %v", what, got, want)
				}
			}
		}
		a, b, c := due[0].ID, due[1].ID, due[2].ID
		eq("all", list(flows.DeliveryQuery{}), ids(c, b, a))
		eq("delivered", list(flows.DeliveryQuery{Status: flows.DeliveryDelivered}), ids(a))
		eq("pending", list(flows.DeliveryQuery{Status: flows.DeliveryPending}), ids(b))
		eq("failed", list(flows.DeliveryQuery{Status: flows.DeliveryFailed}), ids(c))
		eq("page", list(flows.DeliveryQuery{Limit: 1, BeforeID: c}), ids(b))
		eq("other event", list(flows.DeliveryQuery{Event: flows.EventHandoffClaimed}), nil)
		_, err = db.WebhookDeliveries(ctx, flows.DeliveryQuery{Status: "lost"})
		wantErrIs(t, "bad status", err, flows.ErrInvalid)

		ds, _ := db.WebhookDeliveries(ctx, flows.DeliveryQuery{Status: flows.DeliveryFailed})
		if d := ds[0]; d.LastStatus != 503 || utf8.RuneCountInString(d.LastError) != maxDeliveryError || strings.Contains(d.LastError, "\x00") || d.Status() != flows.DeliveryFailed || d.Attempts != 1 {
			t.Fatalf("failed delivery = %+v", d)
		}
		// Retry: the failed one is due now, with a fresh count.
		now := sqlT0.Add(2 * time.Hour)
		d, err := db.RetryWebhook(ctx, c, now)
		if err != nil || d.FailedAt != nil || d.Attempts != 0 || !d.NextAttemptAt.Equal(now) {
			t.Fatalf("RetryWebhook = %+v, %v", d, err)
		}
		_, err = db.RetryWebhook(ctx, a, now)
		wantErrIs(t, "retry delivered", err, flows.ErrConflict)
		_, err = db.RetryWebhook(ctx, 9999, now)
		wantErrIs(t, "retry missing", err, flows.ErrNotFound)
		again, err := db.ClaimWebhooks(ctx, now, time.Minute, 10)
		if err != nil || len(again) != 2 {
			t.Fatalf("after retry claimed %+v, %v; want the pending and the retried", again, err)
		}
	})
}

// TestSQLClaimWebhooksConcurrent: two replicas claiming at once never take
// one row twice.
func TestSQLClaimWebhooksConcurrent(t *testing.T) {
	for _, tdb := range openTestDBs(t) {
		t.Run(tdb.name, func(t *testing.T) {
			ctx := sqlTestCtx(t)
			replicas := openReplicas(t, tdb.name, 2)
			const n = 300
			for i := range n {
				e := flows.OutboxEvent{Event: flows.EventHandoffOpened, SubjectID: int64(i), Payload: []byte(`{}`)}
				if err := insertOutbox(replicas[0].gorm.WithContext(ctx), e, sqlT0); err != nil {
					t.Fatal(err)
				}
			}
			var (
				mu    sync.Mutex
				seen  = map[int64]int{}
				wg    sync.WaitGroup
				fails []error
			)
			for w := range 6 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					db := replicas[w%2]
					for {
						due, err := db.ClaimWebhooks(ctx, sqlT0, time.Hour, 7)
						mu.Lock()
						if err != nil {
							fails = append(fails, err)
						}
						for _, d := range due {
							seen[d.ID]++
						}
						mu.Unlock()
						if err != nil || len(due) == 0 {
							return
						}
					}
				}()
			}
			wg.Wait()
			if len(fails) > 0 && tdb.name == "postgres" {
				t.Fatalf("claims failed: %v", fails[0])
			}
			for id, k := range seen {
				if k != 1 {
					t.Fatalf("row %d claimed %d times", id, k)
				}
			}
			if tdb.name == "postgres" && len(seen) != n {
				t.Fatalf("claimed %d of %d rows", len(seen), n)
			}
		})
	}
}

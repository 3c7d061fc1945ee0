package sqlstore

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cxbot/cxbot/flows"
)

// Tests of migration 2 and the repositories behind survey waves: events
// in, planning, the dispatch outbox, reminders, expiry and wave records.

func testEvent(id, ref, touchpoint string, at time.Time) flows.Event {
	return flows.Event{ID: id, CustomerRef: ref, Touchpoint: touchpoint, OccurredAt: at}
}

func saveEvents(t testing.TB, db *DB, events ...flows.Event) []flows.EventResult {
	t.Helper()
	res, err := db.SaveEvents(context.Background(), events)
	if err != nil {
		t.Fatalf("SaveEvents: %v", err)
	}
	if len(res) != len(events) {
		t.Fatalf("SaveEvents returned %d results for %d events", len(res), len(events))
	}
	return res
}

func countRows(t testing.TB, db *DB, table string) int64 {
	t.Helper()
	var n int64
	if err := db.gorm.Table(table).Count(&n).Error; err != nil {
		t.Fatalf("count %s: %v", table, err)
	}
	return n
}

// planTest plans n invitations of a wave for one customer (events e0…),
// all due at notBefore, and returns their ids.
func planTest(t testing.TB, db *DB, wave string, customerID int64, n int, notBefore time.Time) []int64 {
	t.Helper()
	ctx := context.Background()
	invs := make([]flows.Invitation, n)
	for i := range invs {
		invs[i] = flows.Invitation{
			WaveID: wave, CustomerID: customerID, EventID: fmt.Sprint("e", i), SurveyID: "s", SurveyVersion: 1,
			Channel: flows.ChannelTelegram, ExternalID: fmt.Sprint(1000 + i), Language: "en", NotBefore: notBefore,
		}
	}
	created, err := db.PlanInvitations(ctx, invs)
	if err != nil || created != n {
		t.Fatalf("PlanInvitations = %d, %v; want %d", created, err, n)
	}
	var ids []int64
	if err := db.gorm.Model(&invitationRow{}).Where("wave_id = ?", wave).Order("id").Pluck("id", &ids).Error; err != nil {
		t.Fatal(err)
	}
	return ids
}

func rawInvitation(t testing.TB, db *DB, id int64) invitationRow {
	t.Helper()
	var row invitationRow
	if err := db.gorm.Where("id = ?", id).Take(&row).Error; err != nil {
		t.Fatalf("invitation %d: %v", id, err)
	}
	return row
}

// step1Customer and step1Invitation are rows as the step 1 build wrote
// them: step 1's columns only.
type step1Customer struct {
	ID                        int64
	Ref, Language, TimeZone   string
	OptedOutAt, UnreachableAt *time.Time
	CreatedAt, UpdatedAt      time.Time
}

func (step1Customer) TableName() string { return "customers" }

type step1Invitation struct {
	ID                                                    int64
	WaveID                                                string
	CustomerID                                            int64
	EventID, SurveyID                                     string
	SurveyVersion                                         int
	Channel, ExternalID, Language, Context, Status, Error string
	SentAt                                                *time.Time
	CreatedAt, UpdatedAt                                  time.Time
}

func (step1Invitation) TableName() string { return "invitations" }

// TestSQLMigrateWavesOnExistingData applies step 1, stores data the way the
// step 1 build did, then migrates: existing invitations get not_before =
// created_at and work with the new repositories.
func TestSQLMigrateWavesOnExistingData(t *testing.T) {
	for _, tdb := range openTestDBs(t) {
		t.Run(tdb.name, func(t *testing.T) {
			ctx := sqlTestCtx(t)
			db := tdb.open(t)
			g := db.gorm.WithContext(ctx)
			if applied, err := db.migrate(ctx, testMigrations(t)[:1]); err != nil || !slices.Equal(applied, []int{1}) {
				t.Fatalf("migrate(step 1) = %v, %v", applied, err)
			}
			created := sqlT0.Add(-time.Hour)
			cust := step1Customer{Ref: "old-1", Language: "en", CreatedAt: created, UpdatedAt: created}
			if err := g.Create(&cust).Error; err != nil {
				t.Fatal(err)
			}
			sent := created.Add(time.Minute)
			old := []step1Invitation{
				{WaveID: "api", CustomerID: cust.ID, EventID: "e1", SurveyID: "s", SurveyVersion: 1, Channel: "telegram",
					ExternalID: "7", Language: "en", Context: "{}", Status: "sent", SentAt: &sent, CreatedAt: created, UpdatedAt: created},
				{WaveID: "w_old", CustomerID: cust.ID, EventID: "e2", SurveyID: "s", SurveyVersion: 1, Channel: "telegram",
					ExternalID: "7", Language: "en", Context: "{}", Status: "planned", CreatedAt: created.Add(time.Second), UpdatedAt: created},
			}
			if err := g.Create(&old).Error; err != nil {
				t.Fatal(err)
			}
			if cur, _, err := db.SchemaVersion(ctx); err != nil || cur != 1 {
				t.Fatalf("SchemaVersion = %d, %v; want 1", cur, err)
			}

			applied, err := db.Migrate(ctx)
			if want := migrationsAfter(t, 1); err != nil || !slices.Equal(applied, want) {
				t.Fatalf("Migrate = %v, %v; want %v", applied, err, want)
			}
			for _, o := range old {
				inv, err := db.Invitation(ctx, o.ID)
				if err != nil {
					t.Fatal(err)
				}
				if !sameTime(inv.NotBefore, o.CreatedAt) || inv.Attempts != 0 || inv.RemindedAt != nil || string(inv.Status) != o.Status {
					t.Fatalf("invitation %d after migration = %+v; want not_before = created_at %v", o.ID, inv, o.CreatedAt)
				}
				if row := rawInvitation(t, db, o.ID); row.ClaimedBy != "" || row.ClaimUntil != nil {
					t.Fatalf("invitation %d claimed after migration: %+v", o.ID, row)
				}
			}
			for _, table := range []string{"events", "waves", "delivery_attempts"} {
				if !hasTable(t, db, table) {
					t.Errorf("table %s missing", table)
				}
			}
			// The old planned invitation is due and claimable; the sent one counts for caps.
			claimed, err := db.ClaimInvitations(ctx, "w1", sqlT0, time.Minute, 10)
			if err != nil || len(claimed) != 1 || claimed[0].ID != old[1].ID || claimed[0].CustomerRef != "old-1" {
				t.Fatalf("ClaimInvitations after migration = %+v, %v", claimed, err)
			}
			if n, err := db.SentSince(ctx, cust.ID, created); err != nil || n != 1 {
				t.Fatalf("SentSince = %d, %v; want 1", n, err)
			}
		})
	}
}

func TestSQLSaveEvents(t *testing.T) {
	eachSQL(t, func(t *testing.T, db *DB) {
		ctx := sqlTestCtx(t)
		at := sqlT0.Add(-2 * time.Hour)
		e1 := flows.Event{
			ID: "ord-1001-delivered", CustomerRef: "C-1", Touchpoint: "purchase", OccurredAt: at,
			TelegramChatID: "42", WeChatOpenID: "oAbC", Language: "zh-CN", TimeZone: "Asia/Shanghai",
			Attributes: map[string]string{"order_id": "1001", "store": "SH-01"},
		}
		e2 := testEvent("ord-1002-delivered", "C-2", "purchase", at.Add(time.Minute))
		e2.TelegramChatID = "43"
		batch := []flows.Event{
			e1,
			{CustomerRef: "C-9", Touchpoint: "purchase", OccurredAt: at}, // no id
			{ID: "bad-ref", Touchpoint: "purchase", OccurredAt: at},      // no customer
			{ID: "bad-tp", CustomerRef: "C-9", OccurredAt: at},           // no touchpoint
			{ID: "bad-time", CustomerRef: "C-9", Touchpoint: "purchase"}, // no occurred_at
			e2,
			e1, // repeated within the batch
		}
		res := saveEvents(t, db, batch...)
		wantField := map[int]string{1: "id", 2: "customer_ref", 3: "touchpoint", 4: "occurred_at"}
		for i, r := range res {
			if f, bad := wantField[i]; bad {
				if !errors.Is(r.Err, flows.ErrInvalid) || r.Created || !strings.Contains(r.Err.Error(), f) {
					t.Errorf("result %d = %+v; want ErrInvalid naming %s", i, r, f)
				}
				continue
			}
			if r.Err != nil || r.ID != batch[i].ID {
				t.Errorf("result %d = %+v", i, r)
			}
		}
		if !res[0].Created || !res[5].Created || res[6].Created {
			t.Fatalf("created flags = %v %v %v; want true true false", res[0].Created, res[5].Created, res[6].Created)
		}
		if n := countRows(t, db, "customers"); n != 2 {
			t.Fatalf("customers = %d; the rejected events must not create C-9", n)
		}

		got, err := db.Event(ctx, e1.ID)
		if err != nil {
			t.Fatal(err)
		}
		c1, _ := db.CustomerByRef(ctx, "C-1")
		if got.CustomerRef != "C-1" || got.CustomerID != c1.ID || got.Touchpoint != "purchase" || !sameTime(got.OccurredAt, at) ||
			got.TelegramChatID != "42" || got.WeChatOpenID != "oAbC" || got.Language != "zh-CN" || got.TimeZone != "Asia/Shanghai" ||
			!maps.Equal(got.Attributes, e1.Attributes) || !sameTime(got.ReceivedAt, db.Now()) {
			t.Fatalf("Event = %+v", got)
		}
		if c1.Language != "zh-CN" || c1.TimeZone != "Asia/Shanghai" {
			t.Fatalf("customer C-1 = %+v; want language and time zone from the event", c1)
		}
		for _, link := range []struct {
			ch  flows.Channel
			ext string
			ref string
		}{{flows.ChannelTelegram, "42", "C-1"}, {flows.ChannelWeChat, "oAbC", "C-1"}, {flows.ChannelTelegram, "43", "C-2"}} {
			_, c, err := db.IdentityByExternal(ctx, link.ch, link.ext)
			if err != nil || c.Ref != link.ref {
				t.Fatalf("%s chat %s belongs to %q, %v; want %s", link.ch, link.ext, c.Ref, err, link.ref)
			}
		}
		_, err = db.Event(ctx, "nope")
		wantErrIs(t, "Event(missing)", err, flows.ErrNotFound)

		// A repeated batch adds nothing.
		before := []int64{countRows(t, db, "events"), countRows(t, db, "customers"), countRows(t, db, "channel_identities")}
		for i, r := range saveEvents(t, db, batch...) {
			if r.Created || (r.Err == nil) == (wantField[i] != "") {
				t.Fatalf("repeated result %d = %+v", i, r)
			}
		}
		after := []int64{countRows(t, db, "events"), countRows(t, db, "customers"), countRows(t, db, "channel_identities")}
		if !slices.Equal(before, after) {
			t.Fatalf("rows (events, customers, identities) %v → %v after a repeated batch", before, after)
		}

		// A newer event relinks the chat to its customer and updates the
		// customer's language and time zone; one that gives none keeps them.
		e3 := testEvent("ticket-7-closed", "C-2", "service", at.Add(time.Hour))
		e3.TelegramChatID, e3.Language, e3.TimeZone = "42", "en", "Europe/Berlin"
		e4 := testEvent("ord-1003-delivered", "C-1", "purchase", at.Add(time.Hour))
		if res := saveEvents(t, db, e3, e4); !res[0].Created || !res[1].Created {
			t.Fatalf("SaveEvents(e3, e4) = %+v", res)
		}
		_, c, err := db.IdentityByExternal(ctx, flows.ChannelTelegram, "42")
		if err != nil || c.Ref != "C-2" || c.Language != "en" || c.TimeZone != "Europe/Berlin" {
			t.Fatalf("chat 42 after relink: %+v, %v; want C-2 in en, Europe/Berlin", c, err)
		}
		if c1, _ := db.CustomerByRef(ctx, "C-1"); c1.Language != "zh-CN" || c1.TimeZone != "Asia/Shanghai" {
			t.Fatalf("C-1 = %+v; an event without language or time zone must keep them", c1)
		}
		// The chat language a customer's client reported is not overwritten by events.
		if _, err := db.LinkIdentity(ctx, flows.Identity{CustomerID: c.ID, Channel: flows.ChannelTelegram, ExternalID: "42", Username: "bob", Language: "de"}); err != nil {
			t.Fatal(err)
		}
		e5 := testEvent("ticket-8-closed", "C-2", "service", at.Add(2*time.Hour))
		e5.TelegramChatID = "42"
		saveEvents(t, db, e5)
		if id, _, err := db.IdentityByExternal(ctx, flows.ChannelTelegram, "42"); err != nil || id.Username != "bob" || id.Language != "de" {
			t.Fatalf("identity after an event for the same owner = %+v, %v", id, err)
		}

		if res, err := db.SaveEvents(ctx, nil); err != nil || len(res) != 0 {
			t.Fatalf("SaveEvents(nil) = %v, %v", res, err)
		}
	})
}

// TestSQLSaveEventsConcurrent: overlapping batches from several callers at
// once store each event once and each customer once, without deadlock.
func TestSQLSaveEventsConcurrent(t *testing.T) {
	eachSQL(t, func(t *testing.T, db *DB) {
		const callers, events = 6, 300
		var batches [callers][]flows.Event
		for c := range callers {
			for i := range events {
				j := (i*7 + c*13) % events // the same events in different orders
				e := testEvent(fmt.Sprint("evt-", j), fmt.Sprint("cust-", j%50), "purchase", sqlT0.Add(-time.Duration(j)*time.Minute))
				e.TelegramChatID = fmt.Sprint(j % 50)
				batches[c] = append(batches[c], e)
			}
		}
		var (
			wg      sync.WaitGroup
			mu      sync.Mutex
			created int
		)
		for c := range callers {
			wg.Go(func() {
				res, err := db.SaveEvents(context.Background(), batches[c])
				if err != nil {
					t.Errorf("caller %d: %v", c, err)
					return
				}
				mu.Lock()
				defer mu.Unlock()
				for _, r := range res {
					if r.Created {
						created++
					}
				}
			})
		}
		wg.Wait()
		if created != events || countRows(t, db, "events") != events || countRows(t, db, "customers") != 50 {
			t.Fatalf("created %d, %d events, %d customers; want %d, %d, 50",
				created, countRows(t, db, "events"), countRows(t, db, "customers"), events, events)
		}
	})
}

func TestSQLDueEvents(t *testing.T) {
	eachSQL(t, func(t *testing.T, db *DB) {
		ctx := sqlTestCtx(t)
		base := sqlT0.Add(-24 * time.Hour)
		var evs []flows.Event
		for i := range 6 { // p0 … p5, one hour apart, customers A and B alternating
			e := testEvent(fmt.Sprint("p", i), []string{"A", "B"}[i%2], "purchase", base.Add(time.Duration(i)*time.Hour))
			e.TelegramChatID = fmt.Sprint(100 + i%2)
			e.Attributes = map[string]string{"n": fmt.Sprint(i)}
			evs = append(evs, e)
		}
		evs = append(evs, testEvent("s0", "A", "service", base.Add(2*time.Hour)))
		saveEvents(t, db, evs...)

		q := flows.EventQuery{WaveID: "w1", Touchpoint: "purchase", OccurredFrom: base.Add(time.Hour), OccurredTo: base.Add(4 * time.Hour), Limit: 2}
		ids := func(cs []flows.Candidate) []string {
			var out []string
			for _, c := range cs {
				out = append(out, c.Event.ID)
			}
			return out
		}
		page, err := db.DueEvents(ctx, q)
		if err != nil || !slices.Equal(ids(page), []string{"p1", "p2"}) {
			t.Fatalf("first page = %v, %v; want p1 p2 (window [1h, 4h], limit 2)", ids(page), err)
		}
		c := page[0]
		if c.Event.CustomerRef != "B" || c.Customer.Ref != "B" || c.Customer.ID != c.Event.CustomerID || c.Event.Attributes["n"] != "1" ||
			len(c.Identities) != 1 || c.Identities[0].ExternalID != "101" || c.Seq <= 0 || page[1].Seq <= c.Seq {
			t.Fatalf("candidate = %+v", c)
		}
		q.AfterSeq = page[1].Seq
		page, err = db.DueEvents(ctx, q)
		if err != nil || !slices.Equal(ids(page), []string{"p3", "p4"}) {
			t.Fatalf("second page = %v, %v; want p3 p4", ids(page), err)
		}
		q.AfterSeq = page[1].Seq
		if page, err = db.DueEvents(ctx, q); err != nil || len(page) != 0 {
			t.Fatalf("third page = %v, %v; want empty", ids(page), err)
		}

		// Invited events are no longer due for that wave, but are for another.
		cb, _ := db.CustomerByRef(ctx, "B")
		if _, err := db.PlanInvitations(ctx, []flows.Invitation{{WaveID: "w1", CustomerID: cb.ID, EventID: "p1", SurveyID: "s"}}); err != nil {
			t.Fatal(err)
		}
		q.AfterSeq, q.Limit = 0, 10
		if page, _ = db.DueEvents(ctx, q); !slices.Equal(ids(page), []string{"p2", "p3", "p4"}) {
			t.Fatalf("w1 after inviting p1 = %v; want p2 p3 p4", ids(page))
		}
		q.WaveID = "w2"
		if page, _ = db.DueEvents(ctx, q); !slices.Equal(ids(page), []string{"p1", "p2", "p3", "p4"}) {
			t.Fatalf("w2 = %v; want p1 … p4", ids(page))
		}
		// Zero bounds are open.
		if page, _ = db.DueEvents(ctx, flows.EventQuery{WaveID: "w1", Touchpoint: "service"}); !slices.Equal(ids(page), []string{"s0"}) {
			t.Fatalf("service, unbounded = %v; want s0", ids(page))
		}
		_, err = db.DueEvents(ctx, flows.EventQuery{WaveID: "w1"})
		wantErrIs(t, "DueEvents(no touchpoint)", err, flows.ErrInvalid)
	})
}

func TestSQLSegmentCandidates(t *testing.T) {
	eachSQL(t, func(t *testing.T, db *DB) {
		ctx := sqlTestCtx(t)
		// C has no events and is not a candidate.
		if _, err := db.UpsertCustomer(ctx, "A", "en"); err != nil {
			t.Fatal(err)
		}
		if _, err := db.UpsertCustomer(ctx, "C", "en"); err != nil {
			t.Fatal(err)
		}
		a1 := testEvent("a-new", "A", "purchase", sqlT0.Add(-time.Hour))
		a1.Attributes = map[string]string{"tier": "gold"}
		saveEvents(t, db,
			a1,
			testEvent("a-old", "A", "purchase", sqlT0.Add(-48*time.Hour)), // stored later, occurred earlier
			testEvent("b-1", "B", "service", sqlT0.Add(-time.Hour)),
			testEvent("b-2", "B", "service", sqlT0.Add(-time.Hour)), // same time: the later seq wins
		)
		page, err := db.SegmentCandidates(ctx, flows.SegmentQuery{Limit: 1})
		if err != nil || len(page) != 1 || page[0].Customer.Ref != "A" || page[0].Event.ID != "a-new" ||
			page[0].Event.Attributes["tier"] != "gold" || page[0].Seq != page[0].Customer.ID {
			t.Fatalf("first page = %+v, %v; want A with a-new", page, err)
		}
		page, err = db.SegmentCandidates(ctx, flows.SegmentQuery{AfterCustomerID: page[0].Seq, Limit: 1})
		if err != nil || len(page) != 1 || page[0].Customer.Ref != "B" || page[0].Event.ID != "b-2" {
			t.Fatalf("second page = %+v, %v; want B with b-2", page, err)
		}
		page, err = db.SegmentCandidates(ctx, flows.SegmentQuery{AfterCustomerID: page[0].Seq, Limit: 1})
		if err != nil || len(page) != 0 {
			t.Fatalf("third page = %+v, %v; want empty (C has no events)", page, err)
		}
		all, err := db.SegmentCandidates(ctx, flows.SegmentQuery{})
		if err != nil || len(all) != 2 {
			t.Fatalf("all = %d candidates, %v; want 2", len(all), err)
		}
	})
}

func TestSQLPlanInvitations(t *testing.T) {
	eachSQL(t, func(t *testing.T, db *DB) {
		ctx := sqlTestCtx(t)
		c, _ := db.UpsertCustomer(ctx, "C-1", "en")
		notBefore := sqlT0.Add(2 * time.Hour)
		invs := []flows.Invitation{
			{WaveID: "w", CustomerID: c.ID, EventID: "e1", SurveyID: "s", NotBefore: notBefore, Context: map[string]string{"store": "SH-01"}},
			{WaveID: "w", CustomerID: c.ID, EventID: "e2", SurveyID: "s"},
			{WaveID: "w", CustomerID: c.ID, EventID: "e3", SurveyID: "s", Status: flows.InvitationSkipped, Error: "opted_out"},
		}
		if n, err := db.PlanInvitations(ctx, invs); err != nil || n != 3 {
			t.Fatalf("PlanInvitations = %d, %v; want 3", n, err)
		}
		again := append(slices.Clone(invs), flows.Invitation{WaveID: "w", CustomerID: c.ID, EventID: "e4", SurveyID: "s"})
		if n, err := db.PlanInvitations(ctx, again); err != nil || n != 1 {
			t.Fatalf("PlanInvitations(again + 1) = %d, %v; want 1", n, err)
		}
		i1, _ := db.InvitationByKey(ctx, "w", c.ID, "e1")
		i2, _ := db.InvitationByKey(ctx, "w", c.ID, "e2")
		i3, _ := db.InvitationByKey(ctx, "w", c.ID, "e3")
		if i1.Status != flows.InvitationPlanned || !sameTime(i1.NotBefore, notBefore) || i1.Context["store"] != "SH-01" || i1.CustomerRef != "C-1" {
			t.Fatalf("e1 = %+v", i1)
		}
		if !sameTime(i2.NotBefore, db.Now()) || !sameTime(i2.CreatedAt, db.Now()) {
			t.Fatalf("e2 = %+v; want not_before = created_at = now", i2)
		}
		if i3.Status != flows.InvitationSkipped || i3.Error != "opted_out" {
			t.Fatalf("e3 = %+v", i3)
		}

		// More than one INSERT's worth.
		many := make([]flows.Invitation, 1234)
		for i := range many {
			many[i] = flows.Invitation{WaveID: "big", CustomerID: c.ID, EventID: fmt.Sprint(i % 1200), SurveyID: "s"}
		}
		if n, err := db.PlanInvitations(ctx, many); err != nil || n != 1200 {
			t.Fatalf("PlanInvitations(1234 with 34 repeats) = %d, %v; want 1200", n, err)
		}

		_, err := db.PlanInvitations(ctx, []flows.Invitation{{WaveID: "w", CustomerID: c.ID, EventID: "x", SurveyID: "s", Status: flows.InvitationSent}})
		wantErrIs(t, "PlanInvitations(status sent)", err, flows.ErrInvalid)
		_, err = db.PlanInvitations(ctx, []flows.Invitation{{WaveID: "w", CustomerID: c.ID, EventID: "x"}})
		wantErrIs(t, "PlanInvitations(no survey)", err, flows.ErrInvalid)
		_, err = db.PlanInvitations(ctx, []flows.Invitation{
			{WaveID: "w", CustomerID: c.ID, EventID: "y", SurveyID: "s"},
			{WaveID: "w", CustomerID: 99999, EventID: "x", SurveyID: "s"},
		})
		wantErrIs(t, "PlanInvitations(unknown customer)", err, flows.ErrNotFound)
		if _, err := db.InvitationByKey(ctx, "w", c.ID, "y"); !errors.Is(err, flows.ErrNotFound) {
			t.Fatalf("a failed PlanInvitations left rows behind: %v", err)
		}
		if n, err := db.PlanInvitations(ctx, nil); err != nil || n != 0 {
			t.Fatalf("PlanInvitations(nil) = %d, %v", n, err)
		}

		// CreateInvitation (the API path) stores NotBefore too.
		inv, _, err := db.CreateInvitation(ctx, flows.Invitation{WaveID: "api", CustomerID: c.ID, EventID: "api-1", SurveyID: "s"})
		if err != nil || !sameTime(inv.NotBefore, inv.CreatedAt) {
			t.Fatalf("CreateInvitation = %+v, %v; want not_before = created_at", inv, err)
		}
	})
}

// openReplicas opens n DBs on one fresh, migrated database.
func openReplicas(t *testing.T, dialect string, n int) []*DB {
	t.Helper()
	var u string
	if dialect == "sqlite" {
		u = filepath.Join(t.TempDir(), "cxbot.db")
	} else {
		u = postgresTestSchemaURL(t)
	}
	dbs := make([]*DB, n)
	for i := range dbs {
		dbs[i] = openTestSQL(t, u)
	}
	if _, err := dbs[0].Migrate(sqlTestCtx(t)); err != nil {
		t.Fatal(err)
	}
	return dbs
}

// TestSQLClaimInvitationsConcurrent: two replicas, eight workers, 1,000 due
// invitations: every row is claimed exactly once.
func TestSQLClaimInvitationsConcurrent(t *testing.T) {
	for _, tdb := range openTestDBs(t) {
		t.Run(tdb.name, func(t *testing.T) {
			ctx := sqlTestCtx(t)
			replicas := openReplicas(t, tdb.name, 2)
			c, err := replicas[0].UpsertCustomer(ctx, "C-1", "en")
			if err != nil {
				t.Fatal(err)
			}
			ids := planTest(t, replicas[0], "w", c.ID, 1000, sqlT0)

			var (
				wg    sync.WaitGroup
				mu    sync.Mutex
				owner = map[int64]string{}
				dups  []int64
			)
			start := make(chan struct{})
			for w := range 8 {
				db, name := replicas[w%2], fmt.Sprintf("replica-%d", w%2)
				wg.Go(func() {
					<-start
					for {
						got, err := db.ClaimInvitations(ctx, name, sqlT0, time.Minute, 7+w)
						if errors.Is(err, flows.ErrUnavailable) && ctx.Err() == nil {
							// SQLite busy past its timeout (eight writers under
							// -race): the scheduler claims again at its next
							// tick, and so does the worker.
							continue
						}
						if err != nil {
							t.Errorf("worker %d: %v", w, err)
							return
						}
						if len(got) == 0 {
							return
						}
						mu.Lock()
						for _, inv := range got {
							if _, taken := owner[inv.ID]; taken {
								dups = append(dups, inv.ID)
							}
							owner[inv.ID] = name
						}
						mu.Unlock()
					}
				})
			}
			close(start)
			wg.Wait()
			if len(dups) > 0 {
				t.Fatalf("rows claimed twice: %v", dups)
			}
			if len(owner) != len(ids) {
				t.Fatalf("claimed %d rows, want %d", len(owner), len(ids))
			}
			perOwner := map[string]int{}
			for _, id := range ids {
				row := rawInvitation(t, replicas[0], id)
				if row.ClaimedBy != owner[id] || row.ClaimUntil == nil || !sameTime(*row.ClaimUntil, sqlT0.Add(time.Minute)) {
					t.Fatalf("row %d: claimed_by %q until %v; the worker saw %q", id, row.ClaimedBy, row.ClaimUntil, owner[id])
				}
				perOwner[row.ClaimedBy]++
			}
			t.Logf("rows per replica: %v", perOwner)
			if more, err := replicas[1].ClaimInvitations(ctx, "late", sqlT0.Add(30*time.Second), time.Minute, 100); err != nil || len(more) != 0 {
				t.Fatalf("claim while every lease is live = %d rows, %v; want none", len(more), err)
			}
		})
	}
}

func TestSQLClaimInvitationsLeaseAndPause(t *testing.T) {
	eachSQL(t, func(t *testing.T, db *DB) {
		ctx := sqlTestCtx(t)
		c, _ := db.UpsertCustomer(ctx, "C-1", "en")
		due := planTest(t, db, "running", c.ID, 3, sqlT0.Add(-time.Minute))
		later := planTest(t, db, "later", c.ID, 1, sqlT0.Add(time.Hour))
		paused := planTest(t, db, "paused", c.ID, 2, sqlT0.Add(-time.Hour))
		for _, w := range []string{"running", "paused"} {
			if _, err := db.SaveWave(ctx, flows.WaveRecord{ID: w, Definition: "id: " + w, Source: flows.WaveSourceFile}); err != nil {
				t.Fatal(err)
			}
		}
		if err := db.SetWavePaused(ctx, "paused", true); err != nil {
			t.Fatal(err)
		}

		got, err := db.ClaimInvitations(ctx, "a", sqlT0, time.Minute, 10)
		if err != nil {
			t.Fatal(err)
		}
		gotIDs := func(invs []flows.Invitation) []int64 {
			var out []int64
			for _, inv := range invs {
				out = append(out, inv.ID)
			}
			return out
		}
		if !slices.Equal(gotIDs(got), due) {
			t.Fatalf("claimed %v; want the due rows of the running wave %v (not later %v, not paused %v)", gotIDs(got), due, later, paused)
		}
		if got[0].CustomerRef != "C-1" || got[0].WaveID != "running" || got[0].Status != flows.InvitationPlanned {
			t.Fatalf("claimed invitation = %+v", got[0])
		}
		// A live lease keeps the rows; an expired one gives them back.
		if again, _ := db.ClaimInvitations(ctx, "b", sqlT0.Add(59*time.Second), time.Minute, 10); len(again) != 0 {
			t.Fatalf("claimed %v during a live lease", gotIDs(again))
		}
		back, err := db.ClaimInvitations(ctx, "b", sqlT0.Add(61*time.Second), time.Minute, 10)
		if err != nil || !slices.Equal(gotIDs(back), due) {
			t.Fatalf("after the lease expired: %v, %v; want %v", gotIDs(back), err, due)
		}
		// The first owner lost its lease.
		err = db.FinishAttempt(ctx, "a", flows.Attempt{InvitationID: due[0], Outcome: "sent"}, flows.InvitationSent, nil)
		wantErrIs(t, "FinishAttempt(lost lease)", err, flows.ErrConflict)
		if err := db.FinishAttempt(ctx, "b", flows.Attempt{InvitationID: due[0], Outcome: "sent"}, flows.InvitationSent, nil); err != nil {
			t.Fatalf("FinishAttempt(owner) = %v", err)
		}

		// Resumed, the paused wave's rows are due; rows of a wave without a
		// record ("later") count as running.
		if err := db.SetWavePaused(ctx, "paused", false); err != nil {
			t.Fatal(err)
		}
		at := sqlT0.Add(2 * time.Hour)
		got, err = db.ClaimInvitations(ctx, "c", at, time.Minute, 2)
		if err != nil || !slices.Equal(gotIDs(got), paused) {
			t.Fatalf("claimed %v, %v; want the resumed wave's %v first (oldest not_before)", gotIDs(got), err, paused)
		}
		got, err = db.ClaimInvitations(ctx, "c", at, time.Minute, 10)
		if err != nil || !slices.Equal(gotIDs(got), append(slices.Clone(due[1:]), later...)) {
			t.Fatalf("claimed %v, %v; want %v then %v", gotIDs(got), err, due[1:], later)
		}

		_, err = db.ClaimInvitations(ctx, "", sqlT0, time.Minute, 1)
		wantErrIs(t, "ClaimInvitations(no owner)", err, flows.ErrInvalid)
		_, err = db.ClaimInvitations(ctx, "x", sqlT0, 0, 1)
		wantErrIs(t, "ClaimInvitations(no lease)", err, flows.ErrInvalid)
	})
}

func TestSQLFinishAttempt(t *testing.T) {
	eachSQL(t, func(t *testing.T, db *DB) {
		ctx := sqlTestCtx(t)
		c, _ := db.UpsertCustomer(ctx, "C-1", "en")
		ids := planTest(t, db, "w", c.ID, 6, sqlT0)
		claim := func(id int64) {
			t.Helper()
			until := sqlT0.Add(time.Hour)
			if err := db.gorm.Model(&invitationRow{}).Where("id = ?", id).
				Updates(map[string]any{"claimed_by": "d", "claim_until": until}).Error; err != nil {
				t.Fatal(err)
			}
		}
		at := sqlT0.Add(time.Minute)

		// sent: sent_at, attempts, claim released, attempt recorded.
		claim(ids[0])
		if err := db.FinishAttempt(ctx, "d", flows.Attempt{InvitationID: ids[0], At: at, Outcome: "sent"}, flows.InvitationSent, nil); err != nil {
			t.Fatal(err)
		}
		row := rawInvitation(t, db, ids[0])
		if row.Status != flows.InvitationSent || row.SentAt == nil || !sameTime(*row.SentAt, at) || row.Attempts != 1 ||
			row.ClaimedBy != "" || row.ClaimUntil != nil {
			t.Fatalf("after sent: %+v", row)
		}
		// Without the claim (already released): the lease is lost.
		err := db.FinishAttempt(ctx, "d", flows.Attempt{InvitationID: ids[0], At: at, Outcome: "sent"}, flows.InvitationSent, nil)
		wantErrIs(t, "FinishAttempt(released)", err, flows.ErrConflict)

		// retry: stays planned, later, counted, last error kept; then a
		// deferral does not count.
		claim(ids[1])
		retry := at.Add(5 * time.Minute)
		a := flows.Attempt{InvitationID: ids[1], At: at, Outcome: "retry", Error: "timeout", RetryAfter: 1500 * time.Millisecond}
		if err := db.FinishAttempt(ctx, "d", a, "", &retry); err != nil {
			t.Fatal(err)
		}
		claim(ids[1])
		quiet := at.Add(10 * time.Hour)
		if err := db.FinishAttempt(ctx, "d", flows.Attempt{InvitationID: ids[1], At: at.Add(time.Second), Outcome: flows.AttemptDeferred}, "", &quiet); err != nil {
			t.Fatal(err)
		}
		inv, _ := db.Invitation(ctx, ids[1])
		if inv.Status != flows.InvitationPlanned || !sameTime(inv.NotBefore, quiet) || inv.Attempts != 1 || inv.SentAt != nil {
			t.Fatalf("after retry and deferral: %+v", inv)
		}
		atts, err := db.Attempts(ctx, ids[1])
		if err != nil || len(atts) != 2 || atts[0].Outcome != "retry" || atts[0].Error != "timeout" ||
			atts[0].RetryAfter != 1500*time.Millisecond || !sameTime(atts[0].At, at) || atts[1].Outcome != flows.AttemptDeferred {
			t.Fatalf("Attempts = %+v, %v", atts, err)
		}

		// failed and skipped keep the reason.
		claim(ids[2])
		if err := db.FinishAttempt(ctx, "d", flows.Attempt{InvitationID: ids[2], At: at, Outcome: "failed", Error: "forbidden: bot was blocked"}, flows.InvitationFailed, nil); err != nil {
			t.Fatal(err)
		}
		claim(ids[3])
		if err := db.FinishAttempt(ctx, "d", flows.Attempt{InvitationID: ids[3], At: at, Outcome: "skipped", Error: "quiet_hours"}, flows.InvitationSkipped, nil); err != nil {
			t.Fatal(err)
		}
		for id, want := range map[int64][2]string{ids[2]: {string(flows.InvitationFailed), "forbidden: bot was blocked"}, ids[3]: {string(flows.InvitationSkipped), "quiet_hours"}} {
			if inv, _ := db.Invitation(ctx, id); string(inv.Status) != want[0] || inv.Error != want[1] || inv.Attempts != 1 || inv.SentAt != nil {
				t.Fatalf("invitation %d = %+v; want %v", id, inv, want)
			}
		}

		// A customer who already answered keeps the invitation started.
		claim(ids[4])
		r, err := db.StartResponse(ctx, flows.Response{InvitationID: ids[4]})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := db.ApplyStep(ctx, flows.StepWrite{ResponseID: r.ID, Answer: &flows.Answer{QuestionID: "q", Kind: flows.KindNPS, Score: sqlScore(9)}}); err != nil {
			t.Fatal(err)
		}
		if err := db.FinishAttempt(ctx, "d", flows.Attempt{InvitationID: ids[4], At: at, Outcome: "sent"}, flows.InvitationSent, nil); err != nil {
			t.Fatal(err)
		}
		if inv, _ := db.Invitation(ctx, ids[4]); inv.Status != flows.InvitationStarted || inv.SentAt == nil {
			t.Fatalf("answered invitation = %+v; want started, sent_at recorded", inv)
		}

		err = db.FinishAttempt(ctx, "d", flows.Attempt{InvitationID: 99999, Outcome: "sent"}, flows.InvitationSent, nil)
		wantErrIs(t, "FinishAttempt(missing)", err, flows.ErrNotFound)
		for name, call := range map[string]func() error{
			"no outcome": func() error { return db.FinishAttempt(ctx, "d", flows.Attempt{InvitationID: ids[5]}, "", nil) },
			"no owner": func() error {
				return db.FinishAttempt(ctx, "", flows.Attempt{InvitationID: ids[5], Outcome: "x"}, "", nil)
			},
			"completed": func() error {
				return db.FinishAttempt(ctx, "d", flows.Attempt{InvitationID: ids[5], Outcome: "x"}, flows.InvitationCompleted, nil)
			},
			"retry and failed": func() error {
				return db.FinishAttempt(ctx, "d", flows.Attempt{InvitationID: ids[5], Outcome: "x"}, flows.InvitationFailed, &at)
			},
		} {
			wantErrIs(t, "FinishAttempt("+name+")", call(), flows.ErrInvalid)
		}
		if n := countRows(t, db, "delivery_attempts"); n != 6 {
			t.Fatalf("delivery_attempts = %d rows; want 6 (refused calls record nothing)", n)
		}
	})
}

func TestSQLSentSinceAndWaveCounts(t *testing.T) {
	eachSQL(t, func(t *testing.T, db *DB) {
		ctx := sqlTestCtx(t)
		c, _ := db.UpsertCustomer(ctx, "C-1", "en")
		other, _ := db.UpsertCustomer(ctx, "C-2", "en")
		ids := planTest(t, db, "w", c.ID, 8, sqlT0)
		if _, err := db.PlanInvitations(ctx, []flows.Invitation{
			{WaveID: "w", CustomerID: other.ID, EventID: "x", SurveyID: "s", Status: flows.InvitationSkipped, Error: "sample"},
		}); err != nil {
			t.Fatal(err)
		}
		day := 24 * time.Hour
		set := func(id int64, status flows.InvitationStatus, sentAt *time.Time) {
			t.Helper()
			if err := db.gorm.Model(&invitationRow{}).Where("id = ?", id).
				Updates(map[string]any{"status": status, "sent_at": nilOr(sentAt)}).Error; err != nil {
				t.Fatal(err)
			}
		}
		ago := func(d time.Duration) *time.Time { v := sqlT0.Add(-d); return &v }
		set(ids[0], flows.InvitationSent, ago(40*day))
		set(ids[1], flows.InvitationSent, ago(2*day))
		set(ids[2], flows.InvitationStarted, ago(1*day))
		set(ids[3], flows.InvitationCompleted, ago(3*day))
		set(ids[4], flows.InvitationExpired, ago(10*day))
		set(ids[5], flows.InvitationFailed, nil)
		set(ids[6], flows.InvitationExpired, nil) // expired before it was ever sent
		// ids[7] stays planned

		// Another wave's sends count for the cap too.
		api, _, err := db.CreateInvitation(ctx, flows.Invitation{WaveID: "api", CustomerID: c.ID, EventID: "api", SurveyID: "s"})
		if err != nil {
			t.Fatal(err)
		}
		set(api.ID, flows.InvitationSent, ago(time.Hour))

		if n, err := db.SentSince(ctx, c.ID, sqlT0.Add(-30*day)); err != nil || n != 5 {
			t.Fatalf("SentSince(30 days) = %d, %v; want 5", n, err)
		}
		if n, _ := db.SentSince(ctx, c.ID, sqlT0.Add(-2*day)); n != 3 {
			t.Fatalf("SentSince(2 days, inclusive) = %d; want 3", n)
		}
		if n, _ := db.SentSince(ctx, other.ID, sqlT0.Add(-30*day)); n != 0 {
			t.Fatalf("SentSince(other) = %d; want 0", n)
		}

		got, err := db.WaveCounts(ctx, "w")
		want := flows.WaveCounts{Planned: 1, Skipped: 1, Sent: 2, Failed: 1, Delivered: 5, Started: 1, Completed: 1, Expired: 2}
		if err != nil || got != want {
			t.Fatalf("flows.WaveCounts = %+v, %v; want %+v", got, err, want)
		}
		if got, err := db.WaveCounts(ctx, "nope"); err != nil || got != (flows.WaveCounts{}) {
			t.Fatalf("flows.WaveCounts(unknown) = %+v, %v", got, err)
		}
	})
}

func nilOr(t *time.Time) any {
	if t == nil {
		return nil
	}
	return sqlTime(*t)
}

func TestSQLRemindersAndExpiries(t *testing.T) {
	eachSQL(t, func(t *testing.T, db *DB) {
		ctx := sqlTestCtx(t)
		c, _ := db.UpsertCustomer(ctx, "C-1", "en")
		// created at sqlT0 (the test clock): 0 sent 30h ago, 1 sent 1h ago,
		// 2 started 30h ago, 3 completed, 4 planned, 5 in another wave.
		ids := planTest(t, db, "w", c.ID, 5, sqlT0)
		otherWave := planTest(t, db, "w2", c.ID, 1, sqlT0)
		upd := func(id int64, set map[string]any) {
			t.Helper()
			if err := db.gorm.Model(&invitationRow{}).Where("id = ?", id).Updates(set).Error; err != nil {
				t.Fatal(err)
			}
		}
		h := time.Hour
		upd(ids[0], map[string]any{"status": flows.InvitationSent, "sent_at": sqlT0.Add(-30 * h)})
		upd(ids[1], map[string]any{"status": flows.InvitationSent, "sent_at": sqlT0.Add(-1 * h)})
		upd(ids[2], map[string]any{"status": flows.InvitationSent, "sent_at": sqlT0.Add(-30 * h)})
		upd(ids[3], map[string]any{"status": flows.InvitationCompleted, "sent_at": sqlT0.Add(-30 * h)})
		upd(otherWave[0], map[string]any{"status": flows.InvitationSent, "sent_at": sqlT0.Add(-30 * h)})
		r2, err := db.StartResponse(ctx, flows.Response{InvitationID: ids[2], StartedAt: sqlT0.Add(-29 * h)})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := db.ApplyStep(ctx, flows.StepWrite{ResponseID: r2.ID, Answer: &flows.Answer{QuestionID: "q", Kind: flows.KindNPS, Score: sqlScore(3)}}); err != nil {
			t.Fatal(err)
		}

		idsOf := func(invs []flows.Invitation) []int64 {
			var out []int64
			for _, inv := range invs {
				out = append(out, inv.ID)
			}
			return out
		}
		due, err := db.DueReminders(ctx, "w", sqlT0.Add(-24*h), 10)
		if err != nil || !slices.Equal(idsOf(due), []int64{ids[0]}) {
			t.Fatalf("DueReminders = %v, %v; want only %d (sent, unanswered, 24h ago)", idsOf(due), err, ids[0])
		}
		if err := db.MarkReminded(ctx, ids[0], sqlT0); err != nil {
			t.Fatal(err)
		}
		if err := db.MarkReminded(ctx, ids[0], sqlT0.Add(h)); err != nil {
			t.Fatal(err)
		}
		if inv, _ := db.Invitation(ctx, ids[0]); inv.RemindedAt == nil || !sameTime(*inv.RemindedAt, sqlT0) {
			t.Fatalf("reminded_at = %v; want the first time kept", inv.RemindedAt)
		}
		if due, _ := db.DueReminders(ctx, "w", sqlT0.Add(-24*h), 10); len(due) != 0 {
			t.Fatalf("DueReminders after reminding = %v", idsOf(due))
		}
		wantErrIs(t, "MarkReminded(missing)", db.MarkReminded(ctx, 99999, sqlT0), flows.ErrNotFound)

		// Expiry: planned ones by created_at, sent and started by sent_at.
		exp, err := db.DueExpiries(ctx, "w", sqlT0.Add(-24*h), 10)
		if err != nil || !slices.Equal(idsOf(exp), []int64{ids[0], ids[2]}) {
			t.Fatalf("DueExpiries(24h ago) = %v, %v; want %d %d", idsOf(exp), err, ids[0], ids[2])
		}
		exp, _ = db.DueExpiries(ctx, "w", sqlT0.Add(time.Minute), 10)
		if !slices.Equal(idsOf(exp), []int64{ids[0], ids[1], ids[2], ids[4]}) {
			t.Fatalf("DueExpiries(now+1m) = %v; want every open one of the wave", idsOf(exp))
		}
		for _, id := range []int64{ids[0], ids[2], ids[3]} {
			if err := db.ExpireInvitation(ctx, id, sqlT0); err != nil {
				t.Fatalf("ExpireInvitation(%d) = %v", id, err)
			}
		}
		if inv, _ := db.Invitation(ctx, ids[2]); inv.Status != flows.InvitationExpired {
			t.Fatalf("started invitation after expiry: %s", inv.Status)
		}
		resp, err := db.ResponseForInvitation(ctx, ids[2])
		if err != nil || resp.ID != r2.ID || resp.Status != flows.ResponseExpired || resp.CompletedAt == nil || !sameTime(*resp.CompletedAt, sqlT0) {
			t.Fatalf("response after expiry = %+v, %v", resp, err)
		}
		if inv, _ := db.Invitation(ctx, ids[3]); inv.Status != flows.InvitationCompleted {
			t.Fatalf("a completed invitation must stay completed, got %s", inv.Status)
		}
		wantErrIs(t, "ExpireInvitation(missing)", db.ExpireInvitation(ctx, 99999, sqlT0), flows.ErrNotFound)
		_, err = db.ResponseForInvitation(ctx, ids[4])
		wantErrIs(t, "ResponseForInvitation(none)", err, flows.ErrNotFound)
	})
}

func TestSQLWaves(t *testing.T) {
	eachSQL(t, func(t *testing.T, db *DB) {
		ctx := sqlTestCtx(t)
		w, err := db.SaveWave(ctx, flows.WaveRecord{ID: "post_purchase", Definition: "id: post_purchase\n", Source: flows.WaveSourceFile})
		if err != nil || w.ID != "post_purchase" || w.Paused || w.Source != flows.WaveSourceFile ||
			!sameTime(w.CreatedAt, db.Now()) || !sameTime(w.UpdatedAt, db.Now()) {
			t.Fatalf("SaveWave = %+v, %v", w, err)
		}
		if err := db.SetWavePaused(ctx, "post_purchase", true); err != nil {
			t.Fatal(err)
		}
		// Reloading the same definition changes nothing; a new one keeps Paused.
		later := sqlT0.Add(time.Hour)
		db.Now = func() time.Time { return later }
		w, err = db.SaveWave(ctx, flows.WaveRecord{ID: "post_purchase", Definition: "id: post_purchase\n", Source: flows.WaveSourceFile})
		if err != nil || !w.Paused || !sameTime(w.UpdatedAt, sqlT0) {
			t.Fatalf("SaveWave(same) = %+v, %v; want paused, updated_at unchanged", w, err)
		}
		w, err = db.SaveWave(ctx, flows.WaveRecord{ID: "post_purchase", Definition: "id: post_purchase\nsample: 50%\n", Source: flows.WaveSourceAPI})
		if err != nil || !w.Paused || w.Source != flows.WaveSourceAPI || !strings.Contains(w.Definition, "50%") ||
			!sameTime(w.CreatedAt, sqlT0) || !sameTime(w.UpdatedAt, later) {
			t.Fatalf("SaveWave(changed) = %+v, %v", w, err)
		}
		if _, err := db.SaveWave(ctx, flows.WaveRecord{ID: "a_first", Definition: "x", Source: flows.WaveSourceAPI, Paused: true}); err != nil {
			t.Fatal(err)
		}
		all, err := db.Waves(ctx)
		if err != nil || len(all) != 2 || all[0].ID != "a_first" || !all[0].Paused || all[1].ID != "post_purchase" {
			t.Fatalf("Waves = %+v, %v", all, err)
		}
		if err := db.SetWavePaused(ctx, "post_purchase", false); err != nil {
			t.Fatal(err)
		}
		if got, err := db.Wave(ctx, "post_purchase"); err != nil || got.Paused {
			t.Fatalf("Wave after resume = %+v, %v", got, err)
		}
		_, err = db.Wave(ctx, "nope")
		wantErrIs(t, "Wave(missing)", err, flows.ErrNotFound)
		wantErrIs(t, "SetWavePaused(missing)", db.SetWavePaused(ctx, "nope", true), flows.ErrNotFound)
		_, err = db.SaveWave(ctx, flows.WaveRecord{Definition: "x", Source: flows.WaveSourceAPI})
		wantErrIs(t, "SaveWave(no id)", err, flows.ErrInvalid)
		_, err = db.SaveWave(ctx, flows.WaveRecord{ID: "x", Definition: "x", Source: "ftp"})
		wantErrIs(t, "SaveWave(bad source)", err, flows.ErrInvalid)
	})
}

// BenchmarkPlanInvitations: planning 100,000 invitations (1,000 customers
// × 100 events) in one PlanInvitations call, as a wave's first run after a
// bulk import. Reports seconds per 100,000.
func BenchmarkPlanInvitations(b *testing.B) {
	const customers, perCustomer = 1000, 100
	for _, tdb := range openTestDBs(b) {
		b.Run(tdb.name, func(b *testing.B) {
			db := tdb.open(b)
			ctx := context.Background()
			if _, err := db.Migrate(ctx); err != nil {
				b.Fatal(err)
			}
			ids := benchCustomers(b, db, customers)
			run := 0
			for b.Loop() {
				run++
				invs := make([]flows.Invitation, 0, customers*perCustomer)
				for _, id := range ids {
					for e := range perCustomer {
						invs = append(invs, flows.Invitation{
							WaveID: fmt.Sprint("bench-", run), CustomerID: id, EventID: fmt.Sprint("evt-", e), SurveyID: "s",
							SurveyVersion: 1, Channel: flows.ChannelTelegram, ExternalID: fmt.Sprint(id), Language: "en",
							Context: map[string]string{"store": "SH-01", "order_id": fmt.Sprint(e)},
						})
					}
				}
				n, err := db.PlanInvitations(ctx, invs)
				if err != nil || n != len(invs) {
					b.Fatalf("PlanInvitations = %d, %v", n, err)
				}
			}
			b.ReportMetric(b.Elapsed().Seconds()/float64(b.N)*100_000/(customers*perCustomer), "s/100k")
		})
	}
}

func benchCustomers(b *testing.B, db *DB, n int) []int64 {
	b.Helper()
	evs := make([]flows.Event, n)
	for i := range evs {
		evs[i] = testEvent(fmt.Sprint("seed-", i), fmt.Sprint("cust-", i), "seed", sqlT0)
	}
	saveEvents(b, db, evs...)
	var ids []int64
	if err := db.gorm.Model(&customerRow{}).Order("id").Pluck("id", &ids).Error; err != nil {
		b.Fatal(err)
	}
	return ids
}

// BenchmarkSaveEvents: batches of 1,000 new events (new customers, a
// Telegram chat each, three attributes), as the API and the CSV import
// send them. Reports events per second.
func BenchmarkSaveEvents(b *testing.B) {
	const batch = 1000
	for _, tdb := range openTestDBs(b) {
		b.Run(tdb.name, func(b *testing.B) {
			db := tdb.open(b)
			ctx := context.Background()
			if _, err := db.Migrate(ctx); err != nil {
				b.Fatal(err)
			}
			n := 0
			for b.Loop() {
				evs := make([]flows.Event, batch)
				for i := range evs {
					n++
					evs[i] = flows.Event{
						ID: fmt.Sprint("ord-", n), CustomerRef: fmt.Sprint("C-", n/2), Touchpoint: "purchase",
						OccurredAt: sqlT0.Add(-time.Duration(n) * time.Second), TelegramChatID: fmt.Sprint(n / 2),
						Language: "zh-CN", TimeZone: "Asia/Shanghai",
						Attributes: map[string]string{"order_id": fmt.Sprint(n), "store": "SH-01", "sku": "A7"},
					}
				}
				res, err := db.SaveEvents(ctx, evs)
				if err != nil || !res[0].Created {
					b.Fatalf("SaveEvents = %v", err)
				}
			}
			b.ReportMetric(float64(b.N*batch)/b.Elapsed().Seconds(), "events/s")
		})
	}
}

// BenchmarkDueEvents: a wave's first run over 100,000 un-invited events
// of its touchpoint (among 200,000): page through them all, 1,000 at a
// time, planning each page as the scheduler does. Reports seconds per run.
func BenchmarkDueEvents(b *testing.B) {
	const total, pageSize = 200_000, 1000
	for _, tdb := range openTestDBs(b) {
		b.Run(tdb.name, func(b *testing.B) {
			db := tdb.open(b)
			ctx := context.Background()
			if _, err := db.Migrate(ctx); err != nil {
				b.Fatal(err)
			}
			for start := 0; start < total; start += pageSize {
				evs := make([]flows.Event, pageSize)
				for i := range evs {
					n := start + i
					evs[i] = testEvent(fmt.Sprint("e-", n), fmt.Sprint("C-", n%20_000), []string{"purchase", "service"}[n%2],
						sqlT0.Add(-time.Duration(total-n)*time.Second))
					evs[i].TelegramChatID = fmt.Sprint(n % 20_000)
				}
				saveEvents(b, db, evs...)
			}
			run := 0
			for b.Loop() {
				run++
				q := flows.EventQuery{WaveID: fmt.Sprint("w-", run), Touchpoint: "purchase",
					OccurredFrom: sqlT0.Add(-7 * 24 * time.Hour), OccurredTo: sqlT0, Limit: pageSize}
				seen := 0
				for {
					page, err := db.DueEvents(ctx, q)
					if err != nil {
						b.Fatal(err)
					}
					invs := make([]flows.Invitation, len(page))
					for i, c := range page {
						q.AfterSeq = c.Seq
						invs[i] = flows.Invitation{WaveID: q.WaveID, CustomerID: c.Customer.ID, EventID: c.Event.ID, SurveyID: "s"}
					}
					if _, err := db.PlanInvitations(ctx, invs); err != nil {
						b.Fatal(err)
					}
					seen += len(page)
					if len(page) < q.Limit {
						break
					}
				}
				if seen != total/2 {
					b.Fatalf("paged through %d events, want %d", seen, total/2)
				}
				// The next run finds nothing left.
				q.AfterSeq = 0
				if page, err := db.DueEvents(ctx, q); err != nil || len(page) != 0 {
					b.Fatalf("second run: %d due, %v", len(page), err)
				}
			}
			b.ReportMetric(b.Elapsed().Seconds()/float64(b.N), "s/run")
		})
	}
}

// Two creates racing with one id: exactly one wins, the other is a conflict.
func TestSQLCreateWaveIsInsertOnly(t *testing.T) {
	eachSQL(t, func(t *testing.T, db *DB) {
		ctx := sqlTestCtx(t)
		var wins, conflicts atomic.Int32
		var wg sync.WaitGroup
		for i := range 8 {
			wg.Go(func() {
				_, err := db.CreateWave(ctx, flows.WaveRecord{ID: "race", Definition: fmt.Sprint("v", i), Source: flows.WaveSourceAPI})
				switch {
				case err == nil:
					wins.Add(1)
				case errors.Is(err, flows.ErrConflict):
					conflicts.Add(1)
				default:
					t.Error(err)
				}
			})
		}
		wg.Wait()
		if wins.Load() != 1 || conflicts.Load() != 7 {
			t.Fatalf("%d creates won, %d conflicts; want 1 and 7", wins.Load(), conflicts.Load())
		}
	})
}

package sqlstore

import (
	"fmt"
	"maps"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"gorm.io/gorm"

	"github.com/cxbot/cxbot/flows"
)

// The schema a fresh install gets must equal the schema an upgraded install
// gets, or code tested on one would meet a different database in the field.
// Upgrades start from databases the GORM-built migrations (before the
// literal SQL files) produced: testdata/gorm_v<N>.<dialect>.sql, dumped
// from that build with rows in every table. The schemas are compared
// through the catalogs, normalised to one line per fact (a column, a key,
// an index), so that how the DDL was spelled does not matter.

// loadFixture runs testdata/<name>.<dialect>.sql on an empty database.
func loadFixture(t *testing.T, db *DB, name string) {
	t.Helper()
	sql, err := os.ReadFile(fmt.Sprintf("testdata/%s.%s.sql", name, db.Dialect()))
	if err != nil {
		t.Fatal(err)
	}
	err = db.conn(sqlTestCtx(t)).Transaction(func(tx *gorm.DB) error { return execScript(tx, string(sql)) })
	if err != nil {
		t.Fatalf("load %s: %v", name, err)
	}
}

// schemaOf describes db's schema as sorted lines, one per table, column,
// constraint, index and sequence.
func schemaOf(t *testing.T, db *DB) []string {
	t.Helper()
	var lines []string
	var err error
	if db.Dialect() == DialectPostgres {
		lines, err = postgresSchema(db.conn(sqlTestCtx(t)))
	} else {
		lines, err = sqliteSchema(db.conn(sqlTestCtx(t)))
	}
	if err != nil {
		t.Fatalf("read schema: %v", err)
	}
	if len(lines) == 0 {
		t.Fatal("read schema: no tables")
	}
	slices.Sort(lines)
	return lines
}

// queryLines runs a catalog query whose columns are all text and formats
// each row with format.
func queryLines(g *gorm.DB, format, query string, args ...any) ([]string, error) {
	rows, err := g.Raw(query, args...).Rows()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", query, err)
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		return nil, err
	}
	var out []string
	for rows.Next() {
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			return nil, err
		}
		for i, v := range vals {
			if b, ok := v.([]byte); ok {
				vals[i] = string(b)
			}
		}
		out = append(out, squeeze(fmt.Sprintf(format, vals...)))
	}
	return out, rows.Err()
}

// squeeze collapses runs of white space, which DDL may spell freely.
func squeeze(s string) string { return strings.Join(strings.Fields(s), " ") }

// postgresSchema reads the current schema (the test's own) from the catalogs.
func postgresSchema(g *gorm.DB) ([]string, error) {
	queries := []struct{ format, sql string }{
		{"%s: table %s", `
SELECT table_name, table_type FROM information_schema.tables WHERE table_schema = current_schema()`},
		// Column order counts (SELECT * and COPY see it), dropped columns do not.
		{"%s: column %02d %s %s%s nullable=%s default=%s identity=%s", `
SELECT table_name,
       row_number() OVER (PARTITION BY table_name ORDER BY ordinal_position),
       column_name, data_type,
       COALESCE('(' || character_maximum_length || ')', ''),
       is_nullable, COALESCE(column_default, '-'), is_identity
FROM information_schema.columns WHERE table_schema = current_schema()`},
		// Primary keys, unique and check constraints, foreign keys with
		// their ON DELETE (NOT NULL is a column property above).
		{"%s: constraint %s %s", `
SELECT cl.relname, co.conname, pg_get_constraintdef(co.oid)
FROM pg_constraint co JOIN pg_class cl ON cl.oid = co.conrelid
WHERE cl.relnamespace = current_schema()::regnamespace AND co.contype <> 'n'`},
		// Indexes other than those behind a constraint, with their columns
		// in order and any predicate.
		{"%s: index %s unique=%v %s (%s) where=%s", `
SELECT t.relname, i.relname, ix.indisunique, am.amname,
       array_to_string(ARRAY(
           SELECT pg_get_indexdef(ix.indexrelid, k, true) FROM generate_series(1, ix.indnatts) k ORDER BY k), ', '),
       COALESCE(pg_get_expr(ix.indpred, ix.indrelid), '-')
FROM pg_index ix
JOIN pg_class i ON i.oid = ix.indexrelid
JOIN pg_class t ON t.oid = ix.indrelid
JOIN pg_am am ON am.oid = i.relam
WHERE t.relnamespace = current_schema()::regnamespace
  AND NOT EXISTS (SELECT 1 FROM pg_constraint co WHERE co.conindid = ix.indexrelid AND co.contype IN ('p', 'u', 'x'))`},
		// Storage parameters (responses' fillfactor): an upgrade that lost
		// one would be slower, not wrong, and would pass everything else.
		{"%s: options %s", `
SELECT relname, array_to_string(reloptions, ',')
FROM pg_class WHERE relnamespace = current_schema()::regnamespace AND reloptions IS NOT NULL`},
		{"sequence %s: %s start=%s increment=%s", `
SELECT sequence_name, data_type, start_value, increment
FROM information_schema.sequences WHERE sequence_schema = current_schema()`},
	}
	var out []string
	for _, q := range queries {
		lines, err := queryLines(g, q.format, q.sql)
		if err != nil {
			return nil, err
		}
		out = append(out, lines...)
	}
	return out, nil
}

// sqliteSchema reads the schema from sqlite_master and the pragmas.
func sqliteSchema(g *gorm.DB) ([]string, error) {
	// AUTOINCREMENT (ids never reused) shows only in the table's SQL.
	out, err := queryLines(g, "%s: %s autoincrement=%v", `
SELECT name, type, COALESCE(upper(sql) LIKE '%AUTOINCREMENT%', 0)
FROM sqlite_master WHERE type IN ('table', 'view', 'trigger') AND name NOT LIKE 'sqlite_%'`)
	if err != nil {
		return nil, err
	}
	var tables []string
	if err := g.Raw(`SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'`).Scan(&tables).Error; err != nil {
		return nil, err
	}
	for _, table := range tables {
		cols, err := queryLines(g, table+": column %02d %s %s notnull=%v default=%s pk=%v", `
SELECT cid + 1, name, lower(type), "notnull", COALESCE(dflt_value, '-'), pk FROM pragma_table_info(?)`, table)
		if err != nil {
			return nil, err
		}
		out = append(out, cols...)

		// A foreign key of several columns is several rows with one id.
		fks, err := queryLines(g, table+": foreign key (%s) REFERENCES %s (%s) ON UPDATE %s ON DELETE %s MATCH %s", `
SELECT group_concat("from", ', '), "table", group_concat("to", ', '), on_update, on_delete, "match"
FROM (SELECT * FROM pragma_foreign_key_list(?) ORDER BY id, seq) GROUP BY id`, table)
		if err != nil {
			return nil, err
		}
		out = append(out, fks...)

		// The primary key's own index is covered by pk= above.
		var indexes []struct {
			Name    string
			Unique  bool
			Origin  string
			Partial bool
		}
		err = g.Raw(`SELECT name, "unique", origin, partial FROM pragma_index_list(?) WHERE origin <> 'pk'`, table).
			Scan(&indexes).Error
		if err != nil {
			return nil, err
		}
		for _, ix := range indexes {
			var cols []string
			err := g.Raw(`
SELECT COALESCE(name, '<expression>') || CASE WHEN "desc" THEN ' DESC' ELSE '' END ||
       CASE WHEN coll <> 'BINARY' THEN ' COLLATE ' || coll ELSE '' END
FROM pragma_index_xinfo(?) WHERE key ORDER BY seqno`, ix.Name).Scan(&cols).Error
			if err != nil {
				return nil, err
			}
			out = append(out, fmt.Sprintf("%s: index %s unique=%v origin=%s partial=%v (%s)",
				table, ix.Name, ix.Unique, ix.Origin, ix.Partial, strings.Join(cols, ", ")))
		}
	}
	return out, nil
}

// schemaDiff lists the lines only in want (-) and only in got (+); both
// are sorted.
func schemaDiff(want, got []string) string {
	var b strings.Builder
	i, j := 0, 0
	for i < len(want) || j < len(got) {
		switch {
		case j == len(got) || (i < len(want) && want[i] < got[j]):
			fmt.Fprintf(&b, "  - %s\n", want[i])
			i++
		case i == len(want) || got[j] < want[i]:
			fmt.Fprintf(&b, "  + %s\n", got[j])
			j++
		default:
			i++
			j++
		}
	}
	return b.String()
}

// freshSchema migrates an empty database of tdb's dialect and returns its schema.
func freshSchema(t *testing.T, tdb testDB) []string {
	t.Helper()
	db := tdb.open(t)
	if _, err := db.Migrate(sqlTestCtx(t)); err != nil {
		t.Fatalf("Migrate (fresh): %v", err)
	}
	return schemaOf(t, db)
}

func TestSQLSchemaDiff(t *testing.T) {
	got := schemaDiff([]string{"a", "b", "d"}, []string{"b", "c", "d", "e"})
	if want := "  - a\n  + c\n  + e\n"; got != want {
		t.Fatalf("schemaDiff = %q, want %q", got, want)
	}
	if d := schemaDiff([]string{"a"}, []string{"a"}); d != "" {
		t.Fatalf("schemaDiff of equal = %q", d)
	}
}

// TestSQLUpgradeFromGORMBuild loads databases the GORM-built migrations
// produced (version 1, and version 3 with rows in every table), migrates
// them, and checks that nothing was lost, that the rows read back through
// the repositories, and that the schema is the one a fresh install gets.
func TestSQLUpgradeFromGORMBuild(t *testing.T) {
	fixtures := []struct {
		name    string
		applied []int
		rows    map[string]int64
		check   func(t *testing.T, db *DB)
	}{
		{
			name: "gorm_v1", applied: migrationsAfter(t, 1),
			rows: map[string]int64{"schema_migrations": int64(latestMigration(t)), "customers": 2, "channel_identities": 2, "surveys": 1,
				"invitations": 2, "responses": 1, "answers": 2, "handoffs": 1,
				"events": 0, "waves": 0, "delivery_attempts": 0},
			check: checkGORMv1Rows,
		},
		{
			name: "gorm_v3", applied: migrationsAfter(t, 3),
			rows: map[string]int64{"schema_migrations": int64(latestMigration(t)), "customers": 2, "channel_identities": 3, "surveys": 1,
				"invitations": 3, "responses": 1, "answers": 2, "handoffs": 1,
				"events": 2, "waves": 1, "delivery_attempts": 2},
			check: checkGORMv3Rows,
		},
	}
	for _, tdb := range openTestDBs(t) {
		t.Run(tdb.name, func(t *testing.T) {
			fresh := freshSchema(t, tdb)
			if tdb.name == "postgres" && !slices.Contains(fresh, "responses: options fillfactor=70") {
				t.Errorf("a fresh schema lacks responses' fillfactor (migration 13)")
			}
			for _, fx := range fixtures {
				t.Run(fx.name, func(t *testing.T) {
					ctx := sqlTestCtx(t)
					db := tdb.open(t)
					loadFixture(t, db, fx.name)
					applied, err := db.Migrate(ctx)
					if err != nil || !slices.Equal(applied, fx.applied) {
						t.Fatalf("Migrate = %v, %v; want %v", applied, err, fx.applied)
					}
					if cur, latest, err := db.SchemaVersion(ctx); err != nil || cur != latest {
						t.Fatalf("SchemaVersion = %d, %d, %v; want the latest", cur, latest, err)
					}
					if got := schemaOf(t, db); !slices.Equal(got, fresh) {
						t.Errorf("schema after upgrading %s differs from a fresh install (- fresh, + upgraded):\n%s",
							fx.name, schemaDiff(fresh, got))
					}
					for table, n := range fx.rows {
						if got := countRows(t, db, table); got != n {
							t.Errorf("%s: %d rows after the upgrade, want %d", table, got, n)
						}
					}
					fx.check(t, db)
				})
			}
		})
	}
}

// checkGORMv1Rows reads back testdata/gorm_v1 after steps 2 and 3: the
// rows as they were, plus what those steps derive (an invitation's
// not_before is its created_at; a chat carries its customer's opt-out).
func checkGORMv1Rows(t *testing.T, db *DB) {
	ctx := sqlTestCtx(t)
	created := sqlT0.Add(-time.Hour)
	sent := created.Add(time.Minute)
	done := sent.Add(2 * time.Minute)

	c1, err := db.CustomerByRef(ctx, "old-1")
	if err != nil || c1.ID != 1 || c1.Language != "en" || c1.TimeZone != "Europe/Berlin" || c1.OptedOutAt != nil || !sameTime(c1.CreatedAt, created) {
		t.Fatalf("CustomerByRef(old-1) = %+v, %v", c1, err)
	}
	ident, owner, err := db.IdentityByExternal(ctx, flows.ChannelWeChat, "oXyZ")
	if err != nil || owner.Ref != "old-2" || ident.Language != "zh-CN" ||
		!sameTimePtr(owner.OptedOutAt, ptrTime(created.Add(30*time.Minute))) || !sameTimePtr(ident.OptedOutAt, owner.OptedOutAt) {
		t.Fatalf("IdentityByExternal(wechat, oXyZ) = %+v, %+v, %v; want old-2's opt-out on the chat too", ident, owner, err)
	}
	if ident, _, err := db.IdentityByExternal(ctx, flows.ChannelTelegram, "7"); err != nil || ident.Username != "anna" || ident.OptedOutAt != nil {
		t.Fatalf("IdentityByExternal(telegram, 7) = %+v, %v", ident, err)
	}

	inv, err := db.Invitation(ctx, 1)
	if err != nil || inv.WaveID != "api" || inv.Status != flows.InvitationCompleted || !sameTimePtr(inv.SentAt, &sent) ||
		!sameTime(inv.NotBefore, created) || inv.Attempts != 0 || inv.Context["order"] != "A-1" {
		t.Fatalf("Invitation(1) = %+v, %v", inv, err)
	}
	claimed, err := db.ClaimInvitations(ctx, "w1", sqlT0, time.Minute, 10)
	if err != nil || len(claimed) != 1 || claimed[0].ID != 2 || claimed[0].CustomerRef != "old-1" {
		t.Fatalf("ClaimInvitations = %+v, %v; want the planned invitation 2", claimed, err)
	}

	r, err := db.ResponseForInvitation(ctx, 1)
	if err != nil || r.ID != 1 || r.Status != flows.ResponseCompleted || !sameTimePtr(r.CompletedAt, &done) {
		t.Fatalf("ResponseForInvitation(1) = %+v, %v", r, err)
	}
	answers, err := db.Answers(ctx, r.ID)
	if err != nil || len(answers) != 2 || answers[0].Score == nil || *answers[0].Score != 2 ||
		answers[0].Class != flows.ClassDetractor || answers[1].Text != "slow" || answers[1].Skipped {
		t.Fatalf("Answers = %+v, %v", answers, err)
	}
	h, err := db.HandoffForResponse(ctx, r.ID)
	if err != nil || h.CustomerRef != "old-1" || h.Score != 2 || h.Comment != "slow" || h.Status != flows.HandoffOpen ||
		!sameTimePtr(h.NotifiedAt, &done) || h.Context["order"] != "A-1" {
		t.Fatalf("HandoffForResponse = %+v, %v", h, err)
	}
	if v, err := db.SaveSurvey(ctx, testSurvey("delivery")); err != nil || v != 2 {
		t.Fatalf("SaveSurvey(changed definition) = %d, %v; want version 2 after the stored 1", v, err)
	}
	checkWritesAfterUpgrade(t, db, 3)
}

// checkGORMv3Rows reads back every row of testdata/gorm_v3.
func checkGORMv3Rows(t *testing.T, db *DB) {
	ctx := sqlTestCtx(t)
	optedOut := sqlT0.Add(5 * time.Minute)

	c1, err := db.CustomerByRef(ctx, "C-1")
	if err != nil || c1.ID != 1 || c1.Language != "zh-CN" || c1.TimeZone != "Asia/Shanghai" || c1.OptedOutAt != nil {
		t.Fatalf("CustomerByRef(C-1) = %+v, %v", c1, err)
	}
	c2, err := db.Customer(ctx, 2)
	if err != nil || c2.Ref != "C-2" || !sameTimePtr(c2.OptedOutAt, &optedOut) {
		t.Fatalf("Customer(2) = %+v, %v", c2, err)
	}
	for _, want := range []struct {
		ch       flows.Channel
		id       string
		owner    string
		optedOut *time.Time
	}{
		{flows.ChannelTelegram, "42", "C-1", nil},
		{flows.ChannelWeChat, "oAbC", "C-1", nil},
		{flows.ChannelTelegram, "43", "C-2", &optedOut},
	} {
		ident, owner, err := db.IdentityByExternal(ctx, want.ch, want.id)
		if err != nil || owner.Ref != want.owner || !sameTimePtr(ident.OptedOutAt, want.optedOut) || ident.UnreachableAt != nil {
			t.Errorf("IdentityByExternal(%s, %s) = %+v, %+v, %v", want.ch, want.id, ident, owner, err)
		}
	}

	e, err := db.Event(ctx, "ord-1001-delivered")
	if err != nil || e.CustomerRef != "C-1" || e.Touchpoint != "purchase" || !sameTime(e.OccurredAt, sqlT0.Add(-2*time.Hour)) ||
		e.TelegramChatID != "42" || e.WeChatOpenID != "oAbC" || e.TimeZone != "Asia/Shanghai" ||
		!maps.Equal(e.Attributes, map[string]string{"order_id": "1001", "store": "SH-01"}) {
		t.Fatalf("Event = %+v, %v", e, err)
	}
	due, err := db.DueEvents(ctx, flows.EventQuery{WaveID: "w-later", Touchpoint: "purchase",
		OccurredFrom: sqlT0.Add(-3 * time.Hour), OccurredTo: sqlT0, Limit: 10})
	if err != nil || len(due) != 2 || due[0].Event.ID != "ord-1001-delivered" || due[1].Customer.Ref != "C-2" {
		t.Fatalf("DueEvents = %+v, %v", due, err)
	}
	w, err := db.Wave(ctx, "w-delivery")
	if err != nil || w.Definition != "id: w-delivery\nsurvey: delivery\n" || w.Source != flows.WaveSourceFile || w.Paused {
		t.Fatalf("Wave = %+v, %v", w, err)
	}
	if n, err := db.WaveCounts(ctx, "w-delivery"); err != nil || n.Planned != 1 || n.Completed != 1 || n.Delivered != 1 {
		t.Fatalf("WaveCounts = %+v, %v", n, err)
	}

	inv1, err := db.InvitationByKey(ctx, "w-delivery", 1, "ord-1001-delivered")
	if err != nil || inv1.ID != 1 || inv1.Status != flows.InvitationCompleted || inv1.Attempts != 1 || inv1.SentAt == nil ||
		!sameTime(inv1.NotBefore, sqlT0.Add(-time.Minute)) || inv1.Context["order_id"] != "1001" {
		t.Fatalf("InvitationByKey(w-delivery, 1) = %+v, %v", inv1, err)
	}
	inv2, err := db.Invitation(ctx, 2)
	if err != nil || inv2.Status != flows.InvitationPlanned || inv2.Error != "429 Too Many Requests" || inv2.Attempts != 1 ||
		!sameTime(inv2.NotBefore, sqlT0.Add(30*time.Second)) {
		t.Fatalf("Invitation(2) = %+v, %v", inv2, err)
	}
	if api, err := db.InvitationByKey(ctx, flows.WaveAPI, 2, "api-1"); err != nil || api.ID != 3 || api.Status != flows.InvitationSent {
		t.Fatalf("InvitationByKey(api) = %+v, %v", api, err)
	}
	attempts, err := db.Attempts(ctx, 2)
	if err != nil || len(attempts) != 1 || attempts[0].Outcome != "rate_limited" || attempts[0].RetryAfter != 30*time.Second ||
		attempts[0].Error != "429 Too Many Requests" {
		t.Fatalf("Attempts(2) = %+v, %v", attempts, err)
	}
	if attempts, err := db.Attempts(ctx, 1); err != nil || len(attempts) != 1 || attempts[0].Outcome != "sent" {
		t.Fatalf("Attempts(1) = %+v, %v", attempts, err)
	}
	claimed, err := db.ClaimInvitations(ctx, "w1", sqlT0.Add(time.Minute), time.Minute, 10)
	if err != nil || len(claimed) != 1 || claimed[0].ID != 2 {
		t.Fatalf("ClaimInvitations = %+v, %v; want the retry of invitation 2", claimed, err)
	}

	r, err := db.ResponseForInvitation(ctx, 1)
	if err != nil || r.ID != 1 || r.Status != flows.ResponseCompleted || r.Language != "zh-CN" ||
		!sameTime(r.StartedAt, sqlT0.Add(time.Minute)) || !sameTimePtr(r.CompletedAt, ptrTime(sqlT0.Add(3*time.Minute))) {
		t.Fatalf("ResponseForInvitation(1) = %+v, %v", r, err)
	}
	answers, err := db.Answers(ctx, r.ID)
	if err != nil || len(answers) != 2 || answers[0].QuestionID != "nps" || answers[0].Score == nil || *answers[0].Score != 3 ||
		answers[1].QuestionID != "why" || answers[1].Text != "late and cold" {
		t.Fatalf("Answers = %+v, %v", answers, err)
	}
	h, err := db.HandoffForResponse(ctx, r.ID)
	if err != nil || h.ID != 1 || h.CustomerRef != "C-1" || h.Comment != "late and cold" || h.Status != flows.HandoffOpen ||
		!sameTimePtr(h.NotifiedAt, ptrTime(sqlT0.Add(4*time.Minute))) || h.Context["order_id"] != "1001" {
		t.Fatalf("HandoffForResponse = %+v, %v", h, err)
	}
	// The stored survey is the one testSurvey describes, so it is unchanged.
	if v, err := db.SaveSurvey(ctx, testSurvey("delivery")); err != nil || v != 1 {
		t.Fatalf("SaveSurvey(same definition) = %d, %v; want the stored version 1", v, err)
	}
	checkWritesAfterUpgrade(t, db, 3)
}

// checkWritesAfterUpgrade writes new rows: ids continue after the
// fixture's (its sequences came along), nextCustomer being the next
// customer id.
func checkWritesAfterUpgrade(t *testing.T, db *DB, nextCustomer int64) {
	ctx := sqlTestCtx(t)
	res, err := db.SaveEvents(ctx, []flows.Event{{ID: "after-upgrade", CustomerRef: "NEW-1", Touchpoint: "purchase",
		OccurredAt: sqlT0, TelegramChatID: "9001"}})
	if err != nil || res[0].Err != nil || !res[0].Created {
		t.Fatalf("SaveEvents after the upgrade = %+v, %v", res, err)
	}
	c, err := db.CustomerByRef(ctx, "NEW-1")
	if err != nil || c.ID != nextCustomer {
		t.Fatalf("new customer = %+v, %v; want id %d", c, err, nextCustomer)
	}
	if _, _, err := db.CreateInvitation(ctx, flows.Invitation{WaveID: flows.WaveAPI, CustomerID: c.ID, EventID: "after-upgrade",
		SurveyID: "delivery", Channel: flows.ChannelTelegram, ExternalID: "9001"}); err != nil {
		t.Fatalf("CreateInvitation after the upgrade: %v", err)
	}
}

func ptrTime(t time.Time) *time.Time { return &t }

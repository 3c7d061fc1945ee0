package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cxbot/cxbot/flows"
	"github.com/cxbot/cxbot/store/sqlstore"
)

// importEvents runs "cxbot events import" against the SQLite file dbPath.
func importEvents(t *testing.T, dbPath string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errOut bytes.Buffer
	env := envOf(map[string]string{"CXBOT_DATABASE_URL": dbPath, "CXBOT_LOG_LEVEL": "warn"})
	code = run(context.Background(), append([]string{"events", "import"}, args...), env, &out, &errOut)
	return code, out.String(), errOut.String()
}

func openImported(t *testing.T, dbPath string) *sqlstore.DB {
	t.Helper()
	db, err := sqlstore.Open(context.Background(), dbPath, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func TestEventsImport(t *testing.T) {
	dbPath := filepath.Join(t.TempDir(), "cxbot.db")
	code, out, errOut := importEvents(t, dbPath, "--migrate", "testdata/events_good.csv")
	if code != 0 {
		t.Fatalf("exit %d\nstdout: %s\nstderr: %s", code, out, errOut)
	}
	if !strings.Contains(out, "4 rows: 3 created, 1 duplicates (stored before), 0 rejected") {
		t.Fatalf("stdout = %q", out)
	}

	db := openImported(t, dbPath)
	ctx := context.Background()
	e, err := db.Event(ctx, "ord-1002-delivered")
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"order_id": "1002", "store": "SH-02, Pudong", "sku": "B1"}
	if e.CustomerRef != "C-2" || e.Touchpoint != "purchase" || e.TelegramChatID != "43" || e.Language != "en" ||
		e.TimeZone != "Europe/Berlin" || len(e.Attributes) != 3 || e.Attributes["store"] != want["store"] ||
		e.Attributes["order_id"] != "1002" || e.Attributes["sku"] != "B1" ||
		!e.OccurredAt.Equal(time.Date(2026, 1, 20, 2, 0, 0, 0, time.UTC)) {
		t.Fatalf("event = %+v", e)
	}
	if e, _ := db.Event(ctx, "ticket-7-closed"); e.WeChatOpenID != "oAbC123" || len(e.Attributes) != 0 {
		t.Fatalf("event with empty attribute cells = %+v; want no attributes", e)
	}
	if c, err := db.CustomerByRef(ctx, "C-1"); err != nil || c.TimeZone != "Asia/Shanghai" || c.Language != "zh-CN" {
		t.Fatalf("customer C-1 = %+v, %v", c, err)
	}
	if _, c, err := db.IdentityByExternal(ctx, flows.ChannelWeChat, "oAbC123"); err != nil || c.Ref != "C-1" {
		t.Fatalf("openid oAbC123 = %+v, %v", c, err)
	}

	// Importing again adds nothing.
	code, out, errOut = importEvents(t, dbPath, "testdata/events_good.csv")
	if code != 0 || !strings.Contains(out, "4 rows: 0 created, 4 duplicates (stored before), 0 rejected") {
		t.Fatalf("second import: exit %d\nstdout: %s\nstderr: %s", code, out, errOut)
	}
}

func TestEventsImportBadRows(t *testing.T) {
	dbPath := filepath.Join(t.TempDir(), "cxbot.db")
	code, out, errOut := importEvents(t, dbPath, "testdata/events_bad.csv", "--migrate")
	if code != 1 {
		t.Fatalf("exit %d, want 1 (bad rows)\nstdout: %s\nstderr: %s", code, out, errOut)
	}
	wantLines := []string{
		"testdata/events_bad.csv: 9 rows: 3 created, 0 duplicates (stored before), 6 rejected",
		"line 3: customer_ref is required",
		`line 4: occurred_at "yesterday" is not RFC 3339`,
		`line 5: telegram_chat_id "abc" is not a Telegram chat id`,
		`line 6: timezone "Mars/Olympus" is not an IANA time zone`,
		"line 7: has 6 fields, the header has 7",
		`line 10: occurred_at "2099-01-01T00:00:00Z" is more than a day in the future`,
	}
	got := strings.Split(strings.TrimSpace(out), "\n")
	if len(got) != len(wantLines) {
		t.Fatalf("stdout has %d lines, want %d:\n%s", len(got), len(wantLines), out)
	}
	for i, w := range wantLines {
		if !strings.HasPrefix(got[i], w) {
			t.Errorf("stdout line %d = %q, want it to start with %q", i+1, got[i], w)
		}
	}
	if !strings.Contains(errOut, "6 of 9 rows were rejected") {
		t.Errorf("stderr = %q", errOut)
	}

	// The good rows are stored, including the quoted field spanning two lines.
	db := openImported(t, dbPath)
	ctx := context.Background()
	for _, id := range []string{"e-1", "e-7", "e-9"} {
		if _, err := db.Event(ctx, id); err != nil {
			t.Errorf("event %s: %v", id, err)
		}
	}
	if e, _ := db.Event(ctx, "e-7"); e.Attributes["store"] != "multi\nline store" {
		t.Errorf("e-7 store = %q", e.Attributes["store"])
	}
	if _, err := db.Event(ctx, "e-3"); !errors.Is(err, flows.ErrNotFound) {
		t.Errorf("rejected row e-3 was stored: %v", err)
	}
}

func TestEventsImportRefusals(t *testing.T) {
	dbPath := filepath.Join(t.TempDir(), "cxbot.db")
	for _, tc := range []struct {
		name string
		args []string
		code int
		want string
	}{
		{"no customer column", []string{"--migrate", "testdata/events_no_customer.csv"}, 1, "the header has no column customer_ref"},
		{"missing file", []string{"--migrate", "testdata/nope.csv"}, 1, "no such file"},
		{"no file", []string{"--migrate"}, 1, "give exactly one CSV file"},
		{"two files", []string{"a.csv", "b.csv"}, 1, "give exactly one CSV file (got 2)"},
		{"batch", []string{"--batch", "5000", "testdata/events_good.csv"}, 1, "--batch 5000 is out of range"},
		{"help", []string{"--help"}, 0, "Usage: cxbot events import FILE.csv"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, out, errOut := importEvents(t, dbPath, tc.args...)
			if code != tc.code || !strings.Contains(out+errOut, tc.want) {
				t.Fatalf("exit %d, want %d with %q\nstdout: %s\nstderr: %s", code, tc.code, tc.want, out, errOut)
			}
		})
	}

	// An outdated schema is refused with the way out.
	code, _, errOut := importEvents(t, filepath.Join(t.TempDir(), "fresh.db"), "testdata/events_good.csv")
	if code != 1 || !strings.Contains(errOut, "cxbot migrate") {
		t.Fatalf("import into an unmigrated database: exit %d, stderr %s", code, errOut)
	}

	var out, errOut2 bytes.Buffer
	if code := run(context.Background(), []string{"events"}, envOf(nil), &out, &errOut2); code != 1 ||
		!strings.Contains(errOut2.String(), "missing subcommand") {
		t.Fatalf("cxbot events: exit %d, stderr %s", code, errOut2.String())
	}
	if code := run(context.Background(), []string{"events", "help"}, envOf(nil), &out, &errOut2); code != 0 ||
		!strings.Contains(out.String(), "import") {
		t.Fatalf("cxbot events help: exit %d, stdout %s", code, out.String())
	}
}

// TestEventsImportLarge imports a generated file in several batches, with
// the periodic progress line a non-terminal gets.
func TestEventsImportLarge(t *testing.T) {
	if testing.Short() {
		t.Skip("large import")
	}
	dir := t.TempDir()
	const n = 10_500
	var b strings.Builder
	b.WriteString("id,customer_ref,touchpoint,occurred_at,telegram_chat_id,order_id,store\n")
	for i := range n {
		fmt.Fprintf(&b, "ord-%d,C-%d,purchase,2026-01-20T09:%02d:00+08:00,%d,%d,SH-%02d\n", i, i%3000, i%60, 100000+i%3000, i, i%20)
	}
	csvPath := filepath.Join(dir, "events.csv")
	if err := os.WriteFile(csvPath, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	dbPath := filepath.Join(dir, "cxbot.db")
	start := time.Now()
	code, out, errOut := importEvents(t, dbPath, "--migrate", "--batch", "500", csvPath)
	if code != 0 || !strings.Contains(out, fmt.Sprintf("%d rows: %d created, 0 duplicates", n, n)) {
		t.Fatalf("exit %d\nstdout: %s\nstderr: %s", code, out, errOut)
	}
	t.Logf("imported %d rows in %v", n, time.Since(start).Round(time.Millisecond))
	if !strings.Contains(errOut, "events import: 10000 rows read (10000 created, 0 duplicates, 0 rejected)") {
		t.Errorf("stderr has no progress line: %q", errOut)
	}
	code, out, _ = importEvents(t, dbPath, csvPath)
	if code != 0 || !strings.Contains(out, fmt.Sprintf("%d rows: 0 created, %d duplicates", n, n)) {
		t.Fatalf("second import: exit %d, stdout %s", code, out)
	}
}

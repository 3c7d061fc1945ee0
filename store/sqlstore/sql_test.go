package sqlstore

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"io"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/cxbot/cxbot/flows"
)

// Store tests run on SQLite and on PostgreSQL. PostgreSQL comes from
// CXBOT_TEST_POSTGRES_URL (e.g.
// postgres://postgres@127.0.0.1:5432/test?sslmode=disable); each database a
// test opens lives in a fresh schema dropped afterwards, so runs do not
// interfere. Without the variable the PostgreSQL cases are skipped, except
// under CI (CI non-empty), where skipping would hide a broken setup.

const postgresURLEnv = "CXBOT_TEST_POSTGRES_URL"

// testDB opens one empty database of one dialect; every call is a new one.
type testDB struct {
	name string
	open func(tb testing.TB) *DB
}

// openTestDBs returns the dialects to run a test on, as subtests:
//
//	for _, tdb := range openTestDBs(t) {
//		t.Run(tdb.name, func(t *testing.T) { db := tdb.open(t); ... })
//	}
func openTestDBs(tb testing.TB) []testDB {
	tb.Helper()
	return []testDB{
		{name: "sqlite", open: openSQLiteTestDB},
		{name: "postgres", open: openPostgresTestDB},
	}
}

// eachSQL runs fn on a fresh, migrated database of every dialect.
func eachSQL(t *testing.T, fn func(t *testing.T, db *DB)) {
	t.Helper()
	for _, tdb := range openTestDBs(t) {
		t.Run(tdb.name, func(t *testing.T) {
			db := tdb.open(t)
			if _, err := db.Migrate(sqlTestCtx(t)); err != nil {
				t.Fatalf("Migrate: %v", err)
			}
			fn(t, db)
		})
	}
}

func quietLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func openSQLiteTestDB(tb testing.TB) *DB {
	tb.Helper()
	return openTestSQL(tb, filepath.Join(tb.TempDir(), "cxbot.db"))
}

// openTestSQL opens url with a fixed clock and closes it at cleanup.
func openTestSQL(tb testing.TB, url string) *DB {
	tb.Helper()
	db, err := Open(context.Background(), url, quietLogger())
	if err != nil {
		tb.Fatalf("OpenSQL: %v", err)
	}
	clock := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	db.Now = func() time.Time { return clock }
	tb.Cleanup(func() { _ = db.Close() })
	return db
}

// postgresTestURL returns the server to test against, or skips (fails under CI).
func postgresTestURL(tb testing.TB) string {
	tb.Helper()
	u := os.Getenv(postgresURLEnv)
	if u == "" {
		if os.Getenv("CI") != "" {
			tb.Fatalf("%s is not set; CI must run the PostgreSQL store tests", postgresURLEnv)
		}
		tb.Skipf("%s not set", postgresURLEnv)
	}
	return u
}

// openPostgresTestDB creates a schema cx_test_<random> and opens a DB whose
// connections use it as search_path.
func openPostgresTestDB(tb testing.TB) *DB {
	tb.Helper()
	return openTestSQL(tb, postgresTestSchemaURL(tb))
}

// postgresTestSchemaURL creates a fresh schema (dropped at cleanup) and
// returns a URL that selects it; several DBs may be opened on it.
func postgresTestSchemaURL(tb testing.TB) string {
	tb.Helper()
	base := postgresTestURL(tb)
	var b [6]byte
	if _, err := rand.Read(b[:]); err != nil {
		tb.Fatal(err)
	}
	schema := "cx_test_" + hex.EncodeToString(b[:])

	admin, err := Open(context.Background(), base, quietLogger())
	if err != nil {
		tb.Fatalf("open PostgreSQL: %v", err)
	}
	if err := admin.gorm.Exec("CREATE SCHEMA " + schema).Error; err != nil {
		_ = admin.Close()
		tb.Fatalf("create schema: %v", err)
	}
	// Registered first, so it runs after the test's DBs are closed.
	tb.Cleanup(func() {
		defer admin.Close()
		if err := admin.gorm.Exec("DROP SCHEMA " + schema + " CASCADE").Error; err != nil {
			tb.Errorf("drop schema %s: %v", schema, err)
		}
	})

	u, err := url.Parse(base)
	if err != nil {
		tb.Fatalf("parse %s: %v", postgresURLEnv, err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
}

func sqlTestCtx(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func latestMigration() int {
	steps := sqlMigrations()
	return steps[len(steps)-1].version
}

func allMigrations() []int {
	var out []int
	for _, s := range sqlMigrations() {
		out = append(out, s.version)
	}
	return out
}

func TestSQLMigrationsAreOrdered(t *testing.T) {
	steps := sqlMigrations()
	for i, s := range steps {
		if s.version != i+1 || s.name == "" || s.up == nil {
			t.Fatalf("step %d: version %d name %q: steps must be numbered 1, 2, … with a name and a function", i, s.version, s.name)
		}
	}
}

func TestSQLMigrate(t *testing.T) {
	for _, tdb := range openTestDBs(t) {
		t.Run(tdb.name, func(t *testing.T) {
			ctx := sqlTestCtx(t)
			db := tdb.open(t)
			if db.Dialect() != tdb.name {
				t.Errorf("Dialect = %q, want %q", db.Dialect(), tdb.name)
			}

			cur, latest, err := db.SchemaVersion(ctx)
			if err != nil || cur != 0 || latest != latestMigration() {
				t.Fatalf("SchemaVersion before = %d, %d, %v; want 0, %d, nil", cur, latest, err, latestMigration())
			}

			applied, err := db.Migrate(ctx)
			if err != nil {
				t.Fatalf("Migrate: %v", err)
			}
			if !slices.Equal(applied, allMigrations()) {
				t.Fatalf("first Migrate applied %v, want %v", applied, allMigrations())
			}
			for _, table := range []string{"schema_migrations", "customers", "channel_identities", "surveys",
				"invitations", "responses", "answers", "handoffs"} {
				if !db.gorm.Migrator().HasTable(table) {
					t.Errorf("table %s missing after Migrate", table)
				}
			}

			applied, err = db.Migrate(ctx)
			if err != nil || len(applied) != 0 {
				t.Fatalf("second Migrate = %v, %v; want nothing applied", applied, err)
			}
			cur, latest, err = db.SchemaVersion(ctx)
			if err != nil || cur != latest || latest != latestMigration() {
				t.Fatalf("SchemaVersion after = %d, %d, %v; want %d, %d", cur, latest, err, latestMigration(), latestMigration())
			}
			var n int64
			if err := db.gorm.Model(&schemaMigrationRow{}).Count(&n).Error; err != nil || int(n) != len(allMigrations()) {
				t.Fatalf("schema_migrations rows = %d, %v; want %d", n, err, len(allMigrations()))
			}
		})
	}
}

// TestSQLMigrateConcurrent starts four "replicas" (separate pools on the
// same database) migrating at once: each step must be applied exactly once
// and nobody may fail.
func TestSQLMigrateConcurrent(t *testing.T) {
	urls := map[string]func(t *testing.T) string{
		"sqlite":   func(t *testing.T) string { return filepath.Join(t.TempDir(), "cxbot.db") },
		"postgres": func(t *testing.T) string { return postgresTestSchemaURL(t) },
	}
	for _, tdb := range openTestDBs(t) {
		t.Run(tdb.name, func(t *testing.T) {
			ctx := sqlTestCtx(t)
			u := urls[tdb.name](t)
			const replicas = 4
			dbs := make([]*DB, replicas)
			for i := range dbs {
				dbs[i] = openTestSQL(t, u)
			}
			var (
				wg      sync.WaitGroup
				mu      sync.Mutex
				applied []int
				errs    []error
			)
			start := make(chan struct{})
			for _, db := range dbs {
				wg.Go(func() {
					<-start
					a, err := db.Migrate(ctx)
					mu.Lock()
					defer mu.Unlock()
					applied = append(applied, a...)
					if err != nil {
						errs = append(errs, err)
					}
				})
			}
			close(start)
			wg.Wait()
			if len(errs) > 0 {
				t.Fatalf("concurrent Migrate errors: %v", errs)
			}
			slices.Sort(applied)
			if !slices.Equal(applied, allMigrations()) {
				t.Fatalf("steps applied across replicas = %v, want each of %v once", applied, allMigrations())
			}
			cur, _, err := dbs[0].SchemaVersion(ctx)
			if err != nil || cur != latestMigration() {
				t.Fatalf("SchemaVersion = %d, %v", cur, err)
			}
		})
	}
}

func TestSQLOpenUnavailable(t *testing.T) {
	ctx := sqlTestCtx(t)
	// Nothing listens on port 1.
	_, err := Open(ctx, "postgres://postgres@127.0.0.1:1/test?sslmode=disable&connect_timeout=2", quietLogger())
	if !errors.Is(err, flows.ErrUnavailable) {
		t.Fatalf("Open(unreachable) = %v, want ErrUnavailable", err)
	}
	_, err = Open(ctx, "mysql://localhost/cx", quietLogger())
	if !errors.Is(err, flows.ErrInvalid) {
		t.Fatalf("Open(mysql://) = %v, want ErrInvalid", err)
	}
}

func TestSQLClosedDB(t *testing.T) {
	for _, tdb := range openTestDBs(t) {
		t.Run(tdb.name, func(t *testing.T) {
			ctx := sqlTestCtx(t)
			db := tdb.open(t)
			if err := db.Ping(ctx); err != nil {
				t.Fatalf("Ping: %v", err)
			}
			_ = db.Close()
			if err := db.Ping(ctx); !errors.Is(err, flows.ErrUnavailable) {
				t.Fatalf("Ping after Close = %v, want ErrUnavailable", err)
			}
			if _, err := db.Customer(ctx, 1); !errors.Is(err, flows.ErrUnavailable) {
				t.Fatalf("Customer after Close = %v, want ErrUnavailable", err)
			}
		})
	}
}

package sqlstore

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"maps"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/fstest"
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

// testMigrations returns the embedded steps.
func testMigrations(tb testing.TB) []sqlMigration {
	tb.Helper()
	steps, err := sqlMigrations()
	if err != nil {
		tb.Fatalf("sqlMigrations: %v", err)
	}
	return steps
}

func latestMigration(tb testing.TB) int {
	steps := testMigrations(tb)
	return steps[len(steps)-1].version
}

func allMigrations(tb testing.TB) []int {
	var out []int
	for _, s := range testMigrations(tb) {
		out = append(out, s.version)
	}
	return out
}

// hasTable reports whether the database has the table, through the
// dialect's own catalog query.
func hasTable(tb testing.TB, db *DB, table string) bool {
	tb.Helper()
	var n int
	if err := db.gorm.Raw(db.dialect.tableExists, table).Scan(&n).Error; err != nil {
		tb.Fatalf("look for table %s: %v", table, err)
	}
	return n > 0
}

func TestSQLMigrationsAreOrdered(t *testing.T) {
	steps := testMigrations(t)
	for i, s := range steps {
		if s.version != i+1 || s.name == "" || s.sql[DialectPostgres] == "" || s.sql[DialectSQLite] == "" {
			t.Fatalf("step %d: version %d name %q: steps must be numbered 1, 2, … with a name and SQL for each dialect", i, s.version, s.name)
		}
	}
}

// TestSQLMigrationFiles checks the folder itself: every file is named
// NNNN_name.<dialect>.sql, every version has a file per dialect under one
// name, and the versions run 1, 2, … without gaps.
func TestSQLMigrationFiles(t *testing.T) {
	entries, err := fs.ReadDir(migrationFiles, "migrations")
	if err != nil {
		t.Fatal(err)
	}
	files := map[int]map[string]string{} // version → dialect → name
	for _, e := range entries {
		v, name, dialect, ok := parseMigrationFileName(e.Name())
		if !ok {
			t.Errorf("migrations/%s: want NNNN_name.postgres.sql or NNNN_name.sqlite.sql", e.Name())
			continue
		}
		if files[v] == nil {
			files[v] = map[string]string{}
		}
		files[v][dialect] = name
	}
	for v := 1; v <= len(files); v++ {
		names, ok := files[v]
		if !ok {
			t.Errorf("version %d has no files: versions must run 1, 2, … without gaps (have %v)", v, slices.Sorted(maps.Keys(files)))
			continue
		}
		if names[DialectPostgres] == "" || names[DialectSQLite] == "" || names[DialectPostgres] != names[DialectSQLite] {
			t.Errorf("version %d: files %v; want one .postgres.sql and one .sqlite.sql under the same name", v, names)
		}
	}
	if len(files) < 3 {
		t.Errorf("%d versions embedded; versions 1-3 shipped already", len(files))
	}
}

// TestSQLReadMigrationsRejects: a folder that would migrate the dialects
// differently is refused before anything runs.
func TestSQLReadMigrationsRejects(t *testing.T) {
	file := func(sql string) *fstest.MapFile { return &fstest.MapFile{Data: []byte(sql)} }
	for name, tc := range map[string]struct {
		fsys fstest.MapFS
		want string // in the error
	}{
		"empty":      {fstest.MapFS{"m": &fstest.MapFile{Mode: fs.ModeDir}}, "no files"},
		"not sql":    {fstest.MapFS{"m/README": file("notes")}, "README: want NNNN_name"},
		"no version": {fstest.MapFS{"m/initial.postgres.sql": file("SELECT 1"), "m/initial.sqlite.sql": file("SELECT 1")}, "want NNNN_name"},
		"bad number": {fstest.MapFS{"m/1_a.postgres.sql": file("SELECT 1"), "m/1_a.sqlite.sql": file("SELECT 1")}, "want NNNN_name"},
		"dialect":    {fstest.MapFS{"m/0001_a.mysql.sql": file("SELECT 1")}, "want NNNN_name"},
		"missing dialect": {fstest.MapFS{
			"m/0001_a.postgres.sql": file("SELECT 1"), "m/0001_a.sqlite.sql": file("SELECT 1"),
			"m/0002_b.postgres.sql": file("SELECT 1"),
		}, "migration 2 (b): the sqlite file is missing"},
		"empty file": {fstest.MapFS{"m/0001_a.postgres.sql": file(" \n"), "m/0001_a.sqlite.sql": file("SELECT 1")},
			"the postgres file is missing or empty"},
		"gap": {fstest.MapFS{
			"m/0001_a.postgres.sql": file("SELECT 1"), "m/0001_a.sqlite.sql": file("SELECT 1"),
			"m/0003_c.postgres.sql": file("SELECT 1"), "m/0003_c.sqlite.sql": file("SELECT 1"),
		}, "migration 2 is missing"},
		"two names": {fstest.MapFS{"m/0001_a.postgres.sql": file("SELECT 1"), "m/0001_b.sqlite.sql": file("SELECT 1")},
			`named both "a" and "b"`},
	} {
		steps, err := readMigrations(tc.fsys, "m")
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: readMigrations = %d steps, %v; want an error with %q", name, len(steps), err, tc.want)
		}
	}
	steps, err := readMigrations(fstest.MapFS{
		"m/0001_first_step.postgres.sql": file("CREATE TABLE a (x bigint)"),
		"m/0001_first_step.sqlite.sql":   file("CREATE TABLE a (x integer)"),
	}, "m")
	if err != nil || len(steps) != 1 || steps[0].version != 1 || steps[0].name != "first step" ||
		steps[0].sql[DialectSQLite] != "CREATE TABLE a (x integer)" {
		t.Fatalf("readMigrations = %+v, %v", steps, err)
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
			if err != nil || cur != 0 || latest != latestMigration(t) {
				t.Fatalf("SchemaVersion before = %d, %d, %v; want 0, %d, nil", cur, latest, err, latestMigration(t))
			}

			applied, err := db.Migrate(ctx)
			if err != nil {
				t.Fatalf("Migrate: %v", err)
			}
			if !slices.Equal(applied, allMigrations(t)) {
				t.Fatalf("first Migrate applied %v, want %v", applied, allMigrations(t))
			}
			for _, table := range []string{"schema_migrations", "customers", "channel_identities", "surveys",
				"invitations", "responses", "answers", "handoffs"} {
				if !hasTable(t, db, table) {
					t.Errorf("table %s missing after Migrate", table)
				}
			}

			applied, err = db.Migrate(ctx)
			if err != nil || len(applied) != 0 {
				t.Fatalf("second Migrate = %v, %v; want nothing applied", applied, err)
			}
			cur, latest, err = db.SchemaVersion(ctx)
			if err != nil || cur != latest || latest != latestMigration(t) {
				t.Fatalf("SchemaVersion after = %d, %d, %v; want %d, %d", cur, latest, err, latestMigration(t), latestMigration(t))
			}
			var n int64
			if err := db.gorm.Model(&schemaMigrationRow{}).Count(&n).Error; err != nil || int(n) != len(allMigrations(t)) {
				t.Fatalf("schema_migrations rows = %d, %v; want %d", n, err, len(allMigrations(t)))
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
			if !slices.Equal(applied, allMigrations(t)) {
				t.Fatalf("steps applied across replicas = %v, want each of %v once", applied, allMigrations(t))
			}
			cur, _, err := dbs[0].SchemaVersion(ctx)
			if err != nil || cur != latestMigration(t) {
				t.Fatalf("SchemaVersion = %d, %v", cur, err)
			}
		})
	}
}

// TestSQLMigrateNewerSchema: a database a newer build migrated is left as
// it is, with a warning naming both versions.
func TestSQLMigrateNewerSchema(t *testing.T) {
	for _, tdb := range openTestDBs(t) {
		t.Run(tdb.name, func(t *testing.T) {
			ctx := sqlTestCtx(t)
			db := tdb.open(t)
			var logs bytes.Buffer
			db.log = slog.New(slog.NewTextHandler(&logs, nil))
			if _, err := db.Migrate(ctx); err != nil {
				t.Fatal(err)
			}
			newer := latestMigration(t) + 1
			if err := db.gorm.Create(&schemaMigrationRow{Version: newer, Name: "from the future", AppliedAt: sqlT0}).Error; err != nil {
				t.Fatal(err)
			}
			logs.Reset()
			if applied, err := db.Migrate(ctx); err != nil || len(applied) != 0 {
				t.Fatalf("Migrate = %v, %v; want nothing applied", applied, err)
			}
			want := fmt.Sprintf("schema_version=%d latest_known=%d", newer, latestMigration(t))
			if !strings.Contains(logs.String(), "database schema is newer than this build") || !strings.Contains(logs.String(), want) {
				t.Fatalf("log = %q; want the newer-schema warning with %s", logs.String(), want)
			}
			if cur, latest, err := db.SchemaVersion(ctx); err != nil || cur != newer || latest != latestMigration(t) {
				t.Fatalf("SchemaVersion = %d, %d, %v; want %d, %d", cur, latest, err, newer, latestMigration(t))
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
			if _, _, err := db.SchemaVersion(ctx); !errors.Is(err, flows.ErrUnavailable) {
				t.Fatalf("SchemaVersion after Close = %v, want ErrUnavailable", err)
			}
		})
	}
}

// migrationsAfter lists the versions an upgrade from version v applies.
func migrationsAfter(tb testing.TB, v int) []int {
	var out []int
	for _, n := range allMigrations(tb) {
		if n > v {
			out = append(out, n)
		}
	}
	return out
}

// AutovacuumOff reads the server's own setting (this machine's may be
// either), and is false on SQLite.
func TestAutovacuumOff(t *testing.T) {
	ctx := sqlTestCtx(t)
	if off, err := openSQLiteTestDB(t).AutovacuumOff(ctx); off || err != nil {
		t.Fatalf("SQLite: %v, %v", off, err)
	}
	db := openPostgresTestDB(t)
	var setting string
	if err := db.sql.QueryRow("SELECT setting FROM pg_settings WHERE name = 'autovacuum'").Scan(&setting); err != nil {
		t.Fatal(err)
	}
	off, err := db.AutovacuumOff(ctx)
	if err != nil || off != (setting == "off") {
		t.Fatalf("AutovacuumOff = %v, %v; the server says %q", off, err, setting)
	}
}

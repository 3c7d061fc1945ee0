package sqlstore

import (
	"context"
	"embed"
	"fmt"
	"io/fs"
	"path"
	"slices"
	"strconv"
	"strings"
	"time"

	"gorm.io/gorm"
)

// Versioned migrations. GORM's AutoMigrate races when several replicas start
// at once and silently follows whatever the live structs say; instead the
// schema moves through numbered steps, each applied once, recorded in
// schema_migrations, under a lock. Each step is literal SQL, one file per
// dialect in migrations/: NNNN_name_in_words.<dialect>.sql, so the DDL a
// database gets is what the file says, whatever GORM version is built in.
//
// To change the schema: add both files of the next version; never edit or
// rename a step that has shipped. The upgrade test (sql_schema_test.go)
// checks that a database upgraded from older versions ends at the schema
// of a fresh install.

//go:embed migrations/*.sql
var migrationFiles embed.FS

// sqlMigration is one numbered schema step.
type sqlMigration struct {
	version int
	name    string            // from the file name: "initial schema"
	sql     map[string]string // by dialect name
}

// sqlMigrations returns the steps embedded in this build, in order.
func sqlMigrations() ([]sqlMigration, error) { return readMigrations(migrationFiles, "migrations") }

// readMigrations reads the steps from the .sql files in dir. It fails
// unless every version from 1 up has a file for each dialect, under one
// name, so a half-added step cannot be applied on one dialect only.
func readMigrations(fsys fs.FS, dir string) ([]sqlMigration, error) {
	entries, err := fs.ReadDir(fsys, dir)
	if err != nil {
		return nil, fmt.Errorf("read migrations: %w", err)
	}
	byVersion := map[int]*sqlMigration{}
	for _, e := range entries {
		version, name, dialect, ok := parseMigrationFileName(e.Name())
		if !ok {
			return nil, fmt.Errorf("migration file %s: want NNNN_name.postgres.sql or NNNN_name.sqlite.sql", e.Name())
		}
		step := byVersion[version]
		if step == nil {
			step = &sqlMigration{version: version, name: name, sql: map[string]string{}}
			byVersion[version] = step
		}
		if step.name != name {
			return nil, fmt.Errorf("migration %d is named both %q and %q", version, step.name, name)
		}
		sql, err := fs.ReadFile(fsys, path.Join(dir, e.Name()))
		if err != nil {
			return nil, fmt.Errorf("read migration %s: %w", e.Name(), err)
		}
		step.sql[dialect] = string(sql)
	}
	if len(byVersion) == 0 {
		return nil, fmt.Errorf("read migrations: no files in %s", dir)
	}
	steps := make([]sqlMigration, 0, len(byVersion))
	for v := 1; v <= len(byVersion); v++ {
		step := byVersion[v]
		if step == nil {
			return nil, fmt.Errorf("migration %d is missing: versions must run 1, 2, … without gaps", v)
		}
		for _, d := range []string{DialectPostgres, DialectSQLite} {
			if strings.TrimSpace(step.sql[d]) == "" {
				return nil, fmt.Errorf("migration %d (%s): the %s file is missing or empty", v, step.name, d)
			}
		}
		steps = append(steps, *step)
	}
	return steps, nil
}

// parseMigrationFileName splits "0002_waves_and_events.sqlite.sql" into
// 2, "waves and events" and "sqlite".
func parseMigrationFileName(file string) (version int, name, dialect string, ok bool) {
	base, found := strings.CutSuffix(file, ".sql")
	if !found {
		return 0, "", "", false
	}
	base, dialect, found = strings.Cut(base, ".")
	if !found || (dialect != DialectPostgres && dialect != DialectSQLite) {
		return 0, "", "", false
	}
	digits, words, found := strings.Cut(base, "_")
	if !found || len(digits) != 4 || words == "" || strings.Trim(words, "abcdefghijklmnopqrstuvwxyz0123456789_") != "" {
		return 0, "", "", false
	}
	version, err := strconv.Atoi(digits)
	if err != nil || version < 1 {
		return 0, "", "", false
	}
	return version, strings.ReplaceAll(words, "_", " "), dialect, true
}

// schemaMigrationRow records an applied step.
type schemaMigrationRow struct {
	Version   int
	Name      string
	AppliedAt time.Time
}

func (schemaMigrationRow) TableName() string { return "schema_migrations" }

// migrationLockKey is the PostgreSQL advisory lock taken while migrating
// (arbitrary, fixed: "cxmigr" in ASCII).
const migrationLockKey int64 = 0x6378_6d69_6772

// Migrate applies the steps not applied yet and returns their versions.
// Replicas may call it at the same time: on PostgreSQL the whole run holds a
// transaction-scoped advisory lock, so the others wait and then find nothing
// to do; on SQLite the write transaction is the lock. PostgreSQL and SQLite
// both have transactional DDL, so a failed step leaves no trace.
func (db *DB) Migrate(ctx context.Context) (applied []int, err error) {
	steps, err := sqlMigrations()
	if err != nil {
		return nil, err
	}
	return db.migrate(ctx, steps)
}

// migrate applies those of steps not applied yet (tests pass a prefix of
// the steps to build a database as an older release left it).
func (db *DB) migrate(ctx context.Context, steps []sqlMigration) (applied []int, err error) {
	err = db.conn(ctx).Transaction(func(tx *gorm.DB) error {
		applied = nil
		if lock := db.dialect.migrationLock; lock != "" {
			if err := tx.Exec(lock, migrationLockKey).Error; err != nil {
				return fmt.Errorf("take migration lock: %w", err)
			}
		}
		if err := tx.Exec(db.dialect.createSchemaMigrations).Error; err != nil {
			return fmt.Errorf("create schema_migrations: %w", err)
		}
		var done []int
		if err := tx.Model(&schemaMigrationRow{}).Pluck("version", &done).Error; err != nil {
			return fmt.Errorf("read schema_migrations: %w", err)
		}
		for _, step := range steps {
			if slices.Contains(done, step.version) {
				continue
			}
			if err := execScript(tx, step.sql[db.dialect.name]); err != nil {
				return fmt.Errorf("migration %d (%s): %w", step.version, step.name, err)
			}
			row := schemaMigrationRow{Version: step.version, Name: step.name, AppliedAt: sqlTime(db.now())}
			if err := tx.Create(&row).Error; err != nil {
				return fmt.Errorf("record migration %d: %w", step.version, err)
			}
			applied = append(applied, step.version)
		}
		if last := steps[len(steps)-1].version; len(done) > 0 && slices.Max(done) > last {
			// A newer binary migrated this database; this one keeps working
			// as long as the newer steps were additive.
			db.log.WarnContext(ctx, "database schema is newer than this build",
				"schema_version", slices.Max(done), "latest_known", last)
		}
		return nil
	})
	if err != nil {
		return nil, sqlErr("migrate", err)
	}
	for _, v := range applied {
		db.log.InfoContext(ctx, "schema migration applied", "version", v, "dialect", db.dialect.name)
	}
	return applied, nil
}

// SchemaVersion returns the highest applied step (0 when schema_migrations
// does not exist yet) and the highest step this build knows, so start-up
// and health checks can tell whether a migration is due.
func (db *DB) SchemaVersion(ctx context.Context) (current, latest int, err error) {
	steps, err := sqlMigrations()
	if err != nil {
		return 0, 0, err
	}
	latest = steps[len(steps)-1].version
	g := db.conn(ctx)
	var tables int
	if err := g.Raw(db.dialect.tableExists, "schema_migrations").Scan(&tables).Error; err != nil {
		return 0, latest, sqlErr("read schema version", err)
	}
	if tables == 0 {
		return 0, latest, nil
	}
	if err := g.Model(&schemaMigrationRow{}).Select("COALESCE(MAX(version), 0)").Scan(&current).Error; err != nil {
		return 0, latest, sqlErr("read schema version", err)
	}
	return current, latest, nil
}

// execScript runs a script of several statements as one call on the
// transaction's connection, bypassing GORM's placeholder and named
// parameter parsing: a migration file is run as written.
func execScript(tx *gorm.DB, script string) error {
	_, err := tx.Statement.ConnPool.ExecContext(tx.Statement.Context, script)
	return err
}

package sqlstore

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"

	gosqlite "github.com/glebarez/go-sqlite"
	"github.com/glebarez/sqlite"
	"github.com/jackc/pgx/v5/pgconn"
	"gorm.io/driver/postgres"
	"gorm.io/gorm"
	gormlogger "gorm.io/gorm/logger"

	"github.com/cxbot/cxbot/flows"
)

// slowSQL is the duration above which a statement is logged: everything
// faster stays out of the logs, so GORM is quiet in normal operation.
const slowSQL = 200 * time.Millisecond

// DB is the SQL store: customers, invitations, responses, answers and
// handoffs, on PostgreSQL in production or a SQLite file when embedded.
// Callers only ever see flows types; GORM stays inside this package.
type DB struct {
	// Now is the clock for timestamps the caller does not pass (created_at,
	// updated_at, applied_at). Tests replace it; it defaults to time.Now.
	Now func() time.Time
	// Webhooks queues the desk's handoff.* events in the outbox with the
	// change they report (the business's webhook is configured).
	Webhooks bool

	gorm *gorm.DB
	sql  *sql.DB // the pool under GORM, for rawRow
	raw  rawHooks
	// pipeline batches rawRow's statements of concurrent callers into one
	// round trip (PostgreSQL); nil where each goes alone.
	pipeline *pipeline
	log      *slog.Logger
	dialect  dialect
}

// OpenSQL connects to PostgreSQL when url starts with postgres:// or
// postgresql://, and otherwise opens (creating if needed) the SQLite file at
// path url. It pings the database, so an unreachable server fails here with
// flows.ErrUnavailable rather than on the first request. It does not migrate.
func Open(ctx context.Context, url string, logger *slog.Logger) (*DB, error) {
	if logger == nil {
		logger = slog.Default()
	}
	db := &DB{Now: time.Now, log: logger}
	cfg := &gorm.Config{
		Logger: sqlLogger{log: logger, slow: slowSQL},
		// Timestamps GORM fills itself go through the injected clock and the
		// same normalisation as every other timestamp written here.
		NowFunc:                func() time.Time { return sqlTime(db.now()) },
		TranslateError:         true, // unique and foreign key violations become gorm sentinels
		SkipDefaultTransaction: true, // multi-statement writes open their own transactions
		DisableAutomaticPing:   true, // pinged below, with the caller's context
	}

	var dialector gorm.Dialector
	switch {
	case strings.HasPrefix(url, "postgres://"), strings.HasPrefix(url, "postgresql://"):
		db.dialect = postgresDialect()
		dialector = postgres.Open(url)
	case strings.Contains(url, "://") && !strings.HasPrefix(url, "sqlite://"):
		return nil, fmt.Errorf("open database: %w: unsupported URL scheme in %q (use postgres:// or a SQLite file path)",
			flows.ErrInvalid, url[:strings.Index(url, "://")+3])
	default:
		db.dialect = sqliteDialect()
		dsn, err := sqliteDSN(url)
		if err != nil {
			return nil, err
		}
		dialector = sqlite.Open(dsn)
	}

	g, err := gorm.Open(dialector, cfg)
	if err != nil {
		return nil, sqlErr("open database", err)
	}
	sqlDB, err := g.DB()
	if err != nil {
		return nil, sqlErr("open database", err)
	}
	sqlDB.SetMaxOpenConns(db.dialect.maxOpenConns)
	sqlDB.SetMaxIdleConns(db.dialect.maxIdleConns)
	sqlDB.SetConnMaxLifetime(db.dialect.connMaxLifetime)
	db.gorm, db.sql = g, sqlDB
	if err := db.Ping(ctx); err != nil {
		_ = sqlDB.Close()
		return nil, err
	}
	if db.dialect.pipeline {
		db.pipeline = newPipeline(sqlDB, db.rawRoundTrip)
	}
	return db, nil
}

// sqliteDSN turns a file path into a DSN with the per-connection settings
// cxbot relies on: WAL so readers do not block the writer, a busy timeout so
// another process holding the lock means waiting rather than failing,
// foreign keys (off by default in SQLite), and BEGIN IMMEDIATE so a
// transaction takes the write lock up front instead of failing when it
// tries to upgrade a read lock.
func sqliteDSN(url string) (string, error) {
	path := strings.TrimPrefix(strings.TrimPrefix(url, "sqlite://"), "sqlite:")
	if path == "" {
		return "", fmt.Errorf("open database: %w: empty SQLite path", flows.ErrInvalid)
	}
	file, _, _ := strings.Cut(path, "?")
	if file != ":memory:" && !strings.HasPrefix(file, "file:") {
		if dir := filepath.Dir(file); dir != "." {
			if err := os.MkdirAll(dir, 0o750); err != nil {
				return "", fmt.Errorf("open database: create directory for %s: %w", file, err)
			}
		}
	}
	sep := "?"
	if strings.Contains(path, "?") {
		sep = "&"
	}
	return path + sep + "_pragma=busy_timeout(5000)&_pragma=journal_mode(WAL)&_pragma=foreign_keys(1)" +
		"&_pragma=synchronous(NORMAL)&_txlock=immediate", nil
}

// Close closes the connection pool.
func (db *DB) Close() error {
	if db.pipeline != nil {
		db.pipeline.close()
	}
	sqlDB, err := db.gorm.DB()
	if err != nil {
		return err
	}
	return sqlDB.Close()
}

// Ping checks that the database answers, for readiness probes.
func (db *DB) Ping(ctx context.Context) error {
	sqlDB, err := db.gorm.DB()
	if err != nil {
		return sqlErr("ping database", err)
	}
	if err := sqlDB.PingContext(ctx); err != nil {
		if ctx.Err() == nil {
			// Whatever stops a ping (refused, DNS, auth, missing file
			// directory) means the database cannot serve requests now.
			return fmt.Errorf("ping database: %w: %v", flows.ErrUnavailable, err)
		}
		return fmt.Errorf("ping database: %w", err)
	}
	return nil
}

// Dialect returns "postgres" or "sqlite".
func (db *DB) Dialect() string { return db.dialect.name }

// AutovacuumOff reports a PostgreSQL server whose autovacuum is off
// (false on SQLite). Then nothing refreshes the planner's statistics as the
// tables grow, and the plans PostgreSQL caches for cxbot's prepared
// statements stay those made for the sizes first seen: sequential scans
// that make every answer slower than the last.
func (db *DB) AutovacuumOff(ctx context.Context) (bool, error) {
	if db.dialect.name != DialectPostgres {
		return false, nil
	}
	var setting string
	if err := db.sql.QueryRowContext(ctx, "SHOW autovacuum").Scan(&setting); err != nil {
		return false, sqlErr("read autovacuum's setting", err)
	}
	return setting == "off", nil
}

// conn returns a GORM session bound to ctx.
func (db *DB) conn(ctx context.Context) *gorm.DB { return db.gorm.WithContext(ctx) }

func (db *DB) now() time.Time {
	if db.Now == nil {
		return time.Now()
	}
	return db.Now()
}

// at returns t normalised for storage, or the clock's time when t is zero.
func (db *DB) at(t time.Time) time.Time {
	if t.IsZero() {
		t = db.now()
	}
	return sqlTime(t)
}

// sqlTime normalises a timestamp for storage: UTC, so that SQLite's text
// timestamps compare correctly as strings; microseconds, because that is
// PostgreSQL's precision and a value must read back equal on both.
func sqlTime(t time.Time) time.Time { return t.UTC().Truncate(time.Microsecond) }

// sqlTimePtr is sqlTime for nullable columns.
func sqlTimePtr(t *time.Time) *time.Time {
	if t == nil || t.IsZero() {
		return nil
	}
	v := sqlTime(*t)
	return &v
}

// utcPtr returns a copy of a timestamp read back, in UTC (pgx returns local time).
func utcPtr(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	v := t.UTC()
	return &v
}

// sqlErr maps a GORM or driver error onto the flows error vocabulary, so
// callers (and through them the HTTP and chat layers) can branch with
// errors.Is without knowing SQL. Errors already carrying a flows sentinel
// and context errors keep their identity.
func sqlErr(op string, err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, gorm.ErrRecordNotFound):
		return fmt.Errorf("%s: %w", op, flows.ErrNotFound)
	case errors.Is(err, gorm.ErrDuplicatedKey):
		return fmt.Errorf("%s: %w: %v", op, flows.ErrConflict, err)
	case errors.Is(err, gorm.ErrForeignKeyViolated):
		// The row refers to a customer, invitation or response that does not exist.
		return fmt.Errorf("%s: %w: %v", op, flows.ErrNotFound, err)
	case sqlUnavailable(err):
		return fmt.Errorf("%s: %w: %v", op, flows.ErrUnavailable, err)
	case sqlDataException(err):
		// The value itself is unacceptable (a NUL byte in text, a number out
		// of range): retrying cannot help, so the caller must not retry.
		return fmt.Errorf("%s: %w: %v", op, flows.ErrInvalid, err)
	default:
		return fmt.Errorf("%s: %w", op, err)
	}
}

// sqlDataException reports PostgreSQL's class 22 (data exception): the
// statement was fine, a value in it is not.
func sqlDataException(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && strings.HasPrefix(pgErr.Code, "22")
}

// sqlUnavailable reports errors that say the database cannot be reached or
// is temporarily unable to serve, as opposed to a bad statement: the caller
// should answer 5xx and let the platform retry.
func sqlUnavailable(err error) bool {
	if errors.Is(err, driver.ErrBadConn) || errors.Is(err, sql.ErrConnDone) {
		return true
	}
	if strings.Contains(err.Error(), "sql: database is closed") { // unexported in database/sql
		return true
	}
	var connectErr *pgconn.ConnectError
	if errors.As(err, &connectErr) {
		return true
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		switch {
		case strings.HasPrefix(pgErr.Code, "08"): // connection exception
			return true
		case pgErr.Code == "53300", pgErr.Code == "57P01", pgErr.Code == "57P02", pgErr.Code == "57P03":
			// too many connections, admin/crash shutdown, cannot connect now
			return true
		}
		return false
	}
	var liteErr *gosqlite.Error
	if errors.As(err, &liteErr) {
		switch liteErr.Code() & 0xff { // primary result code
		case 5, 6, 10, 13, 14: // SQLITE_BUSY, LOCKED, IOERR, FULL, CANTOPEN
			return true
		}
		return false
	}
	var netErr net.Error
	return errors.As(err, &netErr)
}

// sqlLogger keeps GORM quiet: routine statements are not logged, nor are
// failed ones (the error is returned, wrapped, and logged once by whoever
// handles it). Slow statements are, with placeholders instead of values so
// no customer data reaches the logs.
type sqlLogger struct {
	log  *slog.Logger
	slow time.Duration
}

func (l sqlLogger) LogMode(gormlogger.LogLevel) gormlogger.Interface { return l }

func (l sqlLogger) Info(context.Context, string, ...any) {}

func (l sqlLogger) Warn(ctx context.Context, msg string, args ...any) {
	l.log.WarnContext(ctx, "gorm: "+fmt.Sprintf(msg, args...))
}

func (l sqlLogger) Error(ctx context.Context, msg string, args ...any) {
	l.log.ErrorContext(ctx, "gorm: "+fmt.Sprintf(msg, args...))
}

func (l sqlLogger) Trace(ctx context.Context, begin time.Time, fc func() (string, int64), _ error) {
	elapsed := time.Since(begin)
	if l.slow <= 0 || elapsed < l.slow {
		return
	}
	stmt, rows := fc()
	l.log.WarnContext(ctx, "slow sql", "elapsed_ms", elapsed.Milliseconds(), "rows", rows, "sql", stmt)
}

// ParamsFilter drops bound values from logged SQL (see gorm.ParamsFilter).
func (l sqlLogger) ParamsFilter(_ context.Context, stmt string, _ ...any) (string, []any) {
	return stmt, nil
}

// statusStrings turns a list of domain statuses into the plain strings the
// drivers bind, for "status IN ?" clauses built from the domain's rules.
func statusStrings[S ~string](statuses []S) []string {
	out := make([]string, len(statuses))
	for i, s := range statuses {
		out[i] = string(s)
	}
	return out
}

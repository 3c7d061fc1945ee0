package sqlstore

import "time"

// Dialect names returned by DB.Dialect; also the suffix of the migration
// files (migrations/NNNN_name.<dialect>.sql).
const (
	DialectPostgres = "postgres"
	DialectSQLite   = "sqlite"
)

// dialect is everything the store does differently on PostgreSQL and on
// SQLite, apart from the schema itself (each migration step has one file
// per dialect). Open picks one from the URL; repositories use its fields
// and never ask which database they talk to.
type dialect struct {
	name string

	// Connection pool.
	maxOpenConns    int
	maxIdleConns    int
	connMaxLifetime time.Duration // 0: connections are kept

	// migrationLock is run first in the migration transaction, with
	// migrationLockKey, so that replicas migrate one at a time; empty
	// where the write transaction already excludes the others.
	migrationLock string
	// createSchemaMigrations creates the table of applied steps if missing,
	// as the releases that built it through GORM did.
	createSchemaMigrations string
	// tableExists counts the tables named ? that the connection sees.
	tableExists string

	// skipLocked ends ClaimInvitations' candidate subquery, so concurrent
	// replicas each take different rows without waiting.
	skipLocked string
	// occurredAtUnindexed is e.occurred_at inside an expression that
	// keeps the planner from reading DueEvents' window through the
	// occurred_at index instead of the seq range (an expression on the
	// column is not indexed).
	occurredAtUnindexed string

	// singleRowInserts makes insertRows run one prepared single-row INSERT
	// per row instead of multi-row INSERTs: with the pure-Go SQLite driver,
	// parsing a long VALUES list and binding its values cost more than the
	// inserts themselves (see insertRows).
	singleRowInserts bool
	// upsertChats makes linkEventIdentities link a batch's chats with one
	// upsert per maxInsertRows chats. Without it chats already linked are
	// read first and only those that change owner are written: an upsert
	// costs SQLite a statement journal of every page it touches.
	upsertChats bool
	// stepAtOnce makes ApplyStep one statement of data-modifying CTEs
	// (applyStepAtOnce) instead of a transaction of several.
	stepAtOnce bool
	// noticeAtOnce makes HandoffNotice one statement, its lists as JSON
	// aggregates (json_agg), instead of four reads.
	noticeAtOnce bool
	// pipeline sends the one-row statements of concurrent callers (steps,
	// notices) in shared round trips (see pipeline): pgx's batches.
	pipeline bool

	// contextAttr extracts one key of a JSON context column (reports):
	// the SQL, with one placeholder, and the value to bind to it.
	contextAttr func(column, key string) (sql string, arg any)
	// localBucket, when set, names the local day, ISO week or month of a
	// timestamp in SQL (placeholders: interval, zone, format); without it
	// reports bucket by a CASE over the bucket bounds.
	localBucket func(column string) string
	// contextKeys (an expression) and contextKeysJoin (after the FROM
	// list's joins) list the keys of the JSON context i.context, one per row.
	contextKeys, contextKeysJoin string
	// secondsBetween is the SQL for the seconds from timestamp a to b.
	secondsBetween func(a, b string) string

	// reportAttributes is the value of report_answers.attributes taken
	// from the invitation i's context (jsonb on PostgreSQL, text on SQLite);
	// reportAttr extracts one key of it like contextAttr; reportAttrEach
	// lists its keys and values (columns key, value) after a FROM list.
	reportAttributes string
	reportAttr       func(column, key string) (sql string, arg any)
	reportAttrEach   func(column string) string
	// rollUpAtOnce makes rollUpReports one statement of data-modifying
	// CTEs that marks the rows it counts (exact under concurrent writers);
	// without it the roll-up is a transaction the single writer runs alone.
	rollUpAtOnce bool
	// forUpdate locks the rows a SELECT reads until the transaction ends;
	// empty where the write transaction already excludes the others.
	forUpdate string
}

// postgresDialect is for production: many replicas on one server.
func postgresDialect() dialect {
	return dialect{
		name: DialectPostgres,
		// Every replica holds its own pool; keep the sum well under the
		// server's max_connections (100 by default). As many idle as open:
		// under load a smaller idle pool closes connections one moment and
		// opens them again the next (measured: a third of the answer path).
		maxOpenConns:    16,
		maxIdleConns:    16,
		connMaxLifetime: 30 * time.Minute,

		migrationLock: `SELECT pg_advisory_xact_lock(?)`,
		createSchemaMigrations: `CREATE TABLE IF NOT EXISTS schema_migrations (
    version    bigint PRIMARY KEY,
    name       text NOT NULL,
    applied_at timestamptz NOT NULL
)`,
		tableExists: `SELECT count(*) FROM information_schema.tables
WHERE table_schema = current_schema() AND table_name = ? AND table_type = 'BASE TABLE'`,

		skipLocked:          "FOR UPDATE SKIP LOCKED",
		occurredAtUnindexed: "(e.occurred_at + INTERVAL '0 seconds')",
		upsertChats:         true,
		stepAtOnce:          true,
		noticeAtOnce:        true,
		pipeline:            true,

		contextAttr: func(column, key string) (string, any) {
			return "(" + column + "::json ->> ?)", key
		},
		contextKeys: "json_object_keys(i.context::json)",
		secondsBetween: func(a, b string) string {
			return "EXTRACT(EPOCH FROM (" + b + " - " + a + "))"
		},
		localBucket: func(column string) string {
			return "to_char(date_trunc(CAST(? AS text), " + column + " AT TIME ZONE CAST(? AS text)), CAST(? AS text))"
		},

		reportAttributes: "CAST(COALESCE(NULLIF(i.context, ''), '{}') AS jsonb)",
		reportAttr: func(column, key string) (string, any) {
			return "(" + column + " ->> CAST(? AS text))", key
		},
		reportAttrEach: func(column string) string {
			return "jsonb_each_text(CASE WHEN jsonb_typeof(" + column + ") = 'object' THEN " + column + " ELSE '{}' END)"
		},
		rollUpAtOnce: true,
		forUpdate:    "FOR UPDATE",
	}
}

// sqliteDialect is for the embedded profile: one process, one file.
func sqliteDialect() dialect {
	return dialect{
		name: DialectSQLite,
		// SQLite has one writer at a time; one connection turns would-be
		// "database is locked" errors into an orderly queue in database/sql.
		maxOpenConns: 1,
		maxIdleConns: 1,

		// BEGIN IMMEDIATE (see sqliteDSN) takes the write lock up front.
		migrationLock: "",
		createSchemaMigrations: `CREATE TABLE IF NOT EXISTS schema_migrations (
    version    integer,
    name       text NOT NULL,
    applied_at datetime NOT NULL,
    PRIMARY KEY (version)
)`,
		tableExists: `SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = ?`,

		// No row locks: the write transaction excludes other writers.
		skipLocked:          "",
		occurredAtUnindexed: "+e.occurred_at",
		singleRowInserts:    true,

		contextAttr: func(column, key string) (string, any) {
			return "json_extract(" + column + ", ?)", `$."` + key + `"`
		},
		contextKeys:     "j.key",
		contextKeysJoin: " JOIN json_each(i.context) AS j",
		secondsBetween: func(a, b string) string {
			return "((julianday(" + b + ") - julianday(" + a + ")) * 86400.0)"
		},

		reportAttributes: "COALESCE(NULLIF(i.context, ''), '{}')",
		reportAttr: func(column, key string) (string, any) {
			return "json_extract(" + column + ", ?)", `$."` + key + `"`
		},
		reportAttrEach: func(column string) string {
			return "json_each(CASE WHEN json_valid(" + column + ") AND json_type(" + column + ") = 'object' THEN " + column + " ELSE '{}' END)"
		},
	}
}

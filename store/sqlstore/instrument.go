package sqlstore

import (
	"context"
	"database/sql"
	"fmt"

	"gorm.io/gorm"
)

// Statement is the kind of database round trip OnStatement reports.
type Statement int

const (
	// StatementSQL is one SQL statement sent to the database: a query or a
	// write, whether built by GORM (create, query, update, delete, row) or
	// raw SQL (Exec, Raw).
	StatementSQL Statement = iota
	// StatementBegin, StatementCommit and StatementRollback are the
	// transaction's own round trips (BEGIN, COMMIT, ROLLBACK).
	StatementBegin
	StatementCommit
	StatementRollback
	// StatementPipelined is a statement that had no round trip of its own:
	// it went to PostgreSQL in the same batch as an earlier one (pipeline).
	StatementPipelined
)

func (s Statement) String() string {
	switch s {
	case StatementSQL:
		return "sql"
	case StatementBegin:
		return "begin"
	case StatementCommit:
		return "commit"
	case StatementRollback:
		return "rollback"
	case StatementPipelined:
		return "pipelined"
	}
	return fmt.Sprintf("Statement(%d)", int(s))
}

// OnStatement calls fn once for every round trip the store makes to the
// database from now on, for measuring (cxbot bench counts round trips per
// answered update): each statement (fn(StatementSQL), counted after it ran,
// failed ones included, as it reached the database all the same), and each
// BEGIN, COMMIT and ROLLBACK of a transaction. A statement sent in the same
// round trip as an earlier one (a pipeline batch) is fn(StatementPipelined)
// instead: a statement, not a round trip. A transaction of three
// statements is thus five round trips. Not counted: preparing a statement
// (pgx caches prepared statements per connection, so only a statement's
// first use on a connection pays it), pings, and migrations run before the
// call. fn runs on the caller's goroutine, concurrently with other calls:
// it must be safe for concurrent use, and quick.
//
// Call it before the DB is used from other goroutines (right after Open or
// Migrate): it registers GORM callbacks and wraps the connection pool GORM
// hands to new sessions, neither of which is synchronised with queries in
// flight. Each call adds a hook; there is no way to remove one.
func (db *DB) OnStatement(fn func(Statement)) {
	db.raw.statement = append(db.raw.statement, fn)
	count := func(tx *gorm.DB) {
		if tx.Statement.SQL.Len() > 0 && !tx.DryRun {
			fn(StatementSQL)
		}
	}
	cb := db.gorm.Callback()
	name := "cxbot:on_statement"
	for i := 2; cb.Query().Get(name) != nil; i++ {
		name = fmt.Sprintf("cxbot:on_statement_%d", i)
	}
	// Register only fails on a callback ordering conflict, which a name of
	// our own placed after GORM's own callback cannot cause.
	_ = cb.Create().After("gorm:create").Register(name, count)
	_ = cb.Query().After("gorm:query").Register(name, count)
	_ = cb.Update().After("gorm:update").Register(name, count)
	_ = cb.Delete().After("gorm:delete").Register(name, count)
	_ = cb.Row().After("gorm:row").Register(name, count)
	_ = cb.Raw().After("gorm:raw").Register(name, count)

	// GORM calls no callback on BEGIN or COMMIT: wrap the pool it begins
	// transactions on. Sessions copy the pool from db.gorm.Statement.
	pool := &countingPool{ConnPool: db.gorm.Statement.ConnPool, fn: fn}
	db.gorm.Statement.ConnPool = pool
	db.gorm.Config.ConnPool = pool
}

// countingPool is the connection pool outside transactions; it reports each
// BEGIN and returns transactions that report their COMMIT or ROLLBACK.
// Statements pass through uncounted (the callbacks count them).
type countingPool struct {
	gorm.ConnPool
	fn func(Statement)
}

var (
	_ gorm.ConnPoolBeginner = (*countingPool)(nil)
	_ gorm.GetDBConnector   = (*countingPool)(nil)
	_ gorm.Tx               = (*countingTx)(nil)
)

func (p *countingPool) BeginTx(ctx context.Context, opts *sql.TxOptions) (gorm.ConnPool, error) {
	var (
		tx  gorm.ConnPool
		err error
	)
	switch b := p.ConnPool.(type) {
	case gorm.TxBeginner: // *sql.DB
		var sqlTx *sql.Tx
		if sqlTx, err = b.BeginTx(ctx, opts); err == nil {
			tx = sqlTx
		}
	case gorm.ConnPoolBeginner: // GORM's prepared statement pool, or another countingPool
		tx, err = b.BeginTx(ctx, opts)
	default:
		return nil, gorm.ErrInvalidTransaction
	}
	p.fn(StatementBegin)
	if err != nil {
		return nil, err
	}
	inner, ok := tx.(gorm.Tx)
	if !ok {
		return nil, gorm.ErrInvalidTransaction
	}
	return &countingTx{Tx: inner, fn: p.fn}, nil
}

// GetDBConn lets GORM's DB() (Close, Ping, pool settings) reach the *sql.DB.
func (p *countingPool) GetDBConn() (*sql.DB, error) {
	switch c := p.ConnPool.(type) {
	case *sql.DB:
		return c, nil
	case gorm.GetDBConnector:
		return c.GetDBConn()
	}
	return nil, gorm.ErrInvalidDB
}

// countingTx is a transaction that reports its end. A transaction is used
// by one goroutine at a time, so done needs no lock.
type countingTx struct {
	gorm.Tx
	fn   func(Statement)
	done bool // committed or rolled back: a later call reaches no database
}

func (t *countingTx) Commit() error {
	if !t.done {
		t.done = true
		t.fn(StatementCommit)
	}
	return t.Tx.Commit()
}

// Rollback is also what GORM calls after a failed Commit; that one is not
// a round trip (database/sql answers ErrTxDone) and is not reported.
func (t *countingTx) Rollback() error {
	if !t.done {
		t.done = true
		t.fn(StatementRollback)
	}
	return t.Tx.Rollback()
}

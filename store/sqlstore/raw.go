package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"time"

	"gorm.io/gorm/clause"
)

// rawHooks are the OnStatement and OnStatementDone callbacks for the
// statements rawRow runs outside GORM. Set before the DB is used
// concurrently, like GORM's callbacks.
type rawHooks struct {
	statement []func(Statement)
	done      []func(took time.Duration, failed bool)
}

// rawRow runs one PostgreSQL statement written with GORM's placeholders
// ("?" for a value, a slice for "IN ?", a gorm.Expr inlined as SQL) on
// database/sql directly and scans its one row into dest. It is for the
// statement every answer runs (applyStepAtOnce): GORM's statement building
// and reflection cost more of the client's CPU than the round trip itself.
// The round trip is counted, timed and logged when slow like GORM's.
func (db *DB) rawRow(ctx context.Context, query string, args []any, dest ...any) error {
	q, vars, err := bindPostgres(query, args)
	if err != nil {
		return err
	}
	began := time.Now()
	if db.pipeline != nil {
		// Counted and timed by the pipeline (rawRoundTrip), per batch.
		err = db.pipeline.row(ctx, q, vars, dest...)
	} else {
		err = db.sql.QueryRowContext(ctx, q, vars...).Scan(dest...)
		db.rawRoundTrip(time.Since(began), err != nil && !errors.Is(err, sql.ErrNoRows), true)
	}
	if took := time.Since(began); took >= slowSQL {
		db.log.WarnContext(ctx, "slow sql", "elapsed_ms", took.Milliseconds(), "sql", q)
	}
	return err
}

// rawRoundTrip reports a statement rawRow sent to the OnStatement and
// OnStatementDone hooks: alone, it had a round trip of its own; else it
// rode in a pipeline batch behind another (StatementPipelined).
func (db *DB) rawRoundTrip(took time.Duration, failed, alone bool) {
	kind := StatementSQL
	if !alone {
		kind = StatementPipelined
	}
	for _, fn := range db.raw.statement {
		fn(kind)
	}
	for _, fn := range db.raw.done {
		fn(took, failed)
	}
}

// bindPostgres turns GORM's placeholders into PostgreSQL's ($1, $2, …), as
// GORM would render them: a slice (not []byte) becomes a parenthesised
// list ("(NULL)" when empty), a gorm.Expr without vars its SQL. The query must hold no
// other "?" (no string literal or operator with one).
func bindPostgres(query string, args []any) (string, []any, error) {
	var b strings.Builder
	b.Grow(len(query) + 2*len(args))
	vars := make([]any, 0, len(args))
	next := 0
	param := func(v any) {
		vars = append(vars, v)
		b.WriteByte('$')
		b.WriteString(strconv.Itoa(len(vars)))
	}
	for i := 0; i < len(query); i++ {
		c := query[i]
		if c != '?' {
			b.WriteByte(c)
			continue
		}
		if next == len(args) {
			return "", nil, fmt.Errorf("bind: more placeholders than the %d values", len(args))
		}
		switch v := args[next].(type) {
		case clause.Expr:
			if len(v.Vars) > 0 {
				return "", nil, fmt.Errorf("bind: value %d: an expression with values of its own", next)
			}
			b.WriteString(v.SQL)
		case []byte:
			param(v)
		default:
			rv := reflect.ValueOf(v)
			if rv.Kind() != reflect.Slice {
				param(v)
				break
			}
			if rv.Len() == 0 {
				b.WriteString("(NULL)")
				break
			}
			b.WriteByte('(')
			for j := range rv.Len() {
				if j > 0 {
					b.WriteByte(',')
				}
				param(rv.Index(j).Interface())
			}
			b.WriteByte(')')
		}
		next++
	}
	if next != len(args) {
		return "", nil, fmt.Errorf("bind: %d values for %d placeholders", len(args), next)
	}
	return b.String(), vars, nil
}

// prefixColumns qualifies each of a comma-separated column list with
// prefix ("h." makes "id, status" "h.id, h.status").
func prefixColumns(prefix, columns string) string {
	return prefix + strings.ReplaceAll(columns, ", ", ", "+prefix)
}

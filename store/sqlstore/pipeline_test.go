package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// pipelineTestDB is a PostgreSQL test DB with a table of numbers and the
// statements it sends counted by kind.
func pipelineTestDB(t *testing.T) (*DB, *[5]atomic.Int64) {
	t.Helper()
	db := openPostgresTestDB(t)
	if db.pipeline == nil {
		t.Fatal("PostgreSQL opened without a pipeline")
	}
	if err := db.gorm.Exec("CREATE TABLE numbers (n int PRIMARY KEY CHECK (n >= 0))").Error; err != nil {
		t.Fatal(err)
	}
	var kinds [5]atomic.Int64
	db.OnStatement(func(s Statement) { kinds[s].Add(1) })
	return db, &kinds
}

// occupySenders keeps every sender of the pipeline busy for a while, so
// what is queued meanwhile goes in batches; it returns once they are.
func occupySenders(t *testing.T, ctx context.Context, db *DB, wg *sync.WaitGroup) {
	t.Helper()
	// A tag of this test's own, so tests of other packages sleeping on the
	// same server are not counted.
	tag := fmt.Sprintf("busy_%d", time.Now().UnixNano())
	for range pipelineSenders {
		wg.Go(func() {
			var slept string
			if err := db.rawRow(ctx, "SELECT pg_sleep(0.3)::text AS "+tag, nil, &slept); err != nil {
				t.Errorf("sleep: %v", err)
			}
		})
	}
	for deadline := time.Now().Add(5 * time.Second); len(db.pipeline.queue) > 0 || countActive(t, db, tag) < pipelineSenders; {
		if time.Now().After(deadline) {
			t.Fatal("the senders never took the sleeps")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// countActive is how many statements tagged tag are running.
func countActive(t *testing.T, db *DB, tag string) int {
	t.Helper()
	var n int
	if err := db.sql.QueryRow(`SELECT count(*) FROM pg_stat_activity
		WHERE datname = current_database() AND state = 'active' AND query LIKE '%' || $1`, tag).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// batchingTest is a pipeline test's start: its DB and counts, its context,
// and the senders held busy, so what the test queues on wg goes in batches.
func batchingTest(t *testing.T) (*DB, *[5]atomic.Int64, context.Context, *sync.WaitGroup) {
	t.Helper()
	db, kinds := pipelineTestDB(t)
	ctx := sqlTestCtx(t)
	wg := &sync.WaitGroup{}
	occupySenders(t, ctx, db, wg)
	return db, kinds, ctx, wg
}

// requireBatched fails a test whose statements never shared a round trip:
// it would have proved nothing about batches.
func requireBatched(t *testing.T, kinds *[5]atomic.Int64) {
	t.Helper()
	if kinds[StatementPipelined].Load() == 0 {
		t.Fatal("nothing was batched: the test proved nothing")
	}
}

// insertNumbers queues one INSERT of each of 0…n-1 on wg; each
// statement's outcome lands in the slice returned once wg is done.
func insertNumbers(ctx context.Context, db *DB, wg *sync.WaitGroup, n int) []error {
	errs := make([]error, n)
	for i := range errs {
		wg.Go(func() {
			var v int
			errs[i] = db.rawRow(ctx, "INSERT INTO numbers (n) VALUES (?) RETURNING n", []any{i}, &v)
		})
	}
	return errs
}

// requireStored fails the test unless the table holds want rows.
func requireStored(t *testing.T, db *DB, want int) {
	t.Helper()
	var stored int
	if err := db.sql.QueryRow("SELECT count(*) FROM numbers").Scan(&stored); err != nil || stored != want {
		t.Fatalf("%d rows stored (%v), want %d: each statement's effect once", stored, err, want)
	}
}

func TestPipelineBatchesConcurrentStatements(t *testing.T) {
	db, kinds, ctx, wg := batchingTest(t)

	const n = 40
	got := make([]int, n)
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() {
			errs[i] = db.rawRow(ctx, "INSERT INTO numbers (n) VALUES (?) RETURNING n * 10", []any{i}, &got[i])
		})
	}
	wg.Wait()
	for i := range n {
		if errs[i] != nil || got[i] != i*10 {
			t.Fatalf("statement %d: got %d, %v; want its own row, %d", i, got[i], errs[i], i*10)
		}
	}
	requireStored(t, db, n)
	trips, pipelined := kinds[StatementSQL].Load(), kinds[StatementPipelined].Load()
	if pipelined == 0 || trips+pipelined != n+pipelineSenders {
		t.Fatalf("%d round trips and %d pipelined statements for %d statements: want most to share round trips, each counted once",
			trips, pipelined, n+pipelineSenders)
	}
	// Nothing waits for a batch to fill: a statement alone goes at once.
	before := kinds[StatementPipelined].Load()
	var one int
	if err := db.rawRow(ctx, "SELECT ?::int", []any{7}, &one); err != nil || one != 7 {
		t.Fatalf("alone: %d, %v", one, err)
	}
	if kinds[StatementPipelined].Load() != before {
		t.Fatal("a statement alone was counted as pipelined")
	}
}

// One failing statement fails its caller only: the batch it was in is
// rolled back by PostgreSQL, and the pipeline runs each statement again
// on its own, so the others commit and a missing row stays ErrNoRows.
func TestPipelineFailureStaysWithItsStatement(t *testing.T) {
	db, kinds, ctx, wg := batchingTest(t)

	var (
		badErr   error
		noRowErr error
		noRow    int
	)
	good := insertNumbers(ctx, db, wg, 10)
	wg.Go(func() {
		var v int
		badErr = db.rawRow(ctx, "INSERT INTO numbers (n) VALUES (?) RETURNING n", []any{-1}, &v) // breaks the CHECK
	})
	wg.Go(func() {
		noRowErr = db.rawRow(ctx, "SELECT n FROM numbers WHERE n = ?", []any{1000}, &noRow)
	})
	wg.Wait()

	for i, err := range good {
		if err != nil {
			t.Errorf("good statement %d: %v", i, err)
		}
	}
	if badErr == nil || !strings.Contains(badErr.Error(), "numbers_n_check") {
		t.Errorf("the bad statement: %v, want its check violation", badErr)
	}
	if !errors.Is(noRowErr, sql.ErrNoRows) {
		t.Errorf("no row: %v, want sql.ErrNoRows", noRowErr)
	}
	requireStored(t, db, len(good))
	requireBatched(t, kinds)
}

// A row that fails to scan on the client (a programming error) ends pgx's
// reading of the batch, while the server ran and committed it: every
// statement's effect is there once, nothing is run again (which would apply
// them twice), and the callers get the error (a redelivered step then finds
// itself applied, as after a connection lost past the commit).
func TestPipelineScanErrorIsNotRunAgain(t *testing.T) {
	db, kinds, ctx, wg := batchingTest(t)

	var badErr error
	good := insertNumbers(ctx, db, wg, 5)
	wg.Go(func() {
		var v int // NULL does not scan into an int
		badErr = db.rawRow(ctx, "INSERT INTO numbers (n) VALUES (?) RETURNING NULL::int", []any{100}, &v)
	})
	wg.Wait()
	if badErr == nil {
		t.Error("NULL scanned into an int without an error")
	}
	requireStored(t, db, len(good)+1)
	requireBatched(t, kinds)
}

// One caller's short deadline does not fail the statements batched with
// it: the batch runs to the latest deadline among them.
func TestPipelineShortDeadlineFailsNobodyElse(t *testing.T) {
	db, kinds, ctx, wg := batchingTest(t)

	good := insertNumbers(ctx, db, wg, 5)
	wg.Go(func() {
		short, cancel := context.WithTimeout(ctx, 400*time.Millisecond)
		defer cancel()
		var slept string
		_ = db.rawRow(short, "SELECT pg_sleep(0.5)::text", nil, &slept)
	})
	wg.Wait()
	for i, err := range good {
		if err != nil {
			t.Errorf("statement %d, batched with a shorter deadline: %v", i, err)
		}
	}
	requireStored(t, db, len(good))
	requireBatched(t, kinds)
}

// A statement queued when the DB closes gets an error database/sql would
// give (unavailable), not a hang.
func TestPipelineClosed(t *testing.T) {
	db, _ := pipelineTestDB(t)
	ctx := sqlTestCtx(t)
	_ = db.Close()
	var v int
	err := db.rawRow(ctx, "SELECT ?::int", []any{1}, &v)
	if err == nil || !sqlUnavailable(err) {
		t.Fatalf("after Close: %v, want unavailable", err)
	}
	_ = db.Close() // twice is harmless
}

package sqlstore

import (
	"errors"
	"maps"
	"sync"
	"testing"

	"gorm.io/gorm"

	"github.com/cxbot/cxbot/flows"
)

// statementCounter counts what OnStatement reports, by kind.
type statementCounter struct {
	mu    sync.Mutex
	n     map[Statement]int
	total map[Statement]int // everything taken so far
}

func newStatementCounter() *statementCounter {
	return &statementCounter{n: map[Statement]int{}, total: map[Statement]int{}}
}

func (c *statementCounter) add(s Statement) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.n[s]++
}

// take returns the counts so far and starts again from zero.
func (c *statementCounter) take() map[Statement]int {
	c.mu.Lock()
	defer c.mu.Unlock()
	got := c.n
	for k, v := range got {
		c.total[k] += v
	}
	c.n = map[Statement]int{}
	return got
}

func TestOnStatementCountsRoundTrips(t *testing.T) {
	eachSQL(t, func(t *testing.T, db *DB) {
		ctx := sqlTestCtx(t)
		c := newStatementCounter()
		db.OnStatement(c.add)
		second := newStatementCounter()
		db.OnStatement(second.add) // hooks add up, each sees everything

		check := func(what string, want map[Statement]int) {
			t.Helper()
			got := c.take()
			for _, k := range []Statement{StatementSQL, StatementBegin, StatementCommit, StatementRollback} {
				if got[k] != want[k] {
					t.Errorf("%s: %d %s round trips, want %d (all: %v)", what, got[k], k, want[k], got)
				}
			}
		}

		var n int
		if err := db.conn(ctx).Raw("SELECT 1").Scan(&n).Error; err != nil || n != 1 {
			t.Fatalf("raw select: %d, %v", n, err)
		}
		check("Raw.Scan", map[Statement]int{StatementSQL: 1})

		if _, err := db.CustomerByRef(ctx, "nobody"); !errors.Is(err, flows.ErrNotFound) {
			t.Fatalf("CustomerByRef: %v", err)
		}
		check("a query finding nothing", map[Statement]int{StatementSQL: 1})

		err := db.conn(ctx).Transaction(func(tx *gorm.DB) error {
			if err := tx.Exec("SELECT 1").Error; err != nil {
				return err
			}
			return tx.Create(&customerRow{Ref: "c-1", CreatedAt: db.now()}).Error
		})
		if err != nil {
			t.Fatal(err)
		}
		check("a transaction of two statements", map[Statement]int{StatementSQL: 2, StatementBegin: 1, StatementCommit: 1})

		err = db.conn(ctx).Transaction(func(tx *gorm.DB) error {
			if err := tx.Exec("SELECT 1").Error; err != nil {
				return err
			}
			return errors.New("changed my mind")
		})
		if err == nil {
			t.Fatal("the transaction did not fail")
		}
		check("a transaction rolled back", map[Statement]int{StatementSQL: 1, StatementBegin: 1, StatementRollback: 1})

		// A statement the database refuses went there all the same.
		if err := db.conn(ctx).Exec("SELECT * FROM no_such_table").Error; err == nil {
			t.Fatal("select from a missing table succeeded")
		}
		check("a failed statement", map[Statement]int{StatementSQL: 1})

		if _, err := db.UpsertCustomer(ctx, "c-2", "en"); err != nil {
			t.Fatal(err)
		}
		got := c.take()
		if got[StatementBegin] != 1 || got[StatementCommit] != 1 || got[StatementSQL] < 1 {
			t.Errorf("UpsertCustomer: %v, want one transaction with its statements", got)
		}

		var wg sync.WaitGroup
		for range 8 {
			wg.Go(func() {
				if _, err := db.CustomerByRef(ctx, "c-1"); err != nil {
					t.Error(err)
				}
			})
		}
		wg.Wait()
		check("concurrent queries", map[Statement]int{StatementSQL: 8})

		if err := db.Ping(ctx); err != nil {
			t.Fatalf("Ping through the wrapped pool: %v", err)
		}
		if s := second.take(); !maps.Equal(s, c.total) || s[StatementBegin] != 3 || s[StatementRollback] != 1 {
			t.Errorf("the second hook saw %v, the first %v: want the same", s, c.total)
		}
	})
}

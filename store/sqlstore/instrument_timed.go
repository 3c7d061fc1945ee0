package sqlstore

import (
	"context"
	"errors"
	"fmt"
	"time"

	"gorm.io/gorm"

	"github.com/cxbot/cxbot/flows"
)

// OnStatementDone calls fn after every SQL statement the store runs (not
// BEGIN or COMMIT) with how long it took and whether the database refused
// it or could not be reached (a row not found is not a failure), for
// metrics. Like OnStatement, call it before the DB is used concurrently;
// fn must be safe for concurrent use, and quick.
func (db *DB) OnStatementDone(fn func(took time.Duration, failed bool)) {
	db.raw.done = append(db.raw.done, fn)
	const startKey = "cxbot:statement_start"
	start := func(tx *gorm.DB) { tx.InstanceSet(startKey, time.Now()) }
	done := func(tx *gorm.DB) {
		v, ok := tx.InstanceGet(startKey)
		began, isTime := v.(time.Time)
		if !ok || !isTime || tx.DryRun {
			return
		}
		err := tx.Error
		fn(time.Since(began), err != nil && !errors.Is(err, gorm.ErrRecordNotFound))
	}
	cb := db.gorm.Callback()
	name := "cxbot:statement_timer"
	for i := 2; cb.Query().Get(name+"_start") != nil; i++ {
		name = fmt.Sprintf("cxbot:statement_timer_%d", i)
	}
	// Register only fails on an ordering conflict, which names of our own
	// placed around GORM's callbacks cannot cause.
	_ = cb.Create().Before("gorm:create").Register(name+"_start", start)
	_ = cb.Create().After("gorm:create").Register(name+"_done", done)
	_ = cb.Query().Before("gorm:query").Register(name+"_start", start)
	_ = cb.Query().After("gorm:query").Register(name+"_done", done)
	_ = cb.Update().Before("gorm:update").Register(name+"_start", start)
	_ = cb.Update().After("gorm:update").Register(name+"_done", done)
	_ = cb.Delete().Before("gorm:delete").Register(name+"_start", start)
	_ = cb.Delete().After("gorm:delete").Register(name+"_done", done)
	_ = cb.Row().Before("gorm:row").Register(name+"_start", start)
	_ = cb.Row().After("gorm:row").Register(name+"_done", done)
	_ = cb.Raw().Before("gorm:raw").Register(name+"_start", start)
	_ = cb.Raw().After("gorm:raw").Register(name+"_done", done)
}

// OpenHandoffs counts the handoffs waiting for an agent (awaiting a comment
// or open, not yet claimed) and tells when the oldest was opened (zero when
// there is none), for the metrics an on-call person alerts on.
func (db *DB) OpenHandoffs(ctx context.Context) (count int64, oldest time.Time, err error) {
	open := func() *gorm.DB {
		return db.conn(ctx).Model(&handoffRow{}).
			Where("status IN ?", statusStrings(flows.WaitingHandoffStatuses()))
	}
	if err := open().Count(&count).Error; err != nil {
		return 0, time.Time{}, sqlErr("count open handoffs", err)
	}
	if count == 0 {
		return 0, time.Time{}, nil
	}
	var first handoffRow
	if err := open().Order("created_at").Limit(1).Take(&first).Error; err != nil {
		return 0, time.Time{}, sqlErr("oldest open handoff", err)
	}
	return count, first.CreatedAt.UTC(), nil
}

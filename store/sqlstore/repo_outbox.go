package sqlstore

import (
	"time"

	"gorm.io/gorm"

	"github.com/cxbot/cxbot/flows"
)

// insertOutbox queues a webhook in tx, so it commits (or not) with the
// change it reports: nothing the business's systems hear of is ever undone,
// and nothing done goes unreported.
func insertOutbox(tx *gorm.DB, e flows.OutboxEvent, at time.Time) error {
	row := outboxRow{Event: string(e.Event), SubjectID: e.SubjectID, Payload: string(e.Payload), CreatedAt: at, NextAttemptAt: at}
	return tx.Create(&row).Error
}

package main

import (
	"context"
	"fmt"
	"time"

	"github.com/cxbot/cxbot/flows"
	"github.com/cxbot/cxbot/scheduler"
)

// addHousekeepingJob deletes what can no longer change anything, on one
// replica per CXBOT_RETENTION_SWEEP slot: finished webhook deliveries older
// than CXBOT_WEBHOOK_LOG_RETENTION and link tokens a day past their expiry,
// so neither table grows for ever.
func (a *app) addHousekeepingJob() error {
	err := a.sched.Add(scheduler.Job{Name: "housekeeping", Spec: a.cfg.RetentionSweep, Run: func(ctx context.Context, now time.Time) error {
		pruned, err := a.db.PruneFinished(ctx, now.Add(-a.cfg.DeliveryLogKeep), flows.LinkTokensPrunableBefore(now))
		if err != nil {
			return err
		}
		if pruned.WebhookDeliveries > 0 || pruned.LinkTokens > 0 {
			a.log.Info("housekeeping pruned finished rows", "webhook_deliveries", pruned.WebhookDeliveries, "link_tokens", pruned.LinkTokens)
		}
		return nil
	}})
	if err != nil {
		return fmt.Errorf("CXBOT_RETENTION_SWEEP: %w", err)
	}
	return nil
}

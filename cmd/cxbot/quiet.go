package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/cxbot/cxbot/flows"
	"github.com/cxbot/cxbot/scheduler"
)

// quietUntil tells the API when a customer's quiet hours end, in the time
// zone the call gives, else the one their events gave, else UTC. Nil
// without quiet hours (CXBOT_API_QUIET_HOURS=off).
func (a *app) quietUntil() func(ctx context.Context, customerRef, timezone string, now time.Time) (time.Time, error) {
	if len(a.cfg.APIQuietHours) == 0 {
		return nil
	}
	return func(ctx context.Context, customerRef, timezone string, now time.Time) (time.Time, error) {
		loc := time.UTC
		switch {
		case timezone != "":
			l, err := time.LoadLocation(timezone)
			if err != nil {
				return time.Time{}, fmt.Errorf("%w: timezone %q is not an IANA time zone such as Asia/Shanghai", flows.ErrInvalid, timezone)
			}
			loc = l
		case customerRef != "":
			c, err := a.db.CustomerByRef(ctx, customerRef)
			switch {
			case err == nil && c.TimeZone != "":
				if l, err := time.LoadLocation(c.TimeZone); err == nil {
					loc = l
				}
			case err != nil && !errors.Is(err, flows.ErrNotFound):
				return time.Time{}, err
			}
		}
		return scheduler.QuietUntil(a.cfg.APIQuietHours, now, loc), nil
	}
}

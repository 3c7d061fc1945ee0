package sqlstore

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"

	"github.com/cxbot/cxbot/flows"
)

// BenchmarkApplyStep measures durable answers per second: each op is one
// ApplyStep transaction inserting one NPS answer. "serial" is one chat after
// another; "parallel" is GOMAXPROCS chats answering at once (each goroutine
// its own response), which is where PostgreSQL's pool pays off and
// SQLite's single writer shows.
func BenchmarkApplyStep(b *testing.B) {
	for _, tdb := range openTestDBs(b) {
		b.Run(tdb.name, func(b *testing.B) {
			db := tdb.open(b)
			ctx := context.Background()
			if _, err := db.Migrate(ctx); err != nil {
				b.Fatal(err)
			}
			var responses atomic.Int64
			newResponse := func() (int64, error) {
				n := responses.Add(1)
				c, err := db.UpsertCustomer(ctx, fmt.Sprint("bench-", n), "en")
				if err != nil {
					return 0, err
				}
				inv, _, err := db.CreateInvitation(ctx, flows.Invitation{WaveID: "bench", CustomerID: c.ID,
					SurveyID: "bench", Channel: flows.ChannelTelegram, ExternalID: fmt.Sprint(n)})
				if err != nil {
					return 0, err
				}
				r, err := db.StartResponse(ctx, flows.Response{InvitationID: inv.ID})
				return r.ID, err
			}
			step := func(responseID int64, i int) error {
				score := i % 11
				_, err := db.ApplyStep(ctx, flows.StepWrite{
					ResponseID: responseID,
					Answer: &flows.Answer{QuestionID: fmt.Sprint("q", i), Kind: flows.KindNPS,
						Score: &score, Class: flows.ClassPassive},
				})
				return err
			}

			b.Run("serial", func(b *testing.B) {
				id, err := newResponse()
				if err != nil {
					b.Fatal(err)
				}
				b.ReportAllocs()
				for i := 0; b.Loop(); i++ {
					if err := step(id, i); err != nil {
						b.Fatal(err)
					}
				}
				b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "answers/s")
			})
			b.Run("parallel", func(b *testing.B) {
				b.ReportAllocs()
				b.RunParallel(func(pb *testing.PB) {
					id, err := newResponse()
					if err != nil {
						b.Error(err)
						return
					}
					for i := 0; pb.Next(); i++ {
						if err := step(id, i); err != nil {
							b.Error(err)
							return
						}
					}
				})
				b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "answers/s")
			})
		})
	}
}

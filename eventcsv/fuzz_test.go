package eventcsv

import (
	"context"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/cxbot/cxbot/flows"
)

// FuzzImport: any file is imported or refused line by line, never a panic,
// and every event that reaches the store passed the domain's validation.
func FuzzImport(f *testing.F) {
	f.Add("id,customer_ref,touchpoint,occurred_at,telegram_chat_id,store\ne1,C-1,purchase,2026-11-20T09:30:00Z,42,SH-01\n")
	f.Add("\ufeffid,customer_ref,touchpoint,occurred_at\n\"e\x00\",\"C\n1\",p,2026-11-20T09:30:00Z\n")
	f.Add("id,id\n1,2\n")
	f.Add("")
	f.Fuzz(func(t *testing.T, file string) {
		saver := &fakeEvents{}
		imp := Importer{Events: saver, Now: func() time.Time { return time.Date(2026, 11, 21, 0, 0, 0, 0, time.UTC) }}
		_, _ = imp.Import(context.Background(), strings.NewReader(file)) // bad files and rows are errors, counted
		for _, e := range saver.stored {
			if _, verr := flows.ValidateEvent(flows.EventInput{ID: e.ID, CustomerRef: e.CustomerRef, Touchpoint: e.Touchpoint,
				OccurredAt: e.OccurredAt.Format(time.RFC3339Nano)}, time.Date(2026, 11, 21, 0, 0, 0, 0, time.UTC)); verr != nil ||
				!utf8.ValidString(e.ID) {
				t.Fatalf("stored an invalid event %+v: %v", e, verr)
			}
		}
	})
}

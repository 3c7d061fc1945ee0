package eventcsv

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/cxbot/cxbot/flows"
)

// fakeEvents stores events in memory the way the SQL store does: idempotent
// by id, also within one batch. Reject makes it refuse an id (as a store
// refuses an event that conflicts with a customer's data); FailCall makes
// its n-th call (1-based) fail whole.
type fakeEvents struct {
	Reject   map[string]error
	FailCall int
	FailWith error

	calls   int
	batches [][]string // the ids of each call
	stored  map[string]flows.Event
}

func (f *fakeEvents) SaveEvents(_ context.Context, events []flows.Event) ([]flows.EventResult, error) {
	f.calls++
	if f.calls == f.FailCall {
		return nil, f.FailWith
	}
	if f.stored == nil {
		f.stored = map[string]flows.Event{}
	}
	ids := make([]string, 0, len(events))
	results := make([]flows.EventResult, 0, len(events))
	for _, e := range events {
		ids = append(ids, e.ID)
		res := flows.EventResult{ID: e.ID}
		_, seen := f.stored[e.ID]
		switch {
		case f.Reject[e.ID] != nil:
			res.Err = f.Reject[e.ID]
		case !seen:
			f.stored[e.ID] = e
			res.Created = true
		}
		results = append(results, res)
	}
	f.batches = append(f.batches, ids)
	return results, nil
}

var testNow = time.Date(2026, 2, 1, 12, 0, 0, 0, time.UTC)

func clock() time.Time { return testNow }

func TestImportMapsColumns(t *testing.T) {
	const file = "\ufeffID,Customer_Ref,touchpoint,occurred_at,telegram_chat_id,wechat_openid,language,timezone,order_id,attr.store,ATTR.id,sku\n" +
		"ord-1,C-1,purchase,2026-01-20T09:30:00+08:00,42,,zh-CN,Asia/Shanghai,1001,SH-01,x-1,A7\n" +
		" ord-2 ,C-2,purchase,2026-01-20T10:00:00+08:00,,oAbC123,en,,1002,\"SH-02, Pudong\",,\n" +
		"ord-1,C-1,purchase,2026-01-20T09:30:00+08:00,42,,zh-CN,Asia/Shanghai,1001,SH-01,x-1,A7\n"
	store := &fakeEvents{}
	sum, err := Importer{Events: store, Now: clock}.Import(context.Background(), strings.NewReader(file))
	if err != nil {
		t.Fatal(err)
	}
	if want := (Summary{Rows: 3, Created: 2, Duplicates: 1}); !reflect.DeepEqual(sum, want) {
		t.Fatalf("summary = %+v, want %+v", sum, want)
	}
	if len(store.batches) != 1 {
		t.Fatalf("batches = %v, want one (default batch size)", store.batches)
	}
	got := store.stored["ord-1"]
	want := flows.Event{
		ID: "ord-1", CustomerRef: "C-1", Touchpoint: "purchase", TelegramChatID: "42", Language: "zh-CN", TimeZone: "Asia/Shanghai",
		OccurredAt: got.OccurredAt, Attributes: map[string]string{"order_id": "1001", "store": "SH-01", "id": "x-1", "sku": "A7"},
	}
	if !reflect.DeepEqual(got, want) || !got.OccurredAt.Equal(time.Date(2026, 1, 20, 1, 30, 0, 0, time.UTC)) {
		t.Fatalf("ord-1 = %+v\nwant    %+v", got, want)
	}
	// Values are trimmed; an empty cell is no attribute.
	if e := store.stored["ord-2"]; e.WeChatOpenID != "oAbC123" || !reflect.DeepEqual(e.Attributes, map[string]string{"order_id": "1002", "store": "SH-02, Pudong"}) {
		t.Fatalf("ord-2 = %+v", e)
	}

	// Without attribute columns an event has no attributes at all.
	store = &fakeEvents{}
	if _, err := (Importer{Events: store, Now: clock}).Import(context.Background(),
		strings.NewReader("id,customer_ref,touchpoint,occurred_at\ne,C,t,2026-01-20T09:30:00Z\n")); err != nil {
		t.Fatal(err)
	}
	if e := store.stored["e"]; e.Attributes != nil {
		t.Fatalf("attributes = %#v, want nil", e.Attributes)
	}
}

func TestImportReportsBadRowsByLine(t *testing.T) {
	const file = "id,customer_ref,touchpoint,occurred_at,telegram_chat_id,timezone,store\n" + // line 1
		"e-1,C-1,purchase,2026-01-20T09:30:00Z,42,Asia/Shanghai,SH-01\n" + // 2
		"e-2,,purchase,2026-01-20T09:30:00Z,,,SH-01\n" + // 3
		"e-3,C-3,purchase,yesterday,,,SH-01\n" + // 4
		"e-4,C-4,purchase,2026-01-20T09:30:00Z,abc,,SH-01\n" + // 5
		"e-5,C-5,purchase,2026-01-20T09:30:00Z,,Mars/Olympus,SH-01\n" + // 6
		"e-6,C-6,purchase,2026-01-20T09:30:00Z,,\n" + // 7
		"\"e-7\",\"C-7\",\"purchase\",\"2026-01-20T09:30:00Z\",\"\",\"\",\"multi\nline store\"\n" + // 8-9
		"e-8,C-8,purchase,2026-02-02T12:00:01Z,,,SH-01\n" + // 10
		"e-9,C-9,purchase,2026-01-21T09:30:00Z,,,SH-09\n" + // 11
		"e-10,C-10,purchase,2026-01-21T09:30:00Z,,,SH\"10\n" + // 12
		"e-11,C-11,purchase,2026-01-21T09:30:00Z,,,SH-11\n" // 13, refused by the store
	refused := fmt.Errorf("%w: customer C-11 is linked to another chat", flows.ErrInvalid)
	store := &fakeEvents{Reject: map[string]error{"e-11": refused}}
	sum, err := Importer{Events: store, Batch: 2, Now: clock}.Import(context.Background(), strings.NewReader(file))
	if err != nil {
		t.Fatal(err)
	}
	want := Summary{Rows: 11, Created: 3, Rejected: 8, Bad: []RowError{
		{3, "customer_ref is required"},
		{4, `occurred_at "yesterday" is not RFC 3339 (like 2026-11-20T09:30:00+08:00)`},
		{5, `telegram_chat_id "abc" is not a Telegram chat id (an integer)`},
		{6, `timezone "Mars/Olympus" is not an IANA time zone (like Asia/Shanghai)`},
		{7, "has 6 fields, the header has 7"},
		{10, `occurred_at "2026-02-02T12:00:01Z" is more than a day in the future`},
		{12, `is not valid CSV: bare " in non-quoted-field`},
		{13, refused.Error()},
	}}
	if !reflect.DeepEqual(sum, want) {
		t.Fatalf("summary =\n%+v\nwant\n%+v", sum, want)
	}
	if e := store.stored["e-7"]; e.Attributes["store"] != "multi\nline store" {
		t.Fatalf("e-7 = %+v", e)
	}
	if want := [][]string{{"e-1", "e-7"}, {"e-9", "e-11"}}; !reflect.DeepEqual(store.batches, want) {
		t.Fatalf("batches = %v, want %v", store.batches, want)
	}

	var out bytes.Buffer
	sum.WriteReport(&out, "events.csv")
	report := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
	if len(report) != 9 || report[0] != "events.csv: 11 rows: 3 created, 0 duplicates (stored before), 8 rejected" ||
		report[1] != "line 3: customer_ref is required" || report[8] != "line 13: "+refused.Error() {
		t.Fatalf("report:\n%s", out.String())
	}
}

func TestImportBatchesAndProgress(t *testing.T) {
	var b strings.Builder
	b.WriteString("id,customer_ref,touchpoint,occurred_at\n")
	for i := range 7 {
		fmt.Fprintf(&b, "e-%d,C-%d,purchase,2026-01-20T09:30:00Z\n", i, i)
	}
	b.WriteString("bad,,purchase,2026-01-20T09:30:00Z\n")
	file := b.String()

	store := &fakeEvents{}
	var seen []Progress
	imp := Importer{Events: store, Batch: 3, Now: clock, Progress: func(p Progress) { seen = append(seen, p) }}
	sum, err := imp.Import(context.Background(), strings.NewReader(file))
	if err != nil {
		t.Fatal(err)
	}
	if sum.Rows != 8 || sum.Created != 7 || sum.Rejected != 1 {
		t.Fatalf("summary = %+v", sum)
	}
	var sizes []int
	for _, ids := range store.batches {
		sizes = append(sizes, len(ids))
	}
	if !reflect.DeepEqual(sizes, []int{3, 3, 1}) {
		t.Fatalf("batch sizes = %v, want [3 3 1]", sizes)
	}
	if len(seen) != 3 || seen[0].Rows != 3 || seen[0].Created != 3 || seen[1].Created != 6 {
		t.Fatalf("progress = %+v", seen)
	}
	if last := seen[2]; last.Rows != 8 || last.Created != 7 || last.Rejected != 1 || last.BytesRead != int64(len(file)) {
		t.Fatalf("last progress = %+v, want all %d bytes and rows", last, len(file))
	}

	// Importing again adds nothing.
	sum, err = imp.Import(context.Background(), strings.NewReader(file))
	if err != nil || sum.Created != 0 || sum.Duplicates != 7 {
		t.Fatalf("second import = %+v, %v", sum, err)
	}
}

func TestImportRefusesHeaders(t *testing.T) {
	for _, tc := range []struct{ name, file, want string }{
		{"empty", "", "the file is empty: the first row must name the columns"},
		{"unreadable header", "id,\"customer_ref\n", "reading the header: "},
		{"unnamed column", "id,customer_ref, ,touchpoint,occurred_at\n", "header column 3 has no name"},
		{"column twice", "id,customer_ref,touchpoint,occurred_at,ID\n", `header names column "id" twice`},
		{"attribute twice", "id,customer_ref,touchpoint,occurred_at,store,attr.store\n", `header names attribute "store" twice`},
		{"no customer", "id,touchpoint,occurred_at,store\ne-1,purchase,2026-01-20T09:30:00Z,SH-01\n",
			"the header has no column customer_ref (the first row must name the columns; id, customer_ref, touchpoint and occurred_at are required)"},
		{"several missing", "store\nSH-01\n", "the header has no column id, customer_ref, touchpoint, occurred_at ("},
	} {
		t.Run(tc.name, func(t *testing.T) {
			store := &fakeEvents{}
			sum, err := Importer{Events: store, Now: clock}.Import(context.Background(), strings.NewReader(tc.file))
			if err == nil || !strings.HasPrefix(err.Error(), tc.want) {
				t.Fatalf("err = %v, want it to start with %q", err, tc.want)
			}
			if store.calls != 0 || sum.Rows != 0 {
				t.Fatalf("a refused header read rows: %+v, %d store calls", sum, store.calls)
			}
		})
	}
}

func TestImportStopsWhenTheStoreFails(t *testing.T) {
	file := "id,customer_ref,touchpoint,occurred_at\n" +
		"e-1,C,t,2026-01-20T09:30:00Z\n" + // line 2
		"e-2,C,t,2026-01-20T09:30:00Z\n" +
		"e-3,C,t,2026-01-20T09:30:00Z\n" + // 4
		",C,t,2026-01-20T09:30:00Z\n" +
		"e-5,C,t,2026-01-20T09:30:00Z\n" + // 6
		"e-6,C,t,2026-01-20T09:30:00Z\n"
	down := fmt.Errorf("%w: database is down", flows.ErrUnavailable)
	store := &fakeEvents{FailCall: 2, FailWith: down}
	sum, err := Importer{Events: store, Batch: 2, Now: clock}.Import(context.Background(), strings.NewReader(file))
	if !errors.Is(err, down) || err.Error() !=
		"storing the rows of lines 4 to 6: unavailable: database is down (rows before them are stored; importing again is safe)" {
		t.Fatalf("err = %v", err)
	}
	if sum.Rows != 5 || sum.Created != 2 || sum.Rejected != 1 || len(sum.Bad) != 1 || sum.Bad[0].Line != 5 {
		t.Fatalf("summary = %+v; want what was done before the failure", sum)
	}
}

// failingReader returns its data, then an error that is not a CSV one.
type failingReader struct {
	data io.Reader
	err  error
}

func (r *failingReader) Read(p []byte) (int, error) {
	n, err := r.data.Read(p)
	if err == io.EOF {
		return n, r.err
	}
	return n, err
}

func TestImportStopsOnReadErrorsAndCancel(t *testing.T) {
	lost := errors.New("connection reset")
	in := &failingReader{data: strings.NewReader("id,customer_ref,touchpoint,occurred_at\ne-1,C,t,2026-01-20T09:30:00Z\n"), err: lost}
	store := &fakeEvents{}
	_, err := Importer{Events: store, Now: clock}.Import(context.Background(), in)
	if !errors.Is(err, lost) || !strings.HasPrefix(err.Error(), "reading the file after 1 rows: ") || store.calls != 0 {
		t.Fatalf("err = %v, %d store calls", err, store.calls)
	}

	ctx, cancel := context.WithCancel(context.Background())
	store = &fakeEvents{}
	imp := Importer{Events: store, Batch: 1, Now: clock, Progress: func(Progress) { cancel() }}
	sum, err := imp.Import(ctx, strings.NewReader("id,customer_ref,touchpoint,occurred_at\ne-1,C,t,2026-01-20T09:30:00Z\ne-2,C,t,2026-01-20T09:30:00Z\n"))
	if !errors.Is(err, context.Canceled) || err.Error() != "stopped after line 2: context canceled" || sum.Created != 1 || store.calls != 1 {
		t.Fatalf("cancelled import = %+v, %v", sum, err)
	}
}

func TestImportBatchBounds(t *testing.T) {
	for _, n := range []int{-1, flows.MaxEventBatch + 1} {
		_, err := Importer{Events: &fakeEvents{}, Batch: n}.Import(context.Background(), strings.NewReader(""))
		if !errors.Is(err, flows.ErrInvalid) || !strings.Contains(err.Error(), "out of range (1 to 1000)") {
			t.Errorf("batch %d: %v", n, err)
		}
	}
	// The default clock is the wall clock: an event a year ahead is refused.
	next := time.Now().AddDate(1, 0, 0).UTC().Format(time.RFC3339)
	sum, err := Importer{Events: &fakeEvents{}}.Import(context.Background(),
		strings.NewReader("id,customer_ref,touchpoint,occurred_at\ne,C,t,"+next+"\n"))
	if err != nil || sum.Rejected != 1 || !strings.Contains(sum.Bad[0].Reason, "more than a day in the future") {
		t.Fatalf("summary = %+v, %v", sum, err)
	}
}

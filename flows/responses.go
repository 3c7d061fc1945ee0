package flows

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"
)

// ResponseRecord is one response as marketers read it: who answered which
// survey on which wave, the invitation's context (the event's attributes),
// and the answers in the order they came.
type ResponseRecord struct {
	ID          int64             `json:"id"`
	Survey      string            `json:"survey"`
	Wave        string            `json:"wave"`
	CustomerRef string            `json:"customer_ref"`
	Channel     Channel           `json:"channel"`
	Language    string            `json:"language"`
	Status      ResponseStatus    `json:"status"`
	StartedAt   time.Time         `json:"started_at"`
	CompletedAt *time.Time        `json:"completed_at"`
	Attributes  map[string]string `json:"attributes"`
	Answers     []RecordAnswer    `json:"answers"`
}

// RecordAnswer is an answer of a ResponseRecord.
type RecordAnswer struct {
	QuestionID string    `json:"question_id"`
	Kind       Kind      `json:"kind"`
	Score      *int      `json:"score,omitempty"`
	Choice     string    `json:"choice,omitempty"`
	Text       string    `json:"text,omitempty"`
	Class      Class     `json:"class,omitempty"`
	Skipped    bool      `json:"skipped,omitempty"`
	AnsweredAt time.Time `json:"answered_at"`
}

// Value is the answer as one export cell: the score, the choice or the
// text; empty when skipped.
func (a RecordAnswer) Value() string {
	switch {
	case a.Skipped:
		return ""
	case a.Score != nil:
		return strconv.Itoa(*a.Score)
	case a.Choice != "":
		return a.Choice
	}
	return a.Text
}

// ResponseFilter selects responses for the list and the exports: those
// started in [From, To) matching the report query's survey, wave and
// attributes; with Class, only those with an answer of that class; with
// WithText, only those with a non-empty text answer. Pages go by id: After
// (ascending) or Before (newest first) is the cursor.
type ResponseFilter struct {
	ReportQuery
	Class    Class
	WithText bool
	After    int64
	Before   int64
	Newest   bool
	Limit    int
}

// MaxResponsePage bounds one page of the response list.
const MaxResponsePage = 500

// Validate checks the class and the page size.
func (f ResponseFilter) Validate() error {
	if f.Class != "" && !f.Class.Valid() {
		return fmt.Errorf("%w: class=%q: use promoter, passive, detractor, satisfied, neutral, dissatisfied, easy or difficult", ErrInvalid, string(f.Class))
	}
	if f.Limit < 0 || f.Limit > MaxResponsePage {
		return fmt.Errorf("%w: limit=%d: 1 to %d", ErrInvalid, f.Limit, MaxResponsePage)
	}
	return nil
}

// Valid reports whether c is one of the classes a score can fall in.
func (c Class) Valid() bool {
	for _, k := range []Kind{KindNPS, KindCSAT, KindCES} {
		for _, kc := range k.Classes() {
			if kc == c {
				return true
			}
		}
	}
	return false
}

// ExportHeader is the header row of a response export: the response's own
// columns, one per question of the survey (in its order), and one per
// attribute (sorted, prefixed "attr.").
func ExportHeader(questions []string, attributes []string) []string {
	h := []string{"response_id", "survey", "wave", "customer_ref", "channel", "language", "status", "started_at", "completed_at"}
	h = append(h, questions...)
	attrs := append([]string(nil), attributes...)
	sort.Strings(attrs)
	for _, a := range attrs {
		h = append(h, "attr."+a)
	}
	return h
}

// ExportRow is the record as the cells under ExportHeader(questions,
// attributes), every one neutralised (NeutralizeCell). The first answer to
// a question stands; answers to questions not listed are left out.
func ExportRow(r ResponseRecord, questions []string, attributes []string) []string {
	completed := ""
	if r.CompletedAt != nil {
		completed = r.CompletedAt.UTC().Format(time.RFC3339)
	}
	row := []string{strconv.FormatInt(r.ID, 10), r.Survey, r.Wave, r.CustomerRef, string(r.Channel), r.Language,
		string(r.Status), r.StartedAt.UTC().Format(time.RFC3339), completed}
	byQuestion := make(map[string]string, len(r.Answers))
	for _, a := range r.Answers {
		if _, seen := byQuestion[a.QuestionID]; !seen {
			byQuestion[a.QuestionID] = a.Value()
		}
	}
	for _, q := range questions {
		row = append(row, byQuestion[q])
	}
	attrs := append([]string(nil), attributes...)
	sort.Strings(attrs)
	for _, a := range attrs {
		row = append(row, r.Attributes[a])
	}
	for i, c := range row {
		row[i] = NeutralizeCell(c)
	}
	return row
}

// NeutralizeCell keeps a spreadsheet from reading customer text as a
// formula: a cell starting with = + - @ (or a tab or carriage return, which
// some spreadsheets skip before them) gets a leading apostrophe.
func NeutralizeCell(s string) string {
	if s != "" && strings.ContainsRune("=+-@\t\r", rune(s[0])) {
		return "'" + s
	}
	return s
}

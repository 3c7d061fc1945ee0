package store

import (
	"encoding/json"
	"time"

	"github.com/cxbot/cxbot/flows"
)

// Row structs of the live schema. They mirror the tables the migrations
// create and never leave the package: every repository method maps them to
// and from flows types. The DDL is not derived from them (see migrations.go),
// so they carry no constraint or index tags.

type customerRow struct {
	ID            int64 `gorm:"primaryKey"`
	Ref           string
	Language      string
	TimeZone      string
	OptedOutAt    *time.Time
	UnreachableAt *time.Time
	CreatedAt     time.Time
	UpdatedAt     time.Time
}

func (customerRow) TableName() string { return "customers" }

func (r customerRow) domain() flows.Customer {
	return flows.Customer{
		ID:            r.ID,
		Ref:           r.Ref,
		Language:      r.Language,
		TimeZone:      r.TimeZone,
		OptedOutAt:    utcPtr(r.OptedOutAt),
		UnreachableAt: utcPtr(r.UnreachableAt),
		CreatedAt:     r.CreatedAt.UTC(),
	}
}

type identityRow struct {
	ID         int64 `gorm:"primaryKey"`
	CustomerID int64
	Channel    string
	ExternalID string
	Username   string
	Language   string
	LinkedAt   time.Time
}

func (identityRow) TableName() string { return "channel_identities" }

func (r identityRow) domain() flows.Identity {
	return flows.Identity{
		ID:         r.ID,
		CustomerID: r.CustomerID,
		Channel:    flows.Channel(r.Channel),
		ExternalID: r.ExternalID,
		Username:   r.Username,
		Language:   r.Language,
		LinkedAt:   r.LinkedAt.UTC(),
	}
}

type surveyRow struct {
	SurveyID    string `gorm:"primaryKey"`
	Version     int    `gorm:"primaryKey;autoIncrement:false"`
	Fingerprint string
	Definition  string
	CreatedAt   time.Time
}

func (surveyRow) TableName() string { return "surveys" }

type invitationRow struct {
	ID            int64 `gorm:"primaryKey"`
	WaveID        string
	CustomerID    int64
	EventID       string
	SurveyID      string
	SurveyVersion int
	Channel       string
	ExternalID    string
	Language      string
	Context       string // JSON object
	Status        string
	Error         string
	SentAt        *time.Time
	CreatedAt     time.Time
	UpdatedAt     time.Time
}

func (invitationRow) TableName() string { return "invitations" }

// invitationWithRef is an invitation joined with its customer's ref, which
// the conversation layer copies into handoffs.
type invitationWithRef struct {
	Row         invitationRow `gorm:"embedded"`
	CustomerRef string
}

func (w invitationWithRef) domain() flows.Invitation {
	r := w.Row
	return flows.Invitation{
		ID:            r.ID,
		WaveID:        r.WaveID,
		CustomerID:    r.CustomerID,
		CustomerRef:   w.CustomerRef,
		EventID:       r.EventID,
		SurveyID:      r.SurveyID,
		SurveyVersion: r.SurveyVersion,
		Channel:       flows.Channel(r.Channel),
		ExternalID:    r.ExternalID,
		Language:      r.Language,
		Context:       contextFromJSON(r.Context),
		Status:        r.Status,
		Error:         r.Error,
		SentAt:        utcPtr(r.SentAt),
		CreatedAt:     r.CreatedAt.UTC(),
	}
}

type responseRow struct {
	ID            int64 `gorm:"primaryKey"`
	InvitationID  int64
	CustomerID    int64
	SurveyID      string
	SurveyVersion int
	Channel       string
	ExternalID    string
	Language      string
	Status        string
	StartedAt     time.Time
	CompletedAt   *time.Time
}

func (responseRow) TableName() string { return "responses" }

func (r responseRow) domain() flows.Response {
	return flows.Response{
		ID:            r.ID,
		InvitationID:  r.InvitationID,
		CustomerID:    r.CustomerID,
		SurveyID:      r.SurveyID,
		SurveyVersion: r.SurveyVersion,
		Channel:       flows.Channel(r.Channel),
		ExternalID:    r.ExternalID,
		Language:      r.Language,
		Status:        r.Status,
		StartedAt:     r.StartedAt.UTC(),
		CompletedAt:   utcPtr(r.CompletedAt),
	}
}

type answerRow struct {
	ID         int64 `gorm:"primaryKey"`
	ResponseID int64
	QuestionID string
	Kind       string
	Score      *int
	Choice     string
	Text       string
	Class      string
	Skipped    bool
	AnsweredAt time.Time
}

func (answerRow) TableName() string { return "answers" }

func (r answerRow) domain() flows.Answer {
	return flows.Answer{
		QuestionID: r.QuestionID,
		Kind:       flows.Kind(r.Kind),
		Score:      r.Score,
		Choice:     r.Choice,
		Text:       r.Text,
		Class:      flows.Class(r.Class),
		Skipped:    r.Skipped,
		AnsweredAt: r.AnsweredAt.UTC(),
	}
}

type handoffRow struct {
	ID          int64 `gorm:"primaryKey"`
	ResponseID  int64
	CustomerID  int64
	CustomerRef string
	SurveyID    string
	QuestionID  string
	Kind        string
	Score       int
	Class       string
	Comment     string
	Channel     string
	ExternalID  string
	Context     string // JSON object, copied from the invitation
	Status      string
	NotifiedAt  *time.Time
	CreatedAt   time.Time
	UpdatedAt   time.Time
}

func (handoffRow) TableName() string { return "handoffs" }

func (r handoffRow) domain() flows.Handoff {
	return flows.Handoff{
		ID:          r.ID,
		ResponseID:  r.ResponseID,
		CustomerID:  r.CustomerID,
		CustomerRef: r.CustomerRef,
		SurveyID:    r.SurveyID,
		QuestionID:  r.QuestionID,
		Kind:        flows.Kind(r.Kind),
		Score:       r.Score,
		Class:       flows.Class(r.Class),
		Comment:     r.Comment,
		Channel:     flows.Channel(r.Channel),
		ExternalID:  r.ExternalID,
		Context:     contextFromJSON(r.Context),
		Status:      r.Status,
		NotifiedAt:  utcPtr(r.NotifiedAt),
		CreatedAt:   r.CreatedAt.UTC(),
	}
}

func handoffRows(rows []handoffRow) []flows.Handoff {
	out := make([]flows.Handoff, len(rows))
	for i, r := range rows {
		out[i] = r.domain()
	}
	return out
}

// contextJSON encodes event attributes as a JSON object ("{}" when empty):
// a text column works the same on PostgreSQL and SQLite.
func contextJSON(m map[string]string) string {
	if len(m) == 0 {
		return "{}"
	}
	b, err := json.Marshal(m)
	if err != nil { // a map[string]string always marshals
		return "{}"
	}
	return string(b)
}

// contextFromJSON decodes contextJSON's output; empty or unreadable gives nil.
func contextFromJSON(s string) map[string]string {
	var m map[string]string
	if err := json.Unmarshal([]byte(s), &m); err != nil || len(m) == 0 {
		return nil
	}
	return m
}

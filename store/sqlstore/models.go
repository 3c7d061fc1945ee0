package sqlstore

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
	// The chat's own consent marks (see migration 3).
	OptedOutAt    *time.Time
	UnreachableAt *time.Time
}

func (identityRow) TableName() string { return "channel_identities" }

func (r identityRow) domain() flows.Identity {
	return flows.Identity{
		ID:            r.ID,
		CustomerID:    r.CustomerID,
		Channel:       flows.Channel(r.Channel),
		ExternalID:    r.ExternalID,
		Username:      r.Username,
		Language:      r.Language,
		LinkedAt:      r.LinkedAt.UTC(),
		OptedOutAt:    utcPtr(r.OptedOutAt),
		UnreachableAt: utcPtr(r.UnreachableAt),
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
	Status        flows.InvitationStatus
	Error         string
	SentAt        *time.Time
	CreatedAt     time.Time
	UpdatedAt     time.Time
	NotBefore     time.Time  // step 2: dispatch waits until then
	Attempts      int        // step 2: delivery attempts so far
	RemindedAt    *time.Time // step 2
	ClaimedBy     string     // step 2: dispatcher holding the lease ("" = free)
	ClaimUntil    *time.Time // step 2: the lease ends
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
		NotBefore:     r.NotBefore.UTC(),
		Attempts:      r.Attempts,
		RemindedAt:    utcPtr(r.RemindedAt),
	}
}

func invitationsWithRef(rows []invitationWithRef) []flows.Invitation {
	out := make([]flows.Invitation, len(rows))
	for i, r := range rows {
		out[i] = r.domain()
	}
	return out
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
	Status        flows.ResponseStatus
	StartedAt     time.Time
	CompletedAt   *time.Time
	State         string // JSON of flows.State as of the last step, "" before the first (step 4)
	LastUpdateID  string // the platform update of the last step (step 4)
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
	Status      flows.HandoffStatus
	NotifiedAt  *time.Time
	CreatedAt   time.Time
	UpdatedAt   time.Time

	// The desk (step 5).
	AgentChatID     string
	NoticeMessageID int
	TopicID         int
	ClaimedBy       *int64
	ClaimedByName   string
	ClaimedAt       *time.Time
	ResolvedAt      *time.Time
	Outcome         string
	ResolutionNote  string
	ResolvedBy      string
	RemindedAt      *time.Time
	EscalatedAt     *time.Time
	FollowUpSentAt  *time.Time
	RecoveryScore   *int
	Recovered       *bool
	Reopened        int
}

func (handoffRow) TableName() string { return "handoffs" }

// handoffColumns are handoffs' columns in the order of handoffRow.fields,
// for the statements on the detractor's path that run outside GORM
// (rawRow): its reflection costs more than their round trip.
const handoffColumns = "id, response_id, customer_id, customer_ref, survey_id, question_id, kind, score, class, comment, " +
	"channel, external_id, context, status, notified_at, created_at, updated_at, agent_chat_id, notice_message_id, " +
	"topic_id, claimed_by, claimed_by_name, claimed_at, resolved_at, outcome, resolution_note, resolved_by, " +
	"reminded_at, escalated_at, follow_up_sent_at, recovery_score, recovered, reopened"

// fields are the scan targets of handoffColumns.
func (r *handoffRow) fields() []any {
	return []any{&r.ID, &r.ResponseID, &r.CustomerID, &r.CustomerRef, &r.SurveyID, &r.QuestionID, &r.Kind, &r.Score, &r.Class, &r.Comment,
		&r.Channel, &r.ExternalID, &r.Context, &r.Status, &r.NotifiedAt, &r.CreatedAt, &r.UpdatedAt, &r.AgentChatID, &r.NoticeMessageID,
		&r.TopicID, &r.ClaimedBy, &r.ClaimedByName, &r.ClaimedAt, &r.ResolvedAt, &r.Outcome, &r.ResolutionNote, &r.ResolvedBy,
		&r.RemindedAt, &r.EscalatedAt, &r.FollowUpSentAt, &r.RecoveryScore, &r.Recovered, &r.Reopened}
}

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
		Case: flows.Case{
			AgentChatID:     r.AgentChatID,
			NoticeMessageID: r.NoticeMessageID,
			TopicID:         r.TopicID,
			ClaimedBy:       coalescePtr(r.ClaimedBy),
			ClaimedByName:   r.ClaimedByName,
			ClaimedAt:       utcPtr(r.ClaimedAt),
			ResolvedAt:      utcPtr(r.ResolvedAt),
			Outcome:         flows.CaseOutcome(r.Outcome),
			Note:            r.ResolutionNote,
			ResolvedBy:      r.ResolvedBy,
			RemindedAt:      utcPtr(r.RemindedAt),
			EscalatedAt:     utcPtr(r.EscalatedAt),
			FollowUpSentAt:  utcPtr(r.FollowUpSentAt),
			RecoveryScore:   r.RecoveryScore,
			Recovered:       r.Recovered,
			Reopened:        r.Reopened,
		},
	}
}

func coalescePtr[T any](p *T) T {
	var zero T
	if p == nil {
		return zero
	}
	return *p
}

// agentRow is a registered agent (step 5).
type agentRow struct {
	ID             int64 `gorm:"primaryKey"`
	TelegramUserID int64
	Name           string
	Role           string
	CreatedAt      time.Time
}

func (agentRow) TableName() string { return "agents" }

func (r agentRow) domain() flows.Agent {
	return flows.Agent{ID: r.ID, TelegramUserID: r.TelegramUserID, Name: r.Name, Role: flows.AgentRole(r.Role), CreatedAt: r.CreatedAt.UTC()}
}

// handoffMessageRow is one message of a case's thread (step 5).
type handoffMessageRow struct {
	ID                 int64 `gorm:"primaryKey"`
	HandoffID          int64
	Author             string
	AgentID            int64
	AgentName          string
	Text               string
	PhotoID            string
	AgentChatMessageID int
	CustomerMessageID  int
	Delivered          bool
	Error              string
	CreatedAt          time.Time
}

func (handoffMessageRow) TableName() string { return "handoff_messages" }

func (r handoffMessageRow) domain() flows.CaseMessage {
	return flows.CaseMessage{
		ID: r.ID, HandoffID: r.HandoffID, Author: flows.MessageAuthor(r.Author), AgentID: r.AgentID, AgentName: r.AgentName,
		Text: r.Text, PhotoID: r.PhotoID, AgentChatMessageID: r.AgentChatMessageID, CustomerMessageID: r.CustomerMessageID,
		Delivered: r.Delivered, Error: r.Error, CreatedAt: r.CreatedAt.UTC(),
	}
}

// outboxRow is one webhook in the durable outbox (step 5).
type outboxRow struct {
	ID            int64 `gorm:"primaryKey"`
	Event         string
	SubjectID     int64
	Payload       string
	CreatedAt     time.Time
	NextAttemptAt time.Time
	Attempts      int
	LastStatus    int
	LastError     string
	DeliveredAt   *time.Time
	FailedAt      *time.Time
}

func (outboxRow) TableName() string { return "webhook_outbox" }

func handoffRows(rows []handoffRow) []flows.Handoff {
	out := make([]flows.Handoff, len(rows))
	for i, r := range rows {
		out[i] = r.domain()
	}
	return out
}

// eventRow is a touchpoint event (step 2). Seq is the insertion order,
// the paging cursor; ID is the business's own id, unique.
type eventRow struct {
	Seq            int64  `gorm:"primaryKey"`
	ID             string `gorm:"column:id"`
	CustomerID     int64
	Touchpoint     string
	OccurredAt     time.Time
	TelegramChatID string
	WechatOpenID   string `gorm:"column:wechat_openid"`
	Language       string
	TimeZone       string
	Attributes     string // JSON object
	ReceivedAt     time.Time
}

func (eventRow) TableName() string { return "events" }

func (r eventRow) domain(customerRef string) flows.Event {
	return flows.Event{
		ID:             r.ID,
		CustomerRef:    customerRef,
		CustomerID:     r.CustomerID,
		Touchpoint:     r.Touchpoint,
		OccurredAt:     r.OccurredAt.UTC(),
		TelegramChatID: r.TelegramChatID,
		WeChatOpenID:   r.WechatOpenID,
		Language:       r.Language,
		TimeZone:       r.TimeZone,
		Attributes:     contextFromJSON(r.Attributes),
		ReceivedAt:     r.ReceivedAt.UTC(),
	}
}

// eventWithRef is an event joined with its customer's ref.
type eventWithRef struct {
	Row         eventRow `gorm:"embedded"`
	CustomerRef string
}

// waveRow is a wave definition (step 2), from a file or the API.
type waveRow struct {
	ID         string `gorm:"primaryKey"`
	Definition string
	Source     flows.WaveSource
	Paused     bool
	CreatedAt  time.Time
	UpdatedAt  time.Time
	RetiredAt  *time.Time
}

func (waveRow) TableName() string { return "waves" }

func (r waveRow) record() flows.WaveRecord {
	return flows.WaveRecord{
		ID:         r.ID,
		Definition: r.Definition,
		Source:     r.Source,
		Paused:     r.Paused,
		CreatedAt:  r.CreatedAt.UTC(),
		UpdatedAt:  r.UpdatedAt.UTC(),
		RetiredAt:  utcPtr(r.RetiredAt),
	}
}

// deliveryAttemptRow records one try at sending an invitation (step 2).
type deliveryAttemptRow struct {
	ID           int64 `gorm:"primaryKey"`
	InvitationID int64
	At           time.Time `gorm:"column:at"`
	Outcome      flows.AttemptOutcome
	Error        string
	RetryAfterMs int64
}

func (deliveryAttemptRow) TableName() string { return "delivery_attempts" }

func (r deliveryAttemptRow) attempt() flows.Attempt {
	return flows.Attempt{
		InvitationID: r.InvitationID,
		At:           r.At.UTC(),
		Outcome:      r.Outcome,
		Error:        r.Error,
		RetryAfter:   time.Duration(r.RetryAfterMs) * time.Millisecond,
	}
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

package flows

import (
	"encoding/json"
	"fmt"
	"time"
)

// Outbound webhook bodies. Every body is an envelope
//
//	{"event":"response.completed","created_at":"…","data":{…}}
//
// in snake_case. The outbox row's id is not in the body (a handoff event's
// body is built before its row exists): it travels in the X-Cxbot-Delivery
// header, the receiver's idempotency key. A body is stored once built, so
// every retry carries (and signs) the same bytes.

// CompletedResponse is what a response.completed webhook reports: the
// response, its answers, its customer and the invitation's event.
type CompletedResponse struct {
	Response    Response
	Answers     []Answer
	CustomerRef string
	WaveID      string
	EventID     string
	Context     map[string]string // the event's attributes, copied to the invitation
}

type webhookEnvelope struct {
	Event     WebhookEvent `json:"event"`
	CreatedAt time.Time    `json:"created_at"`
	Data      any          `json:"data"`
}

type webhookAnswer struct {
	QuestionID string    `json:"question_id"`
	Kind       Kind      `json:"kind"`
	Score      *int      `json:"score"`
	Class      Class     `json:"class,omitempty"`
	Choice     string    `json:"choice,omitempty"`
	Text       string    `json:"text,omitempty"`
	Skipped    bool      `json:"skipped"`
	AnsweredAt time.Time `json:"answered_at"`
}

type webhookResponse struct {
	ResponseID    int64             `json:"response_id"`
	SurveyID      string            `json:"survey_id"`
	SurveyVersion int               `json:"survey_version"`
	WaveID        string            `json:"wave_id,omitempty"`
	CustomerRef   string            `json:"customer_ref"`
	Channel       Channel           `json:"channel"`
	Language      string            `json:"language"`
	StartedAt     time.Time         `json:"started_at"`
	CompletedAt   *time.Time        `json:"completed_at"`
	EventID       string            `json:"event_id,omitempty"`
	Context       map[string]string `json:"context"`
	Answers       []webhookAnswer   `json:"answers"`
}

type webhookHandoff struct {
	HandoffID     int64             `json:"handoff_id"`
	ResponseID    int64             `json:"response_id"`
	CustomerRef   string            `json:"customer_ref"`
	SurveyID      string            `json:"survey_id"`
	QuestionID    string            `json:"question_id"`
	Kind          Kind              `json:"kind"`
	Score         int               `json:"score"`
	Class         Class             `json:"class"`
	Comment       string            `json:"comment"`
	Channel       Channel           `json:"channel"`
	Context       map[string]string `json:"context"`
	Status        HandoffStatus     `json:"status"`
	CreatedAt     time.Time         `json:"created_at"`
	ClaimedByName string            `json:"claimed_by_name,omitempty"`
	ClaimedAt     *time.Time        `json:"claimed_at"`
	ResolvedAt    *time.Time        `json:"resolved_at"`
	Outcome       CaseOutcome       `json:"outcome,omitempty"`
	Note          string            `json:"note,omitempty"`
	Recovered     *bool             `json:"recovered"`
	RecoveryScore *int              `json:"recovery_score"`
}

// ResponseCompletedPayload is the body of a response.completed webhook.
func ResponseCompletedPayload(c CompletedResponse, at time.Time) ([]byte, error) {
	r := c.Response
	data := webhookResponse{
		ResponseID: r.ID, SurveyID: r.SurveyID, SurveyVersion: r.SurveyVersion, WaveID: c.WaveID,
		CustomerRef: c.CustomerRef, Channel: r.Channel, Language: r.Language,
		StartedAt: r.StartedAt.UTC(), CompletedAt: utcPtr(r.CompletedAt),
		EventID: c.EventID, Context: nonNilMap(c.Context), Answers: make([]webhookAnswer, len(c.Answers)),
	}
	for i, a := range c.Answers {
		data.Answers[i] = webhookAnswer{QuestionID: a.QuestionID, Kind: a.Kind, Score: a.Score, Class: a.Class,
			Choice: a.Choice, Text: a.Text, Skipped: a.Skipped, AnsweredAt: a.AnsweredAt.UTC()}
	}
	return webhookBody(EventResponseCompleted, at, data)
}

// HandoffWebhookPayload is the body of a handoff.* webhook: the case as it
// stands after the change e reports.
func HandoffWebhookPayload(e WebhookEvent, h Handoff, at time.Time) ([]byte, error) {
	switch e {
	case EventHandoffOpened, EventHandoffClaimed, EventHandoffResolved, EventHandoffRecovered:
	default:
		return nil, fmt.Errorf("%w: %q is not a handoff webhook event", ErrInvalid, e)
	}
	data := webhookHandoff{
		HandoffID: h.ID, ResponseID: h.ResponseID, CustomerRef: h.CustomerRef, SurveyID: h.SurveyID,
		QuestionID: h.QuestionID, Kind: h.Kind, Score: h.Score, Class: h.Class, Comment: h.Comment,
		Channel: h.Channel, Context: nonNilMap(h.Context), Status: h.Status, CreatedAt: h.CreatedAt.UTC(),
		ClaimedByName: h.ClaimedByName, ClaimedAt: utcPtr(h.ClaimedAt), ResolvedAt: utcPtr(h.ResolvedAt),
		Outcome: h.Outcome, Note: h.Note, Recovered: h.Recovered, RecoveryScore: h.RecoveryScore,
	}
	return webhookBody(e, at, data)
}

func webhookBody(e WebhookEvent, at time.Time, data any) ([]byte, error) {
	b, err := json.Marshal(webhookEnvelope{Event: e, CreatedAt: at.UTC(), Data: data})
	if err != nil {
		return nil, fmt.Errorf("encode %s webhook: %w", e, err)
	}
	return b, nil
}

func utcPtr(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	u := t.UTC()
	return &u
}

func nonNilMap(m map[string]string) map[string]string {
	if m == nil {
		return map[string]string{}
	}
	return m
}

// WebhookDelivery is one outbox row as the delivery log shows it.
type WebhookDelivery struct {
	ID            int64
	Event         WebhookEvent
	SubjectID     int64
	CreatedAt     time.Time
	NextAttemptAt time.Time
	Attempts      int
	LastStatus    int // HTTP status of the last attempt, 0 = none (or no answer)
	LastError     string
	DeliveredAt   *time.Time
	FailedAt      *time.Time
}

// DeliveryStatus is where a webhook delivery stands.
type DeliveryStatus string

const (
	DeliveryPending   DeliveryStatus = "pending"
	DeliveryDelivered DeliveryStatus = "delivered"
	DeliveryFailed    DeliveryStatus = "failed"
)

// Valid reports whether s is a known delivery status.
func (s DeliveryStatus) Valid() bool {
	return s == DeliveryPending || s == DeliveryDelivered || s == DeliveryFailed
}

// Status tells whether d is pending, delivered or failed (given up).
func (d WebhookDelivery) Status() DeliveryStatus {
	switch {
	case d.DeliveredAt != nil:
		return DeliveryDelivered
	case d.FailedAt != nil:
		return DeliveryFailed
	}
	return DeliveryPending
}

// DeliveryQuery filters the delivery log (newest first).
type DeliveryQuery struct {
	Status   DeliveryStatus // "" = all
	Event    WebhookEvent   // "" = all
	Limit    int
	BeforeID int64 // cursor: deliveries with a smaller id
}

// DeliveryResult is the outcome of one delivery attempt.
type DeliveryResult struct {
	Status int    // HTTP status, 0 = no answer
	Error  string // "" on success
}

// DueWebhook is an outbox row claimed for one delivery attempt, its body
// built.
type DueWebhook struct {
	OutboxEvent
	Attempt int // this attempt's number, 1 = the first
}

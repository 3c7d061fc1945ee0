// Package flows is the centre of cxbot: the survey model, score classes, the
// conversation state machine and the domain records every other package maps
// to and from. It knows nothing of Telegram, WeChat, Redis or SQL.
package flows

import (
	"errors"
	"time"
)

// The error vocabulary shared by every package. Wrap one of these with %w and
// context; the HTTP layer maps them to status codes and the chat layer to
// polite replies.
var (
	ErrInvalid     = errors.New("invalid")
	ErrNotFound    = errors.New("not found")
	ErrConflict    = errors.New("conflict")
	ErrUnavailable = errors.New("unavailable")
	// ErrDeliveredUnrecorded: a message reached the platform but what
	// follows could not be stored. Whoever retries must not send it again.
	ErrDeliveredUnrecorded = errors.New("delivered, but not recorded")
	// ErrApplied: the step's update was applied before (a redelivery whose
	// seen mark Redis forgot); its effect is already durable.
	ErrApplied = errors.New("update applied before")
)

// Channel names a chat platform.
type Channel string

const (
	ChannelTelegram Channel = "telegram"
	ChannelWeChat   Channel = "wechat"
)

// Customer is a person the business knows by its own reference (Ref).
type Customer struct {
	ID            int64
	Ref           string
	Language      string
	TimeZone      string
	OptedOutAt    *time.Time // set once, honoured forever
	UnreachableAt *time.Time // the platform refused delivery (blocked bot)
	CreatedAt     time.Time
}

// Identity is a chat on one channel linked to a customer.
type Identity struct {
	ID         int64
	CustomerID int64
	Channel    Channel
	ExternalID string // Telegram chat id, WeChat openid
	Username   string
	Language   string
	LinkedAt   time.Time
	// The chat's consent marks: they stay with the chat when it is linked
	// to another customer reference.
	OptedOutAt    *time.Time
	UnreachableAt *time.Time
}

// Why a customer may not be messaged (also recorded on skipped invitations).
const (
	ReasonOptedOut    = "opted_out"
	ReasonUnreachable = "unreachable"
)

// Reachable reports whether waves may message this customer on this chat,
// and if not, why (ReasonOptedOut or ReasonUnreachable).
func Reachable(c Customer, id Identity) (ok bool, why string) {
	switch {
	case c.OptedOutAt != nil || id.OptedOutAt != nil:
		return false, ReasonOptedOut
	case c.UnreachableAt != nil || id.UnreachableAt != nil:
		return false, ReasonUnreachable
	}
	return true, ""
}

// Invitation asks one customer to take one survey, once per wave × customer × event.
type Invitation struct {
	ID            int64
	WaveID        string // WaveAPI for invitations made through the HTTP API
	CustomerID    int64
	CustomerRef   string
	EventID       string
	SurveyID      string
	SurveyVersion int
	Channel       Channel
	ExternalID    string
	Language      string
	Context       map[string]string // event attributes shown to agents
	Status        InvitationStatus
	Error         string
	SentAt        *time.Time
	CreatedAt     time.Time
	NotBefore     time.Time  // dispatch waits until then (delay, quiet hours, retry backoff)
	Attempts      int        // delivery attempts so far
	RemindedAt    *time.Time // the one reminder was sent
}

// Event is a touchpoint a business system reports: an order delivered, a
// ticket closed. Waves turn matching events into invitations.
type Event struct {
	ID             string // the business's own id; events are idempotent by it
	CustomerRef    string
	CustomerID     int64
	Touchpoint     string
	OccurredAt     time.Time
	TelegramChatID string
	WeChatOpenID   string
	Language       string
	TimeZone       string // IANA name, e.g. Asia/Shanghai
	Attributes     map[string]string
	ReceivedAt     time.Time
}

// Response is one customer's pass through a survey.
type Response struct {
	ID            int64
	InvitationID  int64
	CustomerID    int64
	SurveyID      string
	SurveyVersion int
	Channel       Channel
	ExternalID    string
	Language      string
	Status        ResponseStatus
	StartedAt     time.Time
	CompletedAt   *time.Time
}

// Handoff hands an unhappy customer to a person.
type Handoff struct {
	ID          int64
	ResponseID  int64
	CustomerID  int64
	CustomerRef string
	SurveyID    string
	QuestionID  string
	Kind        Kind
	Score       int
	Class       Class
	Comment     string
	Channel     Channel
	ExternalID  string
	Context     map[string]string
	Status      HandoffStatus
	NotifiedAt  *time.Time
	CreatedAt   time.Time
	Case        // how the desk works it
}

// NPSReport summarises the NPS answers of one survey.
type NPSReport struct {
	Survey     string  `json:"survey"`
	Responses  int     `json:"responses"`
	Promoters  int     `json:"promoters"`
	Passives   int     `json:"passives"`
	Detractors int     `json:"detractors"`
	NPS        float64 `json:"nps"` // (promoters − detractors) / responses × 100, one decimal
}

// Update is one thing a customer did in a chat, converted from a platform's
// own type by the channel adapter.
type Update struct {
	Channel    Channel
	UpdateID   string // platform id used for dedupe (Telegram update_id, WeChat MsgId …)
	ChatID     string // where replies go
	UserID     string
	Username   string
	Language   string // the client's language code, e.g. "zh-hans", "en"
	Text       string // typed text or a command such as "/start abc"; a photo's caption
	PhotoID    string // a sent photo's platform file id (Telegram: largest size), "" = none
	Tap        *Tap   // a tapped button
	TapID      string // callback query id, to be answered
	MessageID  int    // for a tap: the message that carried the keyboard
	Blocked    bool   // the user blocked the bot or unsubscribed
	ReceivedAt time.Time
}

// Tap is what a tapped button carries back (encoded in callback data).
type Tap struct {
	ResponseID int64
	QuestionID string
	Value      string
}

// Button is one tappable option of a message.
type Button struct {
	Label string
	Data  string // EncodeTap output
}

// Message is something to send to a chat. A message with a QuestionID is a
// prompt whose keyboard must be removed once answered.
type Message struct {
	Text       string
	Keyboard   [][]Button
	QuestionID string
	Broadcast  bool // the customer did not ask for it (invitation, reminder): broadcast limits apply
}

// Answer is one stored answer to one question.
type Answer struct {
	QuestionID string
	Kind       Kind
	Score      *int   // scale questions
	Choice     string // choice questions: the Option ID
	Text       string // text questions
	Class      Class  // scale questions
	Skipped    bool   // three failed tries, or an optional question skipped
	AnsweredAt time.Time
}

// State is one chat's conversation, kept in Redis with a TTL between updates.
type State struct {
	ResponseID      int64           `json:"response_id"`
	InvitationID    int64           `json:"invitation_id"`
	SurveyID        string          `json:"survey_id"`
	SurveyVersion   int             `json:"survey_version"`
	Language        string          `json:"language"`
	QuestionID      string          `json:"question_id"`       // awaiting an answer; "" once finished
	PromptMessageID int             `json:"prompt_message_id"` // platform id of the prompt carrying the keyboard
	Attempts        int             `json:"attempts"`          // failed tries at QuestionID
	PendingHandoff  *PendingHandoff `json:"pending_handoff,omitempty"`
	LastUpdateID    string          `json:"last_update_id,omitempty"` // the update that made this state: a redelivery of it changes nothing
	StartedAt       time.Time       `json:"started_at"`
	UpdatedAt       time.Time       `json:"updated_at"`
}

// PendingHandoff is a detractor answer whose handoff waits for the follow-up comment.
type PendingHandoff struct {
	QuestionID string `json:"question_id"`
	Kind       Kind   `json:"kind"`
	Score      int    `json:"score"`
	Class      Class  `json:"class"`
	Comment    string `json:"comment,omitempty"`
}

package httpapi

import (
	"encoding/json"
	"fmt"
	"net/http"
	"sort"
	"strconv"
	"time"

	"github.com/cxbot/cxbot/conversation"
	"github.com/cxbot/cxbot/flows"
)

// chatID accepts a Telegram chat id as a JSON number or a string of digits.
type chatID string

func (c *chatID) UnmarshalJSON(data []byte) error {
	var n json.Number
	if err := json.Unmarshal(data, &n); err != nil {
		var s string
		if err := json.Unmarshal(data, &s); err != nil {
			return fmt.Errorf("chat id must be an integer")
		}
		n = json.Number(s)
	}
	if _, err := strconv.ParseInt(n.String(), 10, 64); err != nil {
		return fmt.Errorf("chat id %q is not an integer", n.String())
	}
	*c = chatID(n.String())
	return nil
}

type invitationRequest struct {
	Survey         string            `json:"survey"`
	CustomerRef    string            `json:"customer_ref"`
	TelegramChatID *chatID           `json:"telegram_chat_id"`
	WeChatOpenID   string            `json:"wechat_openid"`
	Language       string            `json:"language"`
	EventID        string            `json:"event_id"`
	Context        map[string]string `json:"context"`
	TimeZone       string            `json:"timezone"` // for quiet hours; default the customer's, then UTC
	Now            bool              `json:"now"`      // send even in the customer's quiet hours
}

type invitationJSON struct {
	ID            int64                  `json:"id"`
	Survey        string                 `json:"survey"`
	SurveyVersion int                    `json:"survey_version"`
	CustomerRef   string                 `json:"customer_ref"`
	Channel       flows.Channel          `json:"channel"`
	ChatID        string                 `json:"chat_id"`
	WaveID        string                 `json:"wave_id"`
	EventID       string                 `json:"event_id"`
	Language      string                 `json:"language"`
	Status        flows.InvitationStatus `json:"status"`
	Error         string                 `json:"error,omitempty"`
	Context       map[string]string      `json:"context,omitempty"`
	SentAt        *time.Time             `json:"sent_at,omitempty"`
	CreatedAt     time.Time              `json:"created_at"`
}

func toInvitationJSON(inv flows.Invitation) invitationJSON {
	return invitationJSON{
		ID: inv.ID, Survey: inv.SurveyID, SurveyVersion: inv.SurveyVersion, CustomerRef: inv.CustomerRef,
		Channel: inv.Channel, ChatID: inv.ExternalID, WaveID: inv.WaveID, EventID: inv.EventID,
		Language: inv.Language, Status: inv.Status, Error: inv.Error, Context: inv.Context,
		SentAt: inv.SentAt, CreatedAt: inv.CreatedAt,
	}
}

// createInvitation sends a survey's first question now: 201 when sent,
// 200 when the same event_id was already invited (nothing is sent again).
func (s *Server) createInvitation(w http.ResponseWriter, r *http.Request) {
	var req invitationRequest
	if err := decodeBody(w, r, &req); err != nil {
		s.fail(w, r, err)
		return
	}
	invite := conversation.InviteRequest{
		SurveyID: req.Survey, CustomerRef: req.CustomerRef, Language: req.Language, EventID: req.EventID, Context: req.Context,
	}
	switch {
	case req.TelegramChatID != nil && req.WeChatOpenID != "":
		s.fail(w, r, fmt.Errorf("%w: give telegram_chat_id or wechat_openid, not both", flows.ErrInvalid))
		return
	case req.TelegramChatID != nil:
		invite.Channel, invite.ChatID = flows.ChannelTelegram, string(*req.TelegramChatID)
	case req.WeChatOpenID != "":
		invite.Channel, invite.ChatID = flows.ChannelWeChat, req.WeChatOpenID
	default:
		s.fail(w, r, fmt.Errorf("%w: telegram_chat_id or wechat_openid is required", flows.ErrInvalid))
		return
	}
	if !req.Now && s.cfg.QuietUntil != nil {
		until, err := s.cfg.QuietUntil(r.Context(), req.CustomerRef, req.TimeZone, time.Now())
		if err != nil {
			s.fail(w, r, err)
			return
		}
		if !until.IsZero() {
			s.refuseQuietHours(w, until)
			return
		}
	}
	inv, created, err := s.cfg.Conversations.Invite(r.Context(), invite)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	code := http.StatusCreated
	if !created {
		code = http.StatusOK
	}
	writeJSON(w, code, toInvitationJSON(inv))
}

// timeParam accepts RFC 3339 times or plain dates (YYYY-MM-DD, UTC).
func timeParam(v, name string) (*time.Time, error) {
	if v == "" {
		return nil, nil
	}
	for _, layout := range []string{time.RFC3339, time.DateOnly} {
		if t, err := time.Parse(layout, v); err == nil {
			return &t, nil
		}
	}
	return nil, fmt.Errorf("%w: %s=%q is not an RFC 3339 time or a YYYY-MM-DD date", flows.ErrInvalid, name, v)
}

// surveyJSON is a loaded survey; Titles has its title in each language it
// names one for (the dashboard shows the reader's).
type surveyJSON struct {
	ID        string      `json:"id"`
	Version   int         `json:"version"`
	Title     string      `json:"title"`
	Titles    []titleJSON `json:"titles"`
	Languages []string    `json:"languages"`
	Questions int         `json:"questions"`
}

// titleJSON is a title in one language (a list, not a map: JSON keys are
// snake_case, language tags are not).
type titleJSON struct {
	Language string `json:"language"`
	Title    string `json:"title"`
}

func (s *Server) listSurveys(w http.ResponseWriter, r *http.Request) {
	out := []surveyJSON{}
	for _, sv := range s.cfg.Conversations.Surveys() {
		out = append(out, surveyJSON{
			ID: sv.ID, Version: sv.Version, Title: sv.Title.In("en", sv.DefaultLanguage), Titles: titles(sv.Title),
			Languages: sv.Languages(), Questions: len(sv.Questions),
		})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	writeJSON(w, http.StatusOK, surveysJSON{Surveys: out})
}

func titles(t flows.Text) []titleJSON {
	out := make([]titleJSON, 0, len(t))
	for lang, v := range t {
		out = append(out, titleJSON{Language: lang, Title: v})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Language < out[j].Language })
	return out
}

type surveysJSON struct {
	Surveys []surveyJSON `json:"surveys"`
}

// linkJSON is an issued deep link (fields in the order clients have seen,
// then the newer ones).
type linkJSON struct {
	CustomerRef  string    `json:"customer_ref"`
	StartCommand string    `json:"start_command"`
	Token        string    `json:"token"`
	ExpiresAt    time.Time `json:"expires_at"`
	Reusable     bool      `json:"reusable"`
}

// createLink issues a deep-link token for a customer reference: the
// business sends t.me/<bot>?start=<token> and the chat that opens it first
// is linked to the reference (every chat that opens it, with "reusable").
func (s *Server) createLink(w http.ResponseWriter, r *http.Request) {
	var req struct {
		CustomerRef string `json:"customer_ref"`
		Reusable    bool   `json:"reusable"`
	}
	if err := decodeBody(w, r, &req); err != nil {
		s.fail(w, r, err)
		return
	}
	link, err := s.cfg.Links.Issue(r.Context(), req.CustomerRef, req.Reusable)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, linkJSON{CustomerRef: req.CustomerRef, StartCommand: "/start " + link.Token, Token: link.Token,
		ExpiresAt: link.ExpiresAt, Reusable: link.Reusable})
}

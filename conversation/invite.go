package conversation

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/cxbot/cxbot/bot"
	"github.com/cxbot/cxbot/flows"
)

// InviteRequest asks one customer, on one chat, to take a survey now.
type InviteRequest struct {
	SurveyID    string
	CustomerRef string
	Channel     flows.Channel
	ChatID      string
	Language    string            // optional: the customer's language
	WaveID      string            // default flows.WaveAPI
	EventID     string            // optional: makes the request idempotent
	Context     map[string]string // event attributes shown to agents on handoff
}

// Invite sends the first question of a survey now. The unique key (wave,
// customer, event) makes a repeated request return the first invitation
// without sending again; created is false then.
func (s *Service) Invite(ctx context.Context, req InviteRequest) (inv flows.Invitation, created bool, err error) {
	survey, err := s.validateInvite(&req)
	if err != nil {
		return flows.Invitation{}, false, err
	}
	ch, err := s.channel(req.Channel)
	if err != nil {
		return flows.Invitation{}, false, err
	}
	customer, err := s.records.UpsertCustomer(ctx, req.CustomerRef, req.Language)
	if err != nil {
		return flows.Invitation{}, false, err
	}
	identity, err := s.records.LinkIdentity(ctx, flows.Identity{
		CustomerID: customer.ID, Channel: req.Channel, ExternalID: req.ChatID, Language: req.Language, LinkedAt: s.now(),
	})
	if err != nil {
		return flows.Invitation{}, false, err
	}
	switch ok, why := flows.Reachable(customer, identity); {
	case ok:
	case why == flows.ReasonOptedOut:
		return flows.Invitation{}, false, fmt.Errorf("%w: customer %s opted out of surveys", flows.ErrConflict, customer.Ref)
	default:
		return flows.Invitation{}, false, fmt.Errorf("%w: customer %s blocked the bot", flows.ErrConflict, customer.Ref)
	}
	if err := s.caseInTheWay(ctx, req.Channel, req.ChatID); err != nil {
		return flows.Invitation{}, false, err
	}
	lang := flows.ResolveLanguage(survey.Languages(), firstNonEmpty(req.Language, identity.Language, customer.Language), survey.DefaultLanguage)

	var recordErr error // the send's outcome could not be stored; the state is saved all the same
	err = s.inTurn(ctx, req.Channel, req.ChatID, "", func(ctx context.Context, turn flows.Turn) (flows.TurnEnd, error) {
		// A repeated request (same wave, customer and event) gets the first
		// invitation back and sends nothing, unless that one failed.
		existing, err := s.records.InvitationByKey(ctx, req.WaveID, customer.ID, req.EventID)
		switch {
		case err == nil && !existing.Status.Reusable():
			inv = existing
			return flows.Keep(), nil
		case err != nil && !errors.Is(err, flows.ErrNotFound):
			return flows.TurnEnd{}, err
		}
		if turn.HasState {
			return flows.TurnEnd{}, fmt.Errorf("%w: chat %s already has a survey in progress", flows.ErrConflict, req.ChatID)
		}
		if s.throttle != nil {
			if err := s.throttle(ctx, req.Channel); err != nil {
				return flows.TurnEnd{}, err
			}
		}
		if existing.ID != 0 {
			inv, created = existing, true // the failed attempt is tried again
		} else {
			inv, created, err = s.records.CreateInvitation(ctx, flows.Invitation{
				WaveID: req.WaveID, CustomerID: customer.ID, CustomerRef: customer.Ref, EventID: req.EventID,
				SurveyID: survey.ID, SurveyVersion: survey.Version, Channel: req.Channel, ExternalID: req.ChatID,
				Language: lang, Context: req.Context, Status: flows.InvitationPlanned, CreatedAt: s.now(),
			})
			if err != nil || !created {
				return flows.Keep(), err
			}
		}
		end, sendErr := s.deliver(ctx, ch, survey, inv)
		// The request may have gone; the outcome is recorded all the same.
		ctx = context.WithoutCancel(ctx)
		now := s.now()
		if sendErr != nil {
			inv.Status, inv.Error = flows.InvitationFailed, sendErr.Error()
			if err := s.records.SetInvitationStatus(ctx, inv.ID, inv.Status, inv.Error, now); err != nil {
				return flows.TurnEnd{}, errors.Join(sendErr, err)
			}
			if errors.Is(sendErr, bot.ErrBlocked) {
				return flows.TurnEnd{}, fmt.Errorf("%w: customer %s blocked the bot", flows.ErrConflict, inv.CustomerRef)
			}
			return flows.TurnEnd{}, fmt.Errorf("send invitation: %w", sendErr)
		}
		inv.Status, inv.SentAt = flows.InvitationSent, &now
		recordErr = s.records.SetInvitationStatus(ctx, inv.ID, inv.Status, "", now)
		return end, nil
	})
	if errors.Is(err, errTurnNotEnded) {
		// It went out and is recorded as sent: never report it as failed,
		// or a retry would send it twice.
		s.log.Error("invitation sent but its conversation state was not saved", "invitation_id", inv.ID, "err", err)
		err = nil
	}
	return inv, created, errors.Join(err, recordErr)
}

// SendInvitation starts a planned invitation's survey in the customer's
// chat, for the wave dispatcher, which records the outcome. A chat with a
// survey in progress is a conflict: it is never interrupted.
func (s *Service) SendInvitation(ctx context.Context, inv flows.Invitation) error {
	survey, ok := s.surveys[inv.SurveyID]
	if !ok {
		return fmt.Errorf("%w: survey %q", flows.ErrNotFound, inv.SurveyID)
	}
	ch, err := s.channel(inv.Channel)
	if err != nil {
		return err
	}
	if err := s.caseInTheWay(ctx, inv.Channel, inv.ExternalID); err != nil {
		return err
	}
	err = s.inTurn(ctx, inv.Channel, inv.ExternalID, "", func(ctx context.Context, turn flows.Turn) (flows.TurnEnd, error) {
		if turn.HasState && turn.State.InvitationID == inv.ID {
			return flows.Keep(), nil // sent before, the outcome was not recorded
		}
		if turn.HasState {
			return flows.TurnEnd{}, fmt.Errorf("%w: chat %s already has a survey in progress", flows.ErrConflict, inv.ExternalID)
		}
		return s.deliver(ctx, ch, survey, inv)
	})
	if errors.Is(err, errTurnNotEnded) {
		return fmt.Errorf("%w: invitation %d: %w", flows.ErrDeliveredUnrecorded, inv.ID, err)
	}
	return err
}

// caseInTheWay refuses a survey to a chat whose customer an agent is
// helping: a new question there would swallow what they write to the agent.
func (s *Service) caseInTheWay(ctx context.Context, ch flows.Channel, chatID string) error {
	if s.desk == nil {
		return nil
	}
	live, err := s.desk.LiveCase(ctx, ch, chatID)
	if err != nil {
		return err
	}
	if live {
		return fmt.Errorf("%w: chat %s has an open case with an agent: no survey until it is resolved", flows.ErrConflict, chatID)
	}
	return nil
}

func (s *Service) validateInvite(req *InviteRequest) (*flows.Survey, error) {
	req.CustomerRef, req.EventID = strings.TrimSpace(req.CustomerRef), strings.TrimSpace(req.EventID)
	var problems []string
	check := func(err error) {
		if err != nil {
			problems = append(problems, err.Error())
		}
	}
	check(flows.ValidateSurveyID(req.SurveyID))
	check(flows.ValidateCustomerRef(req.CustomerRef))
	switch {
	case req.ChatID == "":
		problems = append(problems, "a chat is required (telegram_chat_id or wechat_openid)")
	case req.Channel == flows.ChannelTelegram:
		check(flows.ValidateTelegramChat("telegram_chat_id", req.ChatID))
	case req.Channel == flows.ChannelWeChat:
		check(flows.ValidateWeChatOpenID("wechat_openid", req.ChatID))
	}
	check(flows.ValidateLanguage(req.Language))
	check(flows.ValidateEventID(req.EventID))
	if attrs, err := flows.ValidateAttributes("context", req.Context); err != nil {
		check(err)
	} else {
		req.Context = attrs
	}
	if len(problems) > 0 {
		return nil, fmt.Errorf("%w: %s", flows.ErrInvalid, strings.Join(problems, "; "))
	}
	survey, ok := s.surveys[req.SurveyID]
	if !ok {
		return nil, fmt.Errorf("%w: survey %q", flows.ErrNotFound, req.SurveyID)
	}
	if req.WaveID == "" {
		req.WaveID = flows.WaveAPI
	}
	if req.EventID == "" {
		req.EventID = "api-" + randomID()
	}
	return survey, nil
}

// deliver starts the response and sends the first question; the turn saves
// the conversation it returns. The state is saved only after the platform
// accepted the message, so a failed send leaves no conversation waiting for
// an answer that cannot come. A blocked bot marks the customer unreachable.
func (s *Service) deliver(ctx context.Context, ch bot.Channel, survey *flows.Survey, inv flows.Invitation) (flows.TurnEnd, error) {
	resp, err := s.records.StartResponse(ctx, flows.Response{
		InvitationID: inv.ID, CustomerID: inv.CustomerID, SurveyID: survey.ID, SurveyVersion: survey.Version,
		Channel: inv.Channel, ExternalID: inv.ExternalID, Language: inv.Language, Status: flows.ResponseStarted, StartedAt: s.now(),
	})
	if err != nil {
		return flows.TurnEnd{}, err
	}
	st, first := flows.Start(survey, inv.Language, inv.ID, resp.ID, s.now())
	first.Broadcast = true
	// Once the message is on its way, finish even if this replica is asked
	// to stop, so another replica can tell it was sent.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 15*time.Second)
	defer cancel()
	messageID, err := s.sendFirst(ctx, ch, survey, inv, first)
	if err != nil {
		if errors.Is(err, bot.ErrBlocked) {
			if merr := s.records.MarkUnreachable(ctx, inv.CustomerID, s.now()); merr != nil {
				return flows.TurnEnd{}, errors.Join(err, merr)
			}
		}
		return flows.TurnEnd{}, err
	}
	st.PromptMessageID = messageID
	return flows.Save(st), nil
}

// sendFirst sends an invitation's first question. On a channel with a
// customer-service window (WeChat), a customer outside it gets the survey's
// template message instead, and answers it by replying in the chat.
func (s *Service) sendFirst(ctx context.Context, ch bot.Channel, survey *flows.Survey, inv flows.Invitation, first flows.Message) (int, error) {
	templates, hasTemplates := ch.(bot.TemplateSender)
	if hasTemplates {
		open, err := s.states.WindowOpen(ctx, inv.Channel, inv.ExternalID)
		if err != nil {
			return 0, err
		}
		if !open {
			return 0, s.sendTemplate(ctx, templates, survey, inv)
		}
	}
	id, err := ch.Send(ctx, inv.ExternalID, first)
	if hasTemplates && errors.Is(err, bot.ErrOutsideWindow) {
		return 0, s.sendTemplate(ctx, templates, survey, inv)
	}
	return id, err
}

func (s *Service) sendTemplate(ctx context.Context, ch bot.TemplateSender, survey *flows.Survey, inv flows.Invitation) error {
	id, url, data, ok := survey.TemplateInvitation(inv.Language, s.now())
	if !ok {
		return fmt.Errorf("%w: %s is outside the customer-service window and survey %s has no wechat_template", flows.ErrInvalid, inv.CustomerRef, survey.ID)
	}
	if err := ch.SendTemplate(ctx, inv.ExternalID, id, url, data); err != nil {
		return fmt.Errorf("template invitation: %w", err)
	}
	s.log.Info("invitation sent as a template message", "channel", inv.Channel, "customer_ref", inv.CustomerRef, "survey_id", survey.ID)
	return nil
}

// Delivered tells whether an invitation reached the customer: its
// conversation is running, or its response moved on (answered or expired).
func (s *Service) Delivered(ctx context.Context, inv flows.Invitation) (bool, error) {
	st, ok, err := s.states.LoadState(ctx, inv.Channel, inv.ExternalID)
	if err != nil {
		return false, err
	}
	if ok && st.InvitationID == inv.ID {
		return true, nil
	}
	resp, err := s.records.ResponseForInvitation(ctx, inv.ID)
	if errors.Is(err, flows.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	return resp.Status != flows.ResponseStarted, nil
}

// Remind re-asks the open question of an invitation nobody answered yet;
// false when its conversation is gone or belongs to another invitation.
func (s *Service) Remind(ctx context.Context, inv flows.Invitation) (reminded bool, err error) {
	ch, err := s.channel(inv.Channel)
	if err != nil {
		return false, err
	}
	err = s.inTurn(ctx, inv.Channel, inv.ExternalID, "", func(ctx context.Context, turn flows.Turn) (flows.TurnEnd, error) {
		st := turn.State
		if !turn.HasState || st.InvitationID != inv.ID {
			return flows.Keep(), nil
		}
		survey, ok := s.surveys[st.SurveyID]
		if !ok {
			return flows.Keep(), nil
		}
		m, ok := flows.Reminder(survey, st)
		if !ok {
			return flows.Keep(), nil
		}
		m.Broadcast = true
		id, err := ch.Send(ctx, inv.ExternalID, m)
		switch {
		case errors.Is(err, bot.ErrBlocked):
			return flows.Keep(), s.records.MarkUnreachable(ctx, inv.CustomerID, s.now())
		case errors.Is(err, bot.ErrOutsideWindow):
			return flows.Keep(), nil // a reminder is not worth a template message
		case err != nil:
			return flows.TurnEnd{}, err
		}
		st.PromptMessageID = id
		reminded = true
		return flows.Save(st), nil
	})
	return reminded, err
}

// CloseInvitation ends an invitation that expired unanswered: its
// conversation state goes, and the invitation and response are marked
// expired. The customer is not messaged: silence is kinder than a nag.
func (s *Service) CloseInvitation(ctx context.Context, inv flows.Invitation, at time.Time) error {
	return s.inTurn(ctx, inv.Channel, inv.ExternalID, "", func(ctx context.Context, turn flows.Turn) (flows.TurnEnd, error) {
		end := flows.Keep()
		if turn.HasState && turn.State.InvitationID == inv.ID {
			end = flows.Delete()
		}
		return end, s.records.ExpireInvitation(ctx, inv.ID, at)
	})
}

func firstNonEmpty(values ...string) string {
	for _, v := range values {
		if v != "" {
			return v
		}
	}
	return ""
}

func randomID() string {
	b := make([]byte, 8)
	_, _ = rand.Read(b) // crypto/rand.Read never fails on supported platforms
	return hex.EncodeToString(b)
}

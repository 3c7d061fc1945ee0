package conversation

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"

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
	WaveID      string            // default "api"
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
	if customer.OptedOutAt != nil {
		return flows.Invitation{}, false, fmt.Errorf("%w: customer %s opted out of surveys", flows.ErrConflict, customer.Ref)
	}
	if customer.UnreachableAt != nil {
		return flows.Invitation{}, false, fmt.Errorf("%w: customer %s blocked the bot", flows.ErrConflict, customer.Ref)
	}
	lang := flows.ResolveLanguage(survey.Languages(), firstNonEmpty(req.Language, identity.Language, customer.Language), survey.DefaultLanguage)

	err = s.withChatLock(ctx, req.Channel, req.ChatID, func() error {
		// A repeated request (same wave, customer and event) gets the first
		// invitation back and sends nothing.
		if inv, err = s.records.InvitationByKey(ctx, req.WaveID, customer.ID, req.EventID); err == nil {
			return nil
		} else if !errors.Is(err, flows.ErrNotFound) {
			return err
		}
		if _, active, err := s.states.LoadState(ctx, req.Channel, req.ChatID); err != nil {
			return err
		} else if active {
			return fmt.Errorf("%w: chat %s already has a survey in progress", flows.ErrConflict, req.ChatID)
		}
		inv, created, err = s.records.CreateInvitation(ctx, flows.Invitation{
			WaveID: req.WaveID, CustomerID: customer.ID, CustomerRef: customer.Ref, EventID: req.EventID,
			SurveyID: survey.ID, SurveyVersion: survey.Version, Channel: req.Channel, ExternalID: req.ChatID,
			Language: lang, Context: req.Context, Status: flows.InvitationPlanned, CreatedAt: s.now(),
		})
		if err != nil || !created {
			return err
		}
		inv, err = s.send(ctx, ch, survey, inv)
		return err
	})
	return inv, created, err
}

func (s *Service) validateInvite(req *InviteRequest) (*flows.Survey, error) {
	var problems []string
	if req.SurveyID == "" {
		problems = append(problems, "survey is required")
	}
	if strings.TrimSpace(req.CustomerRef) == "" {
		problems = append(problems, "customer_ref is required")
	}
	if req.ChatID == "" {
		problems = append(problems, "a chat id is required (telegram_chat_id)")
	}
	if len(problems) > 0 {
		return nil, fmt.Errorf("%w: %s", flows.ErrInvalid, strings.Join(problems, "; "))
	}
	survey, ok := s.surveys[req.SurveyID]
	if !ok {
		return nil, fmt.Errorf("%w: survey %q", flows.ErrNotFound, req.SurveyID)
	}
	if req.WaveID == "" {
		req.WaveID = "api"
	}
	if req.EventID == "" {
		req.EventID = "api-" + randomID()
	}
	return survey, nil
}

// send starts the response and delivers the first question. The state is
// saved only after the platform accepted the message, so a failed send
// leaves no conversation waiting for an answer that cannot come.
func (s *Service) send(ctx context.Context, ch bot.Channel, survey *flows.Survey, inv flows.Invitation) (flows.Invitation, error) {
	resp, err := s.records.StartResponse(ctx, flows.Response{
		InvitationID: inv.ID, CustomerID: inv.CustomerID, SurveyID: survey.ID, SurveyVersion: survey.Version,
		Channel: inv.Channel, ExternalID: inv.ExternalID, Language: inv.Language, Status: flows.ResponseStarted, StartedAt: s.now(),
	})
	if err != nil {
		return inv, err
	}
	st, first := flows.Start(survey, inv.Language, inv.ID, resp.ID, s.now())
	messageID, sendErr := ch.Send(ctx, inv.ExternalID, first)
	if sendErr != nil {
		inv.Status, inv.Error = flows.InvitationFailed, sendErr.Error()
		if err := s.records.SetInvitationStatus(ctx, inv.ID, inv.Status, inv.Error, s.now()); err != nil {
			return inv, errors.Join(sendErr, err)
		}
		if errors.Is(sendErr, bot.ErrBlocked) {
			if err := s.records.MarkUnreachable(ctx, inv.CustomerID, s.now()); err != nil {
				return inv, err
			}
			return inv, fmt.Errorf("%w: customer %s blocked the bot", flows.ErrConflict, inv.CustomerRef)
		}
		return inv, fmt.Errorf("send invitation: %w", sendErr)
	}
	st.PromptMessageID = messageID
	if err := s.states.SaveState(ctx, inv.Channel, inv.ExternalID, st, s.conversationTTL); err != nil {
		return inv, err
	}
	now := s.now()
	inv.Status, inv.SentAt = flows.InvitationSent, &now
	return inv, s.records.SetInvitationStatus(ctx, inv.ID, inv.Status, "", now)
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

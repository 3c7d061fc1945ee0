package conversation

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/cxbot/cxbot/bot"
	"github.com/cxbot/cxbot/flows"
)

// isOptOut tells the whole-message words that end all surveys for good.
func isOptOut(text string) bool {
	switch strings.ToLower(text) {
	case "/stop", "stop", "退订", "td", "unsubscribe":
		return true
	}
	return false
}

// HandleUpdate applies one customer update. It returns nil only once the
// update's effect is durable; an error makes the platform redeliver it, and
// the seen mark plus the unique answer key make the redelivery harmless.
func (s *Service) HandleUpdate(ctx context.Context, u flows.Update) error {
	if u.Language == "" && u.Channel == flows.ChannelWeChat {
		u.Language = "zh-CN" // WeChat sends no language; its users read Chinese first
	}
	// What the customer wrote is cleaned, not refused: a NUL byte (which
	// PostgreSQL cannot store) is dropped and invalid UTF-8 replaced, so one
	// odd character never makes the platform redeliver an update for ever;
	// a chat cxbot cannot answer is refused (and acknowledged as poison).
	u, err := flows.CleanUpdate(u)
	if err != nil {
		return fmt.Errorf("update %s: %w", flows.LogValue(u.UpdateID), err)
	}
	step := func(ctx context.Context, turn flows.Turn) (flows.TurnEnd, error) { return s.apply(ctx, u, turn) }
	limit, limited := s.inboundLimit(u)
	if _, ok := s.states.(admitter); limited && ok {
		return s.admittedTurn(ctx, u, limit, step)
	}
	if s.overInbound(ctx, u) {
		return nil // acknowledged, not applied (see InboundLimit)
	}
	return s.inTurn(ctx, u.Channel, u.ChatID, u.UpdateID, step)
}

func (s *Service) apply(ctx context.Context, u flows.Update, turn flows.Turn) (flows.TurnEnd, error) {
	ch, err := s.channel(u.Channel)
	if err != nil {
		return flows.TurnEnd{}, err
	}
	end, err := s.route(ctx, ch, u, turn)
	if _, windowed := ch.(bot.TemplateSender); windowed && !u.Blocked {
		// A channel that needs templates outside a customer-service window
		// (WeChat: 48 hours): any message from the customer opens it.
		end.WindowTTL = serviceWindow
	}
	return end, err
}

// route runs the step the update asks for.
func (s *Service) route(ctx context.Context, ch bot.Channel, u flows.Update, turn flows.Turn) (flows.TurnEnd, error) {
	text := strings.TrimSpace(u.Text)
	command, arg := splitCommand(text)
	switch {
	case u.Blocked:
		return flows.Keep(), s.blocked(ctx, u)
	case u.Tap != nil && u.Tap.QuestionID == flows.RecoveryQuestionID && s.desk != nil:
		return flows.Keep(), s.desk.FollowUpAnswered(ctx, u)
	case u.Tap != nil:
		return s.answer(ctx, ch, u, turn, flows.Input{Tap: u.Tap, MessageID: u.MessageID})
	case isOptOut(text):
		return s.stop(ctx, ch, u, turn)
	case command == "/start":
		return flows.Keep(), s.start(ctx, ch, u, arg)
	case command == "/help":
		return flows.Keep(), s.reply(ctx, ch, u, flows.SystemText("help", u.Language))
	case !turn.HasState && s.desk != nil && (text != "" || u.PhotoID != ""):
		// No survey running: the customer may be writing to their case.
		handled, err := s.desk.CustomerWrote(ctx, u)
		if err != nil || handled || text == "" {
			return flows.Keep(), err
		}
		return s.answer(ctx, ch, u, turn, flows.Input{Text: text})
	case text == "" || u.PhotoID != "":
		return flows.Keep(), nil // stickers, photos (even captioned): not a survey answer
	default:
		return s.answer(ctx, ch, u, turn, flows.Input{Text: text})
	}
}

// splitCommand splits "/start abc" into "/start" and "abc"; "/start@MyBot"
// (group syntax) counts as "/start".
func splitCommand(text string) (command, arg string) {
	if !strings.HasPrefix(text, "/") {
		return "", ""
	}
	command, arg, _ = strings.Cut(text, " ")
	command, _, _ = strings.Cut(command, "@")
	return strings.ToLower(command), strings.TrimSpace(arg)
}

func (s *Service) reply(ctx context.Context, ch bot.Channel, u flows.Update, text string) error {
	_, err := s.send(ctx, ch, u.ChatID, flows.Message{Text: text})
	return s.deliveryError(ctx, u, err)
}

// deliveryError turns a blocked recipient into a durable fact instead of an
// error: redelivering the update would not unblock the bot.
func (s *Service) deliveryError(ctx context.Context, u flows.Update, err error) error {
	if err == nil || !errors.Is(err, bot.ErrBlocked) {
		return err
	}
	return s.blocked(ctx, u)
}

func (s *Service) blocked(ctx context.Context, u flows.Update) error {
	_, customer, err := s.records.IdentityByExternal(ctx, u.Channel, u.ChatID)
	if errors.Is(err, flows.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	s.log.Info("customer unreachable", "channel", u.Channel, "chat_id", u.ChatID, "customer_ref", customer.Ref)
	if s.desk != nil {
		s.desk.CustomerBlocked(ctx, u.Channel, u.ChatID)
	}
	if u.Channel == flows.ChannelWeChat {
		// Unfollowing an Official Account is an explicit opt-out; following
		// it again (a /start) opts back in.
		if err := s.records.OptOut(ctx, customer.ID, s.now()); err != nil {
			return err
		}
	}
	return s.records.MarkUnreachable(ctx, customer.ID, s.now())
}

// identify finds the chat and its customer, creating an anonymous customer
// for a chat nobody introduced (a customer who found the bot by themselves).
func (s *Service) identify(ctx context.Context, u flows.Update) (flows.Identity, flows.Customer, error) {
	identity, customer, err := s.records.IdentityByExternal(ctx, u.Channel, u.ChatID)
	if err == nil {
		return identity, customer, nil
	}
	if !errors.Is(err, flows.ErrNotFound) {
		return flows.Identity{}, flows.Customer{}, err
	}
	customer, err = s.records.UpsertCustomer(ctx, string(u.Channel)+":"+u.ChatID, u.Language)
	if err != nil {
		return flows.Identity{}, flows.Customer{}, err
	}
	identity, err = s.records.LinkIdentity(ctx, s.identityFor(customer.ID, u))
	return identity, customer, err
}

func (s *Service) identityFor(customerID int64, u flows.Update) flows.Identity {
	return flows.Identity{
		CustomerID: customerID,
		Channel:    u.Channel,
		ExternalID: u.ChatID,
		Username:   u.Username,
		Language:   u.Language,
		LinkedAt:   s.now(),
	}
}

func (s *Service) start(ctx context.Context, ch bot.Channel, u flows.Update, token string) error {
	greeting := "greeting"
	var (
		identity flows.Identity
		customer flows.Customer
	)
	if token != "" {
		ref, err := s.redeem(ctx, u, token)
		if flows.IsLinkRefusal(err) {
			s.log.Info("rejected deep link", "chat_id", u.ChatID, "err", err)
			return s.reply(ctx, ch, u, flows.SystemText("invalid_link", u.Language))
		}
		if err != nil {
			return err
		}
		if customer, err = s.records.UpsertCustomer(ctx, ref, u.Language); err != nil {
			return err
		}
		if identity, err = s.records.LinkIdentity(ctx, s.identityFor(customer.ID, u)); err != nil {
			return err
		}
		greeting = "linked"
	} else {
		var err error
		if identity, customer, err = s.identify(ctx, u); err != nil {
			return err
		}
	}
	// Writing /start is the customer asking to hear from us again, on this
	// chat too (its own marks outlive a relink to another customer).
	if customer.OptedOutAt != nil || identity.OptedOutAt != nil {
		if err := s.records.OptIn(ctx, customer.ID); err != nil {
			return err
		}
		greeting = "resumed"
	}
	if customer.UnreachableAt != nil || identity.UnreachableAt != nil {
		if err := s.records.ClearUnreachable(ctx, customer.ID); err != nil {
			return err
		}
	}
	return s.reply(ctx, ch, u, flows.SystemText(greeting, u.Language))
}

// redeem reads a deep-link token: the customer reference it links this
// chat to, or a refusal (flows.IsLinkRefusal) when the token is unknown,
// expired or another chat's.
func (s *Service) redeem(ctx context.Context, u flows.Update, token string) (string, error) {
	if s.links == nil {
		return "", flows.ErrLinkUnknown
	}
	return s.links.Redeem(ctx, token, u.Channel, u.ChatID)
}

func (s *Service) stop(ctx context.Context, ch bot.Channel, u flows.Update, turn flows.Turn) (flows.TurnEnd, error) {
	_, customer, err := s.identify(ctx, u)
	if err != nil {
		return flows.TurnEnd{}, err
	}
	if err := s.records.OptOut(ctx, customer.ID, s.now()); err != nil {
		return flows.TurnEnd{}, err
	}
	end := flows.Keep()
	if turn.HasState {
		if _, err := s.records.ApplyStep(ctx, flows.StepWrite{ResponseID: turn.State.ResponseID, Finish: flows.ResponseExpired, At: s.now()}); err != nil {
			return flows.TurnEnd{}, err
		}
		end = flows.Delete()
	}
	s.log.Info("customer opted out", "channel", u.Channel, "chat_id", u.ChatID, "customer_ref", customer.Ref)
	if s.desk != nil {
		s.desk.CustomerOptedOut(ctx, u.Channel, u.ChatID)
	}
	return end, s.reply(ctx, ch, u, flows.SystemText("stopped", u.Language))
}

package conversation

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/cxbot/cxbot/bot"
	"github.com/cxbot/cxbot/flows"
)

// notifyHandoff tells the agents about a response's handoff. A failure is
// logged, not returned: the handoff row is durable and NotifyPendingHandoffs
// retries it, while the customer's update is already fully applied.
//
// replay says the step is a redelivery whose SQL effect was already there:
// agents who were told then are not told again.
func (s *Service) notifyHandoff(ctx context.Context, responseID int64, replay bool) {
	if a, ok := s.desk.(responseAnnouncer); ok {
		if err := a.AnnounceResponse(ctx, responseID, replay); err != nil {
			s.log.Error("notify agents", "response_id", responseID, "err", err)
		}
		return
	}
	h, err := s.records.HandoffForResponse(ctx, responseID)
	if err != nil {
		s.log.Error("load handoff", "response_id", responseID, "err", err)
		return
	}
	if replay && h.NotifiedAt != nil {
		return
	}
	if err := s.sendNotice(ctx, h); err != nil {
		s.log.Error("notify agents", "handoff_id", h.ID, "err", err)
	}
}

// responseAnnouncer is a Desk that reads a response's handoff together
// with what its notice shows (one round trip instead of several).
type responseAnnouncer interface {
	AnnounceResponse(ctx context.Context, responseID int64, replay bool) error
}

func (s *Service) sendNotice(ctx context.Context, h flows.Handoff) error {
	if s.desk != nil {
		return s.desk.Announce(ctx, h)
	}
	notice := bot.HandoffNotice(h)
	if h.NotifiedAt != nil {
		// Agents already heard of it (the comment came after the wait ran out).
		notice = bot.HandoffCommentNotice(h)
	}
	if s.agents == nil {
		s.log.Warn("handoff with no agents' chat configured", "handoff_id", h.ID, "notice", notice)
	} else if err := s.agents.NotifyAgents(ctx, notice); err != nil {
		return err
	}
	if h.NotifiedAt != nil {
		return nil
	}
	s.log.Info("handoff opened", "handoff_id", h.ID, "survey_id", h.SurveyID, "customer_ref", h.CustomerRef, "score", h.Score)
	return s.records.MarkHandoffNotified(ctx, h.ID, s.now())
}

// NotifyPendingHandoffs finishes handoffs nobody has been told about: those
// whose notice failed, and those whose customer never wrote the follow-up
// comment within CommentWait. Such a customer still gets the handoff message:
// nobody who gave a bad score is left without an answer. It returns how many
// handoffs it completed.
func (s *Service) NotifyPendingHandoffs(ctx context.Context) (int, error) {
	// Open handoffs get a minute's grace (the comment wait, when that is
	// shorter: who waits a second for a comment wants the notice soon): the
	// request that opened one may be telling the agents right now, and the
	// sweep takes the chat's turn and reads again before it acts.
	now := s.now()
	grace := min(time.Minute, s.commentWait)
	pending, err := s.records.HandoffsToNotify(ctx, now.Add(-s.commentWait), now.Add(-grace), 100)
	if err != nil {
		return 0, err
	}
	done := 0
	var errs []error
	for _, h := range pending {
		// Under the chat's lock, like the customer's own updates: a late
		// comment arriving now waits, and then sees the notice recorded.
		err := s.inTurn(ctx, h.Channel, h.ExternalID, "", func(ctx context.Context, _ flows.Turn) (flows.TurnEnd, error) {
			current, err := s.records.HandoffForResponse(ctx, h.ResponseID)
			if err != nil {
				return flows.TurnEnd{}, err
			}
			if current.NotifiedAt != nil {
				return flows.Keep(), nil // the customer's own update completed it meanwhile
			}
			return flows.Keep(), s.completeHandoff(ctx, current)
		})
		if err != nil {
			errs = append(errs, fmt.Errorf("handoff %d: %w", h.ID, err))
			continue
		}
		done++
	}
	return done, errors.Join(errs...)
}

func (s *Service) completeHandoff(ctx context.Context, h flows.Handoff) error {
	if h.Status == flows.HandoffAwaitingComment {
		if ch, err := s.channel(h.Channel); err != nil {
			s.log.Warn("handoff: cannot tell the customer", "handoff_id", h.ID, "err", err)
		} else if _, err := ch.Send(ctx, h.ExternalID, flows.Message{Text: s.handoffText(ctx, h)}); err != nil {
			if !errors.Is(err, bot.ErrBlocked) && !errors.Is(err, flows.ErrInvalid) {
				return err // transient: the next sweep tries again, nothing was sent
			}
			s.log.Warn("handoff: customer unreachable", "handoff_id", h.ID, "err", err)
			if errors.Is(err, bot.ErrBlocked) {
				if err := s.records.MarkUnreachable(ctx, h.CustomerID, s.now()); err != nil {
					return err
				}
			}
		}
		// The customer has been told (or cannot be): record it before the
		// agents' notice, so a failing agents' chat never makes the sweep
		// message the customer again.
		if _, err := s.records.ApplyStep(ctx, flows.StepWrite{ResponseID: h.ResponseID, HandoffStatus: flows.HandoffOpen, At: s.now()}); err != nil {
			return err
		}
	}
	return s.sendNotice(ctx, h)
}

func (s *Service) handoffText(ctx context.Context, h flows.Handoff) string {
	lang := ""
	if resp, err := s.records.Response(ctx, h.ResponseID); err == nil {
		lang = resp.Language
	}
	if survey, ok := s.surveys[h.SurveyID]; ok {
		return survey.Text("handoff", flows.ResolveLanguage(survey.Languages(), lang, survey.DefaultLanguage))
	}
	return flows.SystemText("handoff", lang)
}

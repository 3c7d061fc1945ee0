package conversation

import (
	"context"
	"errors"
	"fmt"

	"github.com/cxbot/cxbot/bot"
	"github.com/cxbot/cxbot/flows"
)

// answer runs one step of the chat's conversation. Order matters for the
// invariants: the answer (and any handoff change) is committed to SQL first,
// then messages go out, then the turn ends with the new state. A crash in
// between leaves the old state, so the redelivered update steps again, the
// answer insert is ignored by its unique key, and at worst a question is
// re-sent.
func (s *Service) answer(ctx context.Context, ch bot.Channel, u flows.Update, turn flows.Turn, in flows.Input) (flows.TurnEnd, error) {
	if !turn.HasState {
		return flows.Keep(), s.noConversation(ctx, ch, u)
	}
	st := turn.State
	if u.UpdateID != "" && st.LastUpdateID == u.UpdateID {
		// Applied already; only its seen mark was lost. If the state came
		// back from SQL, the messages that followed may never have gone
		// out: ask the open question again (at most one repeat).
		if turn.Recalled {
			return s.reask(ctx, ch, u, st)
		}
		return flows.Keep(), nil
	}
	survey, ok := s.surveys[st.SurveyID]
	if !ok || (st.QuestionID != "" && !hasQuestion(survey, st.QuestionID)) {
		// The survey was removed or changed under a running conversation.
		return s.expire(ctx, ch, u, st.ResponseID, nil)
	}
	now := s.now()
	out := flows.Step(survey, st, in, now)
	if out.Stale {
		return flows.Keep(), s.ackTap(ctx, ch, u, out.Notice)
	}

	durable := out.State
	durable.LastUpdateID = u.UpdateID
	write := out.Write(st.ResponseID, now, func(p flows.PendingHandoff) flows.Handoff { return s.handoffRecord(st, p, u) })
	write.State, write.UpdateID, write.ExpectUpdateID = &durable, u.UpdateID, st.LastUpdateID
	write.CompletedWebhook = out.Finished && s.webhooks
	replay := false
	switch _, err := s.records.ApplyStep(ctx, write); {
	case errors.Is(err, flows.ErrApplied):
		replay = true
		// SQL has this update's effect (a step whose end was lost): its
		// messages go out again, the rest is done.
	case errors.Is(err, flows.ErrConflict):
		return flows.TurnEnd{}, fmt.Errorf("%w: %w", errStaleState, err)
	case err != nil:
		return flows.TurnEnd{}, fmt.Errorf("store answer: %w", err)
	}

	if err := s.ackTap(ctx, ch, u, out.Notice); err != nil {
		return flows.TurnEnd{}, err
	}
	if out.HandoffReady != nil {
		// The agents' notice does not wait on the customer's messages, nor
		// they on it: the order does not matter to either. It ends within
		// the turn (the chat's lease covers it, as it covers the sweep's),
		// and it is told once: a redelivery (replay) finds it recorded.
		noticed := make(chan struct{})
		go func() {
			defer close(noticed)
			s.notifyHandoff(ctx, st.ResponseID, replay)
		}()
		defer func() { <-noticed }()
	}
	// The answered keyboard closes once what follows is on its way, beside
	// the rest of the step: the customer sees the next question one call
	// sooner, and a step that cannot send (a long 429) leaves the keyboard
	// in place for the redelivery.
	closed := make(chan error, 1)
	closing := false
	closeAnswered := func() {
		if closing || out.Closed == nil || out.Closed.MessageID == 0 {
			return
		}
		closing = true
		go func() {
			callCtx, cancel := s.call(ctx)
			defer cancel()
			closed <- ch.CloseQuestion(callCtx, u.ChatID, out.Closed.MessageID, out.Closed.Text)
		}()
	}
	next := out.State
	next.LastUpdateID = u.UpdateID
	var sendErr error
	for _, m := range out.Messages {
		id, err := s.send(ctx, ch, u.ChatID, m)
		if err != nil {
			sendErr = err
			break
		}
		closeAnswered()
		if m.QuestionID != "" {
			next.PromptMessageID = id
		}
	}
	if len(out.Messages) == 0 {
		closeAnswered()
	}
	if closing {
		if err := <-closed; err != nil {
			if errors.Is(err, bot.ErrBlocked) && sendErr == nil {
				sendErr = err
			} else {
				// The answer is stored; a keyboard left in place only allows a stale tap.
				s.log.Warn("close answered question", "chat_id", u.ChatID, "err", err)
			}
		}
	}
	if sendErr != nil {
		return flows.Keep(), s.deliveryError(ctx, u, sendErr)
	}
	if out.Finished {
		return flows.Delete(), nil
	}
	return flows.Save(next), nil
}

// reask sends the open question of a recalled conversation again.
func (s *Service) reask(ctx context.Context, ch bot.Channel, u flows.Update, st flows.State) (flows.TurnEnd, error) {
	survey, ok := s.surveys[st.SurveyID]
	if !ok {
		return flows.Keep(), nil
	}
	m, ok := flows.Reminder(survey, st)
	if !ok {
		return flows.Keep(), nil
	}
	id, err := s.send(ctx, ch, u.ChatID, m)
	if err != nil {
		return flows.Keep(), s.deliveryError(ctx, u, err)
	}
	st.PromptMessageID = id
	return flows.Save(st), nil
}

func hasQuestion(s *flows.Survey, id string) bool {
	_, ok := s.Question(id)
	return ok
}

// ackTap answers a tapped button so the customer's client stops spinning.
func (s *Service) ackTap(ctx context.Context, ch bot.Channel, u flows.Update, notice string) error {
	if u.TapID == "" {
		return nil
	}
	callCtx, cancel := s.call(ctx)
	defer cancel()
	if err := ch.AnswerTap(callCtx, u.TapID, notice); err != nil {
		// Taps expire on the platform side after a while; not worth a redelivery.
		s.log.Warn("answer tap", "chat_id", u.ChatID, "err", err)
	}
	return nil
}

// noConversation answers a customer who writes (or taps an old keyboard)
// with no conversation in Redis: either it expired, or there never was one.
func (s *Service) noConversation(ctx context.Context, ch bot.Channel, u flows.Update) error {
	resp, err := s.records.OpenResponseForChat(ctx, u.Channel, u.ChatID)
	if err == nil {
		// A response whose first message never went out (a failed send
		// waiting for a retry) is not a conversation the customer knows of.
		inv, ierr := s.records.Invitation(ctx, resp.InvitationID)
		if ierr != nil {
			return ierr
		}
		if inv.Status != flows.InvitationSent && inv.Status != flows.InvitationStarted {
			err = flows.ErrNotFound
		}
	}
	switch {
	case err == nil:
		_, err := s.expire(ctx, ch, u, resp.ID, s.surveys[resp.SurveyID])
		return err
	case !errors.Is(err, flows.ErrNotFound):
		return err
	case u.TapID != "":
		return s.ackTap(ctx, ch, u, flows.SystemText("closed", u.Language))
	default:
		return s.reply(ctx, ch, u, flows.SystemText("no_survey", u.Language))
	}
}

// expire closes a response whose conversation timed out and tells the
// customer politely instead of leaving them unanswered.
func (s *Service) expire(ctx context.Context, ch bot.Channel, u flows.Update, responseID int64, survey *flows.Survey) (flows.TurnEnd, error) {
	if _, err := s.records.ApplyStep(ctx, flows.StepWrite{ResponseID: responseID, Finish: flows.ResponseExpired, At: s.now()}); err != nil {
		return flows.TurnEnd{}, err
	}
	text := flows.SystemText("expired", u.Language)
	if survey != nil {
		text = survey.Text("expired", flows.ResolveLanguage(survey.Languages(), u.Language, survey.DefaultLanguage))
	}
	if err := s.ackTap(ctx, ch, u, text); err != nil {
		return flows.TurnEnd{}, err
	}
	return flows.Delete(), s.reply(ctx, ch, u, text)
}

// handoffRecord is the handoff row for a detractor answer; the store fills
// in the customer reference and the invitation's event context.
func (s *Service) handoffRecord(st flows.State, p flows.PendingHandoff, u flows.Update) flows.Handoff {
	return flows.Handoff{
		ResponseID: st.ResponseID,
		SurveyID:   st.SurveyID,
		QuestionID: p.QuestionID,
		Kind:       p.Kind,
		Score:      p.Score,
		Class:      p.Class,
		Comment:    p.Comment,
		Channel:    u.Channel,
		ExternalID: u.ChatID,
		CreatedAt:  s.now(),
	}
}

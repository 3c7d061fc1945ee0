package desk

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"github.com/cxbot/cxbot/bot"
	"github.com/cxbot/cxbot/flows"
)

// Sweep keeps cases from waiting unseen and closes the loop, run by the
// scheduler on one replica per slot: an open case unclaimed for ClaimSLA of
// working time is announced again, after EscalateAfter it goes to the
// supervisors' chat; a case fixed FollowUpDelay ago gets its "did we fix
// it?" question. Every move is recorded before or as it happens, so a
// second replica or the next run never repeats it.
func (s *Service) Sweep(ctx context.Context) error {
	return errors.Join(s.sweepSLA(ctx), s.sweepFollowUps(ctx))
}

func (s *Service) sweepSLA(ctx context.Context) error {
	cases, err := s.records.UnclaimedCases(ctx, 200)
	if err != nil {
		return err
	}
	now := s.now()
	var errs []error
	for _, h := range cases {
		if h.NotifiedAt == nil {
			continue
		}
		waited := s.cfg.Hours.Elapsed(*h.NotifiedAt, now)
		id := strconv.FormatInt(h.ID, 10)
		switch {
		case waited >= s.cfg.EscalateAfter && s.cfg.SupervisorChatID != "":
			won, err := s.records.MarkEscalated(ctx, h.ID, now)
			if err != nil || !won {
				errs = append(errs, err)
				continue
			}
			html, err := s.notice(ctx, h)
			if err == nil && s.chat != nil {
				html = "<b>" + say(s.lang, "escalated", "id", id, "wait", waitLabel(waited)) + "</b>\n\n" + html
				callCtx, cancel := call(ctx)
				_, err = s.chat.PostHTML(callCtx, s.cfg.SupervisorChatID, flows.Post{HTML: html, Buttons: noticeButtons(s.lang, h)})
				cancel()
			}
			if err != nil {
				errs = append(errs, fmt.Errorf("escalate handoff %d: %w", h.ID, err))
				continue
			}
			s.log.Warn("handoff escalated to the supervisors", "handoff_id", h.ID, "waited", waited)
		case waited >= s.cfg.ClaimSLA && h.RemindedAt == nil:
			won, err := s.records.MarkCaseReminded(ctx, h.ID, now)
			if err != nil || !won {
				errs = append(errs, err)
				continue
			}
			if s.chat == nil || h.AgentChatID == "" {
				continue
			}
			callCtx, cancel := call(ctx)
			_, err = s.chat.PostHTML(callCtx, h.AgentChatID, flows.Post{
				HTML:    say(s.lang, "reminder", "id", id, "wait", waitLabel(waited)),
				ReplyTo: h.NoticeMessageID, Buttons: noticeButtons(s.lang, h),
			})
			cancel()
			if err != nil {
				errs = append(errs, fmt.Errorf("remind of handoff %d: %w", h.ID, err))
			}
		}
	}
	return errors.Join(errs...)
}

func (s *Service) sweepFollowUps(ctx context.Context) error {
	due, err := s.records.FollowUpsDue(ctx, s.now().Add(-s.cfg.FollowUpDelay), 200)
	if err != nil {
		return err
	}
	var errs []error
	for _, h := range due {
		if err := s.followUp(ctx, h); err != nil {
			errs = append(errs, fmt.Errorf("follow-up of handoff %d: %w", h.ID, err))
		}
	}
	return errors.Join(errs...)
}

// followUp asks the customer of a fixed case whether it was fixed: one
// CSAT question, answered by tapping (or typing) 1–5. A customer who opted
// out or cannot be reached is not asked; one in their quiet hours is asked
// once they are over.
func (s *Service) followUp(ctx context.Context, h flows.Handoff) error {
	if s.cfg.QuietUntil != nil {
		until, err := s.cfg.QuietUntil(ctx, h.CustomerRef, "", s.now())
		if err != nil {
			return err
		}
		if !until.IsZero() {
			return nil // the customer's quiet hours: a later sweep asks
		}
	}
	won, err := s.records.MarkFollowUpSent(ctx, h.ID, s.now())
	if err != nil || !won {
		return err
	}
	if c, err := s.records.Customer(ctx, h.CustomerID); err == nil && (c.OptedOutAt != nil || c.UnreachableAt != nil) {
		return nil // stays marked: never asked
	}
	var row []flows.Button
	for v := 1; v <= 5; v++ {
		value := strconv.Itoa(v)
		row = append(row, flows.Button{Label: value, Data: flows.EncodeTap(flows.Tap{ResponseID: h.ResponseID, QuestionID: flows.RecoveryQuestionID, Value: value})})
	}
	_, err = s.sendSystem(ctx, h, flows.SystemText("recovery_question", s.customerLanguage(ctx, h)), row)
	if err != nil && !errors.Is(err, bot.ErrBlocked) && !errors.Is(err, flows.ErrInvalid) {
		// Nothing went out: give the follow-up back for the next sweep.
		if cerr := s.records.ClearFollowUpSent(ctx, h.ID); cerr != nil {
			return errors.Join(err, cerr)
		}
		return err
	}
	return nil
}

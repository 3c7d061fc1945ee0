package desk

import (
	"context"
	"errors"
	"strconv"
	"strings"

	"github.com/cxbot/cxbot/flows"
)

// CustomerWrote takes what a customer wrote outside a survey (text or a
// photo) when a case wants it: a live case gets it in its thread; a case
// resolved within ReopenWindow is reopened; "/done" (已解决) closes a live
// case. handled is false when no case wants it (the survey engine answers).
// It runs within the customer's turn, so a redelivery is recognised there.
func (s *Service) CustomerWrote(ctx context.Context, u flows.Update) (handled bool, err error) {
	h, err := s.records.CaseForChat(ctx, u.Channel, u.ChatID)
	if errors.Is(err, flows.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	now := s.now()
	switch {
	case h.Live() && flows.IsCustomerDone(u.Text):
		_, err := s.Resolve(ctx, h.ID, nil, flows.Resolution{Outcome: flows.OutcomeResolved, Note: "closed by the customer", By: ByCustomer})
		if errors.Is(err, ErrNotLive) {
			err = nil
		}
		return true, err
	case h.Live():
	case h.Status == flows.HandoffResolved && h.FollowUpSentAt != nil && h.RecoveryScore == nil && recoveryScore(u.Text) > 0:
		// A typed answer to the follow-up question (WeChat has no buttons).
		return true, s.recordRecovery(ctx, h, recoveryScore(u.Text))
	case h.Reopenable(now, s.cfg.ReopenWindow):
		reopened, changed, err := s.records.ReopenHandoff(ctx, h.ID, now)
		if err != nil {
			return false, err
		}
		if changed {
			s.log.Info("handoff reopened by the customer", "handoff_id", h.ID)
			s.tellThread(ctx, reopened, say(s.lang, "reopened", "id", strconv.FormatInt(h.ID, 10)))
			s.refreshNotice(ctx, reopened, reopened.AgentChatID, reopened.NoticeMessageID, noticeButtons(s.lang, reopened))
		}
		h = reopened
	default:
		return false, nil
	}
	return true, s.relayToAgents(ctx, h, u)
}

// relayToAgents posts the customer's words into the case's thread and stores them.
func (s *Service) relayToAgents(ctx context.Context, h flows.Handoff, u flows.Update) error {
	head := "<b>" + say(s.lang, "customer_wrote", "id", strconv.FormatInt(h.ID, 10), "customer", esc(orDash(h.CustomerRef))) + "</b>"
	post := flows.Post{HTML: head}
	if strings.TrimSpace(u.Text) != "" {
		post.HTML += "\n" + quote(u.Text, 3000)
	}
	if u.PhotoID != "" {
		post.PhotoID = u.PhotoID
		post.HTML = head
		if strings.TrimSpace(u.Text) != "" {
			post.HTML += "\n" + quote(u.Text, 800)
		}
	}
	id, err := s.postToThread(ctx, h, post)
	if err != nil {
		return err // the platform redelivers the customer's update
	}
	_, err = s.records.AddCaseMessage(ctx, flows.CaseMessage{HandoffID: h.ID, Author: flows.AuthorCustomer, Text: u.Text, PhotoID: u.PhotoID,
		AgentChatMessageID: id, CustomerMessageID: u.MessageID, Delivered: s.chat != nil && h.AgentChatID != "", CreatedAt: s.now()})
	return err
}

// recoveryScore reads a 1–5 follow-up answer; 0 when text is not one.
func recoveryScore(text string) int {
	n, err := strconv.Atoi(strings.TrimSpace(text))
	if err != nil || n < 1 || n > 5 {
		return 0
	}
	return n
}

// FollowUpAnswered records a tap on the "did we fix it?" question. A tap
// naming a case of another chat (forged) changes nothing.
func (s *Service) FollowUpAnswered(ctx context.Context, u flows.Update) error {
	if u.Tap == nil {
		return nil
	}
	ack := func(notice string) error {
		if u.TapID == "" {
			return nil
		}
		if ch, ok := s.channels[u.Channel]; ok {
			callCtx, cancel := call(ctx)
			defer cancel()
			return ch.AnswerTap(callCtx, u.TapID, notice)
		}
		return nil
	}
	score := recoveryScore(u.Tap.Value)
	h, err := s.caseOfResponse(ctx, u.Tap.ResponseID)
	if errors.Is(err, flows.ErrNotFound) || score == 0 || h.Channel != u.Channel || h.ExternalID != u.ChatID {
		return ack("")
	}
	if err != nil {
		return err
	}
	if err := ack("✓ " + strconv.Itoa(score)); err != nil {
		s.log.Warn("answer follow-up tap", "err", err)
	}
	if ch, ok := s.channels[u.Channel]; ok && u.MessageID > 0 {
		callCtx, cancel := call(ctx)
		if err := ch.CloseQuestion(callCtx, u.ChatID, u.MessageID, ""); err != nil {
			s.log.Warn("close follow-up question", "err", err)
		}
		cancel()
	}
	return s.recordRecovery(ctx, h, score)
}

func (s *Service) caseOfResponse(ctx context.Context, responseID int64) (flows.Handoff, error) {
	hs, err := s.records.QueryHandoffs(ctx, flows.HandoffQuery{ResponseID: responseID, Limit: 1})
	if err != nil {
		return flows.Handoff{}, err
	}
	if len(hs) == 0 {
		return flows.Handoff{}, flows.ErrNotFound
	}
	return hs[0], nil
}

func (s *Service) recordRecovery(ctx context.Context, h flows.Handoff, score int) error {
	updated, changed, err := s.records.RecordRecovery(ctx, h.ResponseID, score, s.now())
	if err != nil || !changed {
		return err
	}
	s.log.Info("handoff follow-up answered", "handoff_id", h.ID, "score", score, "recovered", flows.RecoveredBy(score))
	if _, err := s.sendSystem(ctx, updated, flows.SystemText("recovery_thanks", s.customerLanguage(ctx, updated))); err != nil {
		s.log.Warn("thank for the follow-up", "handoff_id", h.ID, "err", err)
	}
	verdict := say(s.lang, "not_recovered")
	if flows.RecoveredBy(score) {
		verdict = say(s.lang, "recovered")
	}
	s.tellThread(ctx, updated, say(s.lang, "recovery", "id", strconv.FormatInt(h.ID, 10), "score", strconv.Itoa(score), "verdict", verdict))
	return nil
}

// CustomerOptedOut tells the agents of the chat's live case that its
// customer opted out of surveys (their case goes on; no follow-up question
// will be asked).
func (s *Service) CustomerOptedOut(ctx context.Context, ch flows.Channel, chatID string) {
	h, err := s.records.CaseForChat(ctx, ch, chatID)
	if err != nil || !h.Live() {
		return
	}
	s.tellThread(ctx, h, say(s.lang, "opted_out", "id", strconv.FormatInt(h.ID, 10)))
}

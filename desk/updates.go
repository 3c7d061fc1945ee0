package desk

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/cxbot/cxbot/flows"
)

// leaseTTL bounds one desk step's hold on the agents' chat.
const leaseTTL = 30 * time.Second

// HandleDeskUpdate applies what a person did in an agents' chat, once per
// update (a redelivery is recognised) and one at a time per chat.
func (s *Service) HandleDeskUpdate(ctx context.Context, u flows.DeskUpdate) error {
	if u.ChatID == "" {
		return fmt.Errorf("%w: desk update %s has no chat", flows.ErrInvalid, u.UpdateID)
	}
	turn, err := s.turns.Begin(ctx, u.Channel, u.ChatID, u.UpdateID, leaseTTL)
	if err != nil {
		return fmt.Errorf("begin desk turn at chat %s: %w", u.ChatID, err)
	}
	if turn.Seen {
		return nil
	}
	endCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
	defer cancel()
	if err := s.deskStep(ctx, u); err != nil {
		if rerr := s.turns.Release(endCtx, turn); rerr != nil {
			s.log.Warn("release the agents' chat", "chat_id", u.ChatID, "err", rerr)
		}
		return err
	}
	end := flows.Keep()
	if u.UpdateID != "" {
		end.SeenTTL = s.cfg.DedupeTTL
	}
	if err := s.turns.End(endCtx, turn, end); err != nil && !errors.Is(err, flows.ErrConflict) {
		s.log.Warn("end desk turn", "chat_id", u.ChatID, "err", err)
	}
	return nil
}

func (s *Service) deskStep(ctx context.Context, u flows.DeskUpdate) error {
	if u.TapID != "" {
		return s.deskTap(ctx, u)
	}
	h, rest, found, err := s.caseOf(ctx, u)
	if err != nil || !found {
		return err
	}
	agent, err := s.agentOf(ctx, u)
	if errors.Is(err, flows.ErrNotFound) {
		return s.answerInChat(ctx, u, say(s.lang, "not_agent", "user", esc(u.UserID)))
	}
	if err != nil {
		return err
	}
	switch cmd, arg := splitCommand(rest); cmd {
	case "/resolve":
		word, note := cutWord(arg)
		outcome, ok := s.outcomeNamed(word)
		if !ok {
			return s.answerInChat(ctx, u, esc(say(s.lang, "bad_outcome")))
		}
		_, err := s.Resolve(ctx, h.ID, &agent, flows.Resolution{Outcome: outcome, Note: note, By: agent.Name})
		return s.tellAgent(ctx, u, h, false, err)
	case "/note":
		m, err := s.Note(ctx, h, agent, arg, u.MessageID)
		if err == nil {
			return s.answerInChat(ctx, u, say(s.lang, "noted", "id", strconv.FormatInt(h.ID, 10)))
		}
		return s.tellAgent(ctx, u, h, m.ID != 0, err)
	}
	m, err := s.Reply(ctx, h, agent, rest, u.PhotoID, u.MessageID)
	return s.tellAgent(ctx, u, h, m.ID != 0, err)
}

// caseOf finds the case an agents' chat message is about: its forum topic,
// a reply to its notice or to a message of its thread, or "/reply N text"
// (and "/resolve N outcome note"). found is false for anything else: agents
// talking among themselves.
func (s *Service) caseOf(ctx context.Context, u flows.DeskUpdate) (h flows.Handoff, rest string, found bool, err error) {
	text := strings.TrimSpace(u.Text)
	cmd, arg := splitCommand(text)
	if cmd == "/reply" || cmd == "/resolve" || cmd == "/note" {
		// "/reply 12 text" anywhere; "/resolve" and "/note" also name their
		// case by where they are written (its topic, a reply in its thread).
		idText, body := cutWord(arg)
		id, perr := strconv.ParseInt(strings.TrimPrefix(idText, "#"), 10, 64)
		switch {
		case perr == nil && id > 0:
			h, err = s.records.Handoff(ctx, id)
			if errors.Is(err, flows.ErrNotFound) {
				return h, "", false, s.answerInChat(ctx, u, say(s.lang, "unknown_case", "id", strconv.FormatInt(id, 10)))
			}
			if cmd != "/reply" {
				body = cmd + " " + body
			}
			return h, strings.TrimSpace(body), err == nil, err
		case cmd == "/reply" || (u.ThreadID == 0 && u.ReplyToMessageID == 0):
			return h, "", false, s.answerInChat(ctx, u, esc(say(s.lang, "reply_usage")))
		}
	}
	switch {
	case u.ThreadID > 0:
		h, err = s.records.CaseByTopic(ctx, u.ChatID, u.ThreadID)
	case u.ReplyToMessageID > 0:
		h, err = s.records.CaseByAgentMessage(ctx, u.ChatID, u.ReplyToMessageID)
	default:
		return h, "", false, nil
	}
	if errors.Is(err, flows.ErrNotFound) {
		return h, "", false, nil
	}
	return h, text, err == nil, err
}

func splitCommand(text string) (command, arg string) {
	if !strings.HasPrefix(text, "/") {
		return "", ""
	}
	command, arg = cutWord(text)
	command, _, _ = strings.Cut(command, "@")
	return strings.ToLower(command), arg
}

// cutWord splits off the first word, at any white space (a phone puts a
// newline after "/reply 12" as often as a space).
func cutWord(s string) (word, rest string) {
	s = strings.TrimSpace(s)
	i := strings.IndexFunc(s, unicode.IsSpace)
	if i < 0 {
		return s, ""
	}
	return s[:i], strings.TrimSpace(s[i:])
}

// outcomeNamed reads an outcome as agents write it: its code, or its label
// in either language, any case; empty is resolved.
func (s *Service) outcomeNamed(word string) (flows.CaseOutcome, bool) {
	if word == "" {
		return flows.OutcomeResolved, true
	}
	for _, o := range flows.CaseOutcomes() {
		for _, name := range []string{string(o), say("en", string(o)), say("zh-CN", string(o))} {
			if strings.EqualFold(word, name) || strings.EqualFold(strings.ReplaceAll(word, "_", " "), name) {
				return o, true
			}
		}
	}
	return "", false
}

func (s *Service) agentOf(ctx context.Context, u flows.DeskUpdate) (flows.Agent, error) {
	id, err := strconv.ParseInt(u.UserID, 10, 64)
	if err != nil || id <= 0 {
		return flows.Agent{}, fmt.Errorf("desk update from user %q: %w", u.UserID, flows.ErrNotFound)
	}
	return s.records.AgentByTelegramUser(ctx, id)
}

// deskTap applies a notice button.
func (s *Service) deskTap(ctx context.Context, u flows.DeskUpdate) error {
	tap, err := flows.DecodeDeskTap(u.TapData)
	if err != nil {
		return s.toast(ctx, u, "") // not ours (or forged): only stop the spinner
	}
	agent, err := s.agentOf(ctx, u)
	if errors.Is(err, flows.ErrNotFound) {
		return s.toast(ctx, u, say(s.lang, "not_agent", "user", u.UserID))
	}
	if err != nil {
		return err
	}
	id := strconv.FormatInt(tap.HandoffID, 10)
	switch tap.Action {
	case flows.ActClaim:
		h, err := s.Claim(ctx, tap.HandoffID, agent)
		switch {
		case errors.Is(err, ErrTaken):
			return s.toast(ctx, u, say(s.lang, "taken", "id", id, "name", h.ClaimedByName))
		case errors.Is(err, ErrNotLive):
			return s.toast(ctx, u, say(s.lang, "not_live", "id", id))
		case errors.Is(err, flows.ErrNotFound):
			return s.toast(ctx, u, say(s.lang, "unknown_case", "id", id))
		case err != nil:
			return err
		}
		if u.ChatID != h.AgentChatID || u.MessageID != h.NoticeMessageID {
			// Claimed from a reminder, an escalation or the topic's copy.
			s.refreshNotice(ctx, h, u.ChatID, u.MessageID, noticeButtons(s.lang, h))
		}
		return s.toast(ctx, u, say(s.lang, "you_own", "id", id))
	case flows.ActResolve, flows.ActBack:
		h, err := s.records.Handoff(ctx, tap.HandoffID)
		if err != nil {
			return s.toast(ctx, u, say(s.lang, "unknown_case", "id", id))
		}
		if err := mayWork(h, agent); err != nil {
			return s.toast(ctx, u, s.refusal(h, err))
		}
		buttons := outcomeButtons(s.lang, h.ID)
		if tap.Action == flows.ActBack {
			buttons = noticeButtons(s.lang, h)
		}
		s.refreshNotice(ctx, h, u.ChatID, u.MessageID, buttons)
		return s.toast(ctx, u, "")
	case flows.ActOutcome:
		h, err := s.Resolve(ctx, tap.HandoffID, &agent, flows.Resolution{Outcome: tap.Outcome, By: agent.Name})
		if err != nil {
			if errors.Is(err, flows.ErrNotFound) {
				return s.toast(ctx, u, say(s.lang, "unknown_case", "id", id))
			}
			if !errors.Is(err, flows.ErrConflict) {
				return err
			}
			return s.toast(ctx, u, s.refusal(h, err))
		}
		if u.ChatID != h.AgentChatID || u.MessageID != h.NoticeMessageID {
			s.refreshNotice(ctx, h, u.ChatID, u.MessageID, nil)
		}
		return s.toast(ctx, u, say(s.lang, "closed_by", "name", agent.Name, "outcome", outcomeLabel(s.lang, tap.Outcome)))
	}
	return s.toast(ctx, u, "")
}

// refusal says in the agents' words why a move was refused.
func (s *Service) refusal(h flows.Handoff, err error) string {
	id := strconv.FormatInt(h.ID, 10)
	switch {
	case errors.Is(err, ErrNotLive):
		return say(s.lang, "not_live", "id", id)
	case errors.Is(err, ErrUnclaimed):
		return say(s.lang, "claim_first", "id", id)
	case errors.Is(err, ErrNotOwner), errors.Is(err, ErrTaken):
		return say(s.lang, "owned_by", "id", id, "name", h.ClaimedByName)
	case errors.Is(err, ErrCustomerBlocked):
		return say(s.lang, "blocked", "id", id, "channel", string(h.Channel))
	case errors.Is(err, ErrQuotaSpent):
		return say(s.lang, "quota_spent", "id", id)
	case errors.Is(err, ErrOutsideWindow):
		template := s.cfg.WeChatTemplate
		if template == "" {
			template = say(s.lang, "no_template")
		}
		return say(s.lang, "outside_window", "template", template)
	case errors.Is(err, ErrNoPhoto):
		return say(s.lang, "no_photo", "channel", string(h.Channel))
	case errors.Is(err, ErrNothingToSend):
		return say(s.lang, "nothing_to_send")
	case errors.Is(err, ErrTooLong):
		return say(s.lang, "too_long")
	case errors.Is(err, flows.ErrInvalid):
		_, why, _ := strings.Cut(err.Error(), "invalid: ")
		return why
	}
	return say(s.lang, "send_failed", "error", err.Error())
}

// tellAgent answers an agent's message in their chat when it could not go
// through. A failure to store anything (an outage) is returned instead, for
// the platform to redeliver the update.
func (s *Service) tellAgent(ctx context.Context, u flows.DeskUpdate, h flows.Handoff, stored bool, err error) error {
	if err == nil {
		return nil
	}
	if !stored && !errors.Is(err, flows.ErrConflict) && !errors.Is(err, flows.ErrInvalid) {
		return err
	}
	return s.answerInChat(ctx, u, esc(s.refusal(h, err)))
}

// answerInChat replies to the agent's message where they wrote it.
func (s *Service) answerInChat(ctx context.Context, u flows.DeskUpdate, html string) error {
	if s.chat == nil {
		return nil
	}
	callCtx, cancel := call(ctx)
	defer cancel()
	_, err := s.chat.PostHTML(callCtx, u.ChatID, flows.Post{HTML: html, ThreadID: u.ThreadID, ReplyTo: u.MessageID})
	return err
}

func (s *Service) toast(ctx context.Context, u flows.DeskUpdate, text string) error {
	if s.chat == nil {
		return nil
	}
	callCtx, cancel := call(ctx)
	defer cancel()
	if err := s.chat.AnswerTap(callCtx, u.TapID, clip(text, 190)); err != nil {
		s.log.Warn("answer desk tap", "err", err)
	}
	return nil
}

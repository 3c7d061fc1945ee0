package desk

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"

	"github.com/cxbot/cxbot/bot"
	"github.com/cxbot/cxbot/flows"
)

// Announce tells the agents about a handoff: the notice with a Claim
// button in the chat its route picks, recorded with the handoff (which
// queues handoff.opened). A handoff agents already know of gets its late
// comment posted to its thread instead. It is safe to call again after a
// failure: the sweep does.
func (s *Service) Announce(ctx context.Context, h flows.Handoff) error {
	return s.announce(ctx, h, nil)
}

// AnnounceResponse is Announce for the handoff of a response, read with
// everything its notice shows in one go (one round trip on PostgreSQL:
// this is on a detractor's path). replay says the step that opened it was
// a redelivery: agents already told are not told again.
func (s *Service) AnnounceResponse(ctx context.Context, responseID int64, replay bool) error {
	h, facts, err := s.records.HandoffNotice(ctx, responseID, noticeHistory)
	if err != nil {
		return err
	}
	if replay && h.NotifiedAt != nil {
		return nil
	}
	return s.announce(ctx, h, &facts)
}

// noticeHistory is how many of the customer's earlier scores a notice shows.
const noticeHistory = 5

// announce is Announce with the notice's facts when they were read already.
func (s *Service) announce(ctx context.Context, h flows.Handoff, facts *flows.NoticeFacts) error {
	if h.NotifiedAt != nil {
		if strings.TrimSpace(h.Comment) == "" {
			return nil
		}
		head := say(s.lang, "late_comment", "id", strconv.FormatInt(h.ID, 10), "customer", esc(orDash(h.CustomerRef)))
		_, err := s.postToThread(ctx, h, flows.Post{HTML: "<b>" + head + "</b>\n" + quote(h.Comment, maxQuoted*2)})
		return err
	}
	chat := flows.RouteFor(s.cfg.Routes, h.Context, s.cfg.AgentChatID)
	messageID := 0
	if s.chat != nil && chat != "" {
		var (
			html string
			err  error
		)
		if facts != nil {
			html = noticeHTML(s.lang, h, *facts)
		} else if html, err = s.notice(ctx, h); err != nil {
			return err
		}
		callCtx, cancel := call(ctx)
		messageID, err = s.chat.PostHTML(callCtx, chat, flows.Post{HTML: html, Buttons: noticeButtons(s.lang, flows.Handoff{ID: h.ID, Status: flows.HandoffOpen})})
		cancel()
		if err != nil {
			return fmt.Errorf("post notice of handoff %d: %w", h.ID, err)
		}
	} else {
		s.log.Warn("handoff with no agents' chat: work it through the API", "handoff_id", h.ID)
		chat = ""
	}
	if _, err := s.records.NoticePosted(ctx, h.ID, chat, messageID, s.now()); err != nil {
		return err
	}
	s.log.Info("handoff opened", "handoff_id", h.ID, "survey_id", h.SurveyID, "customer_ref", h.CustomerRef, "score", h.Score, "agent_chat", chat)
	return nil
}

// notice renders a case's notice with everything agents need to act. Its
// three reads are independent, so they run at once.
func (s *Service) notice(ctx context.Context, h flows.Handoff) (string, error) {
	var f noticeFacts
	var errs [3]error
	var wg sync.WaitGroup
	var others []flows.Handoff
	wg.Go(func() { f.Answers, errs[0] = s.records.Answers(ctx, h.ResponseID) })
	wg.Go(func() { f.History, errs[1] = s.records.CustomerScores(ctx, h.CustomerID, h.ResponseID, noticeHistory) })
	wg.Go(func() { others, errs[2] = s.records.CustomerCases(ctx, h.CustomerID, h.ID) })
	wg.Wait()
	if err := errors.Join(errs[:]...); err != nil {
		return "", err
	}
	for _, o := range others {
		f.OtherCaseIDs = append(f.OtherCaseIDs, o.ID)
	}
	return noticeHTML(s.lang, h, f), nil
}

// refreshNotice edits the case's notice to its current status and buttons.
func (s *Service) refreshNotice(ctx context.Context, h flows.Handoff, chatID string, messageID int, buttons [][]flows.Button) {
	if s.chat == nil || chatID == "" || messageID == 0 {
		return
	}
	html, err := s.notice(ctx, h)
	if err == nil {
		callCtx, cancel := call(ctx)
		err = s.chat.EditHTML(callCtx, chatID, messageID, html, buttons)
		cancel()
	}
	if err != nil {
		s.log.Warn("edit handoff notice", "handoff_id", h.ID, "err", err)
	}
}

// postToThread posts into the case's place in the agents' chat: its forum
// topic, else as a reply to its notice.
func (s *Service) postToThread(ctx context.Context, h flows.Handoff, p flows.Post) (int, error) {
	if s.chat == nil || h.AgentChatID == "" {
		return 0, nil
	}
	if h.TopicID > 0 {
		p.ThreadID = h.TopicID
	} else {
		p.ReplyTo = h.NoticeMessageID
	}
	callCtx, cancel := call(ctx)
	defer cancel()
	id, err := s.chat.PostHTML(callCtx, h.AgentChatID, p)
	if err != nil {
		return 0, fmt.Errorf("post to the thread of handoff %d: %w", h.ID, err)
	}
	return id, nil
}

// tellThread posts a line of the desk's own; a failure is logged (what it
// reports is stored already).
func (s *Service) tellThread(ctx context.Context, h flows.Handoff, html string) {
	id, err := s.postToThread(ctx, h, flows.Post{HTML: html})
	if err != nil {
		s.log.Warn("tell the case's thread", "handoff_id", h.ID, "err", err)
		return
	}
	s.remember(ctx, h, id)
}

// remember stores a message the desk posted in the case's agents' chat, so
// an agent's reply to it threads into the case.
func (s *Service) remember(ctx context.Context, h flows.Handoff, messageID int) {
	if messageID == 0 {
		return
	}
	if _, err := s.records.AddCaseMessage(ctx, flows.CaseMessage{HandoffID: h.ID, Author: flows.AuthorDesk,
		AgentChatMessageID: messageID, Delivered: true, CreatedAt: s.now()}); err != nil {
		s.log.Warn("remember the desk's line", "handoff_id", h.ID, "err", err)
	}
}

// Errors the desk's moves return, for the API to answer with.
var (
	ErrTaken     = fmt.Errorf("%w: the case is owned by another agent", flows.ErrConflict)
	ErrNotLive   = fmt.Errorf("%w: the case is closed", flows.ErrConflict)
	ErrNotOwner  = fmt.Errorf("%w: only the case's owner or a supervisor may do that", flows.ErrConflict)
	ErrUnclaimed = fmt.Errorf("%w: claim the case first", flows.ErrConflict)
)

// Claim makes agent the case's owner: the first claim wins. The notice
// shows the owner and a Resolve button; in a forum the case gets its own
// topic.
func (s *Service) Claim(ctx context.Context, id int64, agent flows.Agent) (flows.Handoff, error) {
	h, won, err := s.records.ClaimHandoff(ctx, id, agent, s.now())
	if err != nil {
		return flows.Handoff{}, err
	}
	if !won {
		if h.Status == flows.HandoffClaimed && h.ClaimedBy == agent.ID {
			return h, nil // claimed again by its owner
		}
		if h.Status == flows.HandoffResolved {
			return h, ErrNotLive
		}
		return h, ErrTaken
	}
	s.log.Info("handoff claimed", "handoff_id", h.ID, "agent", agent.Name)
	s.refreshNotice(ctx, h, h.AgentChatID, h.NoticeMessageID, noticeButtons(s.lang, h))
	s.openTopic(ctx, &h)
	return h, nil
}

// openTopic gives a claimed case its own forum topic when the agents' chat
// is a forum; otherwise (or when a topic cannot be made) the case stays
// threaded by replies to its notice.
func (s *Service) openTopic(ctx context.Context, h *flows.Handoff) {
	if s.chat == nil || h.AgentChatID == "" || h.TopicID > 0 {
		return
	}
	callCtx, cancel := call(ctx)
	defer cancel()
	forum, err := s.chat.IsForum(callCtx, h.AgentChatID)
	if err != nil || !forum {
		if err != nil {
			s.log.Warn("is the agents' chat a forum", "chat_id", h.AgentChatID, "err", err)
		}
		return
	}
	topic, err := s.chat.CreateTopic(callCtx, h.AgentChatID, topicName(s.lang, *h))
	if err != nil {
		s.log.Warn("create the case's topic: threading by replies", "handoff_id", h.ID, "err", err)
		return
	}
	if err := s.records.SetHandoffTopic(ctx, h.ID, topic); err != nil {
		s.log.Warn("record the case's topic", "handoff_id", h.ID, "err", err)
		return
	}
	h.TopicID = topic
	html, err := s.notice(ctx, *h)
	if err == nil {
		var id int
		id, err = s.chat.PostHTML(callCtx, h.AgentChatID, flows.Post{HTML: html, ThreadID: topic, Buttons: noticeButtons(s.lang, *h)})
		s.remember(ctx, *h, id)
	}
	if err != nil {
		s.log.Warn("post the case into its topic", "handoff_id", h.ID, "err", err)
	}
}

// mayWork reports why agent may not act on the claimed case, nil if they may.
func mayWork(h flows.Handoff, agent flows.Agent) error {
	switch {
	case h.Status == flows.HandoffResolved:
		return ErrNotLive
	case h.Status != flows.HandoffClaimed:
		return ErrUnclaimed
	case h.ClaimedBy != agent.ID && agent.Role != flows.RoleSupervisor:
		return ErrNotOwner
	}
	return nil
}

// Relay problems an agent must hear of: the message did not reach the customer.
var (
	ErrCustomerBlocked = fmt.Errorf("%w: the customer blocked the bot or unfollowed", flows.ErrConflict)
	ErrOutsideWindow   = fmt.Errorf("%w: outside the 48-hour window: only a template message can reach this customer", flows.ErrConflict)
	ErrQuotaSpent      = fmt.Errorf("%w: WeChat's message quota for this customer is spent (5 messages per customer message, 3 after a follow): send again once the customer writes", flows.ErrConflict)
	ErrNoPhoto         = fmt.Errorf("%w: photos cannot be sent on the customer's channel", flows.ErrInvalid)
	ErrNothingToSend   = fmt.Errorf("%w: nothing to send: write some text", flows.ErrInvalid)
	ErrTooLong         = fmt.Errorf("%w: the message is longer than 3500 characters", flows.ErrInvalid)
)

// Reply sends an agent's words (text, or a Telegram photo with a caption)
// to the case's customer and stores them. agentMessageID is the agent's own
// message in the agents' chat (0 from the API), so replies to it thread.
func (s *Service) Reply(ctx context.Context, h flows.Handoff, agent flows.Agent, text, photoID string, agentMessageID int) (flows.CaseMessage, error) {
	if err := mayWork(h, agent); err != nil {
		return flows.CaseMessage{}, err
	}
	text = strings.TrimSpace(text)
	if text == "" && photoID == "" {
		return flows.CaseMessage{}, ErrNothingToSend
	}
	if len([]rune(text)) > 3500 {
		return flows.CaseMessage{}, ErrTooLong
	}
	m := flows.CaseMessage{HandoffID: h.ID, Author: flows.AuthorAgent, AgentID: agent.ID, AgentName: agent.Name,
		Text: text, PhotoID: photoID, AgentChatMessageID: agentMessageID, CreatedAt: s.now()}
	id, sendErr := s.sendToCustomer(ctx, h, agent.Name, text, photoID)
	m.CustomerMessageID, m.Delivered = id, sendErr == nil
	if sendErr != nil {
		m.Error = sendErr.Error()
	}
	stored, err := s.records.AddCaseMessage(ctx, m)
	if err != nil {
		return flows.CaseMessage{}, err
	}
	return stored, sendErr
}

// sendToCustomer delivers an agent's message on the customer's channel.
func (s *Service) sendToCustomer(ctx context.Context, h flows.Handoff, agentName, text, photoID string) (int, error) {
	ch, ok := s.channels[h.Channel]
	if !ok {
		return 0, fmt.Errorf("%w: channel %s is not configured", flows.ErrUnavailable, h.Channel)
	}
	if _, windowed := ch.(bot.TemplateSender); windowed {
		open, err := s.turns.WindowOpen(ctx, h.Channel, h.ExternalID)
		if err != nil {
			return 0, err
		}
		if !open {
			return 0, ErrOutsideWindow
		}
	}
	body := agentName + ": " + text
	callCtx, cancel := call(ctx)
	defer cancel()
	var id int
	var err error
	if photoID != "" {
		photos, ok := ch.(PhotoSender)
		if !ok {
			return 0, ErrNoPhoto
		}
		caption := agentName
		if text != "" {
			caption = body
		}
		id, err = photos.SendPhoto(callCtx, h.ExternalID, photoID, caption)
	} else {
		id, err = ch.Send(callCtx, h.ExternalID, flows.Message{Text: body})
	}
	if errors.Is(err, bot.ErrBlocked) {
		if merr := s.records.MarkUnreachable(ctx, h.CustomerID, s.now()); merr != nil {
			s.log.Warn("mark customer unreachable", "handoff_id", h.ID, "err", merr)
		}
		return 0, ErrCustomerBlocked
	}
	if errors.Is(err, bot.ErrQuotaSpent) { // wrapped with ErrOutsideWindow: first
		return 0, ErrQuotaSpent
	}
	if errors.Is(err, bot.ErrOutsideWindow) {
		return 0, ErrOutsideWindow
	}
	return id, err
}

// Resolve closes a live case: the customer gets a closing message in their
// language, the notice shows the outcome, and (for a fix) the follow-up
// question goes out after FollowUpDelay.
func (s *Service) Resolve(ctx context.Context, id int64, agent *flows.Agent, r flows.Resolution) (flows.Handoff, error) {
	current, err := s.records.Handoff(ctx, id)
	if err != nil {
		return flows.Handoff{}, err
	}
	if agent != nil {
		if err := mayWork(current, *agent); err != nil && !(errors.Is(err, ErrUnclaimed) && agent.Role == flows.RoleSupervisor) {
			return current, err
		}
	}
	r.At = s.now()
	h, changed, err := s.records.ResolveHandoff(ctx, id, r)
	if err != nil {
		return flows.Handoff{}, err
	}
	if !changed {
		return h, ErrNotLive
	}
	s.log.Info("handoff resolved", "handoff_id", h.ID, "outcome", h.Outcome, "by", r.By)
	key := "case_closed"
	if r.By == ByCustomer {
		key = "case_closed_by_you"
	}
	if _, err := s.sendSystem(ctx, h, flows.SystemText(key, s.customerLanguage(ctx, h))); err != nil {
		s.log.Warn("closing message not delivered", "handoff_id", h.ID, "err", err)
	}
	s.refreshNotice(ctx, h, h.AgentChatID, h.NoticeMessageID, nil)
	if r.By == ByCustomer {
		s.tellThread(ctx, h, say(s.lang, "closed_customer", "id", strconv.FormatInt(h.ID, 10)))
	} else if h.TopicID > 0 {
		s.tellThread(ctx, h, say(s.lang, "closed_by", "name", esc(r.By), "outcome", outcomeLabel(s.lang, h.Outcome)))
	}
	return h, nil
}

// Note keeps an agent's internal note on the case: stored in its thread,
// never sent to the customer.
func (s *Service) Note(ctx context.Context, h flows.Handoff, agent flows.Agent, text string, agentMessageID int) (flows.CaseMessage, error) {
	text = strings.TrimSpace(text)
	if text == "" {
		return flows.CaseMessage{}, ErrNothingToSend
	}
	return s.records.AddCaseMessage(ctx, flows.CaseMessage{HandoffID: h.ID, Author: flows.AuthorNote, AgentID: agent.ID, AgentName: agent.Name,
		Text: clip(text, 3500), AgentChatMessageID: agentMessageID, Delivered: true, CreatedAt: s.now()})
}

// ByCustomer marks a case the customer closed.
const ByCustomer = flows.ResolvedByCustomer

// sendSystem sends the desk's own words to the customer and stores them.
func (s *Service) sendSystem(ctx context.Context, h flows.Handoff, text string, keyboard ...[]flows.Button) (int, error) {
	ch, ok := s.channels[h.Channel]
	if !ok {
		return 0, fmt.Errorf("%w: channel %s is not configured", flows.ErrUnavailable, h.Channel)
	}
	callCtx, cancel := call(ctx)
	id, err := ch.Send(callCtx, h.ExternalID, flows.Message{Text: text, Keyboard: keyboard})
	cancel()
	if errors.Is(err, bot.ErrBlocked) {
		if merr := s.records.MarkUnreachable(ctx, h.CustomerID, s.now()); merr != nil {
			s.log.Warn("mark customer unreachable", "handoff_id", h.ID, "err", merr)
		}
	}
	m := flows.CaseMessage{HandoffID: h.ID, Author: flows.AuthorSystem, Text: text, CustomerMessageID: id, Delivered: err == nil, CreatedAt: s.now()}
	if err != nil {
		m.Error = err.Error()
	}
	if _, serr := s.records.AddCaseMessage(ctx, m); serr != nil {
		s.log.Warn("store the desk's message", "handoff_id", h.ID, "err", serr)
	}
	return id, err
}

// customerLanguage is the language the customer answered the survey in.
func (s *Service) customerLanguage(ctx context.Context, h flows.Handoff) string {
	if r, err := s.records.Response(ctx, h.ResponseID); err == nil && r.Language != "" {
		return r.Language
	}
	if h.Channel == flows.ChannelWeChat {
		return "zh-CN"
	}
	return ""
}

package flows

import (
	"strconv"
	"strings"
	"time"
)

// MaxAttempts is how many unreadable answers a question gets before it is
// skipped, so a confused customer is never stuck in a re-prompt loop.
const MaxAttempts = 3

// Input is what the customer did: typed text, or a tapped button.
type Input struct {
	Text string
	Tap  *Tap
	// MessageID is the platform id of the message whose keyboard was
	// tapped: the keyboard to close, even when the state lost track of it.
	MessageID int
}

// Outcome is what the caller must do, in order: store Answer (and handoff
// changes) durably; then edit the closed prompt; then send Messages; then
// (if HandoffReady) notify agents. After sending, the caller records the
// platform id of the message carrying a keyboard (the one with QuestionID
// set) in State.PromptMessageID.
type Outcome struct {
	State         State           // next state (QuestionID "" when Finished)
	Answer        *Answer         // nil when nothing was answered or skipped
	Closed        *ClosedPrompt   // the keyboard prompt that got answered or skipped: remove its keyboard
	Messages      []Message       // replies in order: re-prompt, next question, thanks/handoff text
	HandoffOpened *PendingHandoff // a detractor score was just given: store a handoff row now (awaiting comment)
	HandoffReady  *PendingHandoff // the handoff is complete (with Comment if one was given): notify agents
	Finished      bool
	Notice        string // short text acknowledging a tap ("✓ 9", "This survey has closed."); may be ""
	Stale         bool   // the input was for another response or an answered question: nothing changes
}

// ClosedPrompt is a prompt to edit once answered: Text replaces its text and
// the keyboard goes. MessageID is State.PromptMessageID, 0 if never recorded.
type ClosedPrompt struct {
	QuestionID string
	MessageID  int
	Text       string // prompt + "\n\n✓ <answer>" or "\n\n— skipped"
}

// reply is one accepted answer before it becomes an Answer.
type reply struct {
	score   int
	class   Class
	choice  string
	text    string
	skipped bool
	label   string // shown after ✓ in the closed prompt and the tap notice
}

// Start begins a response: the initial state and the first message (the
// survey intro, a blank line, then the first question with its keyboard).
// lang is the customer's language code; it is resolved against the survey's
// languages, falling back to the survey's default.
func Start(s *Survey, lang string, invitationID, responseID int64, now time.Time) (State, Message) {
	lang = ResolveLanguage(s.Languages(), lang, s.DefaultLanguage)
	st := State{
		ResponseID:    responseID,
		InvitationID:  invitationID,
		SurveyID:      s.ID,
		SurveyVersion: s.Version,
		Language:      lang,
		StartedAt:     now,
		UpdatedAt:     now,
	}
	intro := s.Text("intro", lang)
	q := s.First()
	if q == nil { // only a survey built in code can be empty
		return st, Message{Text: paragraphs(intro, s.Text("thanks", lang))}
	}
	st.QuestionID = q.ID
	m := s.prompt(q, responseID, lang)
	m.Text = paragraphs(intro, m.Text)
	return st, m
}

// Step applies one input to the conversation. It is pure: the caller does
// the I/O the Outcome asks for, in its documented order.
func Step(s *Survey, st State, in Input, now time.Time) Outcome {
	lang := st.Language
	if lang == "" {
		lang = s.DefaultLanguage
	}
	if st.QuestionID == "" {
		return stale(st, s.Text("already_answered", lang))
	}
	q, ok := s.Question(st.QuestionID)
	if !ok { // the state outlived its survey version
		return stale(st, s.Text("closed", lang))
	}
	var r reply
	var valid bool
	if t := in.Tap; t != nil {
		if t.ResponseID != st.ResponseID {
			return stale(st, s.Text("closed", lang))
		}
		if t.QuestionID != st.QuestionID {
			if _, known := s.Question(t.QuestionID); known {
				return stale(st, s.Text("already_answered", lang))
			}
			return stale(st, s.Text("closed", lang))
		}
		r, valid = s.readTap(q, t.Value, lang)
	} else {
		r, valid = s.readText(q, in.Text, lang)
	}
	if !valid {
		return s.retry(q, st, lang, now)
	}
	out := s.advance(q, st, r, "", lang, now)
	if in.Tap != nil {
		out.Notice = "✓ " + r.label
		if in.MessageID != 0 && out.Closed != nil {
			out.Closed.MessageID = in.MessageID
		}
	}
	return out
}

func stale(st State, notice string) Outcome {
	return Outcome{State: st, Notice: notice, Stale: true}
}

// readTap accepts exactly the values the question's keyboard sends.
func (s *Survey) readTap(q *Question, value, lang string) (reply, bool) {
	if lo, hi, ok := q.Kind.Scale(); ok {
		n, ok := readNumber(value)
		if !ok || n < lo || n > hi || value != strconv.Itoa(n) {
			return reply{}, false
		}
		return s.scoreReply(q.Kind, n), true
	}
	if q.Kind == KindChoice {
		for i := range q.Options {
			if q.Options[i].ID == value {
				return choiceReply(&q.Options[i], lang, s.DefaultLanguage), true
			}
		}
	}
	return reply{}, false // text questions have no keyboard
}

// readText parses a typed answer according to the question's kind.
func (s *Survey) readText(q *Question, text, lang string) (reply, bool) {
	switch q.Kind {
	case KindChoice:
		o, err := q.ParseChoice(text)
		if err != nil {
			return reply{}, false
		}
		return choiceReply(o, lang, s.DefaultLanguage), true
	case KindText:
		t, skipped, err := q.ParseText(text)
		if err != nil {
			return reply{}, false
		}
		return reply{text: t, skipped: skipped, label: t}, true
	}
	n, err := ParseScore(q.Kind, text)
	if err != nil {
		return reply{}, false
	}
	return s.scoreReply(q.Kind, n), true
}

func (s *Survey) scoreReply(k Kind, n int) reply {
	return reply{score: n, class: s.Classify(k, n), label: strconv.Itoa(n)}
}

func choiceReply(o *Option, lang, fallback string) reply {
	return reply{choice: o.ID, label: o.Label.In(lang, fallback)}
}

// retry counts a failed try: a re-prompt that shows what is valid, or after
// MaxAttempts the question is skipped and the survey moves on.
func (s *Survey) retry(q *Question, st State, lang string, now time.Time) Outcome {
	if st.Attempts+1 >= MaxAttempts {
		return s.advance(q, st, reply{skipped: true}, s.Text("skipped", lang), lang, now)
	}
	next := st
	next.Attempts++
	next.UpdatedAt = now
	m := s.prompt(q, st.ResponseID, lang)
	m.Text = paragraphs(strings.ReplaceAll(s.Text("reprompt", lang), "{valid}", s.validHint(q, lang)), m.Text)
	out := Outcome{State: next, Messages: []Message{m}}
	if len(m.Keyboard) > 0 && st.PromptMessageID != 0 {
		// The re-prompt carries the question's keyboard anew: the one before
		// goes, so the question has one live keyboard only.
		out.Closed = &ClosedPrompt{QuestionID: q.ID, MessageID: st.PromptMessageID}
	}
	return out
}

// advance records an accepted (or skipped) answer and moves to the next
// question or the end. lead, if set, opens the next message.
func (s *Survey) advance(q *Question, st State, r reply, lead, lang string, now time.Time) Outcome {
	var out Outcome
	next := st
	next.Attempts = 0
	next.PromptMessageID = 0
	next.UpdatedAt = now
	ans := &Answer{QuestionID: q.ID, Kind: q.Kind, Skipped: r.skipped, AnsweredAt: now}
	to := q.Next
	if !r.skipped {
		switch {
		case q.Kind.IsScale():
			score := r.score
			ans.Score, ans.Class = &score, r.class
			if r.class.IsDetractor() && st.PendingHandoff == nil {
				ph := PendingHandoff{QuestionID: q.ID, Kind: q.Kind, Score: r.score, Class: r.class}
				opened := ph
				next.PendingHandoff, out.HandoffOpened = &ph, &opened
			}
		case q.Kind == KindChoice:
			ans.Choice = r.choice
		case q.Kind == KindText:
			ans.Text = r.text
			if ph := st.PendingHandoff; ph != nil && ph.Comment == "" {
				c := *ph // never write through the caller's pointer
				c.Comment = r.text
				next.PendingHandoff = &c
			}
		}
		to = q.route(r.class, r.choice)
	}
	out.Answer = ans
	if q.Kind.IsScale() || q.Kind == KindChoice {
		mark := "✓ " + r.label
		if r.skipped {
			mark = s.Text("skipped_mark", lang)
		}
		out.Closed = &ClosedPrompt{QuestionID: q.ID, MessageID: st.PromptMessageID, Text: paragraphs(q.Prompt.In(lang, s.DefaultLanguage), mark)}
	}
	if nq, ok := s.Question(to); ok && to != "" {
		next.QuestionID = nq.ID
		m := s.prompt(nq, st.ResponseID, lang)
		m.Text = paragraphs(lead, m.Text)
		out.Messages = []Message{m}
	} else {
		next.QuestionID = ""
		out.Finished = true
		final := s.Text("thanks", lang)
		if ph := next.PendingHandoff; ph != nil {
			final = s.Text("handoff", lang)
			ready := *ph
			out.HandoffReady = &ready
		}
		out.Messages = []Message{{Text: paragraphs(lead, final)}}
	}
	out.State = next
	return out
}

// route picks the first branch matching the answer, else Next.
func (q *Question) route(c Class, choice string) string {
	for _, b := range q.Branches {
		switch {
		case c != "" && b.When == string(c),
			c.IsDetractor() && b.When == string(ClassDetractor),
			choice != "" && b.When == choice:
			return b.Goto
		}
	}
	return q.Next
}

// prompt renders a question with its keyboard.
func (s *Survey) prompt(q *Question, responseID int64, lang string) Message {
	m := Message{Text: q.Prompt.In(lang, s.DefaultLanguage), QuestionID: q.ID}
	button := func(label, value string) Button {
		return Button{Label: label, Data: EncodeTap(Tap{ResponseID: responseID, QuestionID: q.ID, Value: value})}
	}
	scaleRow := func(from, to int) []Button {
		row := make([]Button, 0, to-from+1)
		for i := from; i <= to; i++ {
			v := strconv.Itoa(i)
			row = append(row, button(v, v))
		}
		return row
	}
	switch q.Kind {
	case KindNPS: // eleven buttons do not fit one row on a phone
		m.Keyboard = [][]Button{scaleRow(0, 5), scaleRow(6, 10)}
	case KindCSAT, KindCES:
		_, hi, _ := q.Kind.Scale()
		m.Keyboard = [][]Button{scaleRow(1, hi)}
	case KindChoice:
		m.Keyboard = make([][]Button, len(q.Options))
		for i, o := range q.Options {
			m.Keyboard[i] = []Button{button(o.Label.In(lang, s.DefaultLanguage), o.ID)}
		}
	}
	return m
}

// validHint says what a question accepts, for the re-prompt's {valid}.
func (s *Survey) validHint(q *Question, lang string) string {
	if lo, hi, ok := q.Kind.Scale(); ok {
		return strconv.Itoa(lo) + "–" + strconv.Itoa(hi)
	}
	if q.Kind == KindChoice {
		parts := make([]string, len(q.Options))
		for i, o := range q.Options {
			parts[i] = strconv.Itoa(i+1) + ". " + o.Label.In(lang, s.DefaultLanguage)
		}
		return strings.Join(parts, "  ")
	}
	return SystemText("valid_text", lang)
}

// paragraphs joins non-empty texts with a blank line.
func paragraphs(texts ...string) string {
	var b strings.Builder
	for _, t := range texts {
		if t == "" {
			continue
		}
		if b.Len() > 0 {
			b.WriteString("\n\n")
		}
		b.WriteString(t)
	}
	return b.String()
}

// Preview renders every question as it is sent in lang, the first with the
// survey's intro as Start sends it, so a preview shows what customers see.
// The buttons carry a placeholder response id.
func (s *Survey) Preview(lang string) []Message {
	out := make([]Message, 0, len(s.Questions))
	for i := range s.Questions {
		m := s.prompt(&s.Questions[i], 1, lang)
		if i == 0 {
			m.Text = paragraphs(s.Text("intro", lang), m.Text)
		}
		out = append(out, m)
	}
	return out
}

// Write is the StepWrite that makes the outcome durable: its answer, the
// handoff it opens (opened builds the row; its status is set here, by
// whether the comment is in) or the comment that readies one, and the
// finish. The caller adds the state and the update it applies.
func (o Outcome) Write(responseID int64, at time.Time, opened func(PendingHandoff) Handoff) StepWrite {
	w := StepWrite{ResponseID: responseID, Answer: o.Answer, At: at}
	if o.HandoffOpened != nil {
		h := opened(*o.HandoffOpened)
		h.Status = HandoffAwaitingComment
		if o.HandoffReady != nil {
			h.Status = HandoffOpen
		}
		w.OpenHandoff = &h
	} else if o.HandoffReady != nil {
		comment := o.HandoffReady.Comment
		w.HandoffComment, w.HandoffStatus = &comment, HandoffOpen
	}
	if o.Finished {
		w.Finish = ResponseCompleted
	}
	return w
}

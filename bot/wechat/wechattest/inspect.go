package wechattest

import (
	"context"
	"fmt"
	"maps"
	"time"
)

// MenuItem is one option of a msgmenu message.
type MenuItem struct {
	ID      string `json:"id"`
	Content string `json:"content"`
}

// SentMessage is a message WeChat accepted for delivery.
type SentMessage struct {
	Kind   string // "text", "msgmenu" or "template"
	OpenID string
	MsgID  int64 // the fake's own number; only template sends return it
	At     time.Time

	Text string // text: text.content

	HeadContent string     // msgmenu: msgmenu.head_content
	Menu        []MenuItem // msgmenu: msgmenu.list
	TailContent string     // msgmenu: msgmenu.tail_content

	TemplateID   string            // template: template_id
	URL          string            // template: url
	TemplateData map[string]string // template: data.<key>.value
}

func (m SentMessage) copy() SentMessage {
	m.Menu = append([]MenuItem(nil), m.Menu...)
	m.TemplateData = maps.Clone(m.TemplateData)
	return m
}

// Sent returns the messages accepted for openID, oldest first.
func (s *Server) Sent(openID string) []SentMessage {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []SentMessage
	for _, m := range s.sent {
		if m.OpenID == openID {
			out = append(out, m.copy())
		}
	}
	return out
}

// AllSent returns every message accepted, oldest first.
func (s *Server) AllSent() []SentMessage {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]SentMessage, 0, len(s.sent))
	for _, m := range s.sent {
		out = append(out, m.copy())
	}
	return out
}

// TokenCalls counts the access token requests (/cgi-bin/token and
// /cgi-bin/stable_token), failed ones included.
func (s *Server) TokenCalls() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.tokenCalls
}

// Calls counts the requests made to path, failed ones included.
func (s *Server) Calls(path string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls[path]
}

// WaitFor waits until cond returns true. cond is checked at once and again
// after every change to the server (a request, a fault used…); it may call
// the Server's methods.
func (s *Server) WaitFor(ctx context.Context, cond func() bool) error {
	return s.changed.WaitFor(ctx, cond)
}

// WaitSent waits until openID has at least n messages and returns them all.
func (s *Server) WaitSent(ctx context.Context, openID string, n int) ([]SentMessage, error) {
	var sent []SentMessage
	err := s.WaitFor(ctx, func() bool {
		sent = s.Sent(openID)
		return len(sent) >= n
	})
	if err != nil {
		return sent, fmt.Errorf("wechattest: %s got %d of %d messages: %w", openID, len(sent), n, err)
	}
	return sent, nil
}

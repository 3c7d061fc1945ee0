package conversation_test

import (
	"context"
	"sync"
	"time"

	"github.com/cxbot/cxbot/conversation"
	"github.com/cxbot/cxbot/flows"
)

// memLinks is an in-memory LinkStore, a stand-in for the SQL one (whose
// repository tests run on SQLite and PostgreSQL).
type memLinks struct {
	mu     sync.Mutex
	tokens map[string]flows.LinkToken
}

func newMemLinks() *memLinks { return &memLinks{tokens: map[string]flows.LinkToken{}} }

func (m *memLinks) CreateLinkToken(_ context.Context, t flows.LinkToken) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.tokens[t.Hash] = t
	return nil
}

func (m *memLinks) LinkToken(_ context.Context, hash string) (flows.LinkToken, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	t, ok := m.tokens[hash]
	if !ok {
		return flows.LinkToken{}, flows.ErrNotFound
	}
	return t, nil
}

func (m *memLinks) RecordLinkTokenUse(_ context.Context, hash string, ch flows.Channel, chatID string, at time.Time) (bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	t, ok := m.tokens[hash]
	if !ok || t.UsedAt != nil {
		return false, nil
	}
	t.UsedAt, t.UsedChannel, t.UsedChatID = &at, ch, chatID
	m.tokens[hash] = t
	return true, nil
}

// linkIssuer issues tokens the way POST /api/v1/links does.
type linkIssuer struct {
	ctx   context.Context
	links *conversation.Links
}

func (l linkIssuer) Token(ref string) (string, error) {
	link, err := l.links.Issue(l.ctx, ref, false)
	return link.Token, err
}

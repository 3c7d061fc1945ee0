package wechattest

import "time"

// WeChat's limits on customer-service messages, as the fake enforces them
// (WithCustomerQuota): each message from the user allows 5 sends within 48
// hours; a follow or a QR-code scan allows 3 within a minute. Each grant
// counts on its own; a send uses the grant that expires first.
const (
	MessageGrant    = 5
	MessageGrantTTL = 48 * time.Hour
	FollowGrant     = 3
	FollowGrantTTL  = time.Minute
)

// More WeChat errcodes the fake answers with.
const (
	// CodeMenuUnauthorized is a msgmenu send from an account that may not
	// send menus (test accounts, unverified accounts: WithUnverifiedAccount).
	CodeMenuUnauthorized = 40200
)

func init() {
	errmsgs[CodeMenuUnauthorized] = "invalid account type, msgmenu is not allowed"
}

type grant struct {
	left    int
	expires time.Time
}

// WithUnverifiedAccount makes the fake a test or unverified account: every
// msgmenu send answers 40200 (text and templates still go).
func WithUnverifiedAccount() Option { return func(s *Server) { s.unverified = true } }

// WithCustomerQuota makes the fake count customer-service messages as
// WeChat does: a send to a user with no live grant answers 45047. Grants
// come from UserWrote and UserFollowed (or an Inbound made WithPlatform).
func WithCustomerQuota() Option { return func(s *Server) { s.quota = map[string][]grant{} } }

// UserWrote grants MessageGrant sends to openID for MessageGrantTTL, as a
// message from the user does.
func (s *Server) UserWrote(openID string) { s.grant(openID, MessageGrant, MessageGrantTTL) }

// UserFollowed grants FollowGrant sends to openID for FollowGrantTTL, as a
// follow or a QR-code scan does.
func (s *Server) UserFollowed(openID string) { s.grant(openID, FollowGrant, FollowGrantTTL) }

func (s *Server) grant(openID string, n int, ttl time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.quota == nil {
		return
	}
	s.quota[openID] = append(s.liveGrantsLocked(openID), grant{n, s.now().Add(ttl)})
	s.notifyLocked()
}

// Quota is how many customer-service messages openID may still be sent
// (-1 when the fake does not count: no WithCustomerQuota).
func (s *Server) Quota(openID string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.quota == nil {
		return -1
	}
	n := 0
	for _, g := range s.liveGrantsLocked(openID) {
		n += g.left
	}
	return n
}

func (s *Server) liveGrantsLocked(openID string) []grant {
	now := s.now()
	var live []grant
	for _, g := range s.quota[openID] {
		if g.left > 0 && now.Before(g.expires) {
			live = append(live, g)
		}
	}
	return live
}

// spendLocked uses one send of openID's quota, from the grant that expires
// first; false (45047) when none is left.
func (s *Server) spendLocked(openID string) bool {
	if s.quota == nil {
		return true
	}
	live := s.liveGrantsLocked(openID)
	first := -1
	for i, g := range live {
		if first < 0 || g.expires.Before(live[first].expires) {
			first = i
		}
	}
	if first < 0 {
		s.quota[openID] = nil
		return false
	}
	live[first].left--
	s.quota[openID] = live
	return true
}

// WithPlatform makes the messages an Inbound builds grant quota on server
// (see WithCustomerQuota): text, taps and pictures as UserWrote, follows and
// scans as UserFollowed. The grant is made when the request is built.
func WithPlatform(server *Server) InboundOption {
	return func(s *Inbound) { s.platform = server }
}

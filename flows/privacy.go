package flows

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Privacy: what erasing a customer and the text retention remove, and what
// stays. A customer who asks to be forgotten loses everything that names
// them or that they wrote; the business keeps what its reports count.
//
// Erased (the store applies this in one transaction):
//   - identities: every chat linked to the customer (channel_identities rows
//     deleted; the chat ids copied onto invitations, responses, handoffs and
//     events blanked), unused deep-link tokens for their reference, and the
//     conversation state of those chats in Redis;
//   - the reference: replaced by ErasedRef, a pseudonym that names nobody;
//   - free text: answers' text, handoff comments, every message relayed
//     between the customer and an agent (text and photo);
//   - context: the business's event attributes and the invitation/handoff
//     context copied from them (they may name the customer);
//   - webhooks about them in the outbox, sent or not (their payloads carry
//     the reference and the comment).
//
// Kept, anonymous: responses and answers with their score, choice and
// class, handoff outcomes and recovery scores, delivery attempts.
//
// The retention (CXBOT_TEXT_RETENTION) applies the free-text part to every
// customer's text older than the period, whoever wrote it.

// Who performs a privacy action, as the audit records it.
const (
	PrivacyActorAPI       = "api"
	PrivacyActorRetention = "retention"
)

// PrivacyActorCLI names an operator at the command line.
func PrivacyActorCLI(osUser string) string {
	if osUser == "" {
		osUser = "unknown"
	}
	return "cli:" + osUser
}

// Privacy actions, as the audit records them.
const (
	PrivacyErase     = "erase"
	PrivacyRetention = "retention"
)

// ErasedRef is the pseudonym an erased customer's reference becomes: unique
// (the customer id, which the business never sees) and naming nobody.
func ErasedRef(customerID int64) string { return "erased-" + strconv.FormatInt(customerID, 10) }

// IsErasedRef reports whether ref is such a pseudonym.
func IsErasedRef(ref string) bool { return strings.HasPrefix(ref, "erased-") }

// ChatRef is one chat of a customer (a Redis conversation to forget).
type ChatRef struct {
	Channel    Channel
	ExternalID string
}

// PrivacyAudit is one recorded privacy action: who, when, what, and how many
// rows of each table it changed.
type PrivacyAudit struct {
	ID      int64
	Actor   string
	Action  string
	Subject string // the pseudonym for an erasure; the cut-off for the retention
	Rows    map[string]int64
	At      time.Time
}

// Erasure is what erasing one customer did.
type Erasure struct {
	Audit PrivacyAudit
	Chats []ChatRef // whose conversation state must be forgotten too
}

// ParseRetention reads a retention period: "365d" (days) or a Go duration
// ("8760h"); empty or "0" keeps text for ever (zero). It must be at least a
// day, so a typo ("30m") cannot wipe today's answers.
func ParseRetention(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	if s == "" || s == "0" {
		return 0, nil
	}
	var d time.Duration
	if days, ok := strings.CutSuffix(s, "d"); ok {
		n, err := strconv.Atoi(days)
		if err != nil || n <= 0 {
			return 0, fmt.Errorf("%w: retention %q: want a number of days like 365d or a duration like 8760h", ErrInvalid, s)
		}
		d = time.Duration(n) * 24 * time.Hour
	} else {
		var err error
		if d, err = time.ParseDuration(s); err != nil {
			return 0, fmt.Errorf("%w: retention %q: want a number of days like 365d or a duration like 8760h", ErrInvalid, s)
		}
	}
	if d < 24*time.Hour {
		return 0, fmt.Errorf("%w: retention %q is under a day", ErrInvalid, s)
	}
	return d, nil
}

// RetentionCutoff is the instant before which free text is purged; ok is
// false when the retention keeps text for ever.
func RetentionCutoff(now time.Time, retention time.Duration) (cutoff time.Time, ok bool) {
	if retention <= 0 {
		return time.Time{}, false
	}
	return now.Add(-retention), true
}

// CheckErasable validates a reference to erase: a valid outside string, and
// not already a pseudonym (that customer has nothing left to erase).
func CheckErasable(ref string) error {
	if err := ValidateCustomerRef(ref); err != nil {
		return err
	}
	if IsErasedRef(ref) {
		return fmt.Errorf("%w: customer %q is already erased", ErrConflict, ref)
	}
	return nil
}

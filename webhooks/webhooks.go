// Package webhooks sends the durable outbox's events to the business's
// CRM or helpdesk: signed JSON POSTs, retried with backoff, never on the
// chat's path. Every replica runs a Deliverer; the store's claim keeps
// them from sending one row twice at a time.
package webhooks

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/cxbot/cxbot/flows"
)

// Headers of every delivery.
const (
	HeaderEvent     = "X-Cxbot-Event"
	HeaderDelivery  = "X-Cxbot-Delivery" // the outbox id: the receiver's idempotency key
	HeaderTimestamp = "X-Cxbot-Timestamp"
	HeaderSignature = "X-Cxbot-Signature"
)

// MinSecretLength is the shortest signing secret accepted.
const MinSecretLength = 16

// Outbox is what the deliverer needs of the store.
type Outbox interface {
	ClaimWebhooks(ctx context.Context, now time.Time, lease time.Duration, limit int) ([]flows.DueWebhook, error)
	FinishWebhook(ctx context.Context, id int64, res flows.DeliveryResult, delivered bool, retryAt *time.Time, at time.Time) error
}

// Config configures a Deliverer. Zero durations and counts take the defaults.
type Config struct {
	URL         string
	Secret      string
	MaxAttempts int           // default 15 (about a day with the default backoff): then given up
	Timeout     time.Duration // default 10s per request
	Interval    time.Duration // default 1s between polls of the outbox
	BaseBackoff time.Duration // default 10s: the wait after the first failure, doubled each time
	MaxBackoff  time.Duration // default 1h
	Batch       int           // default 20 rows per claim
	Client      *http.Client  // default: a client with Timeout
	Logger      *slog.Logger
	Now         func() time.Time
	// Jitter maps a backoff to the wait actually used; default: a random
	// wait in [backoff/2, backoff], so failed receivers are not hit in step.
	Jitter func(time.Duration) time.Duration
}

// Deliverer sends due webhooks from the outbox.
type Deliverer struct {
	outbox Outbox
	cfg    Config
	wake   chan struct{}
}

// New checks cfg and returns a Deliverer.
func New(outbox Outbox, cfg Config) (*Deliverer, error) {
	if outbox == nil {
		return nil, errors.New("webhooks: an outbox is required")
	}
	if !strings.HasPrefix(cfg.URL, "http://") && !strings.HasPrefix(cfg.URL, "https://") {
		return nil, fmt.Errorf("webhooks: url %q must start with http:// or https://", cfg.URL)
	}
	if len(cfg.Secret) < MinSecretLength {
		return nil, fmt.Errorf("webhooks: the secret must be at least %d characters", MinSecretLength)
	}
	if cfg.MaxAttempts < 0 {
		return nil, fmt.Errorf("webhooks: max attempts must not be negative, got %d", cfg.MaxAttempts)
	}
	cfg.MaxAttempts = orDefault(cfg.MaxAttempts, 15)
	cfg.Timeout = orDefault(cfg.Timeout, 10*time.Second)
	cfg.Interval = orDefault(cfg.Interval, time.Second)
	cfg.BaseBackoff = orDefault(cfg.BaseBackoff, 10*time.Second)
	cfg.MaxBackoff = orDefault(cfg.MaxBackoff, time.Hour)
	cfg.Batch = orDefault(cfg.Batch, 20)
	if cfg.Client == nil {
		cfg.Client = &http.Client{Timeout: cfg.Timeout}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Jitter == nil {
		cfg.Jitter = func(d time.Duration) time.Duration { return d/2 + rand.N(d/2+1) }
	}
	return &Deliverer{outbox: outbox, cfg: cfg, wake: make(chan struct{}, 1)}, nil
}

// Backoff is the wait after the attempt-th failed attempt (1 = the first):
// base·2^(attempt−1), capped at max.
func Backoff(attempt int, base, max time.Duration) time.Duration {
	d := base
	for i := 1; i < attempt && d < max; i++ {
		d *= 2
	}
	return min(d, max)
}

// Wake asks the loop to look at the outbox now rather than at its next tick.
func (d *Deliverer) Wake() {
	select {
	case d.wake <- struct{}{}:
	default:
	}
}

// Run delivers until ctx ends.
func (d *Deliverer) Run(ctx context.Context) {
	tick := time.NewTicker(d.cfg.Interval)
	defer tick.Stop()
	for {
		for {
			n, err := d.DeliverDue(ctx)
			if err != nil && ctx.Err() == nil {
				d.cfg.Logger.Warn("webhook delivery", "err", err)
			}
			if err != nil || n < d.cfg.Batch {
				break
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		case <-d.wake:
		}
	}
}

// DeliverDue claims one batch of due webhooks, sends them (concurrently)
// and records each outcome. It returns how many it claimed.
func (d *Deliverer) DeliverDue(ctx context.Context) (int, error) {
	// The lease outlasts a request so no other replica takes a row in flight.
	due, claimErr := d.outbox.ClaimWebhooks(ctx, d.cfg.Now(), 2*d.cfg.Timeout+5*time.Second, d.cfg.Batch)
	var wg sync.WaitGroup
	errs := make([]error, len(due))
	for i, w := range due {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = d.deliver(ctx, w)
		}()
	}
	wg.Wait()
	return len(due), errors.Join(append(errs, claimErr)...)
}

func (d *Deliverer) deliver(ctx context.Context, w flows.DueWebhook) error {
	res := d.post(ctx, w)
	if ctx.Err() != nil {
		// Shutting down: the lease ends and the row is tried again.
		return nil
	}
	now := d.cfg.Now()
	delivered := res.Error == ""
	var retryAt *time.Time
	if !delivered && w.Attempt < d.cfg.MaxAttempts {
		at := now.Add(d.cfg.Jitter(Backoff(w.Attempt, d.cfg.BaseBackoff, d.cfg.MaxBackoff)))
		retryAt = &at
	}
	if !delivered {
		d.cfg.Logger.Info("webhook not delivered", "id", w.ID, "event", w.Event, "attempt", w.Attempt,
			"status", res.Status, "err", res.Error, "given_up", retryAt == nil)
	}
	// Recorded even if ctx ends now: the attempt happened.
	rec, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	return d.outbox.FinishWebhook(rec, w.ID, res, delivered, retryAt, now)
}

// post sends one webhook; a 2xx answer is success.
func (d *Deliverer) post(ctx context.Context, w flows.DueWebhook) flows.DeliveryResult {
	ctx, cancel := context.WithTimeout(ctx, d.cfg.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, d.cfg.URL, bytes.NewReader(w.Payload))
	if err != nil {
		return flows.DeliveryResult{Error: err.Error()}
	}
	ts := strconv.FormatInt(d.cfg.Now().Unix(), 10)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "cxbot-webhooks")
	req.Header.Set(HeaderEvent, string(w.Event))
	req.Header.Set(HeaderDelivery, strconv.FormatInt(w.ID, 10))
	req.Header.Set(HeaderTimestamp, ts)
	req.Header.Set(HeaderSignature, Sign(d.cfg.Secret, ts, w.Payload))
	resp, err := d.cfg.Client.Do(req)
	if err != nil {
		return flows.DeliveryResult{Error: err.Error()}
	}
	defer resp.Body.Close()
	snippet, _ := io.ReadAll(io.LimitReader(resp.Body, 200))
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<16)) // lets the connection be reused
	if resp.StatusCode/100 == 2 {
		return flows.DeliveryResult{Status: resp.StatusCode}
	}
	msg := resp.Status
	if s := strings.TrimSpace(strings.ToValidUTF8(string(snippet), "")); s != "" {
		msg += ": " + s
	}
	return flows.DeliveryResult{Status: resp.StatusCode, Error: msg}
}

// Sign is the X-Cxbot-Signature of body sent at timestamp (unix seconds):
// "sha256=" and the hex HMAC-SHA256, keyed with secret, of
// timestamp + "." + body.
func Sign(secret, timestamp string, body []byte) string {
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(timestamp))
	mac.Write([]byte("."))
	mac.Write(body)
	return "sha256=" + hex.EncodeToString(mac.Sum(nil))
}

// ErrBadSignature is Verify's answer to a body that was not signed with the
// secret (or was changed on the way).
var ErrBadSignature = errors.New("webhooks: bad signature")

// Verify checks a received webhook, for receivers: signature is the
// X-Cxbot-Signature header, timestamp the X-Cxbot-Timestamp header. A
// receiver should also refuse a timestamp far from its clock (replays).
func Verify(secret, timestamp string, body []byte, signature string) error {
	if _, err := strconv.ParseInt(timestamp, 10, 64); err != nil {
		return fmt.Errorf("%w: timestamp %q is not unix seconds", ErrBadSignature, timestamp)
	}
	if !hmac.Equal([]byte(Sign(secret, timestamp, body)), []byte(signature)) {
		return ErrBadSignature
	}
	return nil
}

func orDefault[T int | time.Duration](v, def T) T {
	if v == 0 {
		return def
	}
	return v
}

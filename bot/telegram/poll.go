package telegram

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/cxbot/cxbot/flows"
)

const (
	minBackoff = 100 * time.Millisecond
	maxBackoff = 5 * time.Second
)

// Poll receives updates by long polling until ctx is done, then returns nil.
// Call DeleteWebhook first: Telegram refuses getUpdates while a webhook is set.
//
// Updates are handled one by one, in order. The offset sent to Telegram (which
// confirms every update below it) moves past an update only after h handled
// it (or rejected it with flows.ErrInvalid, which is logged and skipped). On
// any other error the rest of the batch is dropped and, after a back-off
// (100ms doubling to 5s), fetched again from the failed update.
func (a *Adapter) Poll(ctx context.Context, h Handler) error {
	var offset, confirmed int64
	backoff := time.Duration(0)
	for ctx.Err() == nil {
		if backoff > 0 && !sleep(ctx, backoff) {
			break
		}
		updates, err := a.getUpdates(ctx, offset, int(max(a.cfg.PollTimeout/time.Second, 1)), 100)
		if err != nil {
			if ctx.Err() != nil {
				break
			}
			backoff = nextBackoff(backoff)
			var rl *rateLimit
			if errors.As(err, &rl) {
				backoff = max(backoff, rl.after)
			}
			a.log.Warn("telegram getUpdates failed", "err", err, "backoff", backoff)
			continue
		}
		confirmed = offset

		failed := false
		for _, raw := range updates {
			id, ok := a.handleRaw(ctx, h, raw)
			if !ok {
				failed = true
				break
			}
			offset = id + 1
		}
		if failed {
			backoff = nextBackoff(backoff)
		} else {
			backoff = 0
		}
	}

	if offset > confirmed {
		// Confirm what was handled since the last fetch, so that a restart
		// does not get it again (it would be deduplicated, but why resend).
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
		defer cancel()
		if _, err := a.getUpdates(cctx, offset, 0, 1); err != nil {
			a.log.Debug("telegram: could not confirm the last updates on shutdown", "offset", offset, "err", err)
		}
	}
	return nil
}

// handleRaw decodes and handles one update from getUpdates. ok is false when
// the update must be fetched again.
func (a *Adapter) handleRaw(ctx context.Context, h Handler, raw json.RawMessage) (updateID int64, ok bool) {
	var wu wireUpdate
	if err := json.Unmarshal(raw, &wu); err != nil || wu.UpdateID == nil {
		// Telegram never sends this; if it did, skipping is all one can do.
		var idOnly struct {
			UpdateID int64 `json:"update_id"`
		}
		_ = json.Unmarshal(raw, &idOnly)
		a.log.Error("telegram update undecodable, skipped", "update_id", idOnly.UpdateID, "err", err)
		return idOnly.UpdateID, idOnly.UpdateID != 0
	}
	id := *wu.UpdateID
	chatID, handled, ignored, err := a.dispatch(ctx, h, wu)
	if !handled {
		a.log.Debug("telegram update ignored", "update_id", id, "reason", ignored)
		return id, true
	}
	switch {
	case err == nil:
		return id, true
	case errors.Is(err, flows.ErrInvalid):
		a.log.Error("telegram update rejected and dropped", "update_id", id, "chat_id", chatID, "err", err)
		return id, true
	default:
		if ctx.Err() == nil {
			a.log.Warn("telegram update failed, will fetch it again", "update_id", id, "chat_id", chatID, "err", err)
		}
		return id, false
	}
}

type rateLimit struct{ after time.Duration }

func (e *rateLimit) Error() string { return fmt.Sprintf("rate limited, retry after %s", e.after) }

// getUpdates calls the Bot API directly: the SDK only exposes getUpdates
// through its own poller, which acknowledges updates before they are handled.
func (a *Adapter) getUpdates(ctx context.Context, offset int64, timeoutSec, limit int) ([]json.RawMessage, error) {
	body, err := json.Marshal(map[string]any{
		"offset":          offset,
		"timeout":         timeoutSec,
		"limit":           limit,
		"allowed_updates": allowedUpdates,
	})
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, time.Duration(timeoutSec)*time.Second+15*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, a.baseURL+"/bot"+a.cfg.Token+"/getUpdates", bytes.NewReader(body))
	if err != nil {
		return nil, a.redact(err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := a.http.Do(req)
	if err != nil {
		return nil, fmt.Errorf("telegram getUpdates: %w: %w", flows.ErrUnavailable, a.redact(err))
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return nil, fmt.Errorf("telegram getUpdates: read: %w: %w", flows.ErrUnavailable, err)
	}
	var r struct {
		OK          bool              `json:"ok"`
		Result      []json.RawMessage `json:"result"`
		ErrorCode   int               `json:"error_code"`
		Description string            `json:"description"`
		Parameters  struct {
			RetryAfter int `json:"retry_after"`
		} `json:"parameters"`
	}
	if err := json.Unmarshal(data, &r); err != nil {
		return nil, fmt.Errorf("telegram getUpdates: HTTP %d, undecodable answer: %w", resp.StatusCode, flows.ErrUnavailable)
	}
	if !r.OK {
		switch r.ErrorCode {
		case http.StatusConflict: // another poller, or a webhook is set
			return nil, fmt.Errorf("telegram getUpdates: %s: %w", r.Description, flows.ErrConflict)
		case http.StatusTooManyRequests:
			return nil, fmt.Errorf("telegram getUpdates: %w", &rateLimit{time.Duration(r.Parameters.RetryAfter) * time.Second})
		}
		return nil, fmt.Errorf("telegram getUpdates: %d %s: %w", r.ErrorCode, r.Description, flows.ErrUnavailable)
	}
	return r.Result, nil
}

// redact keeps the bot token out of errors (url.Error quotes the URL).
func (a *Adapter) redact(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		ue.URL = strings.ReplaceAll(ue.URL, a.cfg.Token, "***")
	}
	return err
}

func nextBackoff(d time.Duration) time.Duration {
	if d == 0 {
		return minBackoff
	}
	return min(2*d, maxBackoff)
}

// sleep waits d or until ctx is done; it reports whether d passed.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

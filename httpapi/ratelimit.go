package httpapi

import (
	"context"
	"fmt"
	"math"
	"net"
	"net/http"
	"strconv"
	"time"

	"github.com/cxbot/cxbot/flows"
)

// RateLimiter admits events under a limit shared by every replica (cxbot's
// Redis implements it).
type RateLimiter interface {
	Allow(ctx context.Context, key string, l flows.Limit) (allowed bool, retryAfter time.Duration, err error)
}

// limitClients answers 429 with Retry-After to a client (by remote IP)
// that calls /api/ faster than the configured limit, before the token is
// checked, so guessing tokens is throttled too. A limiter that fails lets
// the call through (logged): the API's own dependencies answer 503 then.
func (s *Server) limitClients(next http.Handler) http.Handler {
	if s.cfg.Limiter == nil || s.cfg.ClientLimit.Count == 0 {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		client, _, err := net.SplitHostPort(r.RemoteAddr)
		if err != nil {
			client = r.RemoteAddr
		}
		ok, retry, err := s.cfg.Limiter.Allow(r.Context(), "api:client:"+client, s.cfg.ClientLimit)
		switch {
		case err != nil:
			s.cfg.Logger.Warn("api rate limiter unavailable, request let through", "client", client, "err", err)
		case !ok:
			w.Header().Set("Retry-After", strconv.Itoa(max(1, int(math.Ceil(retry.Seconds())))))
			writeError(w, http.StatusTooManyRequests, fmt.Sprintf("too many requests from %s: at most %d per %s", client, s.cfg.ClientLimit.Count, s.cfg.ClientLimit.Per))
			return
		}
		next.ServeHTTP(w, r)
	})
}

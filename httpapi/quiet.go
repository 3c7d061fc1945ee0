package httpapi

import (
	"math"
	"net/http"
	"strconv"
	"time"
)

// quietHoursBody is the 409 of a direct invitation in the customer's quiet
// hours: nothing was stored or sent; send again at retry_at, or with
// "now": true.
type quietHoursBody struct {
	Code    string    `json:"code"`
	Error   string    `json:"error"`
	RetryAt time.Time `json:"retry_at"`
}

func (s *Server) refuseQuietHours(w http.ResponseWriter, until time.Time) {
	w.Header().Set("Retry-After", strconv.Itoa(max(1, int(math.Ceil(time.Until(until).Seconds())))))
	writeJSON(w, http.StatusConflict, quietHoursBody{
		Code:    "quiet_hours",
		Error:   "the customer's quiet hours last until " + until.Format(time.RFC3339) + `: nothing was sent; send again then, or with "now": true`,
		RetryAt: until,
	})
}

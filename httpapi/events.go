package httpapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/cxbot/cxbot/flows"
)

// EventSaver stores touchpoint events (sqlstore.DB).
type EventSaver interface {
	SaveEvents(ctx context.Context, events []flows.Event) ([]flows.EventResult, error)
}

// eventJSON is one element of the request's "events" array. Fields whose
// JSON type varies are decoded by hand, so each event gets its own error.
type eventJSON struct {
	ID             string                     `json:"id"`
	CustomerRef    string                     `json:"customer_ref"`
	Touchpoint     string                     `json:"touchpoint"`
	OccurredAt     string                     `json:"occurred_at"`
	TelegramChatID json.RawMessage            `json:"telegram_chat_id"`
	WeChatOpenID   string                     `json:"wechat_openid"`
	Language       string                     `json:"language"`
	TimeZone       string                     `json:"timezone"`
	Attributes     map[string]json.RawMessage `json:"attributes"`
}

// decodeEvent reads one event of the batch into a flows.EventInput. The id is
// returned even when the rest is malformed, for the event's result.
func decodeEvent(raw json.RawMessage) (flows.EventInput, error) {
	var ev eventJSON
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	err := dec.Decode(&ev)
	in := flows.EventInput{
		ID: ev.ID, CustomerRef: ev.CustomerRef, Touchpoint: ev.Touchpoint, OccurredAt: ev.OccurredAt,
		WeChatOpenID: ev.WeChatOpenID, Language: ev.Language, TimeZone: ev.TimeZone,
	}
	if err != nil {
		var typeErr *json.UnmarshalTypeError
		switch {
		case errors.As(err, &typeErr) && typeErr.Field == "":
			return in, flows.NewFieldError("event", "must be a JSON object")
		case errors.As(err, &typeErr):
			return in, flows.NewFieldError(typeErr.Field, "must be %s", jsonKind(typeErr.Type.Kind().String()))
		default:
			msg := strings.TrimPrefix(err.Error(), "json: ")
			if name, ok := strings.CutPrefix(msg, "unknown field "); ok {
				if n, err := strconv.Unquote(name); err == nil {
					name = n
				}
				return in, flows.NewFieldError(name, "is not an event field (id, customer_ref, touchpoint, occurred_at, "+
					"telegram_chat_id, wechat_openid, language, timezone, attributes)")
			}
			return in, flows.NewFieldError("event", "is malformed: %s", msg)
		}
	}
	if len(ev.TelegramChatID) > 0 && string(ev.TelegramChatID) != "null" {
		var s string
		if err := json.Unmarshal(ev.TelegramChatID, &s); err != nil {
			var n json.Number
			if err := json.Unmarshal(ev.TelegramChatID, &n); err != nil {
				return in, flows.NewFieldError("telegram_chat_id", "must be an integer")
			}
			s = n.String()
		}
		in.TelegramChatID = s
		if strings.TrimSpace(s) == "" {
			return in, flows.NewFieldError("telegram_chat_id", "must be an integer")
		}
	}
	if len(ev.Attributes) > 0 {
		in.Attributes = make(map[string]string, len(ev.Attributes))
		for k, v := range ev.Attributes {
			var s string
			if err := json.Unmarshal(v, &s); err != nil || string(v) == "null" {
				return in, flows.NewFieldError("attributes."+k, "must be a string (send numbers as \"42\")")
			}
			in.Attributes[k] = s
		}
	}
	return in, nil
}

func jsonKind(goKind string) string {
	switch goKind {
	case "string":
		return "a string"
	case "map", "struct":
		return "an object"
	case "slice":
		return "an array"
	default:
		return "a " + goKind
	}
}

// eventResultJSON is what happened to one event of the batch, in order.
type eventResultJSON struct {
	Index  int    `json:"index"`
	ID     string `json:"id"`
	Status string `json:"status"` // created, duplicate or rejected
	Error  string `json:"error,omitempty"`
}

type eventsResponse struct {
	Accepted   int               `json:"accepted"`
	Duplicates int               `json:"duplicates"`
	Rejected   int               `json:"rejected"`
	Results    []eventResultJSON `json:"results"`
}

// postEvents stores a batch of touchpoint events. Events are idempotent by
// id: a repeated event is reported as a duplicate and changes nothing. A bad
// event is rejected with its reason without rejecting the others: the
// answer is 200 with a result per event, or 400 (same body) when every
// event was rejected. A body over 5 MiB or over 1,000 events is 413.
func (s *Server) postEvents(w http.ResponseWriter, r *http.Request) {
	if s.cfg.Events == nil {
		s.fail(w, r, fmt.Errorf("%w: events are not enabled on this server", flows.ErrUnavailable))
		return
	}
	var body struct {
		Events []json.RawMessage `json:"events"`
	}
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxEventsBodyBytes))
	dec.DisallowUnknownFields()
	err := dec.Decode(&body)
	switch {
	case errors.As(err, new(*http.MaxBytesError)):
		writeError(w, http.StatusRequestEntityTooLarge, fmt.Sprintf(
			"body larger than %s: send at most %d events per request", formatBytes(maxEventsBodyBytes), flows.MaxEventBatch))
		return
	case errors.Is(err, io.EOF):
		s.fail(w, r, fmt.Errorf(`%w: empty body, expected {"events":[…]}`, flows.ErrInvalid))
		return
	case err != nil:
		s.fail(w, r, jsonDecodeError(err, maxEventsBodyBytes))
		return
	case dec.More():
		s.fail(w, r, fmt.Errorf("%w: body has data after the JSON object", flows.ErrInvalid))
		return
	case len(body.Events) == 0:
		s.fail(w, r, fmt.Errorf(`%w: events is required: {"events":[{"id":…,"customer_ref":…,"touchpoint":…,"occurred_at":…}]}`, flows.ErrInvalid))
		return
	case len(body.Events) > flows.MaxEventBatch:
		writeError(w, http.StatusRequestEntityTooLarge, fmt.Sprintf(
			"batch of %d events is over the limit of %d per request: split it", len(body.Events), flows.MaxEventBatch))
		return
	}

	now := time.Now()
	var validator flows.EventValidator
	resp := eventsResponse{Results: make([]eventResultJSON, len(body.Events))}
	var (
		valid []flows.Event
		index []int // valid[k] is body.Events[index[k]]
	)
	for i, raw := range body.Events {
		in, err := decodeEvent(raw)
		res := &resp.Results[i]
		res.Index, res.ID = i, strings.TrimSpace(in.ID)
		if err == nil {
			var e flows.Event
			if e, err = validator.Validate(in, now); err == nil {
				valid = append(valid, e)
				index = append(index, i)
				continue
			}
		}
		res.Status, res.Error = "rejected", publicMessage(err)
	}
	if len(valid) > 0 {
		saved, err := s.cfg.Events.SaveEvents(r.Context(), valid)
		if err != nil {
			s.fail(w, r, err)
			return
		}
		for k, sr := range saved {
			res := &resp.Results[index[k]]
			switch {
			case sr.Err != nil:
				res.Status, res.Error = "rejected", publicMessage(sr.Err)
			case sr.Created:
				res.Status = "created"
			default:
				res.Status = "duplicate"
			}
		}
	}
	for _, res := range resp.Results {
		switch res.Status {
		case "created":
			resp.Accepted++
		case "duplicate":
			resp.Duplicates++
		default:
			resp.Rejected++
		}
	}
	if resp.Rejected > 0 {
		// Counts only: the reasons quote customer data, and the caller has them.
		s.cfg.Logger.Info("events rejected", "rejected", resp.Rejected, "accepted", resp.Accepted,
			"duplicates", resp.Duplicates)
	}
	code := http.StatusOK
	if resp.Rejected == len(resp.Results) {
		code = http.StatusBadRequest
	}
	writeJSON(w, code, resp)
}

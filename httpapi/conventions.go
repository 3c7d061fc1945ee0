package httpapi

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/cxbot/cxbot/flows"
)

// Body limits, one per kind of request; a larger body is 413.
const (
	maxBodyBytes       = 1 << 20  // invitations, links: 1 MiB
	maxWaveBodyBytes   = 64 << 10 // a wave definition: 64 KiB
	maxEventsBodyBytes = 5 << 20  // flows.MaxEventBatch events with their attributes: 5 MiB
)

// tooLargeError is a body over its limit: 413.
type tooLargeError struct{ limit int64 }

func (e *tooLargeError) Error() string {
	return fmt.Sprintf("body larger than %s", formatBytes(e.limit))
}

func formatBytes(n int64) string {
	switch {
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%d MiB", n>>20)
	case n >= 1<<10 && n%(1<<10) == 0:
		return fmt.Sprintf("%d KiB", n>>10)
	}
	return fmt.Sprintf("%d bytes", n)
}

// readBody reads a whole body up to limit.
func readBody(w http.ResponseWriter, r *http.Request, limit int64) ([]byte, error) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
	if errors.As(err, new(*http.MaxBytesError)) {
		return nil, &tooLargeError{limit}
	}
	if err != nil {
		return nil, fmt.Errorf("%w: reading the body: %v", flows.ErrInvalid, err)
	}
	return body, nil
}

// jsonDecodeError explains a JSON decoding failure in the API's words: the
// field and the JSON type it needs, never a Go type.
func jsonDecodeError(err error, limit int64) error {
	var syntax *json.SyntaxError
	var typeErr *json.UnmarshalTypeError
	switch {
	case errors.As(err, new(*http.MaxBytesError)):
		return &tooLargeError{limit}
	case errors.As(err, &syntax):
		return fmt.Errorf("%w: malformed JSON at byte %d", flows.ErrInvalid, syntax.Offset)
	case errors.As(err, &typeErr) && typeErr.Field == "":
		return fmt.Errorf("%w: the body must be a JSON object, not %s", flows.ErrInvalid, jsonValueName(typeErr.Value))
	case errors.As(err, &typeErr):
		return fmt.Errorf("%w: field %q must be %s, not %s", flows.ErrInvalid, typeErr.Field, jsonKind(typeErr.Type.Kind().String()), jsonValueName(typeErr.Value))
	case errors.Is(err, io.EOF):
		return fmt.Errorf("%w: empty body, expected a JSON object", flows.ErrInvalid)
	case errors.Is(err, io.ErrUnexpectedEOF):
		return fmt.Errorf("%w: malformed JSON: the body ends too early", flows.ErrInvalid)
	}
	// Unknown fields, and the errors of the API's own JSON types (chat ids).
	return fmt.Errorf("%w: %s", flows.ErrInvalid, strings.TrimPrefix(err.Error(), "json: "))
}

// jsonValueName names encoding/json's description of a value ("array",
// "number 1", "string") as JSON does.
func jsonValueName(v string) string {
	switch {
	case v == "array":
		return "an array"
	case v == "object":
		return "an object"
	case v == "string":
		return "a string"
	case v == "bool":
		return "true or false"
	case strings.HasPrefix(v, "number"):
		return "a number"
	}
	return v
}

// errorCode is the stable machine code of an error body, by status.
func errorCode(status int) string {
	switch status {
	case http.StatusBadRequest:
		return "invalid_request"
	case http.StatusUnauthorized:
		return "unauthorized"
	case http.StatusNotFound:
		return "not_found"
	case http.StatusMethodNotAllowed:
		return "method_not_allowed"
	case http.StatusConflict:
		return "conflict"
	case http.StatusRequestEntityTooLarge:
		return "body_too_large"
	case http.StatusTooManyRequests:
		return "rate_limited"
	case http.StatusServiceUnavailable:
		return "unavailable"
	case http.StatusInternalServerError:
		return "internal"
	}
	return strings.ReplaceAll(strings.ToLower(http.StatusText(status)), " ", "_")
}

// publicMessage is err's text for a client: the domain's sentinel words
// ("invalid: ", "conflict: ") are the status code's business, not the
// message's.
func publicMessage(err error) string {
	msg := err.Error()
	for _, sentinel := range []error{flows.ErrInvalid, flows.ErrConflict, flows.ErrUnavailable} {
		msg = strings.ReplaceAll(msg, sentinel.Error()+": ", "")
	}
	nf := flows.ErrNotFound.Error()
	if rest, ok := strings.CutPrefix(msg, nf+": "); ok {
		msg = rest + " " + nf
	}
	return strings.ReplaceAll(msg, ": "+nf+": ", ": ")
}

// bearerToken reads "Authorization: Bearer <token>"; the scheme is
// case-insensitive (RFC 9110).
func bearerToken(header string) (string, bool) {
	scheme, token, ok := strings.Cut(strings.TrimSpace(header), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	token = strings.TrimSpace(token)
	return token, token != ""
}

// allowedMethods lists the methods the API serves at r's path, for a 405's
// Allow header; none means the path is unknown.
func (s *Server) allowedMethods(r *http.Request) []string {
	var allowed []string
	for _, m := range []string{http.MethodGet, http.MethodPost, http.MethodPut, http.MethodDelete, http.MethodPatch} {
		probe := r.Clone(r.Context())
		probe.Method = m
		if _, pattern := s.mux.Handler(probe); pattern != "" && pattern != "/api/" {
			allowed = append(allowed, m)
			if m == http.MethodGet {
				allowed = append(allowed, http.MethodHead)
			}
		}
	}
	return allowed
}

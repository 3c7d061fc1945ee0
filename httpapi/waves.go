package httpapi

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"sort"
	"strings"

	"github.com/cxbot/cxbot/flows"
	"github.com/cxbot/cxbot/scheduler"
)

// WaveAdmin is what marketers do with waves through the API.
type WaveAdmin interface {
	List(ctx context.Context) ([]scheduler.WaveStatus, error)
	Get(ctx context.Context, id string) (scheduler.WaveStatus, error)
	Create(ctx context.Context, definition []byte, paused bool) (scheduler.WaveStatus, error)
	Check(ctx context.Context, definition []byte) (scheduler.WaveCheck, error)
	Put(ctx context.Context, id string, definition []byte) (scheduler.WaveStatus, bool, error)
	Retire(ctx context.Context, id string) (scheduler.WaveStatus, error)
	SetPaused(ctx context.Context, id string, paused bool) (scheduler.WaveStatus, error)
	Preview(ctx context.Context, id string) (scheduler.PlanResult, error)
}

func (s *Server) listWaves(w http.ResponseWriter, r *http.Request) {
	waves, err := s.cfg.Waves.List(r.Context())
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, wavesJSON{Waves: waves})
}

type wavesJSON struct {
	Waves []scheduler.WaveStatus `json:"waves"`
}

func (s *Server) getWave(w http.ResponseWriter, r *http.Request) {
	wave, err := s.cfg.Waves.Get(r.Context(), r.PathValue("id"))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, wave)
}

// createWave takes the same definition as a configs/waves file, as JSON or
// YAML; an invalid one is refused whole, naming every bad field. With
// ?paused=true it is a draft: previewable, inviting no one until resumed.
func (s *Server) createWave(w http.ResponseWriter, r *http.Request) {
	if err := onlyParams(r, "paused"); err != nil {
		s.fail(w, r, err)
		return
	}
	paused, err := boolParam(r, "paused")
	if err != nil {
		s.fail(w, r, err)
		return
	}
	body, err := readBody(w, r, maxWaveBodyBytes)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	wave, err := s.cfg.Waves.Create(r.Context(), body, paused)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, wave)
}

// onlyParams refuses a query parameter the call does not take: on a call
// that changes things a typo (?pause=true) must not pass unnoticed.
func onlyParams(r *http.Request, allowed ...string) error {
	var unknown []string
	for name := range r.URL.Query() {
		if !slices.Contains(allowed, name) {
			unknown = append(unknown, name)
		}
	}
	if len(unknown) == 0 {
		return nil
	}
	sort.Strings(unknown)
	takes := "none"
	if len(allowed) > 0 {
		takes = "only " + strings.Join(allowed, ", ")
	}
	return fmt.Errorf("%w: unknown query parameter %q (this call takes %s)", flows.ErrInvalid, unknown[0], takes)
}

// boolParam reads an optional true/false query parameter.
func boolParam(r *http.Request, name string) (bool, error) {
	switch v := r.URL.Query().Get(name); v {
	case "", "false":
		return false, nil
	case "true":
		return true, nil
	default:
		return false, fmt.Errorf("%w: %s=%q: use true or false", flows.ErrInvalid, name, v)
	}
}

// waveDefinition reads the definition a check or a PUT carries, in a call
// that takes no query parameters.
func waveDefinition(w http.ResponseWriter, r *http.Request) ([]byte, error) {
	if err := onlyParams(r); err != nil {
		return nil, err
	}
	return readBody(w, r, maxWaveBodyBytes)
}

// checkWave validates an unsaved definition, storing nothing: 200 with the
// schedule in words and its next runs, or 400 naming each bad field.
func (s *Server) checkWave(w http.ResponseWriter, r *http.Request) {
	body, err := waveDefinition(w, r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	check, err := s.cfg.Waves.Check(r.Context(), body)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, check)
}

// putWave creates or replaces an API wave: 201 when new, 200 when replaced.
func (s *Server) putWave(w http.ResponseWriter, r *http.Request) {
	body, err := waveDefinition(w, r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	wave, created, err := s.cfg.Waves.Put(r.Context(), r.PathValue("id"), body)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	code := http.StatusOK
	if created {
		code = http.StatusCreated
	}
	writeJSON(w, code, wave)
}

// retireWave is DELETE: the wave stops for good, its history stays.
func (s *Server) retireWave(w http.ResponseWriter, r *http.Request) {
	if err := onlyParams(r); err != nil {
		s.fail(w, r, err)
		return
	}
	wave, err := s.cfg.Waves.Retire(r.Context(), r.PathValue("id"))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, wave)
}

func (s *Server) pauseWave(w http.ResponseWriter, r *http.Request)  { s.setPaused(w, r, true) }
func (s *Server) resumeWave(w http.ResponseWriter, r *http.Request) { s.setPaused(w, r, false) }

func (s *Server) setPaused(w http.ResponseWriter, r *http.Request, paused bool) {
	if err := onlyParams(r); err != nil {
		s.fail(w, r, err)
		return
	}
	wave, err := s.cfg.Waves.SetPaused(r.Context(), r.PathValue("id"), paused)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, wave)
}

type previewJSON struct {
	Wave        string         `json:"wave"`
	WouldInvite int            `json:"would_invite"`
	Considered  int            `json:"considered"`
	Skipped     map[string]int `json:"skipped"`
	Sample      []previewEntry `json:"sample"`
}

type previewEntry struct {
	CustomerRef string        `json:"customer_ref"`
	EventID     string        `json:"event_id"`
	Channel     flows.Channel `json:"channel"`
	ChatID      string        `json:"chat_id"`
	Language    string        `json:"language"`
}

// previewWave answers "how many would be invited now", writing nothing.
func (s *Server) previewWave(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	res, err := s.cfg.Waves.Preview(r.Context(), id)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	out := previewJSON{Wave: id, WouldInvite: res.Planned, Considered: res.Considered, Skipped: res.Skipped, Sample: []previewEntry{}}
	for _, inv := range res.Sample {
		out.Sample = append(out.Sample, previewEntry{CustomerRef: inv.CustomerRef, EventID: inv.EventID, Channel: inv.Channel, ChatID: inv.ExternalID, Language: inv.Language})
	}
	writeJSON(w, http.StatusOK, out)
}

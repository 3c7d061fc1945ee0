package httpapi

import (
	"encoding/json"
	"fmt"
	"net/http"

	"github.com/cxbot/cxbot/flows"
)

// ChannelPreview renders a survey message as one channel's adapter sends
// it (cmd wires the Telegram and WeChat adapters' own renderers), so the
// preview cannot drift from what customers get and the API sees no SDK.
type ChannelPreview struct {
	Channel flows.Channel
	Render  func(flows.Message) (any, error)
}

type surveyPreviewJSON struct {
	Survey   string                `json:"survey"`
	Title    string                `json:"title"`
	Previews []languagePreviewJSON `json:"previews"`
}

type languagePreviewJSON struct {
	Language  string                `json:"language"`
	Questions []questionPreviewJSON `json:"questions"`
}

type questionPreviewJSON struct {
	ID       string          `json:"id"`
	Kind     flows.Kind      `json:"kind"`
	Telegram json.RawMessage `json:"telegram,omitempty"` // the adapter's own preview type, as JSON
	WeChat   json.RawMessage `json:"wechat,omitempty"`
}

// surveyPreview shows each question, in each of the survey's languages, as
// the Telegram and WeChat adapters render it for sending, so the preview
// cannot drift from what customers get.
func (s *Server) surveyPreview(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	sv, ok := s.cfg.Conversations.Surveys()[id]
	if !ok {
		s.fail(w, r, fmt.Errorf("%w: survey %q", flows.ErrNotFound, id))
		return
	}
	out := surveyPreviewJSON{Survey: sv.ID, Title: sv.Title.In("en", sv.DefaultLanguage), Previews: []languagePreviewJSON{}}
	for _, lang := range sv.Languages() {
		lp := languagePreviewJSON{Language: lang, Questions: []questionPreviewJSON{}}
		for i, m := range sv.Preview(lang) {
			q := questionPreviewJSON{ID: sv.Questions[i].ID, Kind: sv.Questions[i].Kind}
			for _, ch := range s.cfg.Previews {
				var shown json.RawMessage
				v, err := ch.Render(m)
				if err == nil {
					shown, err = json.Marshal(v)
				}
				if err != nil {
					s.fail(w, r, fmt.Errorf("survey %s question %s on %s: %w", sv.ID, sv.Questions[i].ID, ch.Channel, err))
					return
				}
				switch ch.Channel {
				case flows.ChannelTelegram:
					q.Telegram = shown
				case flows.ChannelWeChat:
					q.WeChat = shown
				}
			}
			lp.Questions = append(lp.Questions, q)
		}
		out.Previews = append(out.Previews, lp)
	}
	writeJSON(w, http.StatusOK, out)
}

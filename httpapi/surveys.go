package httpapi

import (
	"fmt"
	"net/http"

	"github.com/cxbot/cxbot/bot/telegram"
	"github.com/cxbot/cxbot/bot/wechat"
	"github.com/cxbot/cxbot/flows"
)

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
	ID       string           `json:"id"`
	Kind     flows.Kind       `json:"kind"`
	Telegram telegram.Preview `json:"telegram"`
	WeChat   wechat.Preview   `json:"wechat"`
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
			tg, err := telegram.Render(m)
			if err != nil {
				s.fail(w, r, fmt.Errorf("survey %s question %s: %w", sv.ID, sv.Questions[i].ID, err))
				return
			}
			lp.Questions = append(lp.Questions, questionPreviewJSON{ID: sv.Questions[i].ID, Kind: sv.Questions[i].Kind, Telegram: tg, WeChat: wechat.Render(m)})
		}
		out.Previews = append(out.Previews, lp)
	}
	writeJSON(w, http.StatusOK, out)
}

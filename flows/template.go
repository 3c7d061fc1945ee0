package flows

import (
	"strings"
	"time"
)

// TemplateInvitation renders the survey's WeChat template for a language:
// the template id, its link and field values. ok is false when the survey
// has no template. The customer answers by replying to it in the chat.
func (s *Survey) TemplateInvitation(lang string, now time.Time) (id, url string, data map[string]string, ok bool) {
	t := s.WeChatTemplate
	q := s.First()
	if t == nil || q == nil {
		return "", "", nil, false
	}
	r := strings.NewReplacer(
		"{survey}", s.Title.In(lang, s.DefaultLanguage),
		"{question}", q.Prompt.In(lang, s.DefaultLanguage),
		"{valid}", s.validHint(q, lang),
		"{date}", now.Format(time.DateOnly),
	)
	data = make(map[string]string, len(t.Fields))
	for k, v := range t.Fields {
		data[k] = r.Replace(v.In(lang, s.DefaultLanguage))
	}
	return t.ID.In(lang, s.DefaultLanguage), t.URL, data, true
}

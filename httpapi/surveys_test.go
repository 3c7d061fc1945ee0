package httpapi

import (
	"net/http"
	"strings"
	"testing"

	"github.com/cxbot/cxbot/bot/telegram"
	"github.com/cxbot/cxbot/bot/wechat"
	"github.com/cxbot/cxbot/flows"
)

// The preview as a client reads it, with the adapters' own preview types
// (the API sees them only as JSON, through Config.Previews).
type shownSurvey struct {
	Survey   string          `json:"survey"`
	Title    string          `json:"title"`
	Previews []shownLanguage `json:"previews"`
}

type shownLanguage struct {
	Language  string `json:"language"`
	Questions []struct {
		ID       string           `json:"id"`
		Kind     flows.Kind       `json:"kind"`
		Telegram telegram.Preview `json:"telegram"`
		WeChat   wechat.Preview   `json:"wechat"`
	} `json:"questions"`
}

// adapterPreviews wires the adapters' renderers as cmd/cxbot does.
func adapterPreviews() []ChannelPreview {
	return []ChannelPreview{
		{Channel: flows.ChannelTelegram, Render: func(m flows.Message) (any, error) { return telegram.Render(m) }},
		{Channel: flows.ChannelWeChat, Render: func(m flows.Message) (any, error) { return wechat.Render(m), nil }},
	}
}

// The survey preview shows each question of the shipped surveys, in each
// language, as the adapters render it: Telegram's inline keyboard rows, and
// WeChat's menu (ten options or fewer) or text with the options listed.

func TestSurveyPreview(t *testing.T) {
	surveys, err := flows.LoadSurveys("../configs/surveys")
	if err != nil {
		t.Fatal(err)
	}
	a := newFakeAPI(t, func(c *Config) { c.Previews = adapterPreviews() })
	a.convs.SurveysFn = func() map[string]*flows.Survey { return surveys }
	var p shownSurvey
	r := a.do(http.MethodGet, "/api/v1/surveys/post_purchase_nps/preview", "")
	r.json(t, &p)
	if r.code != http.StatusOK || p.Survey != "post_purchase_nps" || p.Title != "After your purchase" || len(p.Previews) != 2 {
		t.Fatalf("preview = %d %s", r.code, r.body)
	}
	byLang := map[string]shownLanguage{}
	for _, lp := range p.Previews {
		byLang[lp.Language] = lp
	}
	zh, en := byLang["zh-CN"], byLang["en"]
	if len(zh.Questions) != len(surveys["post_purchase_nps"].Questions) || len(en.Questions) != len(zh.Questions) {
		t.Fatalf("questions: zh %d, en %d", len(zh.Questions), len(en.Questions))
	}
	nps := en.Questions[0]
	if nps.ID != "nps" || nps.Kind != flows.KindNPS || !strings.HasPrefix(nps.Telegram.Text, "Hi! Thanks for your recent purchase.") ||
		!strings.Contains(nps.Telegram.Text, "\n\nHow likely are you to recommend us") {
		t.Errorf("first question in English: %+v", nps.Telegram)
	}
	if got := strings.Join(append(nps.Telegram.Keyboard[0], nps.Telegram.Keyboard[1]...), " "); len(nps.Telegram.Keyboard) != 2 || got != "0 1 2 3 4 5 6 7 8 9 10" {
		t.Errorf("NPS keyboard %q", nps.Telegram.Keyboard)
	}
	// Eleven options are more than a WeChat menu takes: text, digits listed.
	if nps.WeChat.Kind != "text" || !strings.HasSuffix(nps.WeChat.Text, "0  1  2  3  4  5  6  7  8  9  10\n（请回复数字）") || len(nps.WeChat.Options) != 0 {
		t.Errorf("NPS on WeChat: %+v", nps.WeChat)
	}
	if q := zh.Questions[0]; !strings.HasPrefix(q.Telegram.Text, "您好！感谢您最近在我们这里购物。") || !strings.Contains(q.Telegram.Text, "您有多大可能") {
		t.Errorf("first question in Chinese: %q", q.Telegram.Text)
	}
	for _, q := range zh.Questions[1:] {
		if strings.Contains(q.Telegram.Text, "感谢您最近在我们这里购物") {
			t.Errorf("question %s repeats the intro", q.ID)
		}
		if q.Kind == flows.KindText && (len(q.Telegram.Keyboard) != 0 || q.WeChat.Kind != "text" || q.WeChat.Text != q.Telegram.Text) {
			t.Errorf("text question %s: %+v / %+v", q.ID, q.Telegram, q.WeChat)
		}
	}
	// CSAT's five buttons fit a WeChat menu.
	var csat shownSurvey
	a.do(http.MethodGet, "/api/v1/surveys/post_service_csat/preview", "").json(t, &csat)
	q := csat.Previews[0].Questions[0]
	if q.Kind != flows.KindCSAT || q.WeChat.Kind != "menu" || strings.Join(q.WeChat.Options, ",") != "1,2,3,4,5" || q.WeChat.Tail != "（也可以直接回复数字）" ||
		strings.Join(q.Telegram.Keyboard[0], ",") != "1,2,3,4,5" {
		t.Errorf("CSAT: %+v / %+v", q.Telegram, q.WeChat)
	}
	if r := a.do(http.MethodGet, "/api/v1/surveys/nope/preview", ""); r.code != http.StatusNotFound || r.errorText(t) != `survey "nope" not found` {
		t.Errorf("unknown survey = %d %s", r.code, r.body)
	}
}

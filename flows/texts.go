package flows

import (
	"sort"
	"strings"
)

// systemTexts are the built-in replies, so a survey file only has to carry
// its questions. Keys are documented at SystemText.
var systemTexts = map[string]Text{
	"greeting": {
		"en":    "Hi! From time to time we'll ask you here how we did — it only takes a tap or two. There's nothing to answer right now. Send /stop at any time if you'd rather not hear from us.",
		"zh-CN": "您好！我们会不定期在这里请您评价我们的服务，点一两下就能完成。目前没有需要回答的问卷。如不想再收到问卷，随时发送 /stop 即可。",
	},
	"linked": {
		"en":    "Thanks, you're all set! After a purchase or a service visit we'll send you a short survey here. Send /stop at any time to opt out.",
		"zh-CN": "绑定成功，谢谢！之后您购物或接受服务后，我们会在这里发送简短的问卷。发送 /stop 可随时退订。",
	},
	"help": {
		"en":    "I ask a few short questions about your experience with us. Tap a button or type your answer (a number works too).\n/stop — no more surveys\n/start — receive surveys again\n/help — show this message",
		"zh-CN": "我会就您的体验向您提几个简短的问题。点击按钮或直接回复答案（也可以回复数字）即可。\n/stop — 不再接收问卷\n/start — 重新接收问卷\n/help — 查看本帮助",
	},
	"stopped": {
		"en":    "Done — you won't receive any more surveys from us. If you change your mind, just send /start.",
		"zh-CN": "已为您退订，我们不会再向您发送问卷。如果改变主意，发送 /start 即可恢复。",
	},
	"resumed": {
		"en":    "Welcome back! You'll receive our surveys again. Send /stop at any time to opt out.",
		"zh-CN": "欢迎回来！您将重新收到我们的问卷。发送 /stop 可随时退订。",
	},
	"no_survey": {
		"en":    "Thanks for your message! There's no open survey right now — we'll be in touch after your next purchase or service visit.",
		"zh-CN": "感谢您的留言！目前没有需要填写的问卷，您下次购物或接受服务后我们会再联系您。",
	},
	"expired": {
		"en":    "Sorry, this survey has expired. Thank you all the same — we'll ask again another time.",
		"zh-CN": "抱歉，这份问卷已过期。仍然感谢您，我们下次再请您评价。",
	},
	"closed": {
		"en":    "This survey has closed.",
		"zh-CN": "这份问卷已结束。",
	},
	"already_answered": {
		"en":    "You've already answered this — thank you!",
		"zh-CN": "这个问题您已经回答过了，谢谢！",
	},
	"reprompt": {
		"en":    "Sorry, I didn't get that. Please reply with: {valid}",
		"zh-CN": "抱歉，没能识别您的回答。请回复：{valid}",
	},
	"skipped": {
		"en":    "Let's leave that one and move on.",
		"zh-CN": "这一题我们先跳过。",
	},
	"thanks": {
		"en":    "Thank you for your feedback! It helps us do better.",
		"zh-CN": "感谢您的反馈！您的意见会帮助我们做得更好。",
	},
	"handoff": {
		"en":    "Sorry to hear that. A member of our team will contact you here shortly.",
		"zh-CN": "很抱歉给您带来了不好的体验。我们的工作人员会尽快在这里与您联系。",
	},
	"invalid_link": {
		"en":    "Sorry, this link is invalid or has expired. Please use the latest link we sent you.",
		"zh-CN": "抱歉，该链接无效或已过期，请使用我们最近发给您的链接。",
	},
	"intro": {
		"en":    "We'd love to hear about your recent experience with us. It takes less than a minute.",
		"zh-CN": "想听听您对最近一次体验的看法，只需不到一分钟。",
	},
	"reminder": {
		"en":    "A gentle reminder: we'd still love to hear from you. It only takes a tap.",
		"zh-CN": "温馨提醒：我们仍然很想听听您的看法，点一下就能完成。",
	},
	// The handoff desk's words to the customer.
	"case_closed": {
		"en":    "Our team has marked your issue as resolved. Thank you for your patience — if anything is still wrong, just write here.",
		"zh-CN": "我们的工作人员已将您的问题标记为已解决，感谢您的耐心。如果仍有问题，直接在这里回复即可。",
	},
	"case_closed_by_you": {
		"en":    "Thanks for letting us know — we've closed your request. Write here any time if you need us again.",
		"zh-CN": "感谢告知，我们已关闭您的请求。如需帮助，随时在这里留言。",
	},
	"recovery_question": {
		"en":    "Did we fix it? How satisfied are you with how we handled your issue? (1 = very unsatisfied, 5 = very satisfied)",
		"zh-CN": "问题解决了吗？您对我们处理此问题的方式满意吗？（1 = 非常不满意，5 = 非常满意）",
	},
	"recovery_thanks": {
		"en":    "Thank you! Your answer helps us do better.",
		"zh-CN": "谢谢！您的回答会帮助我们做得更好。",
	},
	// Fragments the engine puts into other texts.
	"valid_text": {
		"en":    "a few words",
		"zh-CN": "一段文字",
	},
	"skipped_mark": {
		"en":    "— skipped",
		"zh-CN": "— 已跳过",
	},
}

// systemLanguages are the languages every system text exists in.
var systemLanguages = []string{"en", "zh-CN"}

// byKey returns the survey's own text for a system text key, nil when the
// survey does not override it.
func (m *Messages) byKey(key string) Text {
	switch key {
	case "intro":
		return m.Intro
	case "thanks":
		return m.Thanks
	case "handoff":
		return m.Handoff
	case "expired":
		return m.Expired
	case "reprompt":
		return m.Reprompt
	}
	return nil
}

// SystemText returns a built-in text: greeting, linked, help, stopped,
// resumed, no_survey, expired, closed, already_answered, reprompt (with a
// {valid} placeholder), skipped, thanks, handoff, invalid_link, intro,
// and the desk's case_closed, case_closed_by_you, recovery_question,
// recovery_thanks.
// A language without texts gets English; an unknown key comes back as is,
// so a missing text shows up in the chat instead of an empty message.
func SystemText(key, lang string) string {
	t, ok := systemTexts[key]
	if !ok {
		return key
	}
	return t[ResolveLanguage(systemLanguages, lang, "en")]
}

// Text returns the survey's own message for intro, thanks, handoff, expired
// and reprompt when it sets one, else the system text.
func (s *Survey) Text(key, lang string) string {
	if t := s.Messages.byKey(key); len(t) > 0 {
		if v := t.In(lang, s.DefaultLanguage); v != "" {
			return v
		}
	}
	return SystemText(key, lang)
}

// In returns the text in lang, else in fallback, else in the first language
// in sorted order (so the result never depends on map order), else "".
func (t Text) In(lang, fallback string) string {
	if v := t[lang]; v != "" {
		return v
	}
	if v := t[fallback]; v != "" {
		return v
	}
	if len(t) == 0 {
		return ""
	}
	keys := make([]string, 0, len(t))
	for k, v := range t {
		if v != "" {
			keys = append(keys, k)
		}
	}
	if len(keys) == 0 {
		return ""
	}
	sort.Strings(keys)
	return t[keys[0]]
}

// ResolveLanguage picks the language to talk in from a client's code such as
// "en-US" or "zh-hans": an exact (case-insensitive) match, then any Chinese
// variant to zh-CN (traditional variants prefer zh-TW/zh-HK/zh-Hant when
// offered), then the base language ("en-US" → "en", or "en-GB" when only that
// is offered), else fallback.
func ResolveLanguage(available []string, clientLang, fallback string) string {
	code := strings.ToLower(strings.ReplaceAll(strings.TrimSpace(clientLang), "_", "-"))
	if code == "" {
		return fallback
	}
	find := func(want string) (string, bool) {
		for _, a := range available {
			if strings.EqualFold(a, want) {
				return a, true
			}
		}
		return "", false
	}
	if a, ok := find(code); ok {
		return a
	}
	base, _, _ := strings.Cut(code, "-")
	if base == "zh" {
		switch code {
		case "zh-hant", "zh-tw", "zh-hk", "zh-mo", "zh-hant-tw", "zh-hant-hk":
			for _, t := range []string{"zh-TW", "zh-HK", "zh-Hant"} {
				if a, ok := find(t); ok {
					return a
				}
			}
		}
		for _, t := range []string{"zh-CN", "zh-Hans", "zh"} {
			if a, ok := find(t); ok {
				return a
			}
		}
	}
	if a, ok := find(base); ok {
		return a
	}
	for _, a := range available {
		if b, _, _ := strings.Cut(strings.ToLower(a), "-"); b == base {
			return a
		}
	}
	return fallback
}

// Languages lists the languages a conversation can be held in: the default
// language first, then (sorted) every language that has all question
// prompts, option labels and survey messages, so a customer never gets a
// half-translated survey.
func (s *Survey) Languages() []string {
	langs := []string{s.DefaultLanguage}
	var candidates []string
	if q := s.First(); q != nil {
		for l := range q.Prompt {
			if l != s.DefaultLanguage && s.complete(l) {
				candidates = append(candidates, l)
			}
		}
	}
	sort.Strings(candidates)
	return append(langs, candidates...)
}

// complete reports whether every text the customer can see exists in lang.
func (s *Survey) complete(lang string) bool {
	has := func(t Text) bool { return len(t) == 0 || t[lang] != "" }
	for _, m := range []Text{s.Messages.Intro, s.Messages.Thanks, s.Messages.Handoff, s.Messages.Expired, s.Messages.Reprompt} {
		if !has(m) {
			return false
		}
	}
	for i := range s.Questions {
		q := &s.Questions[i]
		if q.Prompt[lang] == "" {
			return false
		}
		for _, o := range q.Options {
			if o.Label[lang] == "" {
				return false
			}
		}
	}
	return true
}

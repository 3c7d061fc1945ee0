package flows

import (
	"strings"
	"testing"
	"time"
)

func TestTemplateInvitationFillsPlaceholders(t *testing.T) {
	s := mustLoad(t, "../configs/surveys/post_purchase_nps.yaml")
	id, _, data, ok := s.TemplateInvitation("zh-CN", time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC))
	if !ok || id != "REPLACE_WITH_TEMPLATE_ID" {
		t.Fatalf("template: %q %v", id, ok)
	}
	if data["keyword1"] != "购后回访" || data["keyword2"] != "2026-11-22" {
		t.Errorf("fields: %v", data)
	}
	if !strings.Contains(data["remark"], "推荐") || !strings.Contains(data["remark"], "0–10") || strings.Contains(data["remark"], "{") {
		t.Errorf("remark: %q", data["remark"])
	}
	s.WeChatTemplate = nil
	if _, _, _, ok := s.TemplateInvitation("en", time.Now()); ok {
		t.Error("a survey without a template rendered one")
	}
}

func TestWeChatTemplateNeedsFields(t *testing.T) {
	_, err := ParseSurvey("t.yaml", []byte("id: t\ndefault_language: en\nwechat_template: {id: X}\nquestions:\n  - {id: q, kind: text, prompt: {en: Hi}}\n"))
	if err == nil || !strings.Contains(err.Error(), "wechat_template.fields") {
		t.Fatalf("want an error naming wechat_template.fields, got %v", err)
	}
}

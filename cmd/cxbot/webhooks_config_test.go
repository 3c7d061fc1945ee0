package main

import (
	"strings"
	"testing"
)

func TestWebhookSettings(t *testing.T) {
	cfg, err := loadConfig(envOf(map[string]string{"CXBOT_WEBHOOK_URL": "https://crm.example.com/hook", "CXBOT_WEBHOOK_SECRET": "0123456789abcdef"}))
	if err != nil || cfg.WebhookURL != "https://crm.example.com/hook" || cfg.WebhookMaxAttempts != 15 {
		t.Fatalf("cfg %+v, %v", cfg, err)
	}
	for _, tc := range []struct {
		name string
		env  map[string]string
		want string
	}{
		{"no secret", map[string]string{"CXBOT_WEBHOOK_URL": "https://crm.example.com/hook"}, "CXBOT_WEBHOOK_SECRET: required"},
		{"short secret", map[string]string{"CXBOT_WEBHOOK_SECRET": "short-one"}, "CXBOT_WEBHOOK_SECRET: must be at least 16"},
		{"not a url", map[string]string{"CXBOT_WEBHOOK_URL": "crm.example.com"}, "CXBOT_WEBHOOK_URL"},
		{"attempts", map[string]string{"CXBOT_WEBHOOK_MAX_ATTEMPTS": "0"}, "CXBOT_WEBHOOK_MAX_ATTEMPTS"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := loadConfig(envOf(tc.env))
			if err == nil || !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), "short-one") {
				t.Fatalf("want an error naming %q (never the secret), got %v", tc.want, err)
			}
		})
	}
}

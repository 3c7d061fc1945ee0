package main

import (
	"os"
	"strings"
	"testing"
	"time"
)

func TestDefaultsNeedNothing(t *testing.T) {
	cfg, err := loadConfig(envOf(nil))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.HTTPAddr != ":8080" || cfg.DatabaseURL != "cxbot.db" || cfg.RedisURL != "" || cfg.ConfigDir != "configs" ||
		cfg.ConversationTTL != 72*time.Hour || cfg.TelegramPollTimeout != 30*time.Second || cfg.AutoMigrate {
		t.Fatalf("unexpected defaults: %+v", cfg)
	}
}

func TestBadSettingsAreNamed(t *testing.T) {
	for _, tc := range []struct {
		name string
		env  map[string]string
		want string
	}{
		{"addr", map[string]string{"CXBOT_HTTP_ADDR": "8080"}, "CXBOT_HTTP_ADDR"},
		{"redis scheme", map[string]string{"CXBOT_REDIS_URL": "localhost:6379"}, "CXBOT_REDIS_URL"},
		{"agent chat", map[string]string{"CXBOT_TELEGRAM_AGENT_CHAT": "agents"}, "CXBOT_TELEGRAM_AGENT_CHAT"},
		{"api url", map[string]string{"CXBOT_TELEGRAM_API_URL": "ftp://x"}, "CXBOT_TELEGRAM_API_URL"},
		{"ttl", map[string]string{"CXBOT_CONVERSATION_TTL": "3 days"}, "CXBOT_CONVERSATION_TTL"},
		{"negative ttl", map[string]string{"CXBOT_HANDOFF_COMMENT_WAIT": "-1m"}, "CXBOT_HANDOFF_COMMENT_WAIT"},
		{"bool", map[string]string{"CXBOT_AUTO_MIGRATE": "yes please"}, "CXBOT_AUTO_MIGRATE"},
		{"log level", map[string]string{"CXBOT_LOG_LEVEL": "loud"}, "CXBOT_LOG_LEVEL"},
		{"webhook without secret", map[string]string{"CXBOT_TELEGRAM_TOKEN": "1:x", "CXBOT_PUBLIC_URL": "https://cx.example.com"}, "CXBOT_TELEGRAM_WEBHOOK_SECRET: required"},
		{"webhook over http", map[string]string{"CXBOT_PUBLIC_URL": "http://cx.example.com"}, "https"},
		{"secret charset", map[string]string{"CXBOT_TELEGRAM_WEBHOOK_SECRET": "has space"}, "CXBOT_TELEGRAM_WEBHOOK_SECRET"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := loadConfig(envOf(tc.env))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("want error naming %q, got %v", tc.want, err)
			}
		})
	}
}

func TestSecretValuesAreNeverPrinted(t *testing.T) {
	_, err := loadConfig(envOf(map[string]string{"CXBOT_TELEGRAM_WEBHOOK_SECRET": "top secret value", "CXBOT_REDIS_URL": "http://user:hunter2@x"}))
	if err == nil {
		t.Fatal("want an error")
	}
	if strings.Contains(err.Error(), "top secret") || strings.Contains(err.Error(), "hunter2") {
		t.Fatalf("error leaks a secret: %v", err)
	}
	if !strings.Contains(err.Error(), "CXBOT_TELEGRAM_WEBHOOK_SECRET") || !strings.Contains(err.Error(), "CXBOT_REDIS_URL") {
		t.Fatalf("error should name both settings: %v", err)
	}
}

// Every setting is documented in README.md and in the example env file.
func TestEverySettingIsDocumented(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	example, err := os.ReadFile("../../configs/cxbot.env.example")
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range settings() {
		if !strings.Contains(string(readme), "`"+s.name+"`") {
			t.Errorf("README.md does not document %s", s.name)
		}
		if !strings.Contains(string(example), s.name+"=") {
			t.Errorf("configs/cxbot.env.example lacks %s", s.name)
		}
	}
}

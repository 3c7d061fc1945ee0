package main

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"
)

// A direct invitation in the customer's quiet hours is refused with 409
// quiet_hours, when to try again and nothing sent; "now": true sends it;
// the same call for a customer whose local time is not quiet goes out.
func TestDirectInvitationQuietHours(t *testing.T) {
	now := time.Now().UTC()
	clock := func(t time.Time) string { return fmt.Sprintf("%02d:%02d", t.Hour(), t.Minute()) }
	quiet := clock(now.Add(-time.Hour)) + "-" + clock(now.Add(time.Hour)) // around now in UTC
	h := start(t, stacks(t)[0], options{webhook: true, env: map[string]string{"CXBOT_API_QUIET_HOURS": quiet}})

	var refused struct {
		Code    string    `json:"code"`
		Error   string    `json:"error"`
		RetryAt time.Time `json:"retry_at"`
	}
	body := map[string]any{"survey": "post_purchase_nps", "customer_ref": "C-night", "telegram_chat_id": 7001, "timezone": "UTC"}
	if code := h.api("POST", "/api/v1/invitations", body, &refused); code != http.StatusConflict || refused.Code != "quiet_hours" ||
		!strings.Contains(refused.Error, `"now": true`) || refused.RetryAt.Before(now.Add(50*time.Minute)) {
		t.Fatalf("invitation in quiet hours = %d %+v", code, refused)
	}
	time.Sleep(100 * time.Millisecond)
	if n := len(h.tg.Sent(7001)); n != 0 {
		t.Fatalf("%d messages sent in quiet hours", n)
	}

	// UTC+12: outside the quiet hours there.
	away := map[string]any{"survey": "post_purchase_nps", "customer_ref": "C-away", "telegram_chat_id": 7002, "timezone": "Etc/GMT-12"}
	if code := h.api("POST", "/api/v1/invitations", away, nil); code != http.StatusCreated {
		t.Fatalf("invitation outside the customer's quiet hours = %d", code)
	}
	h.waitSent(7002, 1)

	body["now"] = true
	if code := h.api("POST", "/api/v1/invitations", body, nil); code != http.StatusCreated {
		t.Fatalf(`invitation with "now": true = %d`, code)
	}
	h.waitSent(7001, 1)

	bad := map[string]any{"survey": "post_purchase_nps", "customer_ref": "C-x", "telegram_chat_id": 7003, "timezone": "Mars/Base"}
	var e struct {
		Error string `json:"error"`
	}
	if code := h.api("POST", "/api/v1/invitations", bad, &e); code != http.StatusBadRequest || !strings.Contains(e.Error, `timezone "Mars/Base"`) {
		t.Fatalf("bad timezone = %d %+v", code, e)
	}
}

func TestAPIQuietHoursSetting(t *testing.T) {
	cfg, err := loadConfig(envOf(nil))
	if err != nil || len(cfg.APIQuietHours) != 1 || cfg.APIQuietHours[0].String() != "21:00-09:00" {
		t.Fatalf("default = %v, %v", cfg.APIQuietHours, err)
	}
	if cfg, err := loadConfig(envOf(map[string]string{"CXBOT_API_QUIET_HOURS": "off"})); err != nil || len(cfg.APIQuietHours) != 0 {
		t.Fatalf("off = %v, %v", cfg.APIQuietHours, err)
	}
	if _, err := loadConfig(envOf(map[string]string{"CXBOT_API_QUIET_HOURS": "9pm-9am"})); err == nil || !strings.Contains(err.Error(), `CXBOT_API_QUIET_HOURS: "9pm-9am" is not HH:MM-HH:MM`) {
		t.Fatalf("bad = %v", err)
	}
}

// Review finding 1: waves naming no cap or quiet hours get these.
func TestWaveDefaultSettings(t *testing.T) {
	cfg, err := loadConfig(envOf(nil))
	if err != nil {
		t.Fatal(err)
	}
	d := cfg.WaveDefaults
	if d.FrequencyCap == nil || d.FrequencyCap.Count != 1 || d.FrequencyCap.Per != 7*24*time.Hour || len(d.QuietHours) != 1 || d.QuietHours[0].String() != "21:00-09:00" {
		t.Fatalf("defaults = %+v %+v", d.FrequencyCap, d.QuietHours)
	}
	cfg, err = loadConfig(envOf(map[string]string{"CXBOT_DEFAULT_FREQUENCY_CAP": "off", "CXBOT_DEFAULT_QUIET_HOURS": "off"}))
	if err != nil || cfg.WaveDefaults.FrequencyCap != nil || len(cfg.WaveDefaults.QuietHours) != 0 {
		t.Fatalf("off = %+v, %v", cfg.WaveDefaults, err)
	}
	cfg, err = loadConfig(envOf(map[string]string{"CXBOT_DEFAULT_FREQUENCY_CAP": "3 per 30d"}))
	if err != nil || cfg.WaveDefaults.FrequencyCap.Count != 3 || cfg.WaveDefaults.FrequencyCap.Per != 30*24*time.Hour {
		t.Fatalf("3 per 30d = %+v, %v", cfg.WaveDefaults.FrequencyCap, err)
	}
	for v, want := range map[string]string{"weekly": `"weekly" is not like "1 per 30d"`, "0 per 7d": "needs a positive count"} {
		if _, err := loadConfig(envOf(map[string]string{"CXBOT_DEFAULT_FREQUENCY_CAP": v})); err == nil || !strings.Contains(err.Error(), "CXBOT_DEFAULT_FREQUENCY_CAP: ") || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: %v", v, err)
		}
	}
	if _, err := loadConfig(envOf(map[string]string{"CXBOT_DEFAULT_QUIET_HOURS": "9pm-9am"})); err == nil || !strings.Contains(err.Error(), `CXBOT_DEFAULT_QUIET_HOURS: "9pm-9am" is not HH:MM-HH:MM`) {
		t.Fatalf("bad quiet hours = %v", err)
	}
}

package flows

import (
	"errors"
	"testing"
	"time"
)

func TestParseRetention(t *testing.T) {
	for in, want := range map[string]time.Duration{"": 0, "0": 0, "365d": 365 * 24 * time.Hour, "8760h": 8760 * time.Hour, " 1d ": 24 * time.Hour} {
		if got, err := ParseRetention(in); err != nil || got != want {
			t.Errorf("ParseRetention(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, bad := range []string{"30m", "23h", "-1d", "0d", "xd", "soon", "1y"} {
		if _, err := ParseRetention(bad); !errors.Is(err, ErrInvalid) {
			t.Errorf("ParseRetention(%q) = %v, want ErrInvalid", bad, err)
		}
	}
	now := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	if c, ok := RetentionCutoff(now, 24*time.Hour); !ok || !c.Equal(now.Add(-24*time.Hour)) {
		t.Errorf("RetentionCutoff = %v, %v", c, ok)
	}
	if _, ok := RetentionCutoff(now, 0); ok {
		t.Error("a zero retention purges")
	}
}

func TestCheckErasable(t *testing.T) {
	if err := CheckErasable("C-1"); err != nil {
		t.Errorf("C-1: %v", err)
	}
	if err := CheckErasable(ErasedRef(7)); !errors.Is(err, ErrConflict) {
		t.Errorf("pseudonym: %v, want ErrConflict", err)
	}
	for _, bad := range []string{"", "a\x00b", string(make([]byte, 300))} {
		if err := CheckErasable(bad); !errors.Is(err, ErrInvalid) {
			t.Errorf("%q: %v, want ErrInvalid", bad, err)
		}
	}
	if PrivacyActorCLI("anna") != "cli:anna" || PrivacyActorCLI("") != "cli:unknown" {
		t.Error("PrivacyActorCLI")
	}
}

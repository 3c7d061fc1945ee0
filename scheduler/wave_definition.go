package scheduler

import (
	"strconv"

	"github.com/cxbot/cxbot/flows"
)

// WaveDefinition is a wave as it runs, defaults filled in, so the API shows
// what will happen rather than what was written: a delay that is 0 or a
// filter that is absent is visible.
type WaveDefinition struct {
	Trigger       *TriggerDefinition `json:"trigger,omitempty"`
	Segment       *SegmentDefinition `json:"segment,omitempty"`
	QuietHours    []string           `json:"quiet_hours"`
	FrequencyCap  string             `json:"frequency_cap,omitempty"`
	Sample        float64            `json:"sample"`
	ExpiresAfter  string             `json:"expires_after"`
	ReminderAfter string             `json:"reminder_after,omitempty"`
	Channels      []flows.Channel    `json:"channels"`
	TimeZone      string             `json:"timezone,omitempty"`
}

// TriggerDefinition is a trigger as it runs.
type TriggerDefinition struct {
	Touchpoint string            `json:"touchpoint"`
	Delay      string            `json:"delay"`
	MaxAge     string            `json:"max_age"`
	Where      map[string]string `json:"where"`
}

// SegmentDefinition is a segment as it runs.
type SegmentDefinition struct {
	Touchpoint string            `json:"touchpoint,omitempty"`
	Where      map[string]string `json:"where"`
}

// Definition returns the wave's effective settings.
func (w *Wave) Definition() WaveDefinition {
	d := WaveDefinition{
		QuietHours: []string{}, Sample: w.Sample, ExpiresAfter: formatDuration(w.ExpiresAfter),
		Channels: w.Channels, TimeZone: w.TimeZone,
	}
	if t := w.Trigger; t != nil {
		d.Trigger = &TriggerDefinition{Touchpoint: t.Touchpoint, Delay: formatDuration(t.Delay), MaxAge: formatDuration(t.MaxAge), Where: orEmpty(t.Where)}
	}
	if s := w.Segment; s != nil {
		d.Segment = &SegmentDefinition{Touchpoint: s.Touchpoint, Where: orEmpty(s.Where)}
	}
	for _, r := range w.QuietHours {
		d.QuietHours = append(d.QuietHours, r.String())
	}
	if c := w.FrequencyCap; c != nil {
		d.FrequencyCap = formatCap(c)
	}
	if w.ReminderAfter > 0 {
		d.ReminderAfter = formatDuration(w.ReminderAfter)
	}
	return d
}

func formatCap(c *FrequencyCap) string {
	return strconv.Itoa(c.Count) + " per " + formatDuration(c.Per)
}

func orEmpty(f Filter) map[string]string {
	if f == nil {
		return map[string]string{}
	}
	return f
}

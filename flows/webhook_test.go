package flows

import (
	"encoding/json"
	"errors"
	"testing"
	"time"
)

func TestHandoffWebhookPayload(t *testing.T) {
	at := time.Date(2025, 3, 1, 12, 0, 0, 0, time.FixedZone("CST", 8*3600))
	claimed := at.Add(-time.Hour)
	score, recovered := 5, true
	h := Handoff{ID: 9, ResponseID: 7, CustomerRef: "C-1", SurveyID: "s", QuestionID: "nps", Kind: KindNPS, Score: 2,
		Class: ClassDetractor, Comment: "late\nContext: refund=yes", Channel: ChannelWeChat, Context: map[string]string{"store": "SH-01"},
		Status: HandoffResolved, CreatedAt: at.Add(-2 * time.Hour),
		Case: Case{ClaimedByName: "Li", ClaimedAt: &claimed, ResolvedAt: &at, Outcome: OutcomeResolved, Note: "refunded",
			Recovered: &recovered, RecoveryScore: &score}}
	b, err := HandoffWebhookPayload(EventHandoffRecovered, h, at)
	if err != nil {
		t.Fatal(err)
	}
	var got map[string]any
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatal(err)
	}
	data, _ := got["data"].(map[string]any)
	if got["event"] != "handoff.recovered" || got["created_at"] != "2025-03-01T04:00:00Z" || data == nil {
		t.Fatalf("envelope = %s", b)
	}
	want := map[string]any{"handoff_id": 9.0, "response_id": 7.0, "customer_ref": "C-1", "survey_id": "s", "kind": "nps",
		"score": 2.0, "class": "detractor", "comment": "late\nContext: refund=yes", "channel": "wechat", "status": "resolved",
		"claimed_by_name": "Li", "claimed_at": "2025-03-01T03:00:00Z", "resolved_at": "2025-03-01T04:00:00Z",
		"outcome": "resolved", "note": "refunded", "recovered": true, "recovery_score": 5.0}
	for k, v := range want {
		if data[k] != v {
			t.Errorf("data.%s = %v, want %v", k, data[k], v)
		}
	}
	if ctx, _ := data["context"].(map[string]any); ctx["store"] != "SH-01" {
		t.Errorf("context = %v", data["context"])
	}
	// An open case: nothing claimed yet is null, the context an object.
	b, _ = HandoffWebhookPayload(EventHandoffOpened, Handoff{ID: 1, Status: HandoffOpen}, at)
	_ = json.Unmarshal(b, &got)
	data = got["data"].(map[string]any)
	if data["claimed_at"] != nil || data["recovered"] != nil || data["context"] == nil {
		t.Errorf("open case data = %s", b)
	}
	if _, err := HandoffWebhookPayload(EventResponseCompleted, h, at); !errors.Is(err, ErrInvalid) {
		t.Errorf("response.completed as a handoff event: %v", err)
	}
}

func TestDeliveryStatus(t *testing.T) {
	now := time.Now()
	for _, tc := range []struct {
		d    WebhookDelivery
		want DeliveryStatus
	}{
		{WebhookDelivery{}, DeliveryPending},
		{WebhookDelivery{DeliveredAt: &now}, DeliveryDelivered},
		{WebhookDelivery{FailedAt: &now}, DeliveryFailed},
	} {
		if got := tc.d.Status(); got != tc.want || !got.Valid() {
			t.Errorf("%+v: %s, want %s", tc.d, got, tc.want)
		}
	}
	if DeliveryStatus("lost").Valid() {
		t.Error("unknown status is valid")
	}
}

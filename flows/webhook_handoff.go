package flows

import (
	"encoding/json"
	"time"
)

// HandoffWebhookPayload is the JSON body of a handoff.* webhook: the case
// as it is when the event happens.
func HandoffWebhookPayload(e WebhookEvent, h Handoff, at time.Time) ([]byte, error) {
	type data struct {
		HandoffID     int64             `json:"handoff_id"`
		ResponseID    int64             `json:"response_id"`
		CustomerRef   string            `json:"customer_ref"`
		SurveyID      string            `json:"survey_id"`
		Kind          Kind              `json:"kind"`
		Score         int               `json:"score"`
		Class         Class             `json:"class"`
		Comment       string            `json:"comment"`
		Channel       Channel           `json:"channel"`
		Context       map[string]string `json:"context"`
		Status        HandoffStatus     `json:"status"`
		ClaimedByName string            `json:"claimed_by_name,omitempty"`
		ClaimedAt     *time.Time        `json:"claimed_at,omitempty"`
		ResolvedAt    *time.Time        `json:"resolved_at,omitempty"`
		Outcome       CaseOutcome       `json:"outcome,omitempty"`
		Note          string            `json:"note,omitempty"`
		Recovered     *bool             `json:"recovered,omitempty"`
		RecoveryScore *int              `json:"recovery_score,omitempty"`
	}
	return json.Marshal(struct {
		Event     WebhookEvent `json:"event"`
		CreatedAt time.Time    `json:"created_at"`
		Data      data         `json:"data"`
	}{e, at.UTC(), data{h.ID, h.ResponseID, h.CustomerRef, h.SurveyID, h.Kind, h.Score, h.Class, h.Comment, h.Channel, h.Context,
		h.Status, h.ClaimedByName, h.ClaimedAt, h.ResolvedAt, h.Outcome, h.Note, h.Recovered, h.RecoveryScore}})
}

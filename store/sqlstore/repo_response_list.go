package sqlstore

import (
	"context"
	"sort"
	"strings"

	"github.com/cxbot/cxbot/flows"
)

// responseWhere is the FROM and WHERE of the response list and the
// exports, on aliases r (responses), i (invitations) and c (customers).
func (db *DB) responseWhere(f flows.ResponseFilter, extraJoin string) (string, []any) {
	rf := db.filterFor(f.ReportQuery, "r.survey_id")
	var b strings.Builder
	b.WriteString(`FROM responses r
JOIN invitations i ON i.id = r.invitation_id
JOIN customers c ON c.id = r.customer_id` + extraJoin + `
WHERE r.started_at >= ? AND r.started_at < ?`)
	args := []any{sqlTime(f.From), sqlTime(f.To)}
	for _, w := range rf.where {
		b.WriteString("\n  AND " + w)
	}
	args = append(args, rf.args...)
	if f.Class != "" {
		b.WriteString("\n  AND EXISTS (SELECT 1 FROM answers ca WHERE ca.response_id = r.id AND ca.class = ?)")
		args = append(args, string(f.Class))
	}
	if f.WithText {
		b.WriteString("\n  AND EXISTS (SELECT 1 FROM answers ta WHERE ta.response_id = r.id AND ta.kind = ? AND ta.text <> '')")
		args = append(args, string(flows.KindText))
	}
	if f.After > 0 {
		b.WriteString("\n  AND r.id > ?")
		args = append(args, f.After)
	}
	if f.Before > 0 {
		b.WriteString("\n  AND r.id < ?")
		args = append(args, f.Before)
	}
	return b.String(), args
}

// ListResponses returns one page of the responses f selects, with their
// answers and the invitation's context: ids ascending, or newest first
// with f.Newest. Two queries whatever the page size.
func (db *DB) ListResponses(ctx context.Context, f flows.ResponseFilter) ([]flows.ResponseRecord, error) {
	limit := f.Limit
	if limit <= 0 {
		limit = 100
	}
	from, args := db.responseWhere(f, "")
	order := "r.id"
	if f.Newest {
		order = "r.id DESC"
	}
	var rows []struct {
		Row         responseRow `gorm:"embedded"`
		WaveID      string
		Context     string
		CustomerRef string
	}
	err := db.conn(ctx).Raw(`SELECT r.id, r.invitation_id, r.customer_id, r.survey_id, r.survey_version, r.channel, r.external_id,
  r.language, r.status, r.started_at, r.completed_at, i.wave_id AS wave_id, i.context AS context, c.ref AS customer_ref
`+from+"\nORDER BY "+order+" LIMIT ?", append(args, limit)...).Scan(&rows).Error
	if err != nil {
		return nil, sqlErr("list responses", err)
	}
	if len(rows) == 0 {
		return []flows.ResponseRecord{}, nil
	}
	ids := make([]int64, len(rows))
	out := make([]flows.ResponseRecord, len(rows))
	index := make(map[int64]int, len(rows))
	for n, r := range rows {
		d := r.Row.domain()
		ids[n] = d.ID
		index[d.ID] = n
		out[n] = flows.ResponseRecord{ID: d.ID, Survey: d.SurveyID, Wave: r.WaveID, CustomerRef: r.CustomerRef, Channel: d.Channel,
			Language: d.Language, Status: d.Status, StartedAt: d.StartedAt, CompletedAt: d.CompletedAt,
			Attributes: contextFromJSON(r.Context), Answers: []flows.RecordAnswer{}}
		if out[n].Attributes == nil {
			out[n].Attributes = map[string]string{}
		}
	}
	var answers []answerRow
	if err := db.conn(ctx).Where("response_id IN ?", ids).Order("id").Find(&answers).Error; err != nil {
		return nil, sqlErr("list responses' answers", err)
	}
	for _, a := range answers {
		n := index[a.ResponseID]
		out[n].Answers = append(out[n].Answers, flows.RecordAnswer(a.domain()))
	}
	return out, nil
}

// ResponseAttributes lists the attribute names in the context of the
// responses f selects (the export's attribute columns), sorted.
func (db *DB) ResponseAttributes(ctx context.Context, f flows.ResponseFilter) ([]string, error) {
	f.After, f.Before = 0, 0
	from, args := db.responseWhere(f, db.dialect.contextKeysJoin)
	var keys []string
	if err := db.conn(ctx).Raw("SELECT DISTINCT "+db.dialect.contextKeys+" AS key\n"+from, args...).Scan(&keys).Error; err != nil {
		return nil, sqlErr("list response attributes", err)
	}
	sort.Strings(keys)
	return keys, nil
}

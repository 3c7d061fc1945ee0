package sqlstore

import (
	"context"
	"strings"
	"time"

	"github.com/cxbot/cxbot/flows"
)

// NPSReport counts the survey's responses by the class of their NPS answer;
// flows.NewNPSReport computes the score. A response counts once, by
// its first NPS answer that was not skipped. from (inclusive) and to
// (exclusive) limit the answers by answered_at when given.
func (db *DB) NPSReport(ctx context.Context, surveyID string, from, to *time.Time) (flows.NPSReport, error) {
	var query strings.Builder
	query.WriteString(`SELECT a.class AS class, COUNT(*) AS n
FROM answers a
JOIN responses r ON r.id = a.response_id
WHERE r.survey_id = ? AND a.kind = ?
  AND a.id = (
    SELECT f.id FROM answers f
    WHERE f.response_id = a.response_id AND f.kind = ? AND f.skipped = ?
    ORDER BY f.answered_at, f.id
    LIMIT 1)`)
	args := []any{surveyID, string(flows.KindNPS), string(flows.KindNPS), false}
	if from != nil {
		query.WriteString("\n  AND a.answered_at >= ?")
		args = append(args, sqlTime(*from))
	}
	if to != nil {
		query.WriteString("\n  AND a.answered_at < ?")
		args = append(args, sqlTime(*to))
	}
	query.WriteString("\nGROUP BY a.class")

	var counts []struct {
		Class string
		N     int
	}
	if err := db.conn(ctx).Raw(query.String(), args...).Scan(&counts).Error; err != nil {
		return flows.NPSReport{}, sqlErr("nps report for "+surveyID, err)
	}
	var promoters, passives, detractors int
	for _, c := range counts {
		switch flows.Class(c.Class) {
		case flows.ClassPromoter:
			promoters += c.N
		case flows.ClassPassive:
			passives += c.N
		case flows.ClassDetractor:
			detractors += c.N
		}
	}
	return flows.NewNPSReport(surveyID, promoters, passives, detractors), nil
}

package sqlstore

import (
	"context"
	"fmt"
	"sort"
	"strings"

	"github.com/cxbot/cxbot/flows"
)

// The marketers' reports: counts in SQL, figures in flows (flows/report.go).
// A response counts once per kind, by its first answer of that kind that
// was not skipped, in the period by that answer's answered_at. Dimensions
// and attribute filters read the invitation's context, where the planner
// copies the event's attributes and touchpoint. Score reports read the
// summary and roll-ups of report_summary.go instead of the answers.

// ScoreReport counts q's responses by class for an NPS, CSAT or CES report,
// with its groups and the previous period.
func (db *DB) ScoreReport(ctx context.Context, kind flows.Kind, q flows.ReportQuery) (flows.ScoreReport, error) {
	// Rows the roll-up leaves are counted raw: a failed roll-up only
	// makes this report slower.
	if _, err := db.rollUpReports(ctx); err != nil {
		db.log.WarnContext(ctx, "report roll-up failed", "err", err)
	}
	if err := db.checkGroupAttribute(ctx, q); err != nil {
		return flows.ScoreReport{}, err
	}
	counts, err := db.classCounts(ctx, kind, q)
	if err != nil {
		return flows.ScoreReport{}, err
	}
	previous, err := db.classCounts(ctx, kind, q.Previous())
	if err != nil {
		return flows.ScoreReport{}, err
	}
	return flows.NewScoreReport(kind, q, counts, previous), nil
}

// checkGroupAttribute refuses a grouping by an event attribute no scored
// response of the period has, so that a typo (group_by=STORE, hour) is a
// 400 instead of one group with an empty key. It reads the roll-up's keys
// by day (an index range, quick at millions of answers) and the few rows
// not rolled up yet; survey and filters are not applied, so it is lenient,
// and a period with no scored response at all is not refused.
func (db *DB) checkGroupAttribute(ctx context.Context, q flows.ReportQuery) error {
	key := q.GroupBy.Attribute()
	if key == "" || q.GroupBy == flows.GroupTouchpoint {
		return nil
	}
	kinds := []string{string(flows.KindNPS), string(flows.KindCSAT), string(flows.KindCES)}
	fromSlot, toSlot := reportSlot(q.From), reportSlot(q.To)
	expr, arg := db.dialect.reportAttr("x.attributes", key)
	var n []int
	err := db.conn(ctx).Raw(`SELECT 1 FROM report_attribute_days d
WHERE d.kind IN ? AND d.attr_key = ? AND d.day >= ? AND d.day <= ?
UNION ALL
SELECT 1 FROM report_answers x
WHERE x.kind IN ? AND NOT x.rolled AND x.slot >= ? AND x.slot <= ? AND `+expr+` <> ''
LIMIT 1`, kinds, key, floorDiv(fromSlot, 24), floorDiv(toSlot, 24), kinds, fromSlot, toSlot, arg).Scan(&n).Error
	if err != nil {
		return sqlErr("check group_by", err)
	}
	if len(n) > 0 {
		return nil
	}
	// A period without any scored response has nothing to group: its
	// report is empty whatever the name (a new install, a quiet week).
	err = db.conn(ctx).Raw(`SELECT 1 FROM report_answers x WHERE x.kind IN ? AND x.answered_at >= ? AND x.answered_at < ? LIMIT 1`,
		kinds, sqlTime(q.From), sqlTime(q.To)).Scan(&n).Error
	if err != nil {
		return sqlErr("check group_by", err)
	}
	if len(n) > 0 {
		return fmt.Errorf("%w: group_by=%q: no response between from and to has an event attribute %q; use day, week, month, touchpoint, wave, survey, channel, language or an attribute name as sent (case matters)",
			flows.ErrInvalid, string(q.GroupBy), key)
	}
	return nil
}

// reportFilter builds the WHERE conditions every report shares, on aliases
// r (responses) and i (invitations).
type reportFilter struct {
	where []string
	args  []any
}

func (f *reportFilter) add(cond string, args ...any) {
	f.where = append(f.where, cond)
	f.args = append(f.args, args...)
}

func (db *DB) filterFor(q flows.ReportQuery, surveyColumn string) *reportFilter {
	f := &reportFilter{}
	if q.Survey != "" {
		f.add(surveyColumn+" = ?", q.Survey)
	}
	if q.Wave != "" {
		f.add("i.wave_id = ?", q.Wave)
	}
	keys := make([]string, 0, len(q.Attributes))
	for k := range q.Attributes {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		expr, arg := db.dialect.contextAttr("i.context", k)
		f.add(expr+" = ?", arg, q.Attributes[k])
	}
	return f
}

// groupExpr is the SQL naming a response's group, and its arguments.
func (db *DB) groupExpr(q flows.ReportQuery, timeColumn string) (string, []any) {
	switch q.GroupBy {
	case flows.GroupNone:
		return "''", nil
	case flows.GroupWave:
		return "i.wave_id", nil
	case flows.GroupSurvey:
		return "r.survey_id", nil
	case flows.GroupChannel:
		return "r.channel", nil
	case flows.GroupLanguage:
		return "r.language", nil
	case flows.GroupDay, flows.GroupWeek, flows.GroupMonth:
		if db.dialect.localBucket != nil {
			format := "YYYY-MM-DD"
			if q.GroupBy == flows.GroupMonth {
				format = "YYYY-MM"
			}
			return db.dialect.localBucket(timeColumn), []any{string(q.GroupBy), q.TZ.String(), format}
		}
		var b strings.Builder
		var args []any
		b.WriteString("CASE")
		for _, bk := range q.Buckets() {
			b.WriteString(" WHEN " + timeColumn + " < ? THEN ?")
			args = append(args, sqlTime(bk.End), bk.Key)
		}
		b.WriteString(" ELSE '' END")
		return b.String(), args
	}
	expr, arg := db.dialect.contextAttr("i.context", q.GroupBy.Attribute())
	return "COALESCE(" + expr + ", '')", []any{arg}
}

// FunnelReport counts the invitations created in q's period by how far
// they got, and where the unfinished responses stopped.
func (db *DB) FunnelReport(ctx context.Context, q flows.ReportQuery) (flows.FunnelReport, error) {
	f := db.filterFor(q, "i.survey_id")
	where := "i.created_at >= ? AND i.created_at < ?"
	for _, w := range f.where {
		where += " AND " + w
	}
	args := append([]any{sqlTime(q.From), sqlTime(q.To)}, f.args...)
	// A skipped invitation counts under skipped only, even when the
	// dispatcher made an attempt before skipping it (a frequency cap met
	// at send time leaves attempts = 1).
	skipped := string(flows.InvitationSkipped)
	var c struct {
		Total, Skipped, Sent, Delivered, Started, Completed int
	}
	err := db.conn(ctx).Raw(`SELECT COUNT(*) AS total,
  COALESCE(SUM(CASE WHEN i.status = ? THEN 1 ELSE 0 END), 0) AS skipped,
  COALESCE(SUM(CASE WHEN i.status <> ? AND (i.attempts > 0 OR i.sent_at IS NOT NULL OR r.id IS NOT NULL) THEN 1 ELSE 0 END), 0) AS sent,
  COALESCE(SUM(CASE WHEN i.status <> ? AND (i.sent_at IS NOT NULL OR r.id IS NOT NULL) THEN 1 ELSE 0 END), 0) AS delivered,
  COALESCE(SUM(CASE WHEN i.status <> ? AND r.id IS NOT NULL THEN 1 ELSE 0 END), 0) AS started,
  COALESCE(SUM(CASE WHEN i.status <> ? AND r.status = ? THEN 1 ELSE 0 END), 0) AS completed
FROM invitations i LEFT JOIN responses r ON r.invitation_id = i.id
WHERE `+where, append([]any{skipped, skipped, skipped, skipped, skipped, string(flows.ResponseCompleted)}, args...)...).Scan(&c).Error
	if err != nil {
		return flows.FunnelReport{}, sqlErr("funnel report", err)
	}
	var stops []struct {
		Question string
		N        int
	}
	err = db.conn(ctx).Raw(`SELECT COALESCE((SELECT l.question_id FROM answers l WHERE l.response_id = r.id
    ORDER BY l.id DESC LIMIT 1), '') AS question, COUNT(*) AS n
FROM invitations i JOIN responses r ON r.invitation_id = i.id
WHERE r.status <> ? AND i.status <> ? AND `+where+`
GROUP BY 1`, append([]any{string(flows.ResponseCompleted), skipped}, args...)...).Scan(&stops).Error
	if err != nil {
		return flows.FunnelReport{}, sqlErr("funnel report", err)
	}
	counts := flows.FunnelCounts{
		Invited: c.Total - c.Skipped, Skipped: c.Skipped, Sent: c.Sent, Delivered: c.Delivered,
		Started: c.Started, Completed: c.Completed, StoppedAt: map[string]int{},
	}
	for _, s := range stops {
		counts.StoppedAt[s.Question] += s.N
	}
	return flows.NewFunnelReport(q, counts), nil
}

// MaxTermComments bounds the comments one terms report reads.
const MaxTermComments = 100_000

// EachComment calls fn with every non-empty text answer answered in q's
// period (up to MaxTermComments, newest first) and the class of its
// response's first score ("" when it has none), streaming the rows.
func (db *DB) EachComment(ctx context.Context, q flows.ReportQuery, fn func(class flows.Class, text string) error) error {
	f := db.filterFor(q, "r.survey_id")
	var sql strings.Builder
	sql.WriteString(`SELECT t.text,
  COALESCE((SELECT c.class FROM report_answers c WHERE c.response_id = t.response_id
    ORDER BY c.answer_id LIMIT 1), '') AS class
FROM answers t
JOIN responses r ON r.id = t.response_id
JOIN invitations i ON i.id = r.invitation_id
WHERE t.kind = ? AND t.text <> '' AND t.answered_at >= ? AND t.answered_at < ?`)
	args := []any{string(flows.KindText), sqlTime(q.From), sqlTime(q.To)}
	for _, w := range f.where {
		sql.WriteString("\n  AND " + w)
	}
	args = append(args, f.args...)
	sql.WriteString("\nORDER BY t.answered_at DESC LIMIT ?")
	args = append(args, MaxTermComments)
	rows, err := db.conn(ctx).Raw(sql.String(), args...).Rows()
	if err != nil {
		return sqlErr("read comments", err)
	}
	defer rows.Close()
	for rows.Next() {
		var text, class string
		if err := rows.Scan(&text, &class); err != nil {
			return sqlErr("read comments", err)
		}
		if err := fn(flows.Class(class), text); err != nil {
			return err
		}
	}
	return sqlErr("read comments", rows.Err())
}

// HandoffReport counts the handoffs opened in q's period: claims and
// resolutions with their delays, outcomes, answered follow-ups and
// recoveries.
func (db *DB) HandoffReport(ctx context.Context, q flows.ReportQuery) (flows.HandoffReport, error) {
	if err := db.checkGroupAttribute(ctx, q); err != nil {
		return flows.HandoffReport{}, err
	}
	group, groupArgs := db.groupExpr(q, "h.created_at")
	f := db.filterFor(q, "h.survey_id")
	var sql strings.Builder
	sql.WriteString(`SELECT ` + group + ` AS grp, h.outcome AS outcome, COUNT(*) AS cases,
  COALESCE(SUM(CASE WHEN h.claimed_at IS NOT NULL THEN 1 ELSE 0 END), 0) AS claimed,
  COALESCE(SUM(CASE WHEN h.resolved_at IS NOT NULL THEN 1 ELSE 0 END), 0) AS resolved,
  COALESCE(SUM(CASE WHEN h.claimed_at IS NOT NULL THEN ` + db.dialect.secondsBetween("h.created_at", "h.claimed_at") + ` ELSE 0 END), 0) AS claim_seconds,
  COALESCE(SUM(CASE WHEN h.resolved_at IS NOT NULL THEN ` + db.dialect.secondsBetween("h.created_at", "h.resolved_at") + ` ELSE 0 END), 0) AS resolve_seconds,
  COALESCE(SUM(CASE WHEN h.recovered IS NOT NULL THEN 1 ELSE 0 END), 0) AS follow_ups,
  COALESCE(SUM(CASE WHEN h.recovered = ? THEN 1 ELSE 0 END), 0) AS recovered
FROM handoffs h
JOIN responses r ON r.id = h.response_id
JOIN invitations i ON i.id = r.invitation_id
WHERE h.created_at >= ? AND h.created_at < ?`)
	args := append(groupArgs, true, sqlTime(q.From), sqlTime(q.To))
	for _, w := range f.where {
		sql.WriteString("\n  AND " + w)
	}
	args = append(args, f.args...)
	sql.WriteString("\nGROUP BY 1, 2")
	var rows []struct {
		Grp, Outcome                                   string
		Cases, Claimed, Resolved, FollowUps, Recovered int
		ClaimSeconds, ResolveSeconds                   float64
	}
	if err := db.conn(ctx).Raw(sql.String(), args...).Scan(&rows).Error; err != nil {
		return flows.HandoffReport{}, sqlErr("handoff report", err)
	}
	counts := make([]flows.HandoffCounts, len(rows))
	for n, r := range rows {
		counts[n] = flows.HandoffCounts{Group: r.Grp, Cases: r.Cases, Claimed: r.Claimed, Resolved: r.Resolved,
			ClaimSeconds: r.ClaimSeconds, ResolveSeconds: r.ResolveSeconds, FollowUps: r.FollowUps, Recovered: r.Recovered,
			Outcomes: map[flows.CaseOutcome]int{flows.CaseOutcome(r.Outcome): r.Cases}}
	}
	return flows.NewHandoffReport(q, counts), nil
}

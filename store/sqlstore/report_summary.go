package sqlstore

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"gorm.io/gorm"

	"github.com/cxbot/cxbot/flows"
)

// The reports' summary (migration 10): report_answers holds each
// response's first non-skipped answer of each scale kind with the
// dimensions reports use, written with the answer; report_hours and
// report_attribute_days count the rows marked rolled by UTC hour, and by
// UTC day per event attribute. A score report adds up the roll-ups over the
// whole hours (days) of its period and counts report_answers rows for the
// rest: the partial hours at its edges and at bucket bounds that are not
// on the hour (a zone at +05:30), and the rows not rolled up yet. The two
// parts are one statement, so a concurrent roll-up is seen before or after.

// slotSeconds is the roll-ups' grain: report_answers.slot is the UTC hour.
const slotSeconds = 3600

// rollUpBatch bounds the rows one roll-up moves (PostgreSQL), so that the
// report that runs it stays quick; the rest is counted raw until the next.
const rollUpBatch = 20_000

// reportAnswerColumns are report_answers' columns, in insert order.
const reportAnswerColumns = "response_id, kind, answer_id, survey_id, wave_id, channel, language, class, score, answered_at, slot, attributes, rolled"

// reportedAnswer reports whether a belongs in report_answers (if it is its
// response's first of its kind): a scale answer, not skipped.
func reportedAnswer(a *flows.Answer) bool { return a != nil && !a.Skipped && a.Kind.IsScale() }

// reportSlot is the UTC hour of t, in hours since the Unix epoch.
func reportSlot(t time.Time) int64 { return floorDiv(t.Unix(), slotSeconds) }

func floorDiv(a, b int64) int64 {
	q := a / b
	if a%b != 0 && (a < 0) != (b < 0) {
		q--
	}
	return q
}

// insertReportAnswer writes the summary row of the answer just inserted
// unless the response has one of that kind: one INSERT … SELECT that reads
// the invitation's wave and context (the transactional ApplyStep).
func (db *DB) insertReportAnswer(tx *gorm.DB, resp responseRow, a answerRow) error {
	return tx.Exec(`INSERT INTO report_answers (`+reportAnswerColumns+`)
SELECT ?, ?, ?, ?, i.wave_id, ?, ?, ?, ?, ?, ?, `+db.dialect.reportAttributes+`, ?
FROM invitations i WHERE i.id = ?
ON CONFLICT (response_id, kind) DO NOTHING`,
		resp.ID, a.Kind, a.ID, resp.SurveyID, resp.Channel, resp.Language, a.Class, a.Score, a.AnsweredAt, reportSlot(a.AnsweredAt), false,
		resp.InvitationID).Error
}

// rollUpReports adds report_answers rows not rolled up yet to the roll-ups
// and marks them, and returns how many it moved.
func (db *DB) rollUpReports(ctx context.Context) (int64, error) {
	hours := `INSERT INTO report_hours (survey_id, kind, slot, wave_id, channel, language, class, n, score_sum)
SELECT survey_id, kind, slot, wave_id, channel, language, class, COUNT(*), COALESCE(SUM(score), 0)
FROM %s WHERE %s
GROUP BY survey_id, kind, slot, wave_id, channel, language, class
ON CONFLICT (survey_id, kind, slot, wave_id, channel, language, class) DO UPDATE
SET n = report_hours.n + excluded.n, score_sum = report_hours.score_sum + excluded.score_sum`
	days := `INSERT INTO report_attribute_days (survey_id, kind, attr_key, day, wave_id, attr_value, class, n, score_sum)
SELECT m.survey_id, m.kind, j.key, m.slot / 24, m.wave_id, j.value, m.class, COUNT(*), COALESCE(SUM(m.score), 0)
FROM %s m, ` + db.dialect.reportAttrEach("m.attributes") + ` j
WHERE %s AND j.value <> ''
GROUP BY m.survey_id, m.kind, j.key, m.slot / 24, m.wave_id, j.value, m.class
ON CONFLICT (survey_id, kind, attr_key, day, wave_id, attr_value, class) DO UPDATE
SET n = report_attribute_days.n + excluded.n, score_sum = report_attribute_days.score_sum + excluded.score_sum`
	if db.dialect.rollUpAtOnce {
		// The UPDATE marks and returns the rows; the inserts count exactly
		// those, so an answer committed meanwhile waits for the next run.
		var moved int64
		err := db.conn(ctx).Raw(`WITH moved AS (
    UPDATE report_answers SET rolled = true
    WHERE (response_id, kind) IN (SELECT response_id, kind FROM report_answers WHERE NOT rolled
        LIMIT ? `+db.dialect.skipLocked+`)
    RETURNING survey_id, kind, slot, wave_id, channel, language, class, score, attributes
), h AS (
`+fmt.Sprintf(hours, "moved", "true")+`
), d AS (
`+fmt.Sprintf(days, "moved", "true")+`
)
SELECT COUNT(*) FROM moved`, rollUpBatch).Scan(&moved).Error
		return moved, sqlErr("roll up reports", err)
	}
	var moved int64
	err := db.conn(ctx).Transaction(func(tx *gorm.DB) error {
		for _, stmt := range []string{fmt.Sprintf(hours, "report_answers", "NOT rolled"), fmt.Sprintf(days, "report_answers", "NOT m.rolled")} {
			if err := tx.Exec(stmt).Error; err != nil {
				return err
			}
		}
		res := tx.Exec("UPDATE report_answers SET rolled = ? WHERE NOT rolled", true)
		moved = res.RowsAffected
		return res.Error
	})
	return moved, sqlErr("roll up reports", err)
}

// countPlan splits a score report's period between the roll-ups and
// report_answers. Slots are UTC hours.
type countPlan struct {
	attrKey        string  // grouping by this event attribute: report_attribute_days, whole UTC days
	lo, hi         int64   // the roll-ups cover the slots [lo, hi) (none when lo >= hi) …
	dirty          []int64 // … but these, cut by a bucket bound, which are counted raw
	edges          [][2]time.Time
	slotsToBuckets bool // the roll-up part's groups are slots, for q's time buckets
}

func planCounts(q flows.ReportQuery) countPlan {
	p := countPlan{attrKey: q.GroupBy.Attribute(), slotsToBuckets: q.GroupBy.IsTime()}
	unit := int64(1)
	if p.attrKey != "" {
		unit = 24
	}
	if len(q.Attributes) == 0 { // filters by attribute are counted raw
		p.lo = ceilDiv(q.From.UnixNano(), unit*slotSeconds*int64(time.Second)) * unit
		p.hi = floorDiv(q.To.UnixNano(), unit*slotSeconds*int64(time.Second)) * unit
	}
	if p.lo >= p.hi {
		p.lo, p.hi = 0, 0
		p.edges = [][2]time.Time{{q.From, q.To}}
		return p
	}
	slotTime := func(s int64) time.Time { return time.Unix(s*slotSeconds, 0).UTC() }
	if lo := slotTime(p.lo); q.From.Before(lo) {
		p.edges = append(p.edges, [2]time.Time{q.From, lo})
	}
	if hi := slotTime(p.hi); hi.Before(q.To) {
		p.edges = append(p.edges, [2]time.Time{hi, q.To})
	}
	if p.slotsToBuckets {
		for _, b := range q.Buckets() {
			if b.Start.Equal(q.From) || b.Start.UnixNano()%(slotSeconds*int64(time.Second)) == 0 {
				continue
			}
			if s := reportSlot(b.Start); s >= p.lo && s < p.hi {
				p.dirty = append(p.dirty, s)
				p.edges = append(p.edges, [2]time.Time{slotTime(s), slotTime(s + 1)})
			}
		}
	}
	return p
}

func ceilDiv(a, b int64) int64 { return -floorDiv(-a, b) }

// classCounts counts q's responses by group and class for a score report.
func (db *DB) classCounts(ctx context.Context, kind flows.Kind, q flows.ReportQuery) ([]flows.ClassCount, error) {
	p := planCounts(q)
	var sql strings.Builder
	var args []any
	filter := func(column func(string) string) {
		sql.WriteString(" WHERE " + column("kind") + " = ?")
		args = append(args, string(kind))
		if q.Survey != "" {
			sql.WriteString(" AND " + column("survey_id") + " = ?")
			args = append(args, q.Survey)
		}
		if q.Wave != "" {
			sql.WriteString(" AND " + column("wave_id") + " = ?")
			args = append(args, q.Wave)
		}
	}
	x := func(c string) string { return "x." + c }
	slotRange := func(column string, lo, hi int64) {
		sql.WriteString(" AND " + column + " >= ? AND " + column + " < ?")
		args = append(args, lo, hi)
		if len(p.dirty) > 0 {
			sql.WriteString(" AND " + column + " NOT IN ?")
			args = append(args, p.dirty)
		}
	}
	// rawGroup is a report_answers row's group; slots is whether the row
	// is in a whole slot (grouped by slot, like the roll-up).
	rawGroup := func(slots bool) {
		switch {
		case p.attrKey != "":
			expr, arg := db.dialect.reportAttr("x.attributes", p.attrKey)
			sql.WriteString("COALESCE(" + expr + ", '')")
			args = append(args, arg)
		case q.GroupBy.IsTime() && slots:
			sql.WriteString("CAST(x.slot AS text)")
		case q.GroupBy.IsTime():
			expr, exprArgs := db.groupExpr(q, "x.answered_at")
			sql.WriteString(expr)
			args = append(args, exprArgs...)
		default:
			sql.WriteString(dimensionColumn(q.GroupBy))
		}
	}
	if p.lo < p.hi {
		if p.attrKey != "" {
			sql.WriteString("SELECT 'r' AS part, x.attr_value AS grp, x.class AS class, CAST(SUM(x.n) AS bigint) AS n, CAST(SUM(x.score_sum) AS bigint) AS score_sum\nFROM report_attribute_days x")
			filter(x)
			sql.WriteString(" AND x.attr_key = ?")
			args = append(args, p.attrKey)
			slotRange("x.day", p.lo/24, p.hi/24)
		} else {
			group := dimensionColumn(q.GroupBy)
			if p.slotsToBuckets {
				group = "CAST(x.slot AS text)"
			}
			sql.WriteString("SELECT 'r' AS part, " + group + " AS grp, x.class AS class, CAST(SUM(x.n) AS bigint) AS n, CAST(SUM(x.score_sum) AS bigint) AS score_sum\nFROM report_hours x")
			filter(x)
			slotRange("x.slot", p.lo, p.hi)
		}
		sql.WriteString("\nGROUP BY 2, 3\nUNION ALL\nSELECT 'r' AS part, ")
		rawGroup(true)
		// NOT rolled as written in the partial index's predicate.
		sql.WriteString(rawCounts)
		filter(x)
		sql.WriteString(" AND NOT x.rolled")
		slotRange("x.slot", p.lo, p.hi)
		sql.WriteString("\nGROUP BY 2, 3\nUNION ALL\n")
	}
	if len(p.edges) > 0 {
		sql.WriteString("SELECT 'e' AS part, ")
		rawGroup(false)
		sql.WriteString(rawCounts)
		filter(x)
		for k, e := range p.edges {
			sql.WriteString(map[bool]string{true: " AND (", false: " OR "}[k == 0] + "(x.answered_at >= ? AND x.answered_at < ?)")
			args = append(args, sqlTime(e[0]), sqlTime(e[1]))
		}
		sql.WriteString(")")
		keys := make([]string, 0, len(q.Attributes))
		for k := range q.Attributes {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			expr, arg := db.dialect.reportAttr("x.attributes", k)
			sql.WriteString(" AND " + expr + " = ?")
			args = append(args, arg, q.Attributes[k])
		}
		sql.WriteString("\nGROUP BY 2, 3")
	} else {
		sql.WriteString("SELECT 'e' AS part, '' AS grp, '' AS class, 0 AS n, 0 AS score_sum WHERE 1 = 0")
	}
	var rows []struct {
		Part, Grp, Class string
		N                int
		ScoreSum         int64
	}
	if err := db.conn(ctx).Raw(sql.String(), args...).Scan(&rows).Error; err != nil {
		return nil, sqlErr(fmt.Sprintf("%s report", kind), err)
	}
	var buckets []flows.Bucket
	if p.slotsToBuckets {
		buckets = q.Buckets()
	}
	type key struct{ grp, class string }
	sums := map[key]*flows.ClassCount{}
	var order []key
	for _, r := range rows {
		grp := r.Grp
		if r.Part == "r" && p.slotsToBuckets {
			s, err := strconv.ParseInt(grp, 10, 64)
			if err != nil {
				return nil, fmt.Errorf("%s report: slot %q: %w", kind, grp, err)
			}
			grp = bucketOf(buckets, time.Unix(s*slotSeconds, 0))
		}
		if p.attrKey != "" && grp == "" {
			continue // derived below from the total
		}
		k := key{grp, r.Class}
		c := sums[k]
		if c == nil {
			c = &flows.ClassCount{Group: grp, Class: flows.Class(r.Class)}
			sums[k] = c
			order = append(order, k)
		}
		c.N += r.N
		c.ScoreSum += r.ScoreSum
	}
	out := make([]flows.ClassCount, 0, len(order))
	for _, k := range order {
		out = append(out, *sums[k])
	}
	if p.attrKey != "" {
		// Responses without the attribute (or with it empty) form the
		// group "": the total less the other groups, class by class.
		all := q
		all.GroupBy = flows.GroupNone
		total, err := db.classCounts(ctx, kind, all)
		if err != nil {
			return nil, err
		}
		for _, t := range total {
			for _, c := range out {
				if c.Class == t.Class {
					t.N -= c.N
					t.ScoreSum -= c.ScoreSum
				}
			}
			if t.N > 0 {
				t.Group = ""
				out = append(out, t)
			}
		}
	}
	return out, nil
}

// rawCounts ends the SELECT of a part counting report_answers rows x.
const rawCounts = " AS grp, x.class AS class, COUNT(*) AS n, COALESCE(SUM(x.score), 0) AS score_sum\nFROM report_answers x"

// dimensionColumn is the report_answers (and report_hours) column of a
// built-in grouping; an empty string for none.
func dimensionColumn(g flows.GroupBy) string {
	switch g {
	case flows.GroupWave:
		return "x.wave_id"
	case flows.GroupSurvey:
		return "x.survey_id"
	case flows.GroupChannel:
		return "x.channel"
	case flows.GroupLanguage:
		return "x.language"
	}
	return "''"
}

// bucketOf is the key of the bucket holding t ("" outside them all).
func bucketOf(bs []flows.Bucket, t time.Time) string {
	n := sort.Search(len(bs), func(i int) bool { return bs[i].End.After(t) })
	if n < len(bs) && !t.Before(bs[n].Start) {
		return bs[n].Key
	}
	return ""
}

// eraseReportAttributes takes an erased customer's event attributes out of
// the reports' summary: the attribute roll-ups lose what its rolled rows
// added, and its rows' attributes are emptied (the caller's step).
func (db *DB) eraseReportAttributes(tx *gorm.DB, customerID int64) error {
	var rows []struct {
		SurveyID, Kind, WaveID, Class, Attributes string
		Score                                     *int64
		Slot                                      int64
		Rolled                                    bool
	}
	err := tx.Raw(`SELECT survey_id, kind, wave_id, class, CAST(attributes AS text) AS attributes, score, slot, rolled
FROM report_answers WHERE response_id IN (SELECT id FROM responses WHERE customer_id = ?) `+db.dialect.forUpdate, customerID).
		Scan(&rows).Error
	if err != nil {
		return err
	}
	for _, r := range rows {
		if !r.Rolled {
			continue
		}
		var attrs map[string]json.RawMessage
		if json.Unmarshal([]byte(r.Attributes), &attrs) != nil {
			continue
		}
		var score int64
		if r.Score != nil {
			score = *r.Score
		}
		for k, raw := range attrs {
			v := attributeText(raw)
			if v == "" {
				continue
			}
			err := tx.Exec(`UPDATE report_attribute_days SET n = n - 1, score_sum = score_sum - ?
WHERE survey_id = ? AND kind = ? AND attr_key = ? AND day = ? AND wave_id = ? AND attr_value = ? AND class = ?`,
				score, r.SurveyID, r.Kind, k, floorDiv(r.Slot, 24), r.WaveID, v, r.Class).Error
			if err != nil {
				return err
			}
		}
	}
	return nil
}

// attributeText is a JSON value as the roll-up read it (jsonb_each_text,
// json_each): a string's text, a number or boolean as written, "" for null.
func attributeText(raw json.RawMessage) string {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	raw = bytes.TrimSpace(raw)
	if bytes.Equal(raw, []byte("null")) {
		return ""
	}
	return string(raw)
}

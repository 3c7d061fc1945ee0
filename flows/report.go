package flows

import (
	"fmt"
	"math"
	"regexp"
	"sort"
	"strings"
	"time"
)

// Report definitions: which responses a report reads (ReportQuery), how it
// groups them (time buckets in a time zone, or a dimension), and the
// formulas that turn the counts storage returns into figures (NPS, CSAT,
// CES, the funnel). Storage counts; these rules decide what the counts mean.

// SmallSample is the number of responses under which a figure is flagged:
// below 30 the 95% margin of error of a score is wider than about ±18 points.
const SmallSample = 30

// MaxBuckets bounds a trend, so one request cannot ask for a million days.
const MaxBuckets = 1000

// GroupBy names how a report splits its responses.
type GroupBy string

// The time intervals and the built-in dimensions. Any other valid name is
// an event attribute (the invitation's context), such as store or sku.
const (
	GroupNone       GroupBy = ""
	GroupDay        GroupBy = "day"
	GroupWeek       GroupBy = "week" // ISO weeks, starting on Monday
	GroupMonth      GroupBy = "month"
	GroupTouchpoint GroupBy = "touchpoint"
	GroupWave       GroupBy = "wave"
	GroupSurvey     GroupBy = "survey"
	GroupChannel    GroupBy = "channel"
	GroupLanguage   GroupBy = "language"
)

var attributeName = regexp.MustCompile(`^[A-Za-z0-9_.-]{1,64}$`)

// IsTime reports whether the grouping is a time interval.
func (g GroupBy) IsTime() bool { return g == GroupDay || g == GroupWeek || g == GroupMonth }

// Attribute returns the event attribute the grouping names, "" for the
// time intervals and the built-in dimensions.
func (g GroupBy) Attribute() string {
	switch g {
	case GroupNone, GroupDay, GroupWeek, GroupMonth, GroupWave, GroupSurvey, GroupChannel, GroupLanguage:
		return ""
	}
	return string(g) // touchpoint is an attribute too: the planner copies it into the context
}

// ValidAttributeName reports whether name may be used as an event
// attribute in a filter or a grouping.
func ValidAttributeName(name string) bool { return attributeName.MatchString(name) }

// Validate checks the grouping's name.
func (g GroupBy) Validate() error {
	if g == GroupNone || g.IsTime() || ValidAttributeName(string(g)) {
		return nil
	}
	return fmt.Errorf("%w: group_by=%q: use day, week, month, touchpoint, wave, survey, channel, language or an event attribute name (letters, digits, _ . -)", ErrInvalid, string(g))
}

// ReportQuery selects the responses of a report: answers in [From, To),
// of Survey and Wave when set, whose invitation context has each of
// Attributes. TZ is the zone of the time buckets.
type ReportQuery struct {
	Survey     string
	Wave       string
	From, To   time.Time
	GroupBy    GroupBy
	TZ         *time.Location
	Attributes map[string]string
}

// DefaultReportPeriod is the period of a report that names none: the 30
// days before now.
const DefaultReportPeriod = 30 * 24 * time.Hour

// Normalize fills the defaults (To now, From 30 days before To, TZ UTC)
// and checks the query.
func (q ReportQuery) Normalize(now time.Time) (ReportQuery, error) {
	if q.TZ == nil {
		q.TZ = time.UTC
	}
	if q.To.IsZero() {
		q.To = now
	}
	if q.From.IsZero() {
		q.From = q.To.Add(-DefaultReportPeriod)
	}
	if !q.From.Before(q.To) {
		return q, fmt.Errorf("%w: from (%s) must be before to (%s)", ErrInvalid, q.From.Format(time.RFC3339), q.To.Format(time.RFC3339))
	}
	if err := q.GroupBy.Validate(); err != nil {
		return q, err
	}
	for k := range q.Attributes {
		if !ValidAttributeName(k) {
			return q, fmt.Errorf("%w: attribute filter %q: names are letters, digits, _ . - (at most 64)", ErrInvalid, k)
		}
	}
	if q.GroupBy.IsTime() {
		if n := len(q.Buckets()); n > MaxBuckets {
			return q, fmt.Errorf("%w: group_by=%s over this period gives %d buckets, more than %d: shorten the period or use a longer interval", ErrInvalid, q.GroupBy, n, MaxBuckets)
		}
	}
	return q, nil
}

// Previous is the same query over the period of equal length that ends
// where this one starts: the comparison period.
func (q ReportQuery) Previous() ReportQuery {
	p := q
	p.To = q.From
	p.From = q.From.Add(-q.To.Sub(q.From))
	p.GroupBy = GroupNone
	return p
}

// Bucket is one interval of a trend: [Start, End) with Key the local date
// of its start (YYYY-MM-DD, or YYYY-MM for months).
type Bucket struct {
	Key   string
	Start time.Time
	End   time.Time
}

// Buckets cuts [From, To) into the query's intervals in its zone. The first
// and last buckets are clipped to the period; days follow the zone's
// calendar, so a DST day has 23 or 25 hours.
func (q ReportQuery) Buckets() []Bucket {
	if !q.GroupBy.IsTime() {
		return nil
	}
	tz := q.TZ
	if tz == nil {
		tz = time.UTC
	}
	var out []Bucket
	start := bucketStart(q.From.In(tz), q.GroupBy)
	for start.Before(q.To) && len(out) <= MaxBuckets {
		end := bucketNext(start, q.GroupBy)
		b := Bucket{Key: BucketKey(start, q.GroupBy), Start: start, End: end}
		if b.Start.Before(q.From) {
			b.Start = q.From
		}
		if b.End.After(q.To) {
			b.End = q.To
		}
		out = append(out, b)
		start = end
	}
	return out
}

// BucketKey names the interval starting at local time t.
func BucketKey(t time.Time, g GroupBy) string {
	if g == GroupMonth {
		return t.Format("2006-01")
	}
	return t.Format(time.DateOnly)
}

func bucketStart(t time.Time, g GroupBy) time.Time {
	y, m, d := t.Date()
	switch g {
	case GroupMonth:
		return time.Date(y, m, 1, 0, 0, 0, 0, t.Location())
	case GroupWeek:
		back := (int(t.Weekday()) + 6) % 7 // days since Monday
		return time.Date(y, m, d-back, 0, 0, 0, 0, t.Location())
	}
	return time.Date(y, m, d, 0, 0, 0, 0, t.Location())
}

func bucketNext(t time.Time, g GroupBy) time.Time {
	y, m, d := t.Date()
	switch g {
	case GroupMonth:
		return time.Date(y, m+1, 1, 0, 0, 0, 0, t.Location())
	case GroupWeek:
		return time.Date(y, m, d+7, 0, 0, 0, 0, t.Location())
	}
	return time.Date(y, m, d+1, 0, 0, 0, 0, t.Location())
}

// ClassCount is what storage counts for a score report: in one group, the
// responses whose first answer of the kind fell in Class, and the sum of
// their scores.
type ClassCount struct {
	Group    string
	Class    Class
	N        int
	ScoreSum int64
}

// ScoreSummary is a score and the counts it comes from.
//
//   - NPS: score = % promoters − % detractors, −100…100.
//   - CSAT: score = % satisfied (4–5 by default), 0…100.
//   - CES: score = % easy (1–3 by default), 0…100; a low mean is good.
//
// Score, Mean and MarginOfError are null without responses. MarginOfError
// is the half-width of the 95% confidence interval of the score, in points.
type ScoreSummary struct {
	Responses     int           `json:"responses"`
	Classes       map[Class]int `json:"classes"`
	Score         *float64      `json:"score"`
	Mean          *float64      `json:"mean"`
	MarginOfError *float64      `json:"margin_of_error"`
	SmallSample   bool          `json:"small_sample"`
}

// ScoreGroup is one row of a trend or a breakdown.
type ScoreGroup struct {
	Key   string     `json:"key"`
	Start *time.Time `json:"start,omitempty"`
	End   *time.Time `json:"end,omitempty"`
	ScoreSummary
}

// ScoreReport is a score over a period, its groups, and the previous
// period for comparison. Change is Total.Score − Previous.Score when both
// exist.
type ScoreReport struct {
	Metric   Kind         `json:"metric"`
	Survey   string       `json:"survey,omitempty"`
	Wave     string       `json:"wave,omitempty"`
	From     time.Time    `json:"from"`
	To       time.Time    `json:"to"`
	GroupBy  GroupBy      `json:"group_by,omitempty"`
	TZ       string       `json:"tz"`
	Total    ScoreSummary `json:"total"`
	Groups   []ScoreGroup `json:"groups,omitempty"`
	Previous struct {
		From time.Time `json:"from"`
		To   time.Time `json:"to"`
		ScoreSummary
	} `json:"previous"`
	Change *float64 `json:"change"`
}

// NewScoreSummary computes a kind's figures from its class counts. Classes
// other than the kind's are ignored.
func NewScoreSummary(kind Kind, counts []ClassCount) ScoreSummary {
	s := ScoreSummary{Classes: map[Class]int{}}
	for _, c := range kind.Classes() {
		s.Classes[c] = 0
	}
	var sum int64
	for _, c := range counts {
		if _, ok := s.Classes[c.Class]; !ok {
			continue
		}
		s.Classes[c.Class] += c.N
		s.Responses += c.N
		sum += c.ScoreSum
	}
	s.SmallSample = s.Responses < SmallSample
	if s.Responses == 0 {
		return s
	}
	n := float64(s.Responses)
	mean := round(float64(sum)/n, 2)
	s.Mean = &mean
	var score, moe float64
	switch kind {
	case KindNPS:
		p, d := float64(s.Classes[ClassPromoter])/n, float64(s.Classes[ClassDetractor])/n
		score = (p - d) * 100
		// Each response scores +1, 0 or −1; the NPS is their mean ×100, so
		// its variance is (p + d − (p − d)²) / n.
		moe = 1.96 * math.Sqrt((p+d-(p-d)*(p-d))/n) * 100
	case KindCSAT, KindCES:
		good := ClassSatisfied
		if kind == KindCES {
			good = ClassEasy
		}
		p := float64(s.Classes[good]) / n
		score = p * 100
		moe = 1.96 * math.Sqrt(p*(1-p)/n) * 100
	default:
		return s
	}
	score, moe = round(score, 1), round(moe, 1)
	s.Score, s.MarginOfError = &score, &moe
	return s
}

// NewScoreReport assembles a report from storage's counts: counts over the
// query (grouped by q.GroupBy) and previous over q.Previous(). A time trend
// lists every bucket, empty ones too; a breakdown lists its groups, the
// most responses first.
func NewScoreReport(kind Kind, q ReportQuery, counts, previous []ClassCount) ScoreReport {
	rep := ScoreReport{Metric: kind, Survey: q.Survey, Wave: q.Wave, From: q.From.UTC(), To: q.To.UTC(), GroupBy: q.GroupBy, TZ: tzName(q.TZ)}
	rep.Total = NewScoreSummary(kind, counts)
	p := q.Previous()
	rep.Previous.From, rep.Previous.To = p.From.UTC(), p.To.UTC()
	rep.Previous.ScoreSummary = NewScoreSummary(kind, previous)
	if rep.Total.Score != nil && rep.Previous.Score != nil {
		c := round(*rep.Total.Score-*rep.Previous.Score, 1)
		rep.Change = &c
	}
	if q.GroupBy == GroupNone {
		return rep
	}
	byGroup := map[string][]ClassCount{}
	for _, c := range counts {
		byGroup[c.Group] = append(byGroup[c.Group], c)
	}
	if q.GroupBy.IsTime() {
		for _, b := range q.Buckets() {
			start, end := b.Start.UTC(), b.End.UTC()
			rep.Groups = append(rep.Groups, ScoreGroup{Key: b.Key, Start: &start, End: &end, ScoreSummary: NewScoreSummary(kind, byGroup[b.Key])})
		}
		return rep
	}
	for key, cs := range byGroup {
		g := ScoreGroup{Key: key, ScoreSummary: NewScoreSummary(kind, cs)}
		if g.Responses > 0 {
			rep.Groups = append(rep.Groups, g)
		}
	}
	sort.Slice(rep.Groups, func(i, j int) bool {
		a, b := rep.Groups[i], rep.Groups[j]
		if a.Responses != b.Responses {
			return a.Responses > b.Responses
		}
		return a.Key < b.Key
	})
	return rep
}

// ParseReportKind maps a report's path name to the kind whose score it
// shows.
func ParseReportKind(name string) (Kind, bool) {
	switch k := Kind(strings.ToLower(name)); k {
	case KindNPS, KindCSAT, KindCES:
		return k, true
	}
	return "", false
}

func tzName(tz *time.Location) string {
	if tz == nil {
		return "UTC"
	}
	return tz.String()
}

func round(v float64, decimals int) float64 {
	p := math.Pow(10, float64(decimals))
	return math.Round(v*p) / p
}

// FunnelCounts is what storage counts for the funnel: invitations created
// in the period by how far they got, and unfinished responses by the last
// question they answered ("" when none).
type FunnelCounts struct {
	Invited   int // planned, not skipped
	Skipped   int // never sent: sample, opted out, frequency cap …
	Sent      int // at least one delivery attempt
	Delivered int // accepted by the platform
	Started   int // a response exists (the first answer came)
	Completed int
	StoppedAt map[string]int
}

// FunnelStep is one step of the funnel: how many reached it, as a share of
// the previous step and of the invited.
type FunnelStep struct {
	Step        string   `json:"step"`
	Count       int      `json:"count"`
	StepRate    *float64 `json:"step_rate"`    // % of the previous step
	OverallRate *float64 `json:"overall_rate"` // % of invited
}

// StopBeforeFirstAnswer is the AfterQuestion of responses that stopped
// before answering anything.
const StopBeforeFirstAnswer = "before_first_answer"

// StopPoint is the question after which unfinished responses stopped.
type StopPoint struct {
	AfterQuestion string `json:"after_question"` // a question id or StopBeforeFirstAnswer
	Responses     int    `json:"responses"`
}

// FunnelReport is invited → sent → delivered → started → completed.
type FunnelReport struct {
	Survey      string       `json:"survey,omitempty"`
	Wave        string       `json:"wave,omitempty"`
	From        time.Time    `json:"from"`
	To          time.Time    `json:"to"`
	Skipped     int          `json:"skipped"`
	Steps       []FunnelStep `json:"steps"`
	StoppedAt   []StopPoint  `json:"stopped_at"`
	SmallSample bool         `json:"small_sample"`
}

// NewFunnelReport computes the rates; a rate is null when its base is 0.
func NewFunnelReport(q ReportQuery, c FunnelCounts) FunnelReport {
	rep := FunnelReport{Survey: q.Survey, Wave: q.Wave, From: q.From.UTC(), To: q.To.UTC(), Skipped: c.Skipped, StoppedAt: []StopPoint{}}
	steps := []struct {
		name string
		n    int
	}{{"invited", c.Invited}, {"sent", c.Sent}, {"delivered", c.Delivered}, {"started", c.Started}, {"completed", c.Completed}}
	rate := func(n, base int) *float64 {
		if base == 0 {
			return nil
		}
		v := round(float64(n)/float64(base)*100, 1)
		return &v
	}
	for i, s := range steps {
		st := FunnelStep{Step: s.name, Count: s.n, OverallRate: rate(s.n, c.Invited)}
		if i > 0 {
			st.StepRate = rate(s.n, steps[i-1].n)
		}
		rep.Steps = append(rep.Steps, st)
	}
	for q, n := range c.StoppedAt {
		if q == "" {
			q = StopBeforeFirstAnswer
		}
		rep.StoppedAt = append(rep.StoppedAt, StopPoint{AfterQuestion: q, Responses: n})
	}
	sort.Slice(rep.StoppedAt, func(i, j int) bool {
		a, b := rep.StoppedAt[i], rep.StoppedAt[j]
		if a.Responses != b.Responses {
			return a.Responses > b.Responses
		}
		return a.AfterQuestion < b.AfterQuestion
	})
	rep.SmallSample = c.Invited < SmallSample
	return rep
}

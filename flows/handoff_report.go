package flows

import (
	"math"
	"sort"
	"time"
)

// HandoffCounts is what storage counts for the handoff report, in one
// group: the cases opened in the period, how many an agent claimed and
// resolved, the sums of the seconds from opening to claim and to
// resolution, the outcomes, and the follow-ups answered and recovered.
type HandoffCounts struct {
	Group          string
	Cases          int
	Claimed        int
	Resolved       int
	ClaimSeconds   float64
	ResolveSeconds float64
	Outcomes       map[CaseOutcome]int
	FollowUps      int // the customer answered the "did we fix it?" question
	Recovered      int
}

// HandoffSummary is the desk's figures: mean minutes to claim and to
// resolve (null when no case got there), and the share of answered
// follow-ups that said the problem was fixed.
type HandoffSummary struct {
	Cases            int                 `json:"cases"`
	Claimed          int                 `json:"claimed"`
	Resolved         int                 `json:"resolved"`
	MinutesToClaim   *float64            `json:"minutes_to_claim"`
	MinutesToResolve *float64            `json:"minutes_to_resolve"`
	Outcomes         map[CaseOutcome]int `json:"outcomes"`
	FollowUps        int                 `json:"follow_ups"`
	Recovered        int                 `json:"recovered"`
	RecoveredPct     *float64            `json:"recovered_pct"`
	MarginOfError    *float64            `json:"margin_of_error"` // of recovered_pct, 95%
	SmallSample      bool                `json:"small_sample"`
}

// HandoffGroup is one row of a handoff trend or breakdown.
type HandoffGroup struct {
	Key string `json:"key"`
	HandoffSummary
}

// HandoffReport is the desk over a period: cases opened in it.
type HandoffReport struct {
	Survey  string         `json:"survey,omitempty"`
	Wave    string         `json:"wave,omitempty"`
	From    time.Time      `json:"from"`
	To      time.Time      `json:"to"`
	GroupBy GroupBy        `json:"group_by,omitempty"`
	TZ      string         `json:"tz"`
	Total   HandoffSummary `json:"total"`
	Groups  []HandoffGroup `json:"groups,omitempty"`
}

// NewHandoffSummary adds up groups of counts into the figures.
func NewHandoffSummary(counts []HandoffCounts) HandoffSummary {
	s := HandoffSummary{Outcomes: map[CaseOutcome]int{}}
	for _, o := range CaseOutcomes() {
		s.Outcomes[o] = 0
	}
	var claimSec, resolveSec float64
	for _, c := range counts {
		s.Cases += c.Cases
		s.Claimed += c.Claimed
		s.Resolved += c.Resolved
		claimSec += c.ClaimSeconds
		resolveSec += c.ResolveSeconds
		s.FollowUps += c.FollowUps
		s.Recovered += c.Recovered
		for o, n := range c.Outcomes {
			if o.Valid() {
				s.Outcomes[o] += n
			}
		}
	}
	minutes := func(sec float64, n int) *float64 {
		if n == 0 {
			return nil
		}
		v := round(math.Round(sec/float64(n))/60, 1) // whole seconds first: the dialects' clocks differ below a millisecond
		return &v
	}
	s.MinutesToClaim, s.MinutesToResolve = minutes(claimSec, s.Claimed), minutes(resolveSec, s.Resolved)
	if s.FollowUps > 0 {
		p := float64(s.Recovered) / float64(s.FollowUps)
		pct, moe := round(p*100, 1), round(1.96*math.Sqrt(p*(1-p)/float64(s.FollowUps))*100, 1)
		s.RecoveredPct, s.MarginOfError = &pct, &moe
	}
	s.SmallSample = s.FollowUps < SmallSample
	return s
}

// NewHandoffReport assembles the report from storage's counts, grouped by
// q.GroupBy (every bucket of a trend, the most cases first for a breakdown).
func NewHandoffReport(q ReportQuery, counts []HandoffCounts) HandoffReport {
	rep := HandoffReport{Survey: q.Survey, Wave: q.Wave, From: q.From.UTC(), To: q.To.UTC(), GroupBy: q.GroupBy, TZ: tzName(q.TZ),
		Total: NewHandoffSummary(counts)}
	if q.GroupBy == GroupNone {
		return rep
	}
	by := map[string][]HandoffCounts{}
	for _, c := range counts {
		by[c.Group] = append(by[c.Group], c)
	}
	if q.GroupBy.IsTime() {
		for _, b := range q.Buckets() {
			rep.Groups = append(rep.Groups, HandoffGroup{Key: b.Key, HandoffSummary: NewHandoffSummary(by[b.Key])})
		}
		return rep
	}
	for k, cs := range by {
		rep.Groups = append(rep.Groups, HandoffGroup{Key: k, HandoffSummary: NewHandoffSummary(cs)})
	}
	sort.Slice(rep.Groups, func(i, j int) bool {
		a, b := rep.Groups[i], rep.Groups[j]
		if a.Cases != b.Cases {
			return a.Cases > b.Cases
		}
		return a.Key < b.Key
	})
	return rep
}

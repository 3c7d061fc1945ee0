package flows

import (
	"sort"
	"time"
)

// The reasons report: which words unhappy customers use more than the
// others. A comment is unhappy when its response's first score is a
// detractor's class (Class.IsDetractor), happy when it is the best class
// of its kind (promoter, satisfied, easy), other otherwise (passive,
// neutral, or no score).
//
// The baseline the unhappy comments are set against is the happy comments
// when there are any; surveys such as the shipped post_purchase_nps never
// ask promoters for a comment, so it falls back to every other comment
// (the passives'), and with no other comment at all the words are ranked
// by how many unhappy comments use them, with no lift.

// MaxTerms is how many terms the report lists.
const MaxTerms = 30

// minTermComments is how many unhappy comments a term needs to be listed:
// a word one customer used once says nothing.
const minTermComments = 2

// The baselines of a terms report.
const (
	BaselineHappy  = "happy"  // promoters', satisfied and easy customers' comments
	BaselineOthers = "others" // every comment that is not unhappy
	BaselineNone   = "none"   // only unhappy comments: ranked by frequency
)

// IsHappy reports whether the class is the best one of its kind.
func (c Class) IsHappy() bool {
	return c == ClassPromoter || c == ClassSatisfied || c == ClassEasy
}

// TermCounts counts, per word, the unhappy, the happy and the other
// comments using it, and the comments of each side.
type TermCounts struct {
	Unhappy, Happy, Other map[string]int
	UnhappyTotal          int
	HappyTotal            int
	OtherTotal            int
}

// NewTermCounts returns empty counts.
func NewTermCounts() *TermCounts {
	return &TermCounts{Unhappy: map[string]int{}, Happy: map[string]int{}, Other: map[string]int{}}
}

// Add counts one comment's words (each word once) under its class.
func (c *TermCounts) Add(class Class, words []string) {
	seen := make(map[string]bool, len(words))
	count, total := c.Other, &c.OtherTotal
	switch {
	case class.IsDetractor():
		count, total = c.Unhappy, &c.UnhappyTotal
	case class.IsHappy():
		count, total = c.Happy, &c.HappyTotal
	}
	*total++
	for _, w := range words {
		if !seen[w] {
			seen[w] = true
			count[w]++
		}
	}
}

// Term is one word of the report: the share of unhappy comments using it
// and of the baseline's (in %), and Lift, how many times likelier an
// unhappy comment uses it (add-one smoothed, so a word absent from the
// baseline stays finite; null when there is no baseline). Happy and
// HappyRate are the happy comments' figures whatever the baseline.
type Term struct {
	Term          string   `json:"term"`
	Unhappy       int      `json:"unhappy"`
	UnhappyRate   float64  `json:"unhappy_rate"`
	BaselineCount int      `json:"baseline_count"`
	BaselineRate  float64  `json:"baseline_rate"`
	Happy         int      `json:"happy"`
	HappyRate     float64  `json:"happy_rate"`
	Lift          *float64 `json:"lift"`
}

// TermsReport lists the words that rise among unhappy customers.
// Baseline says what they are set against (BaselineHappy, BaselineOthers
// or BaselineNone) and BaselineComments how many comments that is.
type TermsReport struct {
	Survey           string    `json:"survey,omitempty"`
	Wave             string    `json:"wave,omitempty"`
	From             time.Time `json:"from"`
	To               time.Time `json:"to"`
	UnhappyComments  int       `json:"unhappy_comments"`
	HappyComments    int       `json:"happy_comments"`
	OtherComments    int       `json:"other_comments"`
	Baseline         string    `json:"baseline"`
	BaselineComments int       `json:"baseline_comments"`
	Terms            []Term    `json:"terms"`
	SmallSample      bool      `json:"small_sample"`
}

// NewTermsReport ranks the words by lift, then by unhappy comments, and
// keeps the MaxTerms first with a lift above 1; without a baseline it
// ranks them by unhappy comments.
func NewTermsReport(q ReportQuery, c *TermCounts) TermsReport {
	rep := TermsReport{Survey: q.Survey, Wave: q.Wave, From: q.From.UTC(), To: q.To.UTC(),
		UnhappyComments: c.UnhappyTotal, HappyComments: c.HappyTotal, OtherComments: c.OtherTotal, Terms: []Term{}}
	base, baseTotal := c.Happy, c.HappyTotal
	switch {
	case c.HappyTotal > 0:
		rep.Baseline = BaselineHappy
	case c.OtherTotal > 0:
		rep.Baseline = BaselineOthers
		base, baseTotal = c.Other, c.OtherTotal
	default:
		rep.Baseline = BaselineNone
		base = nil
	}
	rep.BaselineComments = baseTotal
	rep.SmallSample = c.UnhappyTotal < SmallSample || baseTotal < SmallSample
	share := func(n, total int) float64 {
		if total == 0 {
			return 0
		}
		return round(float64(n)/float64(total)*100, 1)
	}
	for w, n := range c.Unhappy {
		if n < minTermComments {
			continue
		}
		h, b := c.Happy[w], base[w]
		t := Term{Term: w, Unhappy: n, UnhappyRate: share(n, c.UnhappyTotal), BaselineCount: b, BaselineRate: share(b, baseTotal),
			Happy: h, HappyRate: share(h, c.HappyTotal)}
		if rep.Baseline != BaselineNone {
			lift := (float64(n+1) / float64(c.UnhappyTotal+1)) / (float64(b+1) / float64(baseTotal+1))
			if lift <= 1 {
				continue
			}
			lift = round(lift, 2)
			t.Lift = &lift
		}
		rep.Terms = append(rep.Terms, t)
	}
	liftOf := func(t Term) float64 {
		if t.Lift == nil {
			return 0
		}
		return *t.Lift
	}
	sort.Slice(rep.Terms, func(i, j int) bool {
		a, b := rep.Terms[i], rep.Terms[j]
		if la, lb := liftOf(a), liftOf(b); la != lb {
			return la > lb
		}
		if a.Unhappy != b.Unhappy {
			return a.Unhappy > b.Unhappy
		}
		return a.Term < b.Term
	})
	if len(rep.Terms) > MaxTerms {
		rep.Terms = rep.Terms[:MaxTerms]
	}
	return rep
}

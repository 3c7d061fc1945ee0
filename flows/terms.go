package flows

import (
	"sort"
	"time"
)

// The reasons report: which words unhappy customers use more than happy
// ones. A comment is unhappy when its response's first score is a
// detractor's class (Class.IsDetractor), happy when it is the best class
// of its kind (promoter, satisfied, easy).

// MaxTerms is how many terms the report lists.
const MaxTerms = 30

// minTermComments is how many unhappy comments a term needs to be listed:
// a word one customer used once says nothing.
const minTermComments = 2

// IsHappy reports whether the class is the best one of its kind.
func (c Class) IsHappy() bool {
	return c == ClassPromoter || c == ClassSatisfied || c == ClassEasy
}

// TermCounts counts, per word, the unhappy and the happy comments using
// it, and the comments of each side.
type TermCounts struct {
	Unhappy, Happy map[string]int
	UnhappyTotal   int
	HappyTotal     int
}

// NewTermCounts returns empty counts.
func NewTermCounts() *TermCounts {
	return &TermCounts{Unhappy: map[string]int{}, Happy: map[string]int{}}
}

// Add counts one comment's words (each word once) under its class;
// comments of a passive or neutral response are not counted.
func (c *TermCounts) Add(class Class, words []string) {
	switch {
	case class.IsDetractor():
		c.UnhappyTotal++
		for _, w := range words {
			c.Unhappy[w]++
		}
	case class.IsHappy():
		c.HappyTotal++
		for _, w := range words {
			c.Happy[w]++
		}
	}
}

// Term is one word of the report: the share of unhappy and happy comments
// using it (in %) and Lift, how many times likelier an unhappy comment uses
// it (add-one smoothed, so a word no happy customer used stays finite).
type Term struct {
	Term        string  `json:"term"`
	Unhappy     int     `json:"unhappy"`
	Happy       int     `json:"happy"`
	UnhappyRate float64 `json:"unhappy_rate"`
	HappyRate   float64 `json:"happy_rate"`
	Lift        float64 `json:"lift"`
}

// TermsReport lists the words that rise among unhappy customers.
type TermsReport struct {
	Survey          string    `json:"survey,omitempty"`
	Wave            string    `json:"wave,omitempty"`
	From            time.Time `json:"from"`
	To              time.Time `json:"to"`
	UnhappyComments int       `json:"unhappy_comments"`
	HappyComments   int       `json:"happy_comments"`
	Terms           []Term    `json:"terms"`
	SmallSample     bool      `json:"small_sample"`
}

// NewTermsReport ranks the words by lift, then by unhappy comments, and
// keeps the MaxTerms first with a lift above 1.
func NewTermsReport(q ReportQuery, c *TermCounts) TermsReport {
	rep := TermsReport{Survey: q.Survey, Wave: q.Wave, From: q.From.UTC(), To: q.To.UTC(),
		UnhappyComments: c.UnhappyTotal, HappyComments: c.HappyTotal, Terms: []Term{},
		SmallSample: c.UnhappyTotal < SmallSample || c.HappyTotal < SmallSample}
	for w, n := range c.Unhappy {
		if n < minTermComments {
			continue
		}
		h := c.Happy[w]
		ur := float64(n) / float64(c.UnhappyTotal)
		hr := 0.0
		if c.HappyTotal > 0 {
			hr = float64(h) / float64(c.HappyTotal)
		}
		lift := (float64(n+1) / float64(c.UnhappyTotal+1)) / (float64(h+1) / float64(c.HappyTotal+1))
		if lift <= 1 {
			continue
		}
		rep.Terms = append(rep.Terms, Term{Term: w, Unhappy: n, Happy: h, UnhappyRate: round(ur*100, 1), HappyRate: round(hr*100, 1), Lift: round(lift, 2)})
	}
	sort.Slice(rep.Terms, func(i, j int) bool {
		a, b := rep.Terms[i], rep.Terms[j]
		if a.Lift != b.Lift {
			return a.Lift > b.Lift
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

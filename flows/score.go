package flows

// Scale returns the bounds of a scale kind; ok is false for choice and text,
// which have no score.
func (k Kind) Scale() (min, max int, ok bool) {
	switch k {
	case KindNPS:
		return 0, 10, true
	case KindCSAT:
		return 1, 5, true
	case KindCES:
		return 1, 7, true
	}
	return 0, 0, false
}

// IsScale reports whether answers of this kind are scores with a class.
func (k Kind) IsScale() bool {
	_, _, ok := k.Scale()
	return ok
}

// Valid reports whether k is one of the five kinds a survey may use.
func (k Kind) Valid() bool {
	switch k {
	case KindNPS, KindCSAT, KindCES, KindChoice, KindText:
		return true
	}
	return false
}

// Classes lists the classes a score of this kind can fall in, best first,
// so branch names can be checked against the question's kind.
func (k Kind) Classes() []Class {
	switch k {
	case KindNPS:
		return []Class{ClassPromoter, ClassPassive, ClassDetractor}
	case KindCSAT:
		return []Class{ClassSatisfied, ClassNeutral, ClassDissatisfied}
	case KindCES:
		return []Class{ClassEasy, ClassNeutral, ClassDifficult}
	}
	return nil
}

// IsDetractor reports whether the class marks an unhappy customer, the one
// who is handed to a person.
func (c Class) IsDetractor() bool {
	return c == ClassDetractor || c == ClassDissatisfied || c == ClassDifficult
}

// DefaultThresholds are the usual cut-offs: NPS 0–6 / 9–10, CSAT 1–2 / 4–5,
// CES 5–7 difficult / 1–3 easy.
func DefaultThresholds() Thresholds {
	return Thresholds{
		NPSDetractorMax:  6,
		NPSPromoterMin:   9,
		CSATDetractorMax: 2,
		CSATSatisfiedMin: 4,
		CESDetractorMin:  5,
		CESEasyMax:       3,
	}
}

// withDefaults fills pairs left at zero, so a Survey built in code without
// thresholds still classifies like a loaded one. A zero pair is never valid
// on its own (it would leave no passives or lie outside the scale).
func (t Thresholds) withDefaults() Thresholds {
	d := DefaultThresholds()
	if t.NPSDetractorMax == 0 && t.NPSPromoterMin == 0 {
		t.NPSDetractorMax, t.NPSPromoterMin = d.NPSDetractorMax, d.NPSPromoterMin
	}
	if t.CSATDetractorMax == 0 && t.CSATSatisfiedMin == 0 {
		t.CSATDetractorMax, t.CSATSatisfiedMin = d.CSATDetractorMax, d.CSATSatisfiedMin
	}
	if t.CESDetractorMin == 0 && t.CESEasyMax == 0 {
		t.CESDetractorMin, t.CESEasyMax = d.CESDetractorMin, d.CESEasyMax
	}
	return t
}

// Classify returns the class of a score under the survey's thresholds, or ""
// when kind is not a scale or the score lies outside it.
func (s *Survey) Classify(kind Kind, score int) Class {
	lo, hi, ok := kind.Scale()
	if !ok || score < lo || score > hi {
		return ""
	}
	t := s.Thresholds.withDefaults()
	switch kind {
	case KindNPS:
		switch {
		case score <= t.NPSDetractorMax:
			return ClassDetractor
		case score >= t.NPSPromoterMin:
			return ClassPromoter
		}
		return ClassPassive
	case KindCSAT:
		switch {
		case score <= t.CSATDetractorMax:
			return ClassDissatisfied
		case score >= t.CSATSatisfiedMin:
			return ClassSatisfied
		}
		return ClassNeutral
	default: // CES: a high score means more effort, which is bad
		switch {
		case score >= t.CESDetractorMin:
			return ClassDifficult
		case score <= t.CESEasyMax:
			return ClassEasy
		}
		return ClassNeutral
	}
}

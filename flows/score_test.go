package flows

import "testing"

func TestScale(t *testing.T) {
	tests := []struct {
		kind   Kind
		lo, hi int
		ok     bool
	}{
		{KindNPS, 0, 10, true}, {KindCSAT, 1, 5, true}, {KindCES, 1, 7, true},
		{KindChoice, 0, 0, false}, {KindText, 0, 0, false}, {"stars", 0, 0, false},
	}
	for _, tt := range tests {
		lo, hi, ok := tt.kind.Scale()
		if lo != tt.lo || hi != tt.hi || ok != tt.ok {
			t.Errorf("%s.Scale() = %d, %d, %v", tt.kind, lo, hi, ok)
		}
	}
}

func TestClassify(t *testing.T) {
	def := &Survey{Thresholds: DefaultThresholds()}
	zero := &Survey{} // built in code: defaults apply
	strict := &Survey{Thresholds: Thresholds{NPSDetractorMax: 7, NPSPromoterMin: 10, CSATDetractorMax: 3, CSATSatisfiedMin: 5, CESDetractorMin: 4, CESEasyMax: 2}}
	tests := []struct {
		s     *Survey
		kind  Kind
		score int
		want  Class
	}{
		{def, KindNPS, 0, ClassDetractor}, {def, KindNPS, 6, ClassDetractor}, {def, KindNPS, 7, ClassPassive},
		{def, KindNPS, 8, ClassPassive}, {def, KindNPS, 9, ClassPromoter}, {def, KindNPS, 10, ClassPromoter},
		{def, KindCSAT, 1, ClassDissatisfied}, {def, KindCSAT, 2, ClassDissatisfied}, {def, KindCSAT, 3, ClassNeutral},
		{def, KindCSAT, 4, ClassSatisfied}, {def, KindCSAT, 5, ClassSatisfied},
		{def, KindCES, 1, ClassEasy}, {def, KindCES, 3, ClassEasy}, {def, KindCES, 4, ClassNeutral},
		{def, KindCES, 5, ClassDifficult}, {def, KindCES, 6, ClassDifficult}, {def, KindCES, 7, ClassDifficult},
		{zero, KindNPS, 6, ClassDetractor}, {zero, KindCSAT, 4, ClassSatisfied}, {zero, KindCES, 5, ClassDifficult},
		{strict, KindNPS, 7, ClassDetractor}, {strict, KindNPS, 9, ClassPassive}, {strict, KindNPS, 10, ClassPromoter},
		{strict, KindCSAT, 3, ClassDissatisfied}, {strict, KindCSAT, 4, ClassNeutral},
		{strict, KindCES, 4, ClassDifficult}, {strict, KindCES, 3, ClassNeutral}, {strict, KindCES, 2, ClassEasy},
		{def, KindNPS, 11, ""}, {def, KindCSAT, 0, ""}, {def, KindCES, 8, ""}, {def, KindText, 3, ""},
	}
	for _, tt := range tests {
		if got := tt.s.Classify(tt.kind, tt.score); got != tt.want {
			t.Errorf("Classify(%s, %d) with %+v = %q, want %q", tt.kind, tt.score, tt.s.Thresholds, got, tt.want)
		}
	}
}

func TestIsDetractor(t *testing.T) {
	for c, want := range map[Class]bool{
		ClassDetractor: true, ClassDissatisfied: true, ClassDifficult: true,
		ClassPromoter: false, ClassPassive: false, ClassSatisfied: false, ClassNeutral: false, ClassEasy: false, "": false,
	} {
		if c.IsDetractor() != want {
			t.Errorf("%q.IsDetractor() = %v", c, !want)
		}
	}
}

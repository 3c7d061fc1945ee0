package flows

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestLoadSampleSurveys(t *testing.T) {
	surveys, err := LoadSurveys("../configs/surveys")
	if err != nil {
		t.Fatalf("LoadSurveys: %v", err)
	}
	for _, id := range []string{"post_purchase_nps", "post_service_csat"} {
		s, ok := surveys[id]
		if !ok {
			t.Fatalf("survey %s not loaded (got %d surveys)", id, len(surveys))
		}
		if s.DefaultLanguage != "zh-CN" {
			t.Errorf("%s: default language %q, want zh-CN", id, s.DefaultLanguage)
		}
		if got := s.Languages(); strings.Join(got, ",") != "zh-CN,en" {
			t.Errorf("%s: languages %v, want [zh-CN en]", id, got)
		}
		if s.Thresholds != DefaultThresholds() {
			t.Errorf("%s: thresholds %+v, want defaults", id, s.Thresholds)
		}
		if !strings.HasSuffix(s.Source, id+".yaml") {
			t.Errorf("%s: source %q", id, s.Source)
		}
		// Every button of every question must fit Telegram's callback_data.
		for i := range s.Questions {
			m := s.prompt(&s.Questions[i], 1<<62, "zh-CN")
			for _, row := range m.Keyboard {
				for _, b := range row {
					if len(b.Data) > MaxTapData {
						t.Errorf("%s: tap data %q is %d bytes", id, b.Data, len(b.Data))
					}
				}
			}
		}
	}

	nps := surveys["post_purchase_nps"]
	q, _ := nps.Question("nps")
	for class, want := range map[Class]string{ClassDetractor: "what_went_wrong", ClassPassive: "make_it_10", ClassPromoter: ""} {
		if got := q.route(class, ""); got != want {
			t.Errorf("post_purchase_nps: %s goes to %q, want %q", class, got, want)
		}
	}
	if q.Next != "" {
		t.Errorf("post_purchase_nps: a skipped score should end the survey, next is %q", q.Next)
	}
	if mk, _ := nps.Question("make_it_10"); !mk.Optional {
		t.Error("post_purchase_nps: make_it_10 should be optional")
	}

	csat := surveys["post_service_csat"]
	var kinds []string
	for _, q := range csat.Questions {
		kinds = append(kinds, string(q.Kind))
	}
	if got := strings.Join(kinds, ","); got != "csat,ces,text" {
		t.Errorf("post_service_csat kinds %s, want csat,ces,text", got)
	}
}

func TestParseSurveyErrors(t *testing.T) {
	tests := []struct {
		file string
		line int
		want []string // substrings of the error message
	}{
		{"unknown_field.yaml", 6, []string{`question "nps": promt`, "unknown field"}},
		{"unknown_kind.yaml", 5, []string{`question "rating": kind`, `"stars" is not a kind`}},
		{"goto_missing.yaml", 12, []string{`question "q2": goto "q9": no such question`}},
		{"cycle.yaml", 15, []string{`question "b": goto "a"`, "a → b → a"}},
		{"missing_default_language.yaml", 9, []string{`question "why": prompt`, "missing the default language zh-CN"}},
		{"duplicate_ids.yaml", 7, []string{`question "q1": id`, "already used by the question at line 4"}},
		{"threshold_order.yaml", 4, []string{"thresholds.nps", "detractor_max (8) must be less than promoter_min (7)"}},
		{"threshold_range.yaml", 4, []string{"thresholds.csat.satisfied_min", "outside the csat scale 1–5"}},
		{"bad_when.yaml", 8, []string{`when "promoter"`, "not a class of csat"}},
		{"one_option.yaml", 7, []string{`question "pick": options`, "at least 2 options"}},
		{"long_id.yaml", 4, []string{"not a valid id", "at most 20"}},
		{"syntax.yaml", 6, []string{"invalid YAML"}},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			path := filepath.Join("testdata", "bad", tt.file)
			data, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			s, err := ParseSurvey(path, data)
			if err == nil {
				t.Fatalf("parsed %+v, want an error", s)
			}
			if !errors.Is(err, ErrInvalid) {
				t.Errorf("error %v does not wrap ErrInvalid", err)
			}
			var se *SurveyError
			if !errors.As(err, &se) {
				t.Fatalf("error %T is not a *SurveyError", err)
			}
			if se.Source != path || se.Line != tt.line {
				t.Errorf("located at %s:%d, want %s:%d (%v)", se.Source, se.Line, path, tt.line, err)
			}
			msg := err.Error()
			if prefix := path + ":"; !strings.HasPrefix(msg, prefix) {
				t.Errorf("error %q does not start with %q", msg, prefix)
			}
			for _, w := range tt.want {
				if !strings.Contains(msg, w) {
					t.Errorf("error %q lacks %q", msg, w)
				}
			}
		})
	}
}

// TestParseSurveyRules covers validation rules with inline documents.
func TestParseSurveyRules(t *testing.T) {
	const head = "id: s\ndefault_language: en\n"
	tests := []struct {
		name, yaml, want string
	}{
		{"no questions", head + "questions: []\n", "at least one question"},
		{"questions missing", head, "questions: missing"},
		{"id missing", "default_language: en\nquestions: [{id: q, kind: text, prompt: {en: x}}]\n", "id: missing"},
		{"id not a slug", "id: Post Purchase\ndefault_language: en\nquestions: [{id: q, kind: text, prompt: {en: x}}]\n", "not a valid id"},
		{"default language missing", "id: s\nquestions: [{id: q, kind: text, prompt: {en: x}}]\n", "default_language: missing"},
		{"unknown top field", head + "qestions: []\n", "qestions: unknown field"},
		{"options on text", head + "questions:\n  - {id: q, kind: text, prompt: {en: x}, options: [{id: a, label: {en: A}}, {id: b, label: {en: B}}]}\n", "only choice questions have options"},
		{"duplicate option ids", head + "questions:\n  - {id: q, kind: choice, prompt: {en: x}, options: [{id: a, label: {en: A}}, {id: a, label: {en: B}}]}\n", "used by two options"},
		{"duplicate labels", head + "questions:\n  - {id: q, kind: choice, prompt: {en: x}, options: [{id: a, label: {en: Same}}, {id: b, label: {en: same}}]}\n", `"same" would also pick option 1`},
		{"label is another option's number", head + "questions:\n  - {id: q, kind: choice, prompt: {en: x}, options: [{id: a, label: {en: '2'}}, {id: b, label: {en: B}}]}\n", `"2" would also pick option 2`},
		{"branch on text", head + "questions:\n  - {id: q, kind: text, prompt: {en: x}, branches: [{when: detractor, goto: end}]}\n", "text questions cannot branch"},
		{"branch on unknown option", head + "questions:\n  - {id: q, kind: choice, prompt: {en: x}, options: [{id: a, label: {en: A}}, {id: b, label: {en: B}}], branches: [{when: c, goto: end}]}\n", "not an option id"},
		{"duplicate branch", head + "questions:\n  - {id: q, kind: nps, prompt: {en: x}, branches: [{when: promoter, goto: end}, {when: promoter, goto: end}]}\n", "already handled"},
		{"next to missing", head + "questions:\n  - {id: q, kind: nps, prompt: {en: x}, next: nowhere}\n", `next "nowhere": no such question`},
		{"self loop", head + "questions:\n  - {id: q, kind: nps, prompt: {en: x}, next: q}\n", "makes a loop q → q"},
		{"optional scale", head + "questions:\n  - {id: q, kind: nps, prompt: {en: x}, optional: true}\n", "only text questions can be optional"},
		{"optional not bool", head + "questions:\n  - {id: q, kind: text, prompt: {en: x}, optional: maybe}\n", "want true or false"},
		{"end is reserved", head + "questions:\n  - {id: end, kind: text, prompt: {en: x}}\n", "reserved"},
		{"prompt missing", head + "questions:\n  - {id: q, kind: text}\n", "prompt: missing"},
		{"prompt as plain string", head + "questions:\n  - {id: q, kind: text, prompt: hello}\n", "want texts by language"},
		{"empty text", head + "questions:\n  - {id: q, kind: text, prompt: {en: ''}}\n", "must not be empty"},
		{"bad language tag", head + "questions:\n  - {id: q, kind: text, prompt: {en: x, 'chinese please': y}}\n", "not a language tag"},
		{"message without default language", head + "messages: {thanks: {zh-CN: 谢谢}}\nquestions: [{id: q, kind: text, prompt: {en: x}}]\n", "messages.thanks: missing the default language en"},
		{"ces thresholds overlap", head + "thresholds: {ces: {detractor_min: 3, easy_max: 3}}\nquestions: [{id: q, kind: ces, prompt: {en: x}}]\n", "easy_max (3) must be less than detractor_min (3)"},
		{"threshold not a number", head + "thresholds: {nps: {promoter_min: high}}\nquestions: [{id: q, kind: nps, prompt: {en: x}}]\n", `"high" is not a whole number`},
		{"two documents", head + "questions: [{id: q, kind: text, prompt: {en: x}}]\n---\nid: t\n", "one survey per file"},
		{"empty file", "", "empty file"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseSurvey("x.yaml", []byte(tt.yaml))
			if err == nil {
				t.Fatalf("no error, want %q", tt.want)
			}
			if !errors.Is(err, ErrInvalid) {
				t.Errorf("error %v does not wrap ErrInvalid", err)
			}
			if !strings.HasPrefix(err.Error(), "x.yaml") || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q, want x.yaml… %q", err, tt.want)
			}
		})
	}
}

func TestParseSurveyDefaults(t *testing.T) {
	s, err := ParseSurvey("x.yaml", []byte(`
id: s
default_language: en
thresholds:
  nps: {promoter_min: 10}
questions:
  - id: a
    kind: nps
    prompt: {en: "A?"}
    branches: [{when: promoter, goto: c}]
  - id: b
    kind: text
    prompt: {en: "B?"}
  - id: c
    kind: text
    prompt: {en: "C?"}
    next: end
`))
	if err != nil {
		t.Fatal(err)
	}
	want := DefaultThresholds()
	want.NPSPromoterMin = 10
	if s.Thresholds != want {
		t.Errorf("thresholds %+v, want %+v", s.Thresholds, want)
	}
	a, _ := s.Question("a")
	b, _ := s.Question("b")
	c, _ := s.Question("c")
	if a.Next != "b" || b.Next != "c" || c.Next != "" {
		t.Errorf("next a=%q b=%q c=%q, want b, c, \"\"", a.Next, b.Next, c.Next)
	}
	if a.Branches[0].Goto != "c" {
		t.Errorf("branch goto %q", a.Branches[0].Goto)
	}
	if s.First() != a {
		t.Error("First is not the first question")
	}
	if _, ok := s.Question("zzz"); ok {
		t.Error("found a question that does not exist")
	}
}

func TestLoadSurveysDuplicateID(t *testing.T) {
	_, err := LoadSurveys(filepath.Join("testdata", "dup"))
	if err == nil {
		t.Fatal("want an error for a survey id defined twice")
	}
	if !errors.Is(err, ErrInvalid) {
		t.Errorf("error %v does not wrap ErrInvalid", err)
	}
	want := filepath.Join("testdata", "dup", "b.yml") + `:2: id: survey "same" is already defined in ` + filepath.Join("testdata", "dup", "a.yaml")
	if err.Error() != want {
		t.Errorf("error %q\nwant  %q", err, want)
	}
}

func TestLoadSurveysReportsEveryBrokenFile(t *testing.T) {
	_, err := LoadSurveys(filepath.Join("testdata", "bad"))
	if err == nil {
		t.Fatal("want errors")
	}
	for _, f := range []string{"cycle.yaml", "unknown_kind.yaml", "syntax.yaml"} {
		if !strings.Contains(err.Error(), f) {
			t.Errorf("joined error does not mention %s", f)
		}
	}
	if _, err := LoadSurveys(filepath.Join("testdata", "no-such-dir")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing dir: %v, want ErrNotExist", err)
	}
}

func TestFingerprint(t *testing.T) {
	surveys, err := LoadSurveys("../configs/surveys")
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile("../configs/surveys/post_purchase_nps.yaml")
	if err != nil {
		t.Fatal(err)
	}
	a := surveys["post_purchase_nps"]
	b, err := ParseSurvey("elsewhere.yaml", data)
	if err != nil {
		t.Fatal(err)
	}
	b.Version = 7
	fp := a.Fingerprint()
	if len(fp) != 64 || fp != b.Fingerprint() {
		t.Errorf("same definition, fingerprints %s and %s", fp, b.Fingerprint())
	}
	if fp == surveys["post_service_csat"].Fingerprint() {
		t.Error("different surveys share a fingerprint")
	}
	changed, err := ParseSurvey("x.yaml", []byte(strings.Replace(string(data), "0 = 完全不可能", "0 = 绝不可能", 1)))
	if err != nil {
		t.Fatal(err)
	}
	if changed.Fingerprint() == fp {
		t.Error("an edited prompt kept the fingerprint")
	}
	reordered, err := ParseSurvey("x.yaml", []byte(strings.Replace(string(data), "zh-CN: 购后回访\n  en: After your purchase", "en: After your purchase\n  zh-CN: 购后回访", 1)))
	if err != nil {
		t.Fatal(err)
	}
	if reordered.Fingerprint() != fp {
		t.Error("reordering languages in a text changed the fingerprint")
	}
}

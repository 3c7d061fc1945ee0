package flows

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

const (
	// MaxIDLen bounds question and option ids so tap data fits MaxTapData.
	MaxIDLen = 20
	// MaxSurveyIDLen bounds survey ids, which appear in URLs and keys.
	MaxSurveyIDLen = 64
	// End is the goto/next target that ends a survey.
	End = "end"
)

// SurveyError is a problem in a survey file, located so the author can fix
// it: "configs/surveys/x.yaml:14: question "q2": goto "q9": no such question".
// It wraps ErrInvalid.
type SurveyError struct {
	Source string // file name
	Line   int    // 1-based; 0 when the problem has no single line
	Field  string // where in the survey, e.g. `question "q2": goto "q9"`
	Reason string
}

func (e *SurveyError) Error() string {
	var b strings.Builder
	b.WriteString(e.Source)
	if e.Line > 0 {
		b.WriteString(":")
		b.WriteString(strconv.Itoa(e.Line))
	}
	if e.Field != "" {
		b.WriteString(": ")
		b.WriteString(e.Field)
	}
	b.WriteString(": ")
	b.WriteString(e.Reason)
	return b.String()
}

// Unwrap makes errors.Is(err, ErrInvalid) hold.
func (e *SurveyError) Unwrap() error { return ErrInvalid }

// LoadSurveys parses every *.yaml and *.yml file in dir, keyed by survey id.
// Every broken file is reported (joined), not just the first; a survey id
// defined in two files is an error.
func LoadSurveys(dir string) (map[string]*Survey, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("load surveys: %w", err)
	}
	surveys := make(map[string]*Survey)
	var errs []error
	for _, e := range entries {
		name := e.Name()
		// Dot files are editor backups and lock files, not surveys.
		if e.IsDir() || strings.HasPrefix(name, ".") || !(strings.HasSuffix(name, ".yaml") || strings.HasSuffix(name, ".yml")) {
			continue
		}
		path := filepath.Join(dir, name)
		data, err := os.ReadFile(path)
		if err != nil {
			errs = append(errs, fmt.Errorf("load surveys: %w", err))
			continue
		}
		s, idLine, err := parseSurvey(path, data)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if prev, dup := surveys[s.ID]; dup {
			errs = append(errs, &SurveyError{Source: path, Line: idLine, Field: "id",
				Reason: fmt.Sprintf("survey %q is already defined in %s", s.ID, prev.Source)})
			continue
		}
		surveys[s.ID] = s
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return surveys, nil
}

// ParseSurvey parses and validates one survey definition; source names it in
// errors (usually the file path).
func ParseSurvey(source string, data []byte) (*Survey, error) {
	s, _, err := parseSurvey(source, data)
	return s, err
}

// Question finds a question by id.
func (s *Survey) Question(id string) (*Question, bool) {
	for i := range s.Questions {
		if s.Questions[i].ID == id {
			return &s.Questions[i], true
		}
	}
	return nil, false
}

// First is the question a response starts with, nil for an empty survey.
func (s *Survey) First() *Question {
	if len(s.Questions) == 0 {
		return nil
	}
	return &s.Questions[0]
}

// Fingerprint is a sha256 (hex) of the survey's definition without Version
// and Source, so the store can give the survey a new version exactly when its
// content changes, wherever the file lives.
func (s *Survey) Fingerprint() string {
	c := *s
	c.Version, c.Source = 0, ""
	// encoding/json is canonical enough here: struct fields keep their order
	// and map keys are sorted.
	data, err := json.Marshal(c)
	if err != nil { // cannot happen: only strings, ints, bools, maps and slices
		panic("flows: fingerprint: " + err.Error())
	}
	sum := sha256.Sum256(append([]byte("cxbot/survey/v1\n"), data...))
	return hex.EncodeToString(sum[:])
}

// parser walks yaml.Node trees (rather than decoding into structs) so every
// error can carry the line of the offending node.
type parser struct {
	source      string
	defaultLang string
	keyLine     map[*yaml.Node]int // value node → line of its key
}

// edge is one way from a question to the next, kept with its line so a cycle
// can be reported where it is closed.
type edge struct {
	to    string
	line  int
	field string
}

func (p *parser) errAt(line int, field, format string, args ...any) error {
	src := p.source
	if src == "" {
		src = "survey"
	}
	return &SurveyError{Source: src, Line: line, Field: field, Reason: fmt.Sprintf(format, args...)}
}

// errf reports a problem with node n. A block mapping or list is reported
// at its key ("prompt:"), which is where an author looks, rather than at its
// first entry.
func (p *parser) errf(n *yaml.Node, field, format string, args ...any) error {
	line := n.Line
	if kl, ok := p.keyLine[n]; ok && (n.Kind == yaml.MappingNode || n.Kind == yaml.SequenceNode) {
		line = kl
	}
	return p.errAt(line, field, format, args...)
}

// peekID names a list entry by its id before it is validated, so even its
// first error says `question "nps"` rather than `question 1`.
func peekID(n *yaml.Node, fallback string) string {
	if n.Kind == yaml.MappingNode {
		for i := 0; i+1 < len(n.Content); i += 2 {
			if v := resolve(n.Content[i+1]); n.Content[i].Value == "id" && v.Kind == yaml.ScalarNode && v.Value != "" {
				return strconv.Quote(v.Value)
			}
		}
	}
	return fallback
}

// syntaxError turns "yaml: line 3: did not find expected key" into an
// error at the line to fix.
func (p *parser) syntaxError(data []byte, err error) error {
	line, reason := LocateYAMLError(data, err)
	return p.errAt(line, "", "invalid YAML: %s", reason)
}

func resolve(n *yaml.Node) *yaml.Node {
	for n != nil && n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	return n
}

func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		if n.Tag == "!!null" {
			return "nothing"
		}
		return strconv.Quote(n.Value)
	}
	return "something else"
}

func join(field, key string) string {
	if field == "" {
		return key
	}
	return field + ": " + key
}

// mapping checks that n is a mapping with only allowed, non-repeated keys.
func (p *parser) mapping(n *yaml.Node, field string, allowed ...string) (map[string]*yaml.Node, error) {
	if n.Kind != yaml.MappingNode {
		return nil, p.errf(n, field, "want a mapping (key: value), got %s", describe(n))
	}
	m := make(map[string]*yaml.Node, len(n.Content)/2)
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], resolve(n.Content[i+1])
		if k.Kind != yaml.ScalarNode {
			return nil, p.errf(k, field, "keys must be plain names")
		}
		if !slices.Contains(allowed, k.Value) {
			return nil, p.errf(k, join(field, k.Value), "unknown field (want one of %s)", strings.Join(allowed, ", "))
		}
		if _, dup := m[k.Value]; dup {
			return nil, p.errf(k, join(field, k.Value), "given twice")
		}
		m[k.Value] = v
		p.keyLine[v] = k.Line
	}
	return m, nil
}

// scalar reads a non-empty single value.
func (p *parser) scalar(n *yaml.Node, field string) (string, error) {
	if n.Kind != yaml.ScalarNode || n.Tag == "!!null" {
		return "", p.errf(n, field, "want a single value, got %s", describe(n))
	}
	v := strings.TrimSpace(n.Value)
	if v == "" {
		return "", p.errf(n, field, "must not be empty")
	}
	return v, nil
}

func (p *parser) id(n *yaml.Node, field string, max int) (string, error) {
	v, err := p.scalar(n, field)
	if err != nil {
		return "", err
	}
	if !isID(v, max) {
		return "", p.errf(n, field, "%q is not a valid id: use lowercase letters, digits, _ and - (at most %d characters)", v, max)
	}
	return v, nil
}

func (p *parser) integer(n *yaml.Node, field string) (int, error) {
	v, err := p.scalar(n, field)
	if err != nil {
		return 0, err
	}
	i, err := strconv.Atoi(v)
	if err != nil {
		return 0, p.errf(n, field, "%q is not a whole number", v)
	}
	return i, nil
}

// text reads a {language: string} mapping that must include the default language.
func (p *parser) text(n *yaml.Node, field string) (Text, error) {
	if n.Kind != yaml.MappingNode {
		return nil, p.errf(n, field, "want texts by language, e.g. {%s: \"...\"}, got %s", p.defaultLang, describe(n))
	}
	t := make(Text, len(n.Content)/2)
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], resolve(n.Content[i+1])
		if !validLanguage(k.Value) {
			return nil, p.errf(k, field, "%q is not a language tag (e.g. en, zh-CN)", k.Value)
		}
		if _, dup := t[k.Value]; dup {
			return nil, p.errf(k, join(field, k.Value), "given twice")
		}
		s, err := p.scalar(v, join(field, k.Value))
		if err != nil {
			return nil, err
		}
		t[k.Value] = s
	}
	if t[p.defaultLang] == "" {
		return nil, p.errf(n, field, "missing the default language %s", p.defaultLang)
	}
	return t, nil
}

// validLanguage accepts BCP 47-like tags: "en", "zh-CN", "zh-Hant-TW".
func validLanguage(tag string) bool {
	parts := strings.Split(tag, "-")
	for i, part := range parts {
		if len(part) < 1 || len(part) > 8 || (i == 0 && (len(part) < 2 || len(part) > 3)) {
			return false
		}
		for _, c := range []byte(part) {
			isLetter := (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
			if !isLetter && !(i > 0 && c >= '0' && c <= '9') {
				return false
			}
		}
	}
	return true
}

func parseSurvey(source string, data []byte) (*Survey, int, error) {
	p := &parser{source: source, keyLine: make(map[*yaml.Node]int)}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, 0, p.errAt(0, "", "empty file, want a survey")
		}
		return nil, 0, p.syntaxError(data, err)
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		if err != nil {
			return nil, 0, p.syntaxError(data, err)
		}
		return nil, 0, p.errAt(extra.Line, "", "one survey per file: remove the second document")
	}
	root := resolve(doc.Content[0])
	top, err := p.mapping(root, "", "id", "title", "default_language", "thresholds", "messages", "questions", "wechat_template")
	if err != nil {
		return nil, 0, err
	}
	s := &Survey{Source: source}

	idNode, ok := top["id"]
	if !ok {
		return nil, 0, p.errf(root, "id", "missing")
	}
	if s.ID, err = p.id(idNode, "id", MaxSurveyIDLen); err != nil {
		return nil, 0, err
	}

	langNode, ok := top["default_language"]
	if !ok {
		return nil, 0, p.errf(root, "default_language", "missing (e.g. default_language: zh-CN)")
	}
	if s.DefaultLanguage, err = p.scalar(langNode, "default_language"); err != nil {
		return nil, 0, err
	}
	if !validLanguage(s.DefaultLanguage) {
		return nil, 0, p.errf(langNode, "default_language", "%q is not a language tag (e.g. en, zh-CN)", s.DefaultLanguage)
	}
	p.defaultLang = s.DefaultLanguage

	if n, ok := top["title"]; ok {
		if s.Title, err = p.text(n, "title"); err != nil {
			return nil, 0, err
		}
	}
	s.Thresholds = DefaultThresholds()
	if n, ok := top["thresholds"]; ok {
		if err := p.thresholds(n, &s.Thresholds); err != nil {
			return nil, 0, err
		}
	}
	if n, ok := top["messages"]; ok {
		if err := p.messages(n, &s.Messages); err != nil {
			return nil, 0, err
		}
	}
	if n, ok := top["wechat_template"]; ok {
		if s.WeChatTemplate, err = p.wechatTemplate(n); err != nil {
			return nil, 0, err
		}
	}
	qNode, ok := top["questions"]
	if !ok {
		return nil, 0, p.errf(root, "questions", "missing: a survey needs at least one question")
	}
	if err := p.questions(qNode, s); err != nil {
		return nil, 0, err
	}
	return s, idNode.Line, nil
}

func (p *parser) thresholds(n *yaml.Node, t *Thresholds) error {
	m, err := p.mapping(n, "thresholds", "nps", "csat", "ces")
	if err != nil {
		return err
	}
	// field is one settable number with the scale it must lie in.
	type field struct {
		key string
		dst *int
	}
	scales := []struct {
		kind   Kind
		fields []field
		// low must be below high: the classes must not overlap.
		low, high *int
		lowName   string
		highName  string
	}{
		{KindNPS, []field{{"detractor_max", &t.NPSDetractorMax}, {"promoter_min", &t.NPSPromoterMin}},
			&t.NPSDetractorMax, &t.NPSPromoterMin, "detractor_max", "promoter_min"},
		{KindCSAT, []field{{"detractor_max", &t.CSATDetractorMax}, {"satisfied_min", &t.CSATSatisfiedMin}},
			&t.CSATDetractorMax, &t.CSATSatisfiedMin, "detractor_max", "satisfied_min"},
		{KindCES, []field{{"detractor_min", &t.CESDetractorMin}, {"easy_max", &t.CESEasyMax}},
			&t.CESEasyMax, &t.CESDetractorMin, "easy_max", "detractor_min"},
	}
	for _, sc := range scales {
		sn, ok := m[string(sc.kind)]
		if !ok {
			continue
		}
		name := "thresholds." + string(sc.kind)
		keys := []string{sc.fields[0].key, sc.fields[1].key}
		fm, err := p.mapping(sn, name, keys...)
		if err != nil {
			return err
		}
		lo, hi, _ := sc.kind.Scale()
		for _, f := range sc.fields {
			vn, ok := fm[f.key]
			if !ok {
				continue
			}
			v, err := p.integer(vn, name+"."+f.key)
			if err != nil {
				return err
			}
			if v < lo || v > hi {
				return p.errf(vn, name+"."+f.key, "%d is outside the %s scale %d–%d", v, sc.kind, lo, hi)
			}
			*f.dst = v
		}
		if *sc.low >= *sc.high {
			return p.errf(sn, name, "%s (%d) must be less than %s (%d)", sc.lowName, *sc.low, sc.highName, *sc.high)
		}
	}
	return nil
}

func (p *parser) messages(n *yaml.Node, msgs *Messages) error {
	m, err := p.mapping(n, "messages", "intro", "thanks", "handoff", "expired", "reprompt")
	if err != nil {
		return err
	}
	for _, f := range []struct {
		key string
		dst *Text
	}{
		{"intro", &msgs.Intro}, {"thanks", &msgs.Thanks}, {"handoff", &msgs.Handoff},
		{"expired", &msgs.Expired}, {"reprompt", &msgs.Reprompt},
	} {
		if v, ok := m[f.key]; ok {
			if *f.dst, err = p.text(v, "messages."+f.key); err != nil {
				return err
			}
		}
	}
	return nil
}

func (p *parser) questions(n *yaml.Node, s *Survey) error {
	if n.Kind != yaml.SequenceNode {
		return p.errf(n, "questions", "want a list of questions, got %s", describe(n))
	}
	if len(n.Content) == 0 {
		return p.errf(n, "questions", "a survey needs at least one question")
	}
	lines := make(map[string]int) // question id → line, for duplicates
	var promptNodes []*yaml.Node
	nexts := make([]*yaml.Node, len(n.Content))
	gotos := make([][]*yaml.Node, len(n.Content))
	for i, raw := range n.Content {
		qn := resolve(raw)
		field := "question " + peekID(qn, strconv.Itoa(i+1))
		m, err := p.mapping(qn, field, "id", "kind", "prompt", "options", "branches", "next", "optional")
		if err != nil {
			return err
		}
		var q Question
		idNode, ok := m["id"]
		if !ok {
			return p.errf(qn, join(field, "id"), "missing")
		}
		if q.ID, err = p.id(idNode, join(field, "id"), MaxIDLen); err != nil {
			return err
		}
		if q.ID == End {
			return p.errf(idNode, join(field, "id"), "%q is reserved for ending the survey", End)
		}
		if first, dup := lines[q.ID]; dup {
			return p.errf(idNode, join(field, "id"), "%q is already used by the question at line %d", q.ID, first)
		}
		lines[q.ID] = idNode.Line
		field = fmt.Sprintf("question %q", q.ID)

		kindNode, ok := m["kind"]
		if !ok {
			return p.errf(qn, join(field, "kind"), "missing (nps, csat, ces, choice or text)")
		}
		kind, err := p.scalar(kindNode, join(field, "kind"))
		if err != nil {
			return err
		}
		q.Kind = Kind(kind)
		if !q.Kind.Valid() {
			return p.errf(kindNode, join(field, "kind"), "%q is not a kind (want nps, csat, ces, choice or text)", kind)
		}

		promptNode, ok := m["prompt"]
		if !ok {
			return p.errf(qn, join(field, "prompt"), "missing")
		}
		if q.Prompt, err = p.text(promptNode, join(field, "prompt")); err != nil {
			return err
		}
		promptNodes = append(promptNodes, promptNode)

		if on, ok := m["options"]; ok {
			if q.Kind != KindChoice {
				return p.errf(on, join(field, "options"), "only choice questions have options")
			}
			if q.Options, err = p.options(on, join(field, "options")); err != nil {
				return err
			}
		} else if q.Kind == KindChoice {
			return p.errf(qn, join(field, "options"), "missing: a choice question needs at least 2 options")
		}

		if on, ok := m["optional"]; ok {
			if on.Kind != yaml.ScalarNode || on.Tag != "!!bool" {
				return p.errf(on, join(field, "optional"), "want true or false, got %s", describe(on))
			}
			q.Optional = on.Value == "true"
			if q.Optional && q.Kind != KindText {
				return p.errf(on, join(field, "optional"), "only text questions can be optional")
			}
		}

		if bn, ok := m["branches"]; ok {
			if q.Branches, gotos[i], err = p.branches(bn, field, &q); err != nil {
				return err
			}
		}
		nexts[i] = m["next"]
		s.Questions = append(s.Questions, q)
	}

	if err := p.sameLanguages(s, promptNodes); err != nil {
		return err
	}

	// Resolve targets now that every id is known.
	edges := make(map[string][]edge, len(s.Questions))
	for i := range s.Questions {
		q := &s.Questions[i]
		field := fmt.Sprintf("question %q", q.ID)
		for j, gn := range gotos[i] {
			to := q.Branches[j].Goto
			f := join(field, fmt.Sprintf("goto %q", to))
			if to == End {
				q.Branches[j].Goto = ""
				continue
			}
			if _, ok := s.Question(to); !ok {
				return p.errf(gn, f, "no such question")
			}
			edges[q.ID] = append(edges[q.ID], edge{to, gn.Line, f})
		}
		if nn := nexts[i]; nn != nil {
			to, err := p.scalar(nn, join(field, "next"))
			if err != nil {
				return err
			}
			f := join(field, fmt.Sprintf("next %q", to))
			if to == End {
				continue // q.Next stays "": the survey ends
			}
			if _, ok := s.Question(to); !ok {
				return p.errf(nn, f, "no such question")
			}
			q.Next = to
			edges[q.ID] = append(edges[q.ID], edge{to, nn.Line, f})
		} else if i+1 < len(s.Questions) {
			q.Next = s.Questions[i+1].ID
			edges[q.ID] = append(edges[q.ID], edge{q.Next, lines[q.ID],
				join(field, fmt.Sprintf("next %q (the following question)", q.Next))})
		}
	}
	return p.acyclic(s, edges)
}

// sameLanguages refuses a language that some question prompts have and
// others lack: the survey would silently fall back to the default language
// for everyone who speaks it.
func (p *parser) sameLanguages(s *Survey, promptNodes []*yaml.Node) error {
	langs := map[string]bool{}
	for _, q := range s.Questions {
		for l := range q.Prompt {
			langs[l] = true
		}
	}
	for i, q := range s.Questions {
		for _, l := range slices.Sorted(maps.Keys(langs)) {
			if q.Prompt[l] == "" {
				return p.errf(promptNodes[i], join(fmt.Sprintf("question %q", q.ID), "prompt"),
					"missing the %s text that other questions have (add %s: \"...\", or remove %s from the survey)", l, l, l)
			}
		}
	}
	return nil
}

func (p *parser) options(n *yaml.Node, field string) ([]Option, error) {
	if n.Kind != yaml.SequenceNode {
		return nil, p.errf(n, field, "want a list of options, got %s", describe(n))
	}
	if len(n.Content) < 2 {
		return nil, p.errf(n, field, "a choice question needs at least 2 options")
	}
	// Everything a customer may type to pick an option must point to one
	// option only: its number, its id, each of its labels.
	picks := make(map[string]int)
	claim := func(key string, idx int, node *yaml.Node, f string) error {
		key = fold(key)
		if other, ok := picks[key]; ok && other != idx {
			return p.errf(node, f, "%q would also pick option %d", key, other+1)
		}
		picks[key] = idx
		return nil
	}
	for i := range n.Content {
		picks[strconv.Itoa(i+1)] = i
	}
	opts := make([]Option, 0, len(n.Content))
	for i, raw := range n.Content {
		on := resolve(raw)
		f := field + ": option " + peekID(on, strconv.Itoa(i+1))
		m, err := p.mapping(on, f, "id", "label")
		if err != nil {
			return nil, err
		}
		var o Option
		idNode, ok := m["id"]
		if !ok {
			return nil, p.errf(on, join(f, "id"), "missing")
		}
		if o.ID, err = p.id(idNode, join(f, "id"), MaxIDLen); err != nil {
			return nil, err
		}
		f = fmt.Sprintf("%s: option %q", field, o.ID)
		for _, prev := range opts {
			if prev.ID == o.ID {
				return nil, p.errf(idNode, join(f, "id"), "used by two options")
			}
		}
		if err := claim(o.ID, i, idNode, join(f, "id")); err != nil {
			return nil, err
		}
		labelNode, ok := m["label"]
		if !ok {
			return nil, p.errf(on, join(f, "label"), "missing")
		}
		if o.Label, err = p.text(labelNode, join(f, "label")); err != nil {
			return nil, err
		}
		for _, lang := range slices.Sorted(maps.Keys(o.Label)) {
			if err := claim(o.Label[lang], i, labelNode, join(f, "label: "+lang)); err != nil {
				return nil, err
			}
		}
		opts = append(opts, o)
	}
	return opts, nil
}

// branches reads the branch list; goto targets are checked by the caller
// once all question ids are known. It returns the goto nodes for their lines.
func (p *parser) branches(n *yaml.Node, field string, q *Question) ([]Branch, []*yaml.Node, error) {
	f := join(field, "branches")
	if n.Kind != yaml.SequenceNode {
		return nil, nil, p.errf(n, f, "want a list of {when, goto}, got %s", describe(n))
	}
	if q.Kind == KindText && len(n.Content) > 0 {
		return nil, nil, p.errf(n, f, "text questions cannot branch: use next")
	}
	var valid []string
	if q.Kind == KindChoice {
		for _, o := range q.Options {
			valid = append(valid, o.ID)
		}
	} else {
		for _, c := range q.Kind.Classes() {
			valid = append(valid, string(c))
		}
		if !slices.Contains(valid, string(ClassDetractor)) {
			valid = append(valid, string(ClassDetractor))
		}
	}
	var out []Branch
	var gotoNodes []*yaml.Node
	for i, raw := range n.Content {
		bn := resolve(raw)
		bf := fmt.Sprintf("%s: branch %d", field, i+1)
		m, err := p.mapping(bn, bf, "when", "goto")
		if err != nil {
			return nil, nil, err
		}
		wn, ok := m["when"]
		if !ok {
			return nil, nil, p.errf(bn, join(bf, "when"), "missing")
		}
		when, err := p.scalar(wn, join(bf, "when"))
		if err != nil {
			return nil, nil, err
		}
		if !slices.Contains(valid, when) {
			what := "a class of " + string(q.Kind)
			if q.Kind == KindChoice {
				what = "an option id"
			}
			return nil, nil, p.errf(wn, join(bf, fmt.Sprintf("when %q", when)), "not %s (want one of %s)", what, strings.Join(valid, ", "))
		}
		for _, prev := range out {
			if prev.When == when {
				return nil, nil, p.errf(wn, join(bf, fmt.Sprintf("when %q", when)), "already handled by an earlier branch")
			}
		}
		gn, ok := m["goto"]
		if !ok {
			return nil, nil, p.errf(bn, join(bf, "goto"), "missing (a question id or end)")
		}
		to, err := p.scalar(gn, join(bf, "goto"))
		if err != nil {
			return nil, nil, err
		}
		out = append(out, Branch{When: when, Goto: to})
		gotoNodes = append(gotoNodes, gn)
	}
	return out, gotoNodes, nil
}

// acyclic makes sure every path ends: a cycle would keep a customer answering
// forever.
func (p *parser) acyclic(s *Survey, edges map[string][]edge) error {
	const (
		unseen = iota
		onPath
		done
	)
	state := make(map[string]int, len(s.Questions))
	var path []string
	var visit func(id string) error
	visit = func(id string) error {
		state[id] = onPath
		path = append(path, id)
		for _, e := range edges[id] {
			switch state[e.to] {
			case onPath:
				start := slices.Index(path, e.to)
				loop := append(slices.Clone(path[start:]), e.to)
				return p.errAt(e.line, e.field, "makes a loop %s (a survey must always end)", strings.Join(loop, " → "))
			case unseen:
				if err := visit(e.to); err != nil {
					return err
				}
			}
		}
		path = path[:len(path)-1]
		state[id] = done
		return nil
	}
	for _, q := range s.Questions {
		if state[q.ID] == unseen {
			if err := visit(q.ID); err != nil {
				return err
			}
		}
	}
	return nil
}

// textOrScalar reads a Text, or one plain value used for every language.
func (p *parser) textOrScalar(n *yaml.Node, field string) (Text, error) {
	if n.Kind == yaml.ScalarNode {
		v, err := p.scalar(n, field)
		return Text{p.defaultLang: v}, err
	}
	return p.text(n, field)
}

// wechatTemplate reads the template message that invites a WeChat customer
// outside the 48-hour window: its id (per language or one for all), an
// optional link, and the template's fields.
func (p *parser) wechatTemplate(n *yaml.Node) (*WeChatTemplate, error) {
	m, err := p.mapping(n, "wechat_template", "id", "url", "fields")
	if err != nil {
		return nil, err
	}
	idNode, ok := m["id"]
	if !ok {
		return nil, p.errf(n, "wechat_template.id", "missing: the template id from the Official Account admin")
	}
	t := &WeChatTemplate{Fields: map[string]Text{}}
	if t.ID, err = p.textOrScalar(idNode, "wechat_template.id"); err != nil {
		return nil, err
	}
	if u, ok := m["url"]; ok {
		if t.URL, err = p.scalar(u, "wechat_template.url"); err != nil {
			return nil, err
		}
	}
	fields, ok := m["fields"]
	if !ok || fields.Kind != yaml.MappingNode || len(fields.Content) == 0 {
		return nil, p.errf(n, "wechat_template.fields", "missing: the template's fields, e.g. {first: ..., remark: ...}")
	}
	for i := 0; i+1 < len(fields.Content); i += 2 {
		k := fields.Content[i].Value
		if t.Fields[k], err = p.textOrScalar(resolve(fields.Content[i+1]), "wechat_template.fields."+k); err != nil {
			return nil, err
		}
	}
	return t, nil
}

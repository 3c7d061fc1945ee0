package scheduler

import (
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"path"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/cxbot/cxbot/flows"
)

// Wave is a marketer's plan for sending a survey: to whom (a trigger on
// touchpoint events, or a segment of customers), when (a cron schedule,
// quiet hours, a frequency cap) and how much (a sample).
type Wave struct {
	ID            string
	Survey        string
	Trigger       *Trigger // one of Trigger and Segment
	Segment       *Segment
	Schedule      string // cron spec: how often the wave looks for due events, or when a segment run happens
	QuietHours    []TimeRange
	FrequencyCap  *FrequencyCap
	Sample        float64 // 0 < Sample ≤ 1
	ExpiresAfter  time.Duration
	ReminderAfter time.Duration // 0 = no reminder
	Channels      []flows.Channel
	TimeZone      string // for quiet hours when the customer's time zone is unknown
	Source        string // file path, or flows.WaveSourceAPI
	Paused        bool
	Retired       bool // DELETE through the API, or its file removed: plans, reminds and sends nothing more

	// capOff and quietOff record an explicit "off": WaveDefaults fill in
	// only what a wave leaves out.
	capOff, quietOff bool
}

// WaveDefaults are the frequency cap and quiet hours of a wave that names
// none, so that no wave re-surveys its customers at every run or writes at
// night unless it says "off".
type WaveDefaults struct {
	FrequencyCap *FrequencyCap
	QuietHours   []TimeRange
}

// MinSegmentInterval is the shortest time between two runs of a segment
// wave: each run asks every matching customer again.
const MinSegmentInterval = time.Hour

// applyDefaults fills what the wave left out.
func (w *Wave) applyDefaults(d WaveDefaults) {
	if w.FrequencyCap == nil && !w.capOff && d.FrequencyCap != nil {
		c := *d.FrequencyCap
		w.FrequencyCap = &c
	}
	if len(w.QuietHours) == 0 && !w.quietOff {
		w.QuietHours = slices.Clone(d.QuietHours)
	}
}

// Trigger invites once per matching event.
type Trigger struct {
	Touchpoint string
	Delay      time.Duration // after occurred_at
	MaxAge     time.Duration // older events are not surveyed (default 7 days)
	Where      Filter
}

// Segment invites every matching customer once per scheduled run, judged by
// their latest event.
type Segment struct {
	Touchpoint string // optional: the latest event's touchpoint
	Where      Filter
}

// Filter matches event attributes: every key must be present and match its
// glob pattern ("SH-*").
type Filter map[string]string

// Match reports whether attrs satisfy every pattern.
func (f Filter) Match(attrs map[string]string) bool {
	for k, pattern := range f {
		v, ok := attrs[k]
		if !ok {
			return false
		}
		if matched, _ := path.Match(pattern, v); !matched {
			return false
		}
	}
	return true
}

// TimeRange is a daily period in minutes after midnight; End < Start wraps
// past midnight ("21:00-09:00").
type TimeRange struct{ Start, End int }

// Contains reports whether the minute of day m lies in the range.
func (r TimeRange) Contains(m int) bool {
	if r.Start < r.End {
		return m >= r.Start && m < r.End
	}
	return m >= r.Start || m < r.End
}

func (r TimeRange) String() string {
	return fmt.Sprintf("%02d:%02d-%02d:%02d", r.Start/60, r.Start%60, r.End/60, r.End%60)
}

// minutes lists the minutes of day the range covers, for overlap checks.
func (r TimeRange) minutes() []int {
	var out []int
	for m := r.Start; m != r.End; m = (m + 1) % (24 * 60) {
		out = append(out, m)
	}
	return out
}

// FrequencyCap limits invitations per customer across all waves.
type FrequencyCap struct {
	Count int
	Per   time.Duration
}

// Defaults for optional wave fields.
const (
	DefaultMaxAge       = 7 * 24 * time.Hour
	DefaultExpiresAfter = 72 * time.Hour
)

// QuietUntil returns when quiet hours end if t (in loc) is inside them, or
// the zero time when sending is allowed now.
func (w *Wave) QuietUntil(t time.Time, loc *time.Location) time.Time {
	local := t.In(loc)
	for _, r := range w.QuietHours {
		m := local.Hour()*60 + local.Minute()
		if !r.Contains(m) {
			continue
		}
		end := time.Date(local.Year(), local.Month(), local.Day(), r.End/60, r.End%60, 0, 0, loc)
		if !end.After(local) {
			end = end.AddDate(0, 0, 1)
		}
		return end
	}
	return time.Time{}
}

// Sampled decides, the same way on every replica and every run, whether a
// customer × event falls in the wave's sample.
func (w *Wave) Sampled(customerID int64, eventID string) bool {
	if w.Sample >= 1 {
		return true
	}
	h := sha256.Sum256([]byte(fmt.Sprintf("%s|%d|%s", w.ID, customerID, eventID)))
	return float64(binary.BigEndian.Uint64(h[:8]))/float64(^uint64(0)) < w.Sample
}

// waveYAML is the file and API shape of a wave.
type waveYAML struct {
	ID      string `yaml:"id"`
	Survey  string `yaml:"survey"`
	Trigger *struct {
		Touchpoint string            `yaml:"touchpoint"`
		Delay      string            `yaml:"delay"`
		MaxAge     string            `yaml:"max_age"`
		Where      map[string]string `yaml:"where"`
	} `yaml:"trigger"`
	Segment *struct {
		Touchpoint string            `yaml:"touchpoint"`
		Where      map[string]string `yaml:"where"`
	} `yaml:"segment"`
	Schedule      string    `yaml:"schedule"`
	QuietHours    yaml.Node `yaml:"quiet_hours"`
	FrequencyCap  string    `yaml:"frequency_cap"`
	Sample        string    `yaml:"sample"`
	ExpiresAfter  string    `yaml:"expires_after"`
	ReminderAfter string    `yaml:"reminder_after"`
	Channels      []string  `yaml:"channels"`
	TimeZone      string    `yaml:"timezone"`
}

var waveIDPattern = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,63}$`)

// ParseWave reads a wave from YAML (or JSON, which is YAML too) and checks
// it; surveyExists tells which surveys are loaded. Every problem is reported
// with the source, the field and, where known, the line.
func ParseWave(source string, data []byte, surveyExists func(string) bool) (*Wave, error) {
	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err != nil {
		line, reason := flows.LocateYAMLError(data, err)
		if reason == "" {
			reason = strings.TrimPrefix(err.Error(), "yaml: ")
		}
		if source == "" {
			if line > 0 {
				return nil, fmt.Errorf("%w: not valid JSON or YAML at line %d: %s", flows.ErrInvalid, line, reason)
			}
			return nil, fmt.Errorf("%w: not valid JSON or YAML: %s", flows.ErrInvalid, reason)
		}
		return nil, fmt.Errorf("%w: %sinvalid YAML: %s", flows.ErrInvalid, sourcePrefix(source, line), reason)
	}
	if len(root.Content) == 0 {
		return nil, fmt.Errorf("%w: %sempty wave definition", flows.ErrInvalid, sourcePrefix(source, 0))
	}
	var raw waveYAML
	dec := resolveAlias(root.Content[0])
	if dec.Kind != yaml.MappingNode {
		return nil, fmt.Errorf("%w: %sa wave is an object of fields, not %s", flows.ErrInvalid, sourcePrefix(source, dec.Line), nodeKind(dec))
	}
	p := waveProblems{source: source, lines: fieldLines(dec), bad: map[string]bool{}}
	// Unknown fields and wrong types are reported with the other problems:
	// the fields that are right are still checked.
	clean := p.shape(dec, reflect.TypeOf(raw), "")
	if err := clean.Decode(&raw); err != nil {
		return nil, fmt.Errorf("%w: %s%s", flows.ErrInvalid, sourcePrefix(source, 0), strings.TrimPrefix(err.Error(), "yaml: "))
	}
	w := &Wave{ID: raw.ID, Survey: raw.Survey, Schedule: strings.TrimSpace(raw.Schedule), Source: source, Sample: 1, ExpiresAfter: DefaultExpiresAfter}

	switch {
	case raw.ID == "":
		p.add("id", "is required")
	case !waveIDPattern.MatchString(raw.ID):
		p.add("id", fmt.Sprintf("%q must be lowercase letters, digits, _ or - (at most 64)", raw.ID))
	case raw.ID == flows.WaveAPI:
		p.add("id", fmt.Sprintf("%q is reserved for invitations made through the API", flows.WaveAPI))
	}
	switch {
	case raw.Survey == "":
		p.add("survey", "is required")
	case surveyExists != nil && !surveyExists(raw.Survey):
		p.add("survey", fmt.Sprintf("no survey %q is loaded", raw.Survey))
	}
	switch {
	case raw.Trigger == nil && raw.Segment == nil:
		p.add("trigger", "a wave needs a trigger (one invitation per event) or a segment (one per customer per run)")
	case raw.Trigger != nil && raw.Segment != nil:
		p.add("segment", "give either trigger or segment, not both")
	case raw.Trigger != nil:
		t := &Trigger{Touchpoint: raw.Trigger.Touchpoint, Where: Filter(raw.Trigger.Where), MaxAge: DefaultMaxAge}
		if t.Touchpoint == "" {
			p.add("trigger.touchpoint", "is required")
		}
		t.Delay = p.duration("trigger.delay", raw.Trigger.Delay, 0)
		t.MaxAge = p.duration("trigger.max_age", raw.Trigger.MaxAge, DefaultMaxAge)
		p.checkFilter("trigger.where", t.Where)
		w.Trigger = t
	default:
		s := &Segment{Touchpoint: raw.Segment.Touchpoint, Where: Filter(raw.Segment.Where)}
		p.checkFilter("segment.where", s.Where)
		w.Segment = s
	}
	if w.Schedule == "" {
		p.add("schedule", `is required (a cron spec such as "@every 1m" or "CRON_TZ=Asia/Shanghai 0 10 1 * *")`)
	} else if sched, err := ParseCron(w.Schedule); err != nil {
		p.add("schedule", fmt.Sprintf("%q is not a valid cron spec: %v", w.Schedule, err))
	} else if runs, gap := scheduleGap(sched); runs == 0 {
		p.add("schedule", fmt.Sprintf("%q never runs: no date matches it", w.Schedule))
	} else if w.Segment != nil && runs > 1 && gap < MinSegmentInterval {
		p.add("schedule", fmt.Sprintf("%q runs every %s: a segment wave asks every matching customer at each run, so it may run at most hourly", w.Schedule, formatDuration(gap)))
	}
	switch q := &raw.QuietHours; {
	case q.Kind == yaml.ScalarNode && isOff(q.Value), q.Kind == yaml.SequenceNode && len(q.Content) == 0:
		w.quietOff = true
	default:
		w.QuietHours = p.quietHours(q)
	}
	switch v := strings.TrimSpace(raw.FrequencyCap); {
	case v == "":
	case isOff(v):
		w.capOff = true
		if w.Segment != nil {
			p.add("frequency_cap", `a segment wave asks every matching customer again at each run, so it needs a cap such as "1 per 30d"; off is only for trigger waves`)
		}
	default:
		w.FrequencyCap = p.frequencyCap(v)
	}
	if raw.Sample != "" {
		w.Sample = p.sample(raw.Sample)
	}
	w.ExpiresAfter = p.duration("expires_after", raw.ExpiresAfter, DefaultExpiresAfter)
	w.ReminderAfter = p.duration("reminder_after", raw.ReminderAfter, 0)
	if w.ReminderAfter > 0 && w.ReminderAfter >= w.ExpiresAfter {
		p.add("reminder_after", fmt.Sprintf("%s must be shorter than expires_after (%s)", raw.ReminderAfter, formatDuration(w.ExpiresAfter)))
	}
	w.Channels = p.channels(raw.Channels)
	if raw.TimeZone != "" {
		if _, err := time.LoadLocation(raw.TimeZone); err != nil {
			p.add("timezone", fmt.Sprintf("%q is not an IANA time zone such as Asia/Shanghai", raw.TimeZone))
		}
		w.TimeZone = raw.TimeZone
	}
	if err := p.err(); err != nil {
		return nil, err
	}
	return w, nil
}

func isOff(v string) bool {
	v = strings.TrimSpace(v)
	return v == "off" || v == "none"
}

// scheduleGap returns how many of the schedule's next 200 runs exist (0:
// it never runs) and the shortest time between two of them.
func scheduleGap(s interface{ Next(time.Time) time.Time }) (runs int, gap time.Duration) {
	t := s.Next(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	if t.IsZero() {
		return 0, 0
	}
	runs = 1
	for range 199 {
		n := s.Next(t)
		if n.IsZero() {
			break
		}
		if d := n.Sub(t); runs == 1 || d < gap {
			gap = d
		}
		t, runs = n, runs+1
	}
	return runs, gap
}

// shape checks every key of the mapping n against the yaml tags of t, at
// every depth (trigger.delai is as much a typo as delai), and every value's
// kind, and returns n without the bad entries. Types are named as in JSON.
// Maps (where:) take any key.
func (p *waveProblems) shape(n *yaml.Node, t reflect.Type, prefix string) *yaml.Node {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	fields := map[string]reflect.Type{}
	var names []string
	for i := range t.NumField() {
		name, _, _ := strings.Cut(t.Field(i).Tag.Get("yaml"), ",")
		fields[name] = t.Field(i).Type
		names = append(names, name)
	}
	out := &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map", Line: n.Line}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], resolveAlias(n.Content[i+1])
		name := prefix + k.Value
		ft, ok := fields[k.Value]
		if !ok {
			p.shapeProblem(name, fmt.Sprintf("unknown field (want one of %s)", strings.Join(names, ", ")))
			continue
		}
		if v.Tag == "!!null" {
			continue // absent
		}
		if ft == reflect.TypeOf(yaml.Node{}) {
			out.Content = append(out.Content, k, v)
			continue
		}
		if keep := p.shapeValue(v, ft, name); keep != nil {
			out.Content = append(out.Content, k, keep)
		}
	}
	return out
}

// shapeValue checks one value against the Go type it decodes into.
func (p *waveProblems) shapeValue(v *yaml.Node, t reflect.Type, name string) *yaml.Node {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.String:
		if v.Kind != yaml.ScalarNode {
			p.shapeProblem(name, "must be a string, not "+nodeKind(v))
			return nil
		}
		return v
	case reflect.Slice:
		if v.Kind != yaml.SequenceNode {
			p.shapeProblem(name, "must be an array of strings, not "+nodeKind(v))
			return nil
		}
		for _, c := range v.Content {
			if c = resolveAlias(c); c.Kind != yaml.ScalarNode || c.Tag == "!!null" {
				p.shapeProblem(name, "must be an array of strings, not of "+nodeKind(c))
				return nil
			}
		}
		return v
	case reflect.Map:
		if v.Kind != yaml.MappingNode {
			p.shapeProblem(name, "must be an object of strings, not "+nodeKind(v))
			return nil
		}
		out := &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map", Line: v.Line}
		for i := 0; i+1 < len(v.Content); i += 2 {
			k, c := v.Content[i], resolveAlias(v.Content[i+1])
			if c.Kind != yaml.ScalarNode || c.Tag == "!!null" {
				p.shapeProblem(name+"."+k.Value, "must be a string, not "+nodeKind(c))
				continue
			}
			out.Content = append(out.Content, k, c)
		}
		return out
	case reflect.Struct:
		if v.Kind != yaml.MappingNode {
			p.shapeProblem(name, "must be an object, not "+nodeKind(v))
			return nil
		}
		return p.shape(v, t, name+".")
	}
	return v
}

// shapeProblem reports a field that cannot be read; later checks of the
// same field are dropped, since they would only repeat it.
func (p *waveProblems) shapeProblem(field, msg string) {
	p.add(field, msg)
	p.bad[field] = true
}

// nodeKind names a YAML node's kind as the JSON type it would be.
func nodeKind(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "an object"
	case yaml.SequenceNode:
		return "an array"
	}
	switch n.Tag {
	case "!!null":
		return "null"
	case "!!bool":
		return "a boolean"
	case "!!int", "!!float":
		return "a number"
	}
	return "a string"
}

// sourcePrefix is "file:line: " for a wave file; an API body has no file
// name and its lines mean little, so it has none.
func sourcePrefix(source string, line int) string {
	switch {
	case source == "":
		return ""
	case line > 0:
		return fmt.Sprintf("%s:%d: ", source, line)
	}
	return source + ": "
}

func resolveAlias(n *yaml.Node) *yaml.Node {
	for n != nil && n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	return n
}

// fieldLines maps "field" and "field.sub" to their lines, for messages.
func fieldLines(n *yaml.Node) map[string]int {
	lines := map[string]int{}
	var walk func(prefix string, n *yaml.Node)
	walk = func(prefix string, n *yaml.Node) {
		if n.Kind != yaml.MappingNode {
			return
		}
		for i := 0; i+1 < len(n.Content); i += 2 {
			key := prefix + n.Content[i].Value
			lines[key] = n.Content[i].Line
			walk(key+".", n.Content[i+1])
		}
	}
	walk("", n)
	return lines
}

type waveProblems struct {
	source   string
	lines    map[string]int
	bad      map[string]bool // fields shape reported; nothing more is said of them
	problems []string
	fields   []FieldProblem
}

// FieldProblem is one invalid field of a wave definition, so an editor can
// show it beside the field.
type FieldProblem struct {
	Field   string `json:"field"`
	Problem string `json:"error"`
}

// InvalidWaveError is a refused wave definition: its message names every
// problem with source and line (as before), Fields lists them by field.
// It is flows.ErrInvalid.
type InvalidWaveError struct {
	msg    string
	Fields []FieldProblem
}

func (e *InvalidWaveError) Error() string { return e.msg }

// Unwrap makes the error flows.ErrInvalid.
func (e *InvalidWaveError) Unwrap() error { return flows.ErrInvalid }

func (p *waveProblems) add(field, msg string) {
	for f := field; ; {
		if p.bad[f] {
			return
		}
		i := strings.LastIndex(f, ".")
		if i < 0 {
			break
		}
		f = f[:i]
	}
	p.fields = append(p.fields, FieldProblem{Field: field, Problem: msg})
	p.problems = append(p.problems, fmt.Sprintf("%s%s: %s", sourcePrefix(p.source, p.lines[field]), field, msg))
}

func (p *waveProblems) err() error {
	if len(p.problems) == 0 {
		return nil
	}
	return &InvalidWaveError{msg: flows.ErrInvalid.Error() + ": " + strings.Join(p.problems, "; "), Fields: p.fields}
}

func (p *waveProblems) duration(field, v string, def time.Duration) time.Duration {
	if v == "" {
		return def
	}
	d, err := ParseDuration(v)
	if err != nil || d < 0 {
		p.add(field, fmt.Sprintf("%q is not a duration such as 30m, 2h or 30d", v))
		return def
	}
	return d
}

func (p *waveProblems) checkFilter(field string, f Filter) {
	for k, pattern := range f {
		if _, err := path.Match(pattern, ""); err != nil {
			p.add(field+"."+k, fmt.Sprintf("%q is not a valid pattern", pattern))
		}
	}
}

// ParseQuietHours reads quiet hours as a wave file writes them,
// "21:00-09:00" or several separated by commas; "off" or "" is none.
func ParseQuietHours(spec string) ([]TimeRange, error) {
	spec = strings.TrimSpace(spec)
	if spec == "" || spec == "off" {
		return nil, nil
	}
	n := &yaml.Node{Kind: yaml.SequenceNode}
	for _, part := range strings.Split(spec, ",") {
		n.Content = append(n.Content, &yaml.Node{Kind: yaml.ScalarNode, Value: strings.TrimSpace(part)})
	}
	p := waveProblems{source: "quiet hours", lines: map[string]int{}}
	ranges := p.quietHours(n)
	if len(p.problems) > 0 {
		return nil, errors.New(strings.TrimPrefix(strings.Join(p.problems, "; "), "quiet hours: quiet_hours: "))
	}
	return ranges, nil
}

// QuietUntil is Wave.QuietUntil for bare ranges: when the quiet hours that
// contain t (in loc) end, or the zero time.
func QuietUntil(ranges []TimeRange, t time.Time, loc *time.Location) time.Time {
	w := Wave{QuietHours: ranges}
	return w.QuietUntil(t, loc)
}

var clockPattern = regexp.MustCompile(`^([01]?\d|2[0-3]):([0-5]\d)$`)

func parseClock(v string) (int, bool) {
	m := clockPattern.FindStringSubmatch(strings.TrimSpace(v))
	if m == nil {
		return 0, false
	}
	h, _ := strconv.Atoi(m[1])
	min, _ := strconv.Atoi(m[2])
	return h*60 + min, true
}

// quietHours accepts "21:00-09:00" or a list of such ranges; overlapping or
// empty ranges are errors, since they usually mean a typo.
func (p *waveProblems) quietHours(n *yaml.Node) []TimeRange {
	var specs []string
	switch n.Kind {
	case 0:
		return nil
	case yaml.ScalarNode:
		if n.Value == "" {
			return nil
		}
		specs = []string{n.Value}
	case yaml.SequenceNode:
		for _, c := range n.Content {
			specs = append(specs, c.Value)
		}
	default:
		p.add("quiet_hours", `must be "HH:MM-HH:MM" or a list of them`)
		return nil
	}
	var out []TimeRange
	covered := map[int]string{}
	for _, spec := range specs {
		from, to, ok := strings.Cut(spec, "-")
		start, ok1 := parseClock(from)
		end, ok2 := parseClock(to)
		if !ok || !ok1 || !ok2 {
			p.add("quiet_hours", fmt.Sprintf("%q is not HH:MM-HH:MM", spec))
			continue
		}
		if start == end {
			p.add("quiet_hours", fmt.Sprintf("%q starts and ends at the same time", spec))
			continue
		}
		r := TimeRange{Start: start, End: end}
		for _, m := range r.minutes() {
			if other, ok := covered[m]; ok {
				p.add("quiet_hours", fmt.Sprintf("%q overlaps %q", spec, other))
				return nil
			}
			covered[m] = spec
		}
		out = append(out, r)
	}
	return out
}

// ParseFrequencyCap reads a cap as a wave file writes it, "1 per 7d";
// "off" or "" is none.
func ParseFrequencyCap(v string) (*FrequencyCap, error) {
	if strings.TrimSpace(v) == "" || isOff(v) {
		return nil, nil
	}
	p := waveProblems{source: ""}
	c := p.frequencyCap(v)
	if len(p.problems) > 0 {
		return nil, errors.New(strings.TrimPrefix(p.problems[0], "frequency_cap: "))
	}
	return c, nil
}

var capPattern = regexp.MustCompile(`^\s*(\d+)\s+per\s+(\S+)\s*$`)

func (p *waveProblems) frequencyCap(v string) *FrequencyCap {
	m := capPattern.FindStringSubmatch(v)
	if m == nil {
		p.add("frequency_cap", fmt.Sprintf("%q is not like \"1 per 30d\"", v))
		return nil
	}
	n, _ := strconv.Atoi(m[1])
	per, err := ParseDuration(m[2])
	if n < 1 || err != nil || per <= 0 {
		p.add("frequency_cap", fmt.Sprintf("%q needs a positive count and duration, like \"1 per 30d\"", v))
		return nil
	}
	return &FrequencyCap{Count: n, Per: per}
}

func (p *waveProblems) sample(v string) float64 {
	s := strings.TrimSpace(v)
	percent := strings.HasSuffix(s, "%")
	f, err := strconv.ParseFloat(strings.TrimSuffix(s, "%"), 64)
	if percent {
		f /= 100
	}
	if err != nil || f <= 0 || f > 1 {
		p.add("sample", fmt.Sprintf("%q must be a share above 0 and at most 100%% (\"25%%\" or 0.25)", v))
		return 1
	}
	return f
}

func (p *waveProblems) channels(names []string) []flows.Channel {
	if len(names) == 0 {
		return []flows.Channel{flows.ChannelTelegram, flows.ChannelWeChat}
	}
	var out []flows.Channel
	for _, n := range names {
		ch := flows.Channel(n)
		if ch != flows.ChannelTelegram && ch != flows.ChannelWeChat {
			p.add("channels", fmt.Sprintf("%q is not telegram or wechat", n))
			continue
		}
		if !slices.Contains(out, ch) {
			out = append(out, ch)
		}
	}
	return out
}

// ParseDuration is time.ParseDuration plus whole days ("30d", "1d12h").
func ParseDuration(v string) (time.Duration, error) {
	v = strings.TrimSpace(v)
	if days, rest, ok := strings.Cut(v, "d"); ok {
		n, err := strconv.Atoi(days)
		if err != nil {
			return 0, fmt.Errorf("bad days in %q", v)
		}
		d := time.Duration(n) * 24 * time.Hour
		if rest == "" {
			return d, nil
		}
		r, err := time.ParseDuration(rest)
		return d + r, err
	}
	return time.ParseDuration(v)
}

// formatDuration writes d the way wave files do: "30d", "1d12h", "2h", "90s".
func formatDuration(d time.Duration) string {
	if d == 0 {
		return "0s"
	}
	var b strings.Builder
	if days := d / (24 * time.Hour); days > 0 {
		fmt.Fprintf(&b, "%dd", days)
		d -= days * 24 * time.Hour
	}
	if d > 0 {
		s := d.String()
		if strings.HasSuffix(s, "m0s") {
			s = strings.TrimSuffix(s, "0s")
		}
		if strings.HasSuffix(s, "h0m") {
			s = strings.TrimSuffix(s, "0m")
		}
		b.WriteString(s)
	}
	return b.String()
}

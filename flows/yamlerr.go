package flows

import (
	"bytes"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// LocateYAMLError turns a yaml.v3 syntax error into the line a person must
// fix and the reason. yaml.v3 reports the line where the enclosing block
// began (a question's "- id:" for a bad indent three lines below, the line
// before an unclosed brace), so the line is found again: the first prefix of
// the file that fails with the same reason ends at the offending line.
// Line is 0 when it cannot be told.
func LocateYAMLError(data []byte, err error) (line int, reason string) {
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	reported := 0
	if rest, ok := strings.CutPrefix(msg, "line "); ok {
		if num, r, ok := strings.Cut(rest, ": "); ok {
			if n, err := strconv.Atoi(num); err == nil {
				reported, msg = n, r
			}
		}
	}
	lines := bytes.SplitAfter(data, []byte("\n"))
	var prefix []byte
	for i, l := range lines {
		prefix = append(prefix, l...)
		var n yaml.Node
		dec := yaml.NewDecoder(bytes.NewReader(prefix))
		for {
			e := dec.Decode(&n)
			if e == nil {
				continue
			}
			if strings.HasSuffix(e.Error(), ": "+msg) || e.Error() == "yaml: "+msg {
				return i + 1, msg
			}
			break
		}
	}
	return reported, msg
}

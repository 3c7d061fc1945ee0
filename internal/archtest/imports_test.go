package archtest

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

const module = "github.com/cxbot/cxbot"

// in names a package of this module; a pattern ending in "/..." also
// matches everything below it, and "..." alone the whole module.
func in(rel string) string { return module + "/" + rel }

// rule says that some packages must not depend, directly or through other
// packages, on others.
type rule struct {
	packages []string // the packages the rule is about
	besides  []string // packages left out of packages
	forbid   []string // what they must not depend on
	allow    []string // exceptions to forbid
	optional bool     // packages may match nothing yet
	why      string
}

// importRules are the layers of docs/architecture.md.
func importRules() []rule {
	return []rule{{
		packages: []string{in("...")},
		besides:  []string{in("store/..."), in("cmd/...")},
		forbid:   []string{in("store/...")},
		why:      "only cmd/cxbot wires storage; the layers above it declare the small interfaces they use and take flows types",
	}, {
		packages: []string{in("...")},
		besides:  []string{in("bot/..."), in("store/..."), in("cmd/..."), in("internal/rediscluster")},
		forbid:   technologies(),
		why:      "SDK types stop in the channel adapters and storage types in the stores: the use cases (conversation, desk, scheduler) and the HTTP and CSV adapters see only flows and the small interfaces they declare",
	}, {
		packages: []string{in("flows")},
		forbid:   append(technologies(), in("...")),
		allow:    []string{in("flows/...")},
		why:      "flows is the domain at the centre: channel-agnostic, no SDK, no storage, no other cxbot package",
	}, {
		packages: []string{in("bot/...")},
		forbid:   []string{in("store/..."), in("conversation"), in("scheduler"), in("httpapi"), in("eventcsv"), in("desk"), in("webhooks")},
		why:      "channel adapters convert SDK types at the edge and know only flows and bot.Channel",
	}, {
		packages: []string{in("store/...")},
		forbid:   []string{in("conversation"), in("scheduler"), in("httpapi"), in("eventcsv"), in("desk"), in("webhooks"), in("bot/..."), in("cmd/...")},
		why:      "storage applies the rules flows defines and knows nothing of the layers that use it",
	}, {
		packages: []string{in("eventcsv")},
		optional: true,
		forbid:   []string{in("httpapi"), in("conversation"), in("scheduler"), in("bot/...")},
		why:      "the CSV adapter stands beside the HTTP one and shares its validation through flows",
	}, {
		packages: []string{in("webhooks")},
		forbid:   []string{in("httpapi"), in("conversation"), in("scheduler"), in("desk"), in("eventcsv"), in("bot/...")},
		why:      "the outbox deliverer sends what flows records; the layers that write the outbox do not drive it",
	}, {
		packages: []string{in("segment")},
		forbid:   []string{in("...")},
		allow:    []string{in("segment/...")},
		why:      "word segmentation is a tool for the reasons report: it knows no cxbot package, flows ranks the words",
	}}
}

// technologies are the SDKs, clients and drivers that only adapters and
// stores may use.
func technologies() []string {
	return []string{
		"github.com/go-telegram/bot/...", "github.com/silenceper/wechat/...",
		"github.com/redis/go-redis/...", "github.com/go-redis/redis/...", "github.com/alicebob/miniredis/...",
		"gorm.io/...", "github.com/jackc/pgx/...", "github.com/glebarez/...", "modernc.org/sqlite/...",
	}
}

func matches(pkg string, patterns []string) bool {
	for _, p := range patterns {
		if p == in("...") && strings.HasPrefix(pkg, module+"/") {
			return true
		}
		if base, ok := strings.CutSuffix(p, "/..."); ok && (pkg == base || strings.HasPrefix(pkg, base+"/")) {
			return true
		}
		if pkg == p {
			return true
		}
	}
	return false
}

// graph maps each package to its non-test imports.
type graph map[string][]string

// loadGraph lists the module's packages and everything they depend on,
// tests excluded: integration tests legitimately open real stores.
func loadGraph(t *testing.T) graph {
	t.Helper()
	gomod, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		t.Fatalf("go env GOMOD: %v", err)
	}
	cmd := exec.Command("go", "list", "-e", "-deps", "-json=ImportPath,Imports,Standard", "./...")
	cmd.Dir = filepath.Dir(strings.TrimSpace(string(gomod)))
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list -deps ./...: %v\n%s", err, stderr.Bytes())
	}
	g := graph{}
	dec := json.NewDecoder(bytes.NewReader(out))
	for {
		var p struct {
			ImportPath string
			Imports    []string
			Standard   bool
		}
		if err := dec.Decode(&p); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatalf("go list output: %v", err)
		}
		if !p.Standard { // the standard library imports nothing of ours
			g[p.ImportPath] = p.Imports
		}
	}
	return g
}

// violations returns, for each package the rule is about, the shortest
// import chain to each forbidden package it reaches. A chain stops at the
// first forbidden package, so one bad import is reported once, not once per
// package behind it.
func violations(g graph, r rule) (found [][]string, subjects int) {
	forbidden := func(p string) bool { return matches(p, r.forbid) && !matches(p, r.allow) }
	var roots []string
	for p := range g {
		if matches(p, r.packages) && !matches(p, r.besides) {
			roots = append(roots, p)
		}
	}
	slices.Sort(roots)
	for _, root := range roots {
		from := map[string]string{root: ""}
		queue := []string{root}
		for len(queue) > 0 {
			p := queue[0]
			queue = queue[1:]
			imports := slices.Clone(g[p])
			slices.Sort(imports)
			for _, next := range imports {
				if _, seen := from[next]; seen {
					continue
				}
				from[next] = p
				if !forbidden(next) {
					queue = append(queue, next)
					continue
				}
				chain := []string{next}
				for at := p; at != ""; at = from[at] {
					chain = append(chain, at)
				}
				slices.Reverse(chain)
				found = append(found, chain)
			}
		}
	}
	return found, len(roots)
}

func short(chain []string) string {
	parts := make([]string, len(chain))
	for i, p := range chain {
		parts[i] = strings.TrimPrefix(p, module+"/")
	}
	return strings.Join(parts, " → ")
}

func TestImportRule(t *testing.T) {
	g := loadGraph(t)
	for _, r := range importRules() {
		found, subjects := violations(g, r)
		if subjects == 0 && !r.optional {
			t.Errorf("no package matches %v: the rule (%s) checks nothing; update it with the tree", r.packages, r.why)
		}
		for _, chain := range found {
			t.Errorf("%s must not depend on %s: %s\n\timport chain: %s",
				short(chain[:1]), short(chain[len(chain)-1:]), r.why, short(chain))
		}
	}
}

// TestViolationsNameTheChain proves the check can fail, on a made-up tree.
func TestViolationsNameTheChain(t *testing.T) {
	g := graph{
		in("flows"):           {"fmt", in("internal/change")},
		in("internal/change"): {in("store/sqlstore")},
		in("store/sqlstore"):  {in("flows"), "gorm.io/gorm"},
		in("scheduler"):       {in("flows"), in("internal/change")},
		in("cmd/cxbot"):       {in("store/sqlstore"), in("scheduler")},
		"gorm.io/gorm":        nil,
	}
	var got []string
	for _, r := range importRules() {
		found, _ := violations(g, r)
		for _, chain := range found {
			got = append(got, short(chain))
		}
	}
	slices.Sort(got)
	want := []string{
		"flows → internal/change",                      // flows depends on no other cxbot package
		"flows → internal/change → store/sqlstore",     // nor on storage, even indirectly
		"internal/change → store/sqlstore",             // nothing but cmd wires storage
		"scheduler → internal/change → store/sqlstore", // whichever way it comes
		// and no technology reaches the domain or a use case, even through storage
		"flows → internal/change → store/sqlstore → gorm.io/gorm",
		"internal/change → store/sqlstore → gorm.io/gorm",
		"scheduler → internal/change → store/sqlstore → gorm.io/gorm",
	}
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("violations:\n\t%s\nwant:\n\t%s", strings.Join(got, "\n\t"), strings.Join(want, "\n\t"))
	}
}

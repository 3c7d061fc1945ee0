// Command vulndb builds a local Go vulnerability database, in the v1 layout
// that `govulncheck -db file:///abs/dir` reads, from a directory of OSV JSON
// entries (data/osv of the golang.org/x/vulndb module, fetched through the
// Go module proxy). It lets govulncheck run with no access to the public
// vulnerability database.
//
// Layout written under -out:
//
//	index/db.json       {"modified": <latest entry modification>}
//	index/modules.json  [{"path": <module>, "vulns": [{"id", "modified"}]}]
//	ID/<GO-ID>.json     the OSV entry, byte for byte
//
// The optional "fixed" field of modules.json is left out on purpose: it only
// lets the client skip reading entries, which it then filters by version
// itself, so leaving it out changes no result.
//
// Usage:
//
//	go run ./internal/tools/vulndb -vulns $VULNDB/data/osv -out /tmp/vulndb [-modified 2026-11-05T23:49:57Z]
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"
)

type entry struct {
	ID       string    `json:"id"`
	Modified time.Time `json:"modified"`
	Affected []struct {
		Module struct {
			Path string `json:"name"`
		} `json:"package"`
	} `json:"affected"`
}

type moduleVuln struct {
	ID       string    `json:"id"`
	Modified time.Time `json:"modified"`
}

type moduleMeta struct {
	Path  string       `json:"path"`
	Vulns []moduleVuln `json:"vulns"`
}

func main() {
	vulns := flag.String("vulns", "", "directory of OSV JSON files named <ID>.json")
	out := flag.String("out", "", "directory to write the database to (replaced)")
	modified := flag.String("modified", "", "RFC 3339 time for index/db.json when no entry carries one")
	flag.Parse()
	if *vulns == "" || *out == "" {
		log.Fatal("usage: vulndb -vulns DIR -out DIR [-modified TIME]")
	}
	if err := build(*vulns, *out, *modified); err != nil {
		log.Fatal(err)
	}
}

func build(vulnsDir, outDir, fallback string) error {
	files, err := filepath.Glob(filepath.Join(vulnsDir, "*.json"))
	if err != nil {
		return err
	}
	if len(files) == 0 {
		return fmt.Errorf("no OSV files in %s", vulnsDir)
	}
	if err := os.RemoveAll(outDir); err != nil {
		return err
	}
	for _, d := range []string{"ID", "index"} {
		if err := os.MkdirAll(filepath.Join(outDir, d), 0o755); err != nil {
			return err
		}
	}

	var latest time.Time
	modules := map[string]*moduleMeta{}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			return err
		}
		var e entry
		if err := json.Unmarshal(b, &e); err != nil {
			return fmt.Errorf("%s: %w", f, err)
		}
		if e.ID == "" || filepath.Base(f) != e.ID+".json" {
			return fmt.Errorf("%s: file name does not match id %q", f, e.ID)
		}
		if err := os.WriteFile(filepath.Join(outDir, "ID", e.ID+".json"), b, 0o644); err != nil {
			return err
		}
		if e.Modified.After(latest) {
			latest = e.Modified
		}
		seen := map[string]bool{} // one index row per (module, id)
		for _, a := range e.Affected {
			p := a.Module.Path
			if p == "" || seen[p] {
				continue
			}
			seen[p] = true
			m := modules[p]
			if m == nil {
				m = &moduleMeta{Path: p}
				modules[p] = m
			}
			m.Vulns = append(m.Vulns, moduleVuln{ID: e.ID, Modified: e.Modified})
		}
	}

	if latest.IsZero() && fallback != "" {
		if latest, err = time.Parse(time.RFC3339, strings.TrimSpace(fallback)); err != nil {
			return fmt.Errorf("-modified: %w", err)
		}
	}
	index := make([]*moduleMeta, 0, len(modules))
	for _, m := range modules {
		sort.Slice(m.Vulns, func(i, j int) bool { return m.Vulns[i].ID < m.Vulns[j].ID })
		index = append(index, m)
	}
	sort.Slice(index, func(i, j int) bool { return index[i].Path < index[j].Path })

	if err := writeJSON(filepath.Join(outDir, "index", "modules.json"), index); err != nil {
		return err
	}
	if err := writeJSON(filepath.Join(outDir, "index", "db.json"), map[string]time.Time{"modified": latest}); err != nil {
		return err
	}
	log.Printf("vulndb: %d entries, %d modules, modified %s -> %s", len(files), len(index), latest.Format(time.RFC3339), outDir)
	return nil
}

func writeJSON(path string, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return os.WriteFile(path, b, 0o644)
}

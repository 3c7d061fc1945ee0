package main

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cxbot/cxbot/store/sqlstore"
)

// `cxbot waves` is a listing: it loads no file into the database, and says
// when the files would not load.
func TestWavesCommandNeverWrites(t *testing.T) {
	ctx := context.Background()
	dbURL := filepath.Join(t.TempDir(), "cx.db")
	db, err := sqlstore.Open(ctx, dbURL, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	db.Close()
	dir := configWithWaves(t, map[string]string{
		"a.yaml": "id: a\nsurvey: post_purchase_nps\ntrigger: {touchpoint: purchase}\nschedule: \"@every 1m\"\n",
		"b.yaml": "id: b\nsurvey: post_purchase_nps\ntrigger: {touchpoint: purchase, delai: 2h}\nschedule: \"@every 1m\"\n",
	})
	var out, errOut strings.Builder
	env := envOf(map[string]string{"CXBOT_DATABASE_URL": dbURL, "CXBOT_CONFIG_DIR": dir})
	if code := run(ctx, []string{"waves"}, env, &out, &errOut); code != 0 {
		t.Fatalf("cxbot waves: %d %s", code, errOut.String())
	}
	if !strings.Contains(out.String(), "no waves yet") || !strings.Contains(errOut.String(), "b.yaml:3: trigger.delai: unknown field") {
		t.Fatalf("out %q, err %q", out.String(), errOut.String())
	}
	db, err = sqlstore.Open(ctx, dbURL, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if waves, err := db.Waves(ctx); err != nil || len(waves) != 0 {
		t.Fatalf("waves in SQL after a listing: %v %v", waves, err)
	}
}

package main

import (
	"context"
	"encoding/csv"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/xuri/excelize/v2"

	"github.com/cxbot/cxbot/flows"
	"github.com/cxbot/cxbot/store/sqlstore"
)

func TestExportCommand(t *testing.T) {
	dir := t.TempDir()
	dbPath := filepath.Join(dir, "cx.db")
	env := envOf(map[string]string{"CXBOT_DATABASE_URL": dbPath, "CXBOT_CONFIG_DIR": "../../configs"})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var out, errOut strings.Builder
	if code := run(ctx, []string{"migrate"}, env, &out, &errOut); code != 0 {
		t.Fatalf("migrate: %d %s", code, errOut.String())
	}
	db, err := sqlstore.Open(ctx, dbPath, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	at := time.Now().UTC().Add(-time.Hour)
	for i, c := range []struct {
		score   int
		comment string
	}{{3, "=cmd|' /C calc'!A0"}, {10, "很好"}} {
		cust, err := db.UpsertCustomer(ctx, fmt.Sprint("X-", i), "zh-CN")
		if err != nil {
			t.Fatal(err)
		}
		inv, _, err := db.CreateInvitation(ctx, flows.Invitation{WaveID: "post_purchase", CustomerID: cust.ID, EventID: fmt.Sprint("e", i),
			SurveyID: "post_purchase_nps", SurveyVersion: 1, Channel: flows.ChannelTelegram, ExternalID: fmt.Sprint(i), Language: "zh-CN",
			Context: map[string]string{"store": "SH-0" + fmt.Sprint(i)}})
		if err != nil {
			t.Fatal(err)
		}
		r, err := db.StartResponse(ctx, flows.Response{InvitationID: inv.ID, StartedAt: at})
		if err != nil {
			t.Fatal(err)
		}
		s := c.score
		for _, a := range []flows.Answer{{QuestionID: "nps", Kind: flows.KindNPS, Score: &s, Class: flows.ClassDetractor},
			{QuestionID: "what_went_wrong", Kind: flows.KindText, Text: c.comment}} {
			a.AnsweredAt = at
			if _, err := db.ApplyStep(ctx, flows.StepWrite{ResponseID: r.ID, Answer: &a}); err != nil {
				t.Fatal(err)
			}
		}
	}
	db.Close()

	csvPath := filepath.Join(dir, "out.csv")
	errOut.Reset()
	if code := run(ctx, []string{"export", "--survey", "post_purchase_nps", "--out", csvPath}, env, &out, &errOut); code != 0 ||
		!strings.Contains(errOut.String(), "2 responses written") {
		t.Fatalf("export csv: %d %s", code, errOut.String())
	}
	data, _ := os.ReadFile(csvPath)
	rows, err := csv.NewReader(strings.NewReader(strings.TrimPrefix(string(data), "\uFEFF"))).ReadAll()
	if err != nil || len(rows) != 3 || strings.Join(rows[0][9:], ",") != "nps,what_went_wrong,make_it_10,attr.store" ||
		rows[1][10] != "'=cmd|' /C calc'!A0" || rows[2][10] != "很好" || rows[2][12] != "SH-01" {
		t.Fatalf("csv = %q, %v", rows, err)
	}

	xlsxPath := filepath.Join(dir, "out.xlsx")
	errOut.Reset()
	if code := run(ctx, []string{"export", "--survey", "post_purchase_nps", "--out", xlsxPath, "--attr", "store=SH-00"}, env, &out, &errOut); code != 0 {
		t.Fatalf("export xlsx: %d %s", code, errOut.String())
	}
	book, err := excelize.OpenFile(xlsxPath)
	if err != nil {
		t.Fatal(err)
	}
	if rows, err := book.GetRows("responses"); err != nil || len(rows) != 2 || rows[1][3] != "X-0" {
		t.Fatalf("xlsx = %q, %v", rows, err)
	}

	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"export", "--out", csvPath}, "--survey and --out are required"},
		{[]string{"export", "--survey", "post_purchase_nps", "--out", "x.pdf"}, `format "pdf"`},
		{[]string{"export", "--survey", "nope", "--out", csvPath}, `no survey "nope"`},
		{[]string{"export", "--survey", "post_purchase_nps", "--out", csvPath, "--from", "yesterday"}, `--from "yesterday"`},
		{[]string{"export", "--survey", "post_purchase_nps", "--out", csvPath, "--attr", "store"}, "want name=value"},
		{[]string{"export", "--survey", "post_purchase_nps", "--out", csvPath, "--class", "happy"}, `class="happy"`},
	} {
		errOut.Reset()
		if code := run(ctx, tc.args, env, &out, &errOut); code == 0 || !strings.Contains(errOut.String(), tc.want) {
			t.Errorf("%v: exit %d, %q; want %q", tc.args, code, errOut.String(), tc.want)
		}
	}
}

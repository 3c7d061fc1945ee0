package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/cxbot/cxbot/bot/telegram/telegramtest"
	"github.com/cxbot/cxbot/flows"
)

const (
	demoBotToken  = "424242:DEMO"
	demoAgentChat = -100
	demoAgentUser = 7001 // the agent who works a case in the demo
	demoSurvey    = "post_purchase_nps"
)

// demoAction is one thing a simulated customer does: tap a button or type.
type demoAction struct {
	tap  string
	text string
}

func (a demoAction) String() string {
	if a.tap != "" {
		return "taps " + a.tap
	}
	return fmt.Sprintf("types %q", a.text)
}

// demoCustomer is a scripted customer: their language, the score they mean
// to give and what they do.
type demoCustomer struct {
	ref     string
	chat    int64 // the Telegram chat, new in each run
	lang    string
	score   int
	actions []demoAction
}

// demoCustomers scripts n customers: mostly taps, a few typed answers, one
// who types an invalid score first, detractors who explain what went wrong.
// What follows a score depends on its class under the survey's own rules.
func demoCustomers(n int, survey *flows.Survey, run int) []demoCustomer {
	scores := []int{10, 9, 3, 8, 9, 6, 10, 7, 2, 9, 10, 0}
	complaintTexts := []string{
		"The parcel arrived three days late and nobody told me.",
		"包装破损，联系客服也没人回复。",
		"Wrong size delivered, and the return form does not work.",
		"送货员态度很差。",
	}
	out := make([]demoCustomer, 0, n)
	complaints := 0
	for i := range n {
		c := demoCustomer{ref: demoRef(run, i), chat: demoChat(run, i), lang: []string{"en", "zh-CN"}[i%2], score: scores[i%len(scores)]}
		switch class := survey.Classify(flows.KindNPS, c.score); {
		case i == 3: // types instead of tapping, and gets it wrong first
			c.score = 8
			c.actions = []demoAction{{text: "11"}, {text: "eight"}, {text: "skip"}}
		case class.IsDetractor():
			c.actions = []demoAction{{tap: strconv.Itoa(c.score)}, {text: complaintTexts[complaints%len(complaintTexts)]}}
			complaints++
		case class == flows.ClassPassive:
			c.actions = []demoAction{{tap: strconv.Itoa(c.score)}, {text: "Faster delivery would make it a 10."}}
		default:
			c.actions = []demoAction{{tap: strconv.Itoa(c.score)}}
		}
		out = append(out, c)
	}
	return out
}

func cmdDemo(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := newFlagSet("demo", "Runs the whole loop on this machine with the embedded defaults: a fake Telegram Bot API over HTTP,\nsimulated customers taking post_purchase_nps, detractor handoffs and the final NPS report.\nIt first writes eight weeks of history (once: a second run adds none) and leaves the database\nbehind, with the command that opens the dashboard on it.", stderr)
	customers := fs.Int("customers", 12, "how many simulated customers take the survey")
	configDir := fs.String("config-dir", orString(getenv("CXBOT_CONFIG_DIR"), "configs"), "folder with surveys/*.yaml")
	dbURL := fs.String("db", orString(getenv("CXBOT_DATABASE_URL"), "cxbot-demo.db"), "the database the demo leaves behind: a SQLite file or postgres://… (default CXBOT_DATABASE_URL)")
	verbose := fs.Bool("verbose", false, "print cxbot's own logs")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *customers < 1 || *customers > 1000 {
		return fmt.Errorf("--customers must be from 1 to 1000")
	}
	if err := checkDatabaseURL(*dbURL); err != nil {
		return fmt.Errorf("--db %s: %w", *dbURL, err)
	}
	if abs, err := filepath.Abs(*configDir); err == nil {
		*configDir = abs
	}
	dbShown := *dbURL
	if !strings.Contains(dbShown, "://") {
		if abs, err := filepath.Abs(dbShown); err == nil {
			dbShown = abs
		}
	}

	tg := telegramtest.New(demoBotToken, telegramtest.WithMaxPollWait(250*time.Millisecond))
	defer tg.Close()
	apiToken := rand.Text()
	cfg, err := loadConfig(envOf(map[string]string{
		"CXBOT_DATABASE_URL":          dbShown,
		"CXBOT_CONFIG_DIR":            *configDir,
		"CXBOT_API_TOKEN":             apiToken,
		"CXBOT_TELEGRAM_TOKEN":        demoBotToken,
		"CXBOT_TELEGRAM_API_URL":      tg.URL(),
		"CXBOT_TELEGRAM_AGENT_CHAT":   strconv.Itoa(demoAgentChat),
		"CXBOT_TELEGRAM_POLL_TIMEOUT": "2s",
		"CXBOT_AGENT_LANGUAGE":        "en",
	}))
	if err != nil {
		return err
	}
	logLevel, logOut := slog.LevelWarn, stderr
	if *verbose {
		logLevel = slog.LevelDebug
	}
	log := slog.New(slog.NewTextHandler(logOut, &slog.HandlerOptions{Level: logLevel}))
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	a, err := newApp(ctx, cfg, log, true)
	if err != nil {
		return err
	}
	defer a.close()
	survey, ok := a.surveys[demoSurvey]
	if !ok {
		return fmt.Errorf("--config-dir %s: no survey %s", *configDir, demoSurvey)
	}
	fmt.Fprintf(stdout, "cxbot demo: %s database %s, embedded Redis, fake Telegram Bot API at %s (long polling)\n", a.db.Dialect(), dbShown, tg.URL())

	// The history goes in before the service runs, so nothing it does
	// (notices, reminders, follow-ups) sees a half-written case.
	started := time.Now()
	hist, err := seedHistory(ctx, a.db, a.surveys, started)
	if err != nil {
		return fmt.Errorf("the demo's history: %w", err)
	}
	if hist.Invitations == 0 {
		fmt.Fprintln(stdout, "History: there from an earlier run, nothing added.")
	} else {
		fmt.Fprintf(stdout, "History: %d weeks (%s to %s), 4 stores, 3 touchpoints: %d invitations, %d responses, %d cases worked by 3 agents (%.1fs)\n",
			historyWeeks, hist.From.Format(time.DateOnly), hist.To.Format(time.DateOnly), hist.Invitations, hist.Responses, hist.Handoffs, time.Since(started).Seconds())
	}
	run, err := demoRun(ctx, a.db)
	if err != nil {
		return err
	}

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	done := make(chan error, 1)
	go func() { done <- a.run(ctx, ln) }()
	d := &demo{tg: tg, api: "http://" + ln.Addr().String(), token: apiToken, survey: survey, out: stdout}
	fmt.Fprintf(stdout, "cxbot API at %s; live run %d\n\n", d.api, run)

	runErr := d.run(ctx, demoCustomers(*customers, survey, run))
	cancel()
	if err := errors.Join(runErr, <-done); err != nil {
		return err
	}
	printDashboardHelp(stdout, dbShown, apiToken, *configDir, hist.From)
	return nil
}

// customerLookup finds a customer by ref: how the demo tells its runs apart.
type customerLookup interface {
	CustomerByRef(ctx context.Context, ref string) (flows.Customer, error)
}

// demoRun numbers this live run: one more than the runs whose first
// customer the database holds. Each run has its own customers and chats,
// since an earlier run's customer may have opted out or have a case open.
func demoRun(ctx context.Context, db customerLookup) (int, error) {
	for run := 1; ; run++ {
		switch _, err := db.CustomerByRef(ctx, demoRef(run, 0)); {
		case errors.Is(err, flows.ErrNotFound):
			return run, nil
		case err != nil:
			return 0, err
		}
	}
}

// demoRef is the ref of customer i of a live run: C-01 … in the first,
// C2-01 … in the second.
func demoRef(run, i int) string {
	if run == 1 {
		return fmt.Sprintf("C-%02d", i+1)
	}
	return fmt.Sprintf("C%d-%02d", run, i+1)
}

// demoChat is the Telegram chat of customer i of a live run.
func demoChat(run, i int) int64 { return 9001 + int64(run-1)*1000 + int64(i) }

// printDashboardHelp tells how to open the dashboard on what the demo left.
func printDashboardHelp(w io.Writer, dbURL, token, configDir string, from time.Time) {
	fmt.Fprintf(w, "\nThe data stays in %s. To see it on the dashboard, run\n\n", dbURL)
	cmd := "go run ./cmd/cxbot serve"
	if exe, err := os.Executable(); err == nil && !strings.Contains(exe, "go-build") {
		cmd = exe + " serve"
	}
	fmt.Fprintf(w, "  CXBOT_DATABASE_URL='%s' CXBOT_API_TOKEN=%s CXBOT_CONFIG_DIR='%s' CXBOT_HTTP_ADDR=127.0.0.1:8080 %s\n\n", dbURL, token, configDir, cmd)
	fmt.Fprintf(w, "then open http://127.0.0.1:8080/ and sign in with the token %s.\n", token)
	fmt.Fprintf(w, "The overview shows the last 30 days; set From to %s for all eight weeks.\n", from.Format(time.DateOnly))
}

func orString(v, def string) string {
	if v == "" {
		return def
	}
	return v
}

type demo struct {
	tg     *telegramtest.Server
	api    string
	token  string
	survey *flows.Survey // its thresholds say what the report must count
	out    io.Writer
}

func (d *demo) run(ctx context.Context, customers []demoCustomer) error {
	var want struct{ promoters, passives, detractors int }
	var firstDetractor *demoCustomer
	// The report check reads this run's answers only: history and earlier
	// runs are older.
	since := time.Now().UTC().Truncate(time.Second)
	for i, c := range customers {
		if err := d.converse(ctx, c, c.chat); err != nil {
			return fmt.Errorf("customer %s: %w", c.ref, err)
		}
		switch class := d.survey.Classify(flows.KindNPS, c.score); {
		case class.IsDetractor():
			want.detractors++
			if firstDetractor == nil {
				firstDetractor = &customers[i]
			}
		case class == flows.ClassPromoter:
			want.promoters++
		default:
			want.passives++
		}
	}

	// One customer opts out; a later invitation is refused and nothing is sent.
	stopChat := customers[0].chat
	if err := d.act(ctx, stopChat, "en", demoAction{text: "/stop"}); err != nil {
		return err
	}
	code, body, err := d.call(ctx, "POST", "/api/v1/invitations", map[string]any{"survey": "post_service_csat", "customer_ref": customers[0].ref, "telegram_chat_id": stopChat, "now": true})
	if err != nil {
		return err
	}
	fmt.Fprintf(d.out, "\n%s sent /stop; a new invitation for them is refused: %d %s", customers[0].ref, code, body)

	// The agents' chat may also get reminders of an earlier run's cases:
	// this run's notices are the ones naming its customers.
	ours := func() []telegramtest.SentMessage {
		var out []telegramtest.SentMessage
		for _, m := range d.tg.Sent(demoAgentChat) {
			for _, c := range customers {
				if strings.Contains(m.PlainText(), " "+c.ref+" · ") {
					out = append(out, m)
					break
				}
			}
		}
		return out
	}
	waitCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := d.tg.WaitFor(waitCtx, func() bool { return len(ours()) >= want.detractors }); err != nil {
		return fmt.Errorf("agents' chat got %d handoff notices, want %d: %w", len(ours()), want.detractors, err)
	}
	notices := ours()
	fmt.Fprintf(d.out, "\nAgents' chat got %d handoff notices:\n", len(notices))
	for _, n := range notices {
		fmt.Fprintf(d.out, "  %s\n\n", strings.ReplaceAll(n.PlainText(), "\n", "\n  "))
	}
	if firstDetractor != nil {
		for _, n := range notices {
			if strings.Contains(n.PlainText(), " "+firstDetractor.ref+" · ") {
				if err := d.workCase(ctx, n, firstDetractor.chat); err != nil {
					return fmt.Errorf("the desk: %w", err)
				}
				break
			}
		}
	}

	path := "/api/v1/reports/nps?survey=" + demoSurvey + "&from=" + url.QueryEscape(since.Format(time.RFC3339))
	code, body, err = d.call(ctx, "GET", path, nil)
	if err != nil {
		return err
	}
	fmt.Fprintf(d.out, "NPS report of this run (GET %s): %s", path, body)
	var report struct{ Responses, Promoters, Passives, Detractors int }
	if code != http.StatusOK || json.Unmarshal(body, &report) != nil {
		return fmt.Errorf("report: %d %s", code, body)
	}
	if report.Promoters != want.promoters || report.Passives != want.passives || report.Detractors != want.detractors {
		return fmt.Errorf("report %+v does not match what the customers answered %+v", report, want)
	}
	fmt.Fprintln(d.out, "The report matches what the customers answered.")
	return nil
}

// converse invites one customer and plays their script, printing what the
// bot says after each step.
func (d *demo) converse(ctx context.Context, c demoCustomer, chat int64) error {
	code, body, err := d.call(ctx, "POST", "/api/v1/invitations", map[string]any{
		"survey": demoSurvey, "customer_ref": c.ref, "telegram_chat_id": chat, "language": c.lang, "now": true, // the demo runs at any hour
		"context": map[string]string{"order_id": fmt.Sprintf("ord-%d", 1000+chat%1000), "store": "SH-01", "touchpoint": "purchase"},
	})
	if err != nil {
		return err
	}
	if code != http.StatusCreated {
		return fmt.Errorf("invitation: %d %s", code, body)
	}
	sent, err := d.waitMessages(ctx, chat, 1)
	if err != nil {
		return err
	}
	fmt.Fprintf(d.out, "%s (%s) ← %s\n", c.ref, c.lang, firstLine(sent[0].Text))
	for _, a := range c.actions {
		if err := d.act(ctx, chat, c.lang, a); err != nil {
			return err
		}
		fmt.Fprintf(d.out, "      %s → %s\n", a, firstLine(d.tg.LastText(chat)))
	}
	return nil
}

// workCase closes the loop on one case: an agent is registered, claims the
// notice, answers the customer in the chat, and resolves it.
func (d *demo) workCase(ctx context.Context, notice telegramtest.SentMessage, customer int64) error {
	code, body, err := d.call(ctx, "POST", "/api/v1/agents", map[string]any{"telegram_user_id": demoAgentUser, "name": "Li Wei"})
	if err != nil || (code != http.StatusCreated && code != http.StatusOK) {
		return fmt.Errorf("add agent: %d %s %v", code, body, err)
	}
	agent := telegramtest.NewUser(demoAgentUser, "Li Wei")
	button := func(label string) (telegramtest.Button, bool) {
		for _, m := range d.tg.Sent(demoAgentChat) {
			if m.MessageID != notice.MessageID {
				continue
			}
			for _, row := range m.Keyboard {
				for _, b := range row {
					if b.Text == label {
						return b, true
					}
				}
			}
		}
		return telegramtest.Button{}, false
	}
	press := func(label string) error {
		b, ok := button(label)
		if !ok {
			return fmt.Errorf("the notice has no %q button", label)
		}
		d.tg.Enqueue(d.tg.GroupTapUpdate(demoAgentChat, agent, notice.MessageID, b.CallbackData))
		return nil
	}
	waitButton := func(label string) error {
		ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		return d.tg.WaitFor(ctx, func() bool { _, ok := button(label); return ok })
	}
	fmt.Fprintln(d.out, "The desk (cxbot agents add, then the agents' Telegram group):")
	if err := press("Claim"); err != nil {
		return err
	}
	if err := waitButton("Resolve"); err != nil {
		return fmt.Errorf("the claim did not show: %w", err)
	}
	fmt.Fprintln(d.out, "  Li Wei taps Claim: the notice now shows the owner and a Resolve button")
	before := len(d.tg.Sent(customer))
	d.tg.Enqueue(d.tg.GroupTextUpdate(demoAgentChat, agent, "So sorry! A new one ships today, free of charge.", 0, notice.MessageID))
	if _, err := d.waitMessages(ctx, customer, before+1); err != nil {
		return err
	}
	fmt.Fprintf(d.out, "  Li Wei replies to the notice; the customer gets: %s\n", d.tg.LastText(customer))
	if err := press("Resolve"); err != nil {
		return err
	}
	if err := waitButton("Resolved"); err != nil {
		return err
	}
	if err := press("Resolved"); err != nil {
		return err
	}
	if _, err := d.waitMessages(ctx, customer, before+2); err != nil {
		return err
	}
	fmt.Fprintf(d.out, "  Li Wei resolves the case; the customer gets: %s\n\n", firstLine(d.tg.LastText(customer)))
	closed := func() bool {
		for _, m := range d.tg.Sent(demoAgentChat) {
			if m.MessageID == notice.MessageID {
				return strings.Contains(m.PlainText(), "Closed by Li Wei")
			}
		}
		return false
	}
	waitCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := d.tg.WaitFor(waitCtx, closed); err != nil {
		return fmt.Errorf("the notice does not show the case closed: %w", err)
	}
	return nil
}

// act performs one action and waits for the bot's answer to it.
func (d *demo) act(ctx context.Context, chat int64, lang string, a demoAction) error {
	before := len(d.tg.Sent(chat))
	if a.tap != "" {
		u, err := d.tg.TapButton(chat, a.tap)
		if err != nil {
			return err
		}
		d.tg.Enqueue(u)
	} else {
		d.tg.Enqueue(d.tg.TextUpdate(chat, a.text, lang))
	}
	_, err := d.waitMessages(ctx, chat, before+1)
	return err
}

func (d *demo) waitMessages(ctx context.Context, chat int64, n int) ([]telegramtest.SentMessage, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	sent, err := d.tg.WaitSent(ctx, chat, n)
	if err != nil {
		return nil, fmt.Errorf("waiting for the bot's message %d in chat %d: %w", n, chat, err)
	}
	return sent, nil
}

func (d *demo) call(ctx context.Context, method, path string, body any) (int, []byte, error) {
	var rd io.Reader
	if body != nil {
		data, err := json.Marshal(body)
		if err != nil {
			return 0, nil, err
		}
		rd = bytes.NewReader(data)
	}
	req, err := http.NewRequestWithContext(ctx, method, d.api+path, rd)
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Authorization", "Bearer "+d.token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	return resp.StatusCode, data, err
}

// firstLine shortens a bot message for the progress output.
func firstLine(s string) string {
	s = strings.ReplaceAll(strings.TrimSpace(s), "\n", " ")
	if r := []rune(s); len(r) > 90 {
		return string(r[:89]) + "…"
	}
	return s
}

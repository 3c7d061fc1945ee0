package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"runtime/pprof"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"text/tabwriter"
	"time"

	_ "github.com/glebarez/go-sqlite" // database/sql driver "sqlite", for the integrity check
	tgbot "github.com/go-telegram/bot"
	"github.com/go-telegram/bot/models"
	_ "github.com/jackc/pgx/v5/stdlib" // database/sql driver "pgx", for the schema and the integrity check
	"github.com/redis/go-redis/v9"

	"github.com/cxbot/cxbot/bot/telegram/telegramtest"
	"github.com/cxbot/cxbot/flows"
	"github.com/cxbot/cxbot/store/sqlstore"
)

const benchSummary = `Measures the answer path end to end. Simulated customers answer a survey
through cxbot's real webhook (the same wiring as serve, in webhook mode)
against an in-process fake Telegram Bot API served over HTTP: each customer
is invited (not timed), then taps a score, waits for the follow-up question,
types a comment and waits for the reply (for a detractor, the handoff
message; the agents' notice is timed too). Then a bare go-telegram/bot echo
bot answers the same updates behind the same kind of webhook, with no Redis
and no SQL: the framework's ceiling. Before printing anything, the run checks
that SQL holds every answer and handoff exactly once and that every customer
got each message once; if not, it exits 1 without figures.

Stores are the configured ones: CXBOT_DATABASE_URL=postgres://… gets a fresh
schema, dropped afterwards; any other value (SQLite, the default) gets a
temporary file, never the configured one. CXBOT_REDIS_URL is used under a
fresh key prefix whose keys are deleted afterwards; unset, the embedded
server. Background jobs (wave sync, handoff sweep, dispatch) are held off so
that the round trips counted are the answer path's.`

// benchToken is the bot token of the fake Bot API; nothing leaves the process.
const benchToken = "424242:BENCH-token"

// benchAgentChat is the agents' chat on the fake.
const benchAgentChat = -100_4242

// benchStepTimeout bounds each wait for a reply: a reply that never comes
// fails the run instead of hanging it.
const benchStepTimeout = 30 * time.Second

type benchOptions struct {
	customers   int
	concurrency int
	score       int
	rate        float64 // updates/s of open-loop arrivals; 0: closed loop, concurrency at a time
	survey      string
	skipEcho    bool
	apart       bool // cxbot in a process of its own (cxbot serve), measured apart
	jsonOut     bool
	cpuProfile  string
	memProfile  string
	logLevel    string
}

func cmdBench(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := newFlagSet("bench", benchSummary, stderr)
	var o benchOptions
	fs.IntVar(&o.customers, "customers", 2000, "simulated customers, each answering two updates (a tap, then a comment)")
	fs.IntVar(&o.concurrency, "concurrency", 32, "customers in flight at once")
	fs.IntVar(&o.score, "score", 2, "the score every customer taps (2 is an NPS detractor, handed to agents)")
	fs.Float64Var(&o.rate, "rate", 0, "paced mode: updates arrive at this rate per second (open loop, whatever the replies' pace: customers arrive at half the rate, each tapping and then commenting once its question arrived and the tap's webhook was answered, taps and comments mixed), so latency is measured at a given load instead of at saturation; --concurrency then only sizes the customers' connection pool (keep it above the updates in flight)")
	fs.StringVar(&o.survey, "survey", "post_purchase_nps", "survey id (from CXBOT_CONFIG_DIR/surveys); its first question must be a score followed by a text question")
	fs.BoolVar(&o.skipEcho, "skip-echo", false, "do not run the echo bot baseline")
	fs.BoolVar(&o.apart, "apart", false, "run cxbot as a process of its own (this binary's serve subcommand, same stores and settings) and measure that process alone: its memory, CPU and round trips come from its /proc entry and GET /metrics, apart from the fake Bot API's and the customers'; needs CXBOT_REDIS_URL (an embedded Redis would live in the bench process)")
	fs.BoolVar(&o.jsonOut, "json", false, "print the figures as JSON instead of a table")
	fs.StringVar(&o.cpuProfile, "cpuprofile", "", "write a CPU profile of cxbot's timed phase to FILE, and of the echo bot's to FILE.echo (go tool pprof FILE)")
	fs.StringVar(&o.memProfile, "memprofile", "", "write a heap profile of the whole process to FILE with every conversation open (after the taps, after a GC; paced, at the end; the echo bot's to FILE.echo): what the bot, the fake Bot API and the customers hold (go tool pprof -sample_index=inuse_space FILE)")
	fs.StringVar(&o.logLevel, "log-level", "warn", "cxbot's log level during the run (its logs go to stderr)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	switch {
	case fs.NArg() > 0:
		return fmt.Errorf("bench: unexpected argument %q", fs.Arg(0))
	case o.customers < 1:
		return errors.New("bench: --customers must be at least 1")
	case o.concurrency < 1:
		return errors.New("bench: --concurrency must be at least 1")
	case o.apart && (o.cpuProfile != "" || o.memProfile != ""):
		return errors.New("bench: --cpuprofile and --memprofile profile this process, and with --apart cxbot is another one")
	case o.apart && strings.TrimSpace(getenv("CXBOT_REDIS_URL")) == "":
		return errors.New("bench: --apart needs CXBOT_REDIS_URL: an embedded Redis would live in this process, not cxbot's")
	case math.IsNaN(o.rate) || o.rate < 0 || o.rate > 1e6 || (o.rate > 0 && o.rate < 0.1):
		return fmt.Errorf("bench: --rate %g: want 0 (closed loop) or updates per second from 0.1 to 1000000", o.rate)
	}
	o.concurrency = min(o.concurrency, o.customers)
	rep, err := runBench(ctx, o, getenv, stderr)
	if err != nil {
		return err
	}
	if o.jsonOut {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(rep)
	}
	rep.print(stdout)
	return nil
}

// benchReport is what a run measured. Per-update figures divide by the
// updates of the timed phase (two per customer).
type benchReport struct {
	Customers   int    `json:"customers"`
	Concurrency int    `json:"concurrency"`
	Survey      string `json:"survey"`
	Score       int    `json:"score"`
	// Rate is the paced mode's arrival rate (updates/s); 0 for a closed loop.
	Rate       float64 `json:"rate,omitempty"`
	Class      string  `json:"class"`
	Database   string  `json:"database"`
	Redis      string  `json:"redis"`
	GoMaxProcs int     `json:"gomaxprocs"`
	GoVersion  string  `json:"go_version"`
	NumCPU     int     `json:"num_cpu"`
	// LoadAverage is the machine's 1-minute load average as the run began:
	// other processes busy on the machine skew the figures.
	LoadAverage float64 `json:"load_average"`
	Integrity   string  `json:"integrity"`
	// Apart: cxbot ran as a process of its own (--apart); its memory, CPU
	// and round trips are that process's alone.
	Apart bool `json:"apart,omitempty"`

	Cxbot *benchFigures `json:"cxbot"`
	Echo  *benchFigures `json:"echo,omitempty"`
	// RatioToEcho is cxbot's answers/s over the echo bot's.
	RatioToEcho float64 `json:"ratio_to_echo,omitempty"`
}

type benchFigures struct {
	Updates int `json:"updates"`
	// Answers: cxbot, answers stored in SQL; the echo bot, updates it
	// replied to (it stores nothing).
	Answers          int     `json:"answers"`
	Seconds          float64 `json:"seconds"` // the timed phase: taps, then comments
	AnswersPerSecond float64 `json:"answers_per_second"`

	// UpdateToReply: from posting the tap to the fake receiving the
	// sendMessage of the reply (cxbot: the follow-up question).
	UpdateToReply benchLatency `json:"update_to_reply"`
	// CommentToReply: from posting the comment to the fake receiving the
	// reply (cxbot: the handoff message for a detractor, else the thanks).
	CommentToReply benchLatency `json:"comment_to_reply"`
	// CommentToNotice: from posting the comment to the agents' notice.
	CommentToNotice *benchLatency `json:"comment_to_agent_notice,omitempty"`

	// Redis bytes and keys per open conversation, measured after the taps
	// and before the comments (every customer mid-survey).
	RedisBytesPerConversation *float64 `json:"redis_bytes_per_conversation,omitempty"`
	RedisKeysPerConversation  *float64 `json:"redis_keys_per_conversation,omitempty"`
	RedisMeasure              string   `json:"redis_measure,omitempty"`

	// Process memory (the whole bench process: cxbot or the echo bot, the
	// fake Bot API and the customers): heap in use and Go's total from the
	// runtime after a GC with every conversation open, peak RSS (VmHWM)
	// over this bot's run.
	HeapInuseMiB float64 `json:"heap_inuse_mib"`
	SysMiB       float64 `json:"sys_mib"`
	PeakRSSMiB   float64 `json:"peak_rss_mib"`
	// RSSOpenMiB (--apart): cxbot's resident memory with every
	// conversation open, as its /metrics reports it.
	RSSOpenMiB  float64 `json:"rss_open_mib,omitempty"`
	PeakRSSNote string  `json:"peak_rss_note,omitempty"`

	// Round trips per update: Redis (one per command or pipeline) and SQL
	// (statements and BEGIN/COMMIT/ROLLBACK), cxbot only.
	RedisRoundTrips *float64           `json:"redis_round_trips_per_update,omitempty"`
	SQLRoundTrips   *float64           `json:"sql_round_trips_per_update,omitempty"`
	SQLByKind       map[string]float64 `json:"sql_round_trips_by_kind,omitempty"`
	// Bot API calls per update, all methods, webhook answers included.
	BotAPICalls    float64            `json:"bot_api_calls_per_update"`
	BotAPIByMethod map[string]float64 `json:"bot_api_calls_by_method"`
	WebhookAnswers float64            `json:"bot_api_calls_in_webhook_answers_per_update"`
	// Taps and Comments are the round trips and calls per update of each
	// half of the timed phase: a tap (the score) and a comment (for a
	// detractor, the handoff).
	Taps     *benchPerUpdate `json:"per_tap"`
	Comments *benchPerUpdate `json:"per_comment"`
	// CPUCores is the process's CPU time over the timed phase's wall time
	// (1.0 = one core busy), fake and customers included.
	CPUCores float64 `json:"cpu_cores"`
	// MachineCPUCores is the same for the whole machine (/proc/stat): the
	// process plus PostgreSQL, Redis, and whatever else runs.
	MachineCPUCores float64 `json:"machine_cpu_cores"`
}

type benchPerUpdate struct {
	RedisRoundTrips *float64 `json:"redis_round_trips,omitempty"`
	SQLRoundTrips   *float64 `json:"sql_round_trips,omitempty"`
	BotAPICalls     float64  `json:"bot_api_calls"`
}

func perUpdate(d benchSnapshot, updates int, withStores bool) *benchPerUpdate {
	per := func(n int64) float64 { return float64(n) / float64(updates) }
	p := &benchPerUpdate{}
	for _, n := range d.calls {
		p.BotAPICalls += per(n)
	}
	if withStores {
		r, s := per(d.redis), per(sqlTrips(d.sql))
		p.RedisRoundTrips, p.SQLRoundTrips = &r, &s
	}
	return p
}

type benchLatency struct {
	P50ms float64 `json:"p50_ms"`
	P99ms float64 `json:"p99_ms"`
}

func latencyOf(ds []time.Duration) benchLatency {
	if len(ds) == 0 {
		return benchLatency{}
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	at := func(p float64) float64 { // nearest rank
		i := int(float64(len(s))*p+0.9999999) - 1
		return float64(s[min(max(i, 0), len(s)-1)]) / float64(time.Millisecond)
	}
	return benchLatency{P50ms: at(0.50), P99ms: at(0.99)}
}

// benchExpect is what one customer's two updates must lead to, worked out
// with the survey's own state machine before anything runs.
type benchExpect struct {
	class    flows.Class
	label    string // the button tapped
	question string // the follow-up question's text
	final    string // the reply to the comment
	answers  int    // answers stored per customer
	handoff  bool
}

func expectFor(s *flows.Survey, score int) (benchExpect, error) {
	first := s.First()
	if first == nil || !first.Kind.IsScale() {
		return benchExpect{}, fmt.Errorf("bench: survey %s does not start with a score question", s.ID)
	}
	if lo, hi, _ := first.Kind.Scale(); score < lo || score > hi {
		return benchExpect{}, fmt.Errorf("bench: --score %d is outside %s's %d–%d", score, first.Kind, lo, hi)
	}
	now := time.Now()
	st, _ := flows.Start(s, "en", 1, 1, now)
	label := strconv.Itoa(score)
	tap := flows.Step(s, st, flows.Input{Tap: &flows.Tap{ResponseID: 1, QuestionID: first.ID, Value: label}}, now)
	next, ok := s.Question(tap.State.QuestionID)
	if tap.Finished || !ok || next.Kind != flows.KindText || len(tap.Messages) == 0 {
		return benchExpect{}, fmt.Errorf("bench: in survey %s a score of %d is not followed by a text question (a promoter is thanked at once); choose a score that asks for a comment", s.ID, score)
	}
	comment := flows.Step(s, tap.State, flows.Input{Text: "The parcel came a week late."}, now)
	if !comment.Finished || len(comment.Messages) == 0 {
		return benchExpect{}, fmt.Errorf("bench: in survey %s the comment after a score of %d does not end the survey", s.ID, score)
	}
	e := benchExpect{
		class: s.Classify(first.Kind, score), label: label,
		question: tap.Messages[len(tap.Messages)-1].Text,
		final:    comment.Messages[len(comment.Messages)-1].Text,
		handoff:  comment.HandoffReady != nil,
	}
	for _, a := range []*flows.Answer{tap.Answer, comment.Answer} {
		if a != nil {
			e.answers++
		}
	}
	return e, nil
}

func runBench(ctx context.Context, o benchOptions, getenv func(string) string, stderr io.Writer) (_ *benchReport, err error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	// Each bot is measured on a heap without the other's garbage.
	runtime.GC()

	api, err := startBenchAPI(benchAgentChat)
	if err != nil {
		return nil, err
	}
	defer api.close()
	client := benchClient(o.concurrency)
	defer client.CloseIdleConnections()

	cx, err := startBenchCxbot(ctx, o, getenv, api, stderr)
	if err != nil {
		return nil, err
	}
	defer func() { err = errors.Join(err, cx.stop()) }()

	survey, ok := cx.app.surveys[o.survey]
	if !ok {
		return nil, fmt.Errorf("bench: no survey %q in %s", o.survey, filepath.Join(cx.app.cfg.ConfigDir, "surveys"))
	}
	expect, err := expectFor(survey, o.score)
	if err != nil {
		return nil, err
	}
	rep := &benchReport{
		Customers: o.customers, Concurrency: o.concurrency, Survey: o.survey, Score: o.score, Rate: o.rate, Class: string(expect.class),
		Database: cx.dbName, Redis: cx.redisName, GoMaxProcs: runtime.GOMAXPROCS(0), GoVersion: runtime.Version(),
		NumCPU: runtime.NumCPU(), LoadAverage: loadAverage(), Apart: o.apart,
	}
	fmt.Fprintf(stderr, "bench: cxbot, %d customers, %s…\n", o.customers, o.pace())
	rep.Cxbot, rep.Integrity, err = measureCxbot(ctx, o, cx, api, client, expect)
	if err != nil {
		return nil, err
	}
	if err := cx.stop(); err != nil {
		return nil, err
	}
	if !o.skipEcho {
		runtime.GC()
		fmt.Fprintf(stderr, "bench: echo bot, %d customers, %s…\n", o.customers, o.pace())
		if rep.Echo, err = benchEcho(ctx, o, api, client); err != nil {
			return nil, err
		}
		// Paced, both bots keep the pace: their rates say nothing.
		if rep.Echo.AnswersPerSecond > 0 && o.rate == 0 {
			rep.RatioToEcho = rep.Cxbot.AnswersPerSecond / rep.Echo.AnswersPerSecond
		}
	}
	return rep, nil
}

// benchClient is the simulated customers' (and Telegram's) HTTP client: it
// keeps a connection per customer in flight alive, so the bench measures
// the bot, not connection set-up.
func benchClient(concurrency int) *http.Client {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConns = 4 * concurrency
	t.MaxIdleConnsPerHost = 2 * concurrency
	t.DisableCompression = true
	return &http.Client{Transport: t, Timeout: benchStepTimeout}
}

// ---- the fake Bot API, observed ----

// benchAPI is the fake Bot API on a loopback listener, with a look at each
// call as it arrives: counts by method, and every sendMessage routed, with
// its arrival time, to the chat's inbox.
type benchAPI struct {
	fake      *telegramtest.Server
	url       string
	srv       *http.Server
	agentChat int64

	mu    sync.RWMutex
	chats map[int64]*benchInbox

	calls          sync.Map // lower-case method → *atomic.Int64
	webhookAnswers atomic.Int64
	strays         atomic.Int64 // sendMessage to a chat nobody waits on, or an unreadable notice
}

// benchInbox is what one chat received.
type benchInbox struct {
	msgs    chan benchMsg // sendMessage to the chat
	notices chan benchMsg // agents' notices about the chat
	sent    atomic.Int32
	noticed atomic.Int32
}

type benchMsg struct {
	at        time.Time // when the call reached the fake
	text      string
	messageID int
	keyboard  [][]telegramtest.InlineKeyboardButton
}

func startBenchAPI(agentChat int64) (*benchAPI, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("bench: fake Bot API: %w", err)
	}
	a := &benchAPI{
		fake:      telegramtest.NewHandler(benchToken),
		url:       "http://" + ln.Addr().String(),
		agentChat: agentChat,
		chats:     map[int64]*benchInbox{},
	}
	a.srv = &http.Server{Handler: a, ReadHeaderTimeout: 10 * time.Second, ErrorLog: slog.NewLogLogger(slog.DiscardHandler, slog.LevelError)}
	go func() { _ = a.srv.Serve(ln) }()
	return a, nil
}

func (a *benchAPI) close() { _ = a.srv.Close() }

func (a *benchAPI) inbox(chat int64) *benchInbox {
	a.mu.Lock()
	defer a.mu.Unlock()
	// Room for what a customer should get (3 messages, 1 notice) and one
	// more; beyond that a double is counted, not queued.
	in := &benchInbox{msgs: make(chan benchMsg, 4), notices: make(chan benchMsg, 2)}
	a.chats[chat] = in
	return in
}

// noticeCustomer finds the bench customer a notice is about by the
// reference it shows (bench-<run>-<i> is chat benchChatBase+i).
var noticeCustomer = regexp.MustCompile(`bench-[a-z0-9]+-(\d+)`)

// benchChatBase is the first bench customer's chat id.
const benchChatBase = 1_000_000

func (a *benchAPI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	at := time.Now()
	method := strings.ToLower(r.URL.Path[strings.LastIndexByte(r.URL.Path, '/')+1:])
	c, ok := a.calls.Load(method)
	if !ok {
		c, _ = a.calls.LoadOrStore(method, new(atomic.Int64))
	}
	c.(*atomic.Int64).Add(1)
	if method != "sendmessage" {
		a.fake.ServeHTTP(w, r)
		return
	}
	tee := &teeWriter{ResponseWriter: w}
	a.fake.ServeHTTP(tee, r)
	var resp struct {
		OK     bool                 `json:"ok"`
		Result telegramtest.Message `json:"result"`
	}
	if json.Unmarshal(tee.body.Bytes(), &resp) != nil || !resp.OK {
		return // a refused call: the bot sees the error
	}
	m := benchMsg{at: at, text: resp.Result.Text, messageID: resp.Result.MessageID}
	if k := resp.Result.ReplyMarkup; k != nil {
		m.keyboard = k.InlineKeyboard
	}
	chat := resp.Result.Chat.ID
	notice := chat == a.agentChat
	if notice {
		chat = 0
		if sub := noticeCustomer.FindStringSubmatch(m.text); sub != nil {
			i, _ := strconv.ParseInt(sub[1], 10, 64)
			chat = benchChatBase + i
		}
	}
	a.mu.RLock()
	in := a.chats[chat]
	a.mu.RUnlock()
	switch {
	case in == nil:
		a.strays.Add(1)
	case notice:
		in.noticed.Add(1)
		select {
		case in.notices <- m:
		default: // more than expected: the counts fail the run
		}
	default:
		in.sent.Add(1)
		select {
		case in.msgs <- m:
		default:
		}
	}
}

type teeWriter struct {
	http.ResponseWriter
	body bytes.Buffer
}

func (t *teeWriter) Write(p []byte) (int, error) {
	t.body.Write(p)
	return t.ResponseWriter.Write(p)
}

// callCounts is how many calls each method got so far.
func (a *benchAPI) callCounts() map[string]int64 {
	out := map[string]int64{}
	a.calls.Range(func(k, v any) bool {
		out[k.(string)] = v.(*atomic.Int64).Load()
		return true
	})
	return out
}

// runWebhookAnswer carries out the Bot API method a webhook answer may carry
// ({"method":"answerCallbackQuery",…}), as Telegram does: over HTTP to the
// fake, so it is counted and timed like any other call.
func (a *benchAPI) runWebhookAnswer(ctx context.Context, client *http.Client, body []byte) error {
	var m struct {
		Method string `json:"method"`
	}
	if len(bytes.TrimSpace(body)) == 0 || json.Unmarshal(body, &m) != nil || m.Method == "" {
		return nil
	}
	a.webhookAnswers.Add(1)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, a.url+"/bot"+benchToken+"/"+m.Method, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("webhook answer %s: %w", m.Method, err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("webhook answer %s: the Bot API refused it: %d %s", m.Method, resp.StatusCode, bytes.TrimSpace(out))
	}
	return nil
}

// post delivers an update to a webhook as Telegram does and carries out the
// method its answer may carry. Anything but 200 is an error: Telegram would
// redeliver, and a bench run must not need that.
func (a *benchAPI) post(ctx context.Context, client *http.Client, webhook, secret string, u telegramtest.Update) error {
	body, err := json.Marshal(u)
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, webhook, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Telegram-Bot-Api-Secret-Token", secret)
	resp, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("update %d: %w", u.UpdateID, err)
	}
	answer, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	resp.Body.Close()
	if err != nil {
		return fmt.Errorf("update %d: read the answer: %w", u.UpdateID, err)
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("update %d: the webhook answered %d %s", u.UpdateID, resp.StatusCode, bytes.TrimSpace(answer))
	}
	return a.runWebhookAnswer(ctx, client, answer)
}

func waitMsg(ctx context.Context, ch <-chan benchMsg, chat int64, what string) (benchMsg, error) {
	t := time.NewTimer(benchStepTimeout)
	defer t.Stop()
	select {
	case m := <-ch:
		return m, nil
	case <-t.C:
		return benchMsg{}, fmt.Errorf("chat %d: no %s within %s", chat, what, benchStepTimeout)
	case <-ctx.Done():
		return benchMsg{}, context.Cause(ctx)
	}
}

func (o benchOptions) pace() string {
	if o.rate > 0 {
		return fmt.Sprintf("arriving at %g updates/s", o.rate)
	}
	return fmt.Sprintf("%d at a time", o.concurrency)
}

// benchHalves is one customer's two timed updates and what the run
// measures around them.
type benchHalves struct {
	tap, comment func(ctx context.Context, i int, due time.Time) error
	// between runs after every tap and before any comment (closed loop
	// only: every conversation is open then).
	between func() error
	// memory reads the bot's memory (nil: not read): between the halves,
	// or paced, at the end (the conversations are never all open at once).
	memory func() error
	snap   func() benchSnapshot
}

// runHalves runs the taps and the comments of customers 0…n-1 and returns
// what each half cost and the timed wall time. Closed loop: every tap, then
// every comment, concurrency at a time. Paced (--rate): customers arrive at
// half the rate and each comments as soon as its question arrives, so
// updates arrive at about the rate, taps and comments mixed as real
// customers' are; the halves are then not counted apart (taps holds the
// whole, comments is nil). A step gets its update's due time: in paced mode
// the scheduled arrival, so a bot that falls behind shows it in its
// latencies (no coordinated omission) rather than in a slower pace.
func (o benchOptions) runHalves(ctx context.Context, n int, h benchHalves) (taps benchSnapshot, comments *benchSnapshot, wall time.Duration, err error) {
	if o.rate > 0 {
		before := h.snap()
		wall, err = runPaced(ctx, n, o.rate/2, func(ctx context.Context, i int, due time.Time) error {
			if err := h.tap(ctx, i, due); err != nil {
				return err
			}
			return h.comment(ctx, i, time.Now())
		})
		taps = h.snap()
		if err == nil && h.memory != nil {
			err = h.memory()
		}
		return taps.sub(before), nil, wall, err
	}
	closed := func(step func(ctx context.Context, i int, due time.Time) error) (benchSnapshot, time.Duration, error) {
		before := h.snap()
		wall, err := runPhase(ctx, n, o.concurrency, func(ctx context.Context, i int) error { return step(ctx, i, time.Now()) })
		after := h.snap()
		return after.sub(before), wall, err
	}
	taps, tapWall, err := closed(h.tap)
	if err != nil {
		return taps, nil, tapWall, fmt.Errorf("taps: %w", err)
	}
	for _, fn := range []func() error{h.between, h.memory} {
		if fn == nil {
			continue
		}
		if err := fn(); err != nil {
			return taps, nil, tapWall, err
		}
	}
	c, commentWall, err := closed(h.comment)
	if err != nil {
		return taps, nil, tapWall + commentWall, fmt.Errorf("comments: %w", err)
	}
	return taps, &c, tapWall + commentWall, nil
}

// fillHalves sets the per-tap and per-comment figures (closed loop) and
// returns the whole phase's snapshot.
func (f *benchFigures) fillHalves(taps benchSnapshot, comments *benchSnapshot, n int, withStores bool) benchSnapshot {
	if comments == nil {
		return taps
	}
	f.Taps, f.Comments = perUpdate(taps, n, withStores), perUpdate(*comments, n, withStores)
	taps.add(*comments)
	return taps
}

// runPaced starts step for customers 0…n-1 at rate per second, each at its
// due time whether or not the earlier ones are done, and returns the wall
// time until the last ends. The first error stops it.
func runPaced(ctx context.Context, n int, rate float64, step func(ctx context.Context, i int, due time.Time) error) (time.Duration, error) {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	var wg sync.WaitGroup
	interval := time.Duration(float64(time.Second) / rate)
	start := time.Now()
	timer := time.NewTimer(0)
	defer timer.Stop()
	for i := 0; i < n && ctx.Err() == nil; i++ {
		due := start.Add(time.Duration(i) * interval)
		if wait := time.Until(due); wait > 0 {
			timer.Reset(wait)
			select {
			case <-timer.C:
			case <-ctx.Done():
			}
		}
		wg.Go(func() {
			if err := step(ctx, i, due); err != nil {
				cancel(err)
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	if ctx.Err() != nil {
		return elapsed, context.Cause(ctx)
	}
	return elapsed, nil
}

// runPhase runs step for customers 0…n-1, workers at a time, and returns
// its wall time. The first error stops it.
func runPhase(ctx context.Context, n, workers int, step func(ctx context.Context, i int) error) (time.Duration, error) {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	var next atomic.Int64
	var wg sync.WaitGroup
	start := time.Now()
	for range workers {
		wg.Go(func() {
			for ctx.Err() == nil {
				i := int(next.Add(1) - 1)
				if i >= n {
					return
				}
				if err := step(ctx, i); err != nil {
					cancel(err)
					return
				}
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	if ctx.Err() != nil {
		return elapsed, context.Cause(ctx)
	}
	return elapsed, nil
}

// ---- counters ----

// redisRoundTrips counts go-redis calls: one per command, one per pipeline
// or transaction (MULTI…EXEC), whatever it holds.
type redisRoundTrips struct{ n atomic.Int64 }

func (c *redisRoundTrips) DialHook(next redis.DialHook) redis.DialHook { return next }

func (c *redisRoundTrips) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		c.n.Add(1)
		return next(ctx, cmd)
	}
}

func (c *redisRoundTrips) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		c.n.Add(1)
		return next(ctx, cmds)
	}
}

// sqlRoundTrips counts what sqlstore.DB.OnStatement reports, by kind.
type sqlRoundTrips struct{ n [5]atomic.Int64 }

func (c *sqlRoundTrips) add(s sqlstore.Statement) {
	if int(s) >= 0 && int(s) < len(c.n) {
		c.n[s].Add(1)
	}
}

// sqlTrips is the round trips among counts by sqlstore.Statement: all
// but the statements that rode in another's pipeline batch.
func sqlTrips(byKind [5]int64) int64 {
	var n int64
	for i, c := range byKind {
		if sqlstore.Statement(i) != sqlstore.StatementPipelined {
			n += c
		}
	}
	return n
}

// benchSnapshot is every counter at one moment; phases are differences.
type benchSnapshot struct {
	redis   int64
	sql     [5]int64 // by sqlstore.Statement
	calls   map[string]int64
	answers int64 // webhook answers carried out
	cpu     time.Duration
	machine time.Duration // busy CPU time of the whole machine
}

func (b *benchSnapshot) sub(a benchSnapshot) benchSnapshot {
	d := benchSnapshot{redis: b.redis - a.redis, answers: b.answers - a.answers, cpu: b.cpu - a.cpu, machine: b.machine - a.machine, calls: map[string]int64{}}
	for i := range d.sql {
		d.sql[i] = b.sql[i] - a.sql[i]
	}
	for k, v := range b.calls {
		d.calls[k] = v - a.calls[k]
	}
	return d
}

func (b *benchSnapshot) add(o benchSnapshot) {
	b.redis += o.redis
	b.answers += o.answers
	b.cpu += o.cpu
	b.machine += o.machine
	for i := range b.sql {
		b.sql[i] += o.sql[i]
	}
	if b.calls == nil {
		b.calls = map[string]int64{}
	}
	for k, v := range o.calls {
		b.calls[k] += v
	}
}

// machineCPU is the CPU time all the machine's CPUs spent busy since boot,
// from /proc/stat (0 when unknown).
func machineCPU() time.Duration {
	data, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0
	}
	line, _, _ := strings.Cut(string(data), "\n")
	fields := strings.Fields(line) // cpu user nice system idle iowait irq softirq steal …
	if len(fields) < 9 || fields[0] != "cpu" {
		return 0
	}
	var busy int64
	for i, v := range fields[1:9] {
		if i == 3 || i == 4 { // idle, iowait
			continue
		}
		n, _ := strconv.ParseInt(v, 10, 64)
		busy += n
	}
	return time.Duration(busy) * 10 * time.Millisecond // USER_HZ is 100 on Linux
}

func processCPU() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// methodNames spells the Bot API methods as the API documents them.
var methodNames = map[string]string{
	"sendmessage": "sendMessage", "answercallbackquery": "answerCallbackQuery",
	"editmessagetext": "editMessageText", "editmessagereplymarkup": "editMessageReplyMarkup",
	"setwebhook": "setWebhook", "deletewebhook": "deleteWebhook", "getme": "getMe",
}

// fill sets the per-update figures from the timed phase's counters.
func (f *benchFigures) fill(d benchSnapshot, wall time.Duration, withStores bool) {
	per := func(n int64) float64 { return float64(n) / float64(f.Updates) }
	f.Seconds = wall.Seconds()
	f.AnswersPerSecond = float64(f.Answers) / wall.Seconds()
	f.CPUCores = d.cpu.Seconds() / wall.Seconds()
	f.MachineCPUCores = d.machine.Seconds() / wall.Seconds()
	f.BotAPIByMethod = map[string]float64{}
	var calls int64
	for k, v := range d.calls {
		if v == 0 {
			continue
		}
		name := methodNames[k]
		if name == "" {
			name = k
		}
		f.BotAPIByMethod[name] = per(v)
		calls += v
	}
	f.BotAPICalls = per(calls)
	f.WebhookAnswers = per(d.answers)
	if withStores {
		r := per(d.redis)
		f.RedisRoundTrips = &r
		f.SQLByKind = map[string]float64{}
		for i, n := range d.sql {
			f.SQLByKind[sqlstore.Statement(i).String()] = per(n)
		}
		s := per(sqlTrips(d.sql))
		f.SQLRoundTrips = &s
	}
}

// startProfile starts a CPU profile into path ("" = none) and returns what
// stops it, safe to call twice.
func startProfile(path string) (func(), error) {
	if path == "" {
		return func() {}, nil
	}
	f, err := os.Create(path)
	if err != nil {
		return nil, fmt.Errorf("bench: --cpuprofile: %w", err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, fmt.Errorf("bench: --cpuprofile: %w", err)
	}
	return sync.OnceFunc(func() {
		pprof.StopCPUProfile()
		f.Close()
	}), nil
}

// writeHeapProfile writes the heap profile to path ("" = none).
func writeHeapProfile(path string) error {
	if path == "" {
		return nil
	}
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("bench: --memprofile: %w", err)
	}
	if err := pprof.WriteHeapProfile(f); err != nil {
		f.Close()
		return fmt.Errorf("bench: --memprofile: %w", err)
	}
	return f.Close()
}

// loadAverage is the machine's 1-minute load average (0 when unknown).
func loadAverage() float64 {
	data, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return 0
	}
	f, _ := strconv.ParseFloat(strings.Fields(string(data) + " 0")[0], 64)
	return f
}

// ---- memory ----

// resetPeakRSS starts VmHWM again from the current RSS (Linux 4.0+); false
// when the kernel does not allow it.
func resetPeakRSS() bool {
	return os.WriteFile("/proc/self/clear_refs", []byte("5"), 0) == nil
}

// peakRSS is VmHWM from /proc/self/status, in bytes (0 when unknown).
func peakRSS() int64 { return statusKB("/proc/self/status", "VmHWM:") << 10 }

const mib = 1 << 20

// heapFigures reads the runtime's memory after a GC.
func (f *benchFigures) heapFigures() {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	f.HeapInuseMiB = float64(ms.HeapInuse) / mib
	f.SysMiB = float64(ms.Sys) / mib
}

func (f *benchFigures) peakFigures(reset bool) {
	f.PeakRSSMiB = float64(peakRSS()) / mib
	if !reset {
		f.PeakRSSNote = "the process's peak so far (VmHWM could not be reset)"
	}
}

// ---- cxbot ----

// benchCxbot is the cxbot under test: the app as serve wires it, in
// webhook mode, on stores of its own.
type benchCxbot struct {
	app       *app
	base      string // its HTTP address
	apiToken  string
	webhook   string
	secret    string
	dbURL     string
	dbName    string
	redisName string
	redisRT   *redisRoundTrips
	sqlRT     *sqlRoundTrips
	stop      func() error // stops it and removes its data; safe to call twice
	// apart: cxbot serves from this child process (--apart); app then only
	// reads (surveys, Redis keys) and is never run.
	apart    *exec.Cmd
	apartErr error // a failed scrape of the child's /metrics
	// schema is the run's PostgreSQL schema (nil on SQLite).
	schema *benchPostgres
}

func startBenchCxbot(ctx context.Context, o benchOptions, getenv func(string) string, api *benchAPI, stderr io.Writer) (_ *benchCxbot, err error) {
	var cleanups []func() error
	cleanup := func() error {
		var errs []error
		for i := len(cleanups) - 1; i >= 0; i-- {
			errs = append(errs, cleanups[i]())
		}
		cleanups = nil
		return errors.Join(errs...)
	}
	defer func() {
		if err != nil {
			err = errors.Join(err, cleanup())
		}
	}()
	run := strings.ToLower(rand.Text()[:10])
	cx := &benchCxbot{apiToken: rand.Text(), secret: rand.Text(), redisRT: &redisRoundTrips{}, sqlRT: &sqlRoundTrips{}}

	configured := strings.TrimSpace(getenv("CXBOT_DATABASE_URL"))
	if strings.HasPrefix(configured, "postgres://") || strings.HasPrefix(configured, "postgresql://") {
		schema := "cxbot_bench_" + run
		pg, err := benchSchema(ctx, configured, schema)
		if err != nil {
			return nil, err
		}
		cleanups = append(cleanups, pg.drop)
		cx.schema = pg
		cx.dbURL, cx.dbName = pg.url, "PostgreSQL "+safeDatabaseURL(configured)+", fresh schema "+schema+" (dropped after)"
		if pg.keepAnalyzed != nil {
			cx.dbName += "; autovacuum is off there, so the timed phase analyzes each table that grew by 50 rows + 10%, with a small sample"
		}
	} else {
		dir, err := os.MkdirTemp("", "cxbot-bench-")
		if err != nil {
			return nil, fmt.Errorf("bench: temporary SQLite file: %w", err)
		}
		cleanups = append(cleanups, func() error { return os.RemoveAll(dir) })
		cx.dbURL = filepath.Join(dir, "cxbot.db")
		cx.dbName = "SQLite, temporary file " + cx.dbURL + " (removed after)"
	}

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	cx.base = "http://" + ln.Addr().String()
	prefix := "cxbot-bench-" + run + ":"
	overrides := map[string]string{
		"CXBOT_DATABASE_URL":            cx.dbURL,
		"CXBOT_REDIS_PREFIX":            prefix,
		"CXBOT_API_TOKEN":               cx.apiToken,
		"CXBOT_LOG_LEVEL":               o.logLevel,
		"CXBOT_TELEGRAM_TOKEN":          benchToken,
		"CXBOT_TELEGRAM_API_URL":        api.url,
		"CXBOT_TELEGRAM_AGENT_CHAT":     strconv.FormatInt(api.agentChat, 10),
		"CXBOT_PUBLIC_URL":              cx.base,
		"CXBOT_TELEGRAM_WEBHOOK_SECRET": cx.secret,
		// Invitations are the set-up, not the measure: no broadcast limit.
		"CXBOT_TELEGRAM_RATE":           "100000/s",
		"CXBOT_TELEGRAM_PAID_BROADCAST": "false",
		// Nothing else uses the stores while the answer path is counted.
		"CXBOT_DISPATCH_WORKERS": "0",
		"CXBOT_WAVE_SYNC":        "@every 24h",
		"CXBOT_HANDOFF_SWEEP":    "@every 24h",
		"CXBOT_WECHAT_APP_ID":    "", "CXBOT_WECHAT_APP_SECRET": "", "CXBOT_WECHAT_TOKEN": "", "CXBOT_WECHAT_AES_KEY": "",
	}
	env := func(k string) string {
		if v, ok := overrides[k]; ok {
			return v
		}
		return getenv(k)
	}
	cfg, err := loadConfig(env)
	if err != nil {
		ln.Close()
		return nil, fmt.Errorf("configuration:\n%w", err)
	}
	log := newLogger(stderr, cfg.LogLevel, cfg.LogFormat)
	a, err := newApp(ctx, cfg, log, true)
	if err != nil {
		ln.Close()
		return nil, err
	}
	cx.app = a
	cx.redisName = "embedded server"
	if cfg.RedisURL != "" {
		cx.redisName = safeDatabaseURL(cfg.RedisURL)
	}
	cx.redisName += ", fresh key prefix " + prefix + " (deleted after)"
	// Hooks go in before anything runs concurrently (see OnStatement).
	var rc redis.UniversalClient = a.redis.Client()
	rc.AddHook(cx.redisRT)
	a.db.OnStatement(cx.sqlRT.add)

	runCtx, stopRun := context.WithCancel(context.WithoutCancel(ctx))
	done := make(chan error, 1)
	if o.apart {
		child, err := startApart(env, ln, stderr)
		if err != nil {
			stopRun()
			a.close()
			return nil, err
		}
		cx.apart = child
		go func() { done <- waitApart(runCtx, child) }()
	} else {
		go func() { done <- a.run(runCtx, ln) }()
	}
	cleanups = append(cleanups, func() error {
		stopRun()
		runErr := <-done
		// The keys go while the connection is still open.
		delCtx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		_, _, delErr := redisKeys(delCtx, rc, a.states.Prefix(), true)
		if delErr != nil {
			delErr = fmt.Errorf("bench: delete the run's Redis keys under %s: %w", a.states.Prefix(), delErr)
		}
		a.close()
		return errors.Join(runErr, delErr)
	})

	wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	err = api.fake.WaitFor(wctx, func() bool { u, _ := api.fake.Webhook(); return u != "" })
	select {
	case runErr := <-done: // it stopped at once: say why
		done <- runErr
		return nil, fmt.Errorf("bench: cxbot stopped: %w", runErr)
	default:
	}
	if err != nil {
		return nil, fmt.Errorf("bench: cxbot did not register its webhook: %w", err)
	}
	cx.webhook, _ = api.fake.Webhook()
	cx.stop = sync.OnceValue(cleanup)
	return cx, nil
}

// safeDatabaseURL names a database or Redis URL without its password and query.
func safeDatabaseURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(unparsable URL)"
	}
	return (&url.URL{Scheme: u.Scheme, Host: u.Host, Path: u.Path}).String()
}

// benchPostgres is the run's schema in the configured PostgreSQL: a URL
// whose connections use it, and what the bench does to it.
type benchPostgres struct {
	url          string
	drop         func() error
	analyze      func(context.Context) error
	keepAnalyzed func(context.Context) (stop func())
}

// benchSchema creates schema in the PostgreSQL database at base.
//
// analyze refreshes the planner's statistics of the schema's tables. The
// set-up grows them from empty to N customers, and a PostgreSQL whose
// autovacuum is off (as on the CI machines) would otherwise keep planning,
// and caching plans, for empty tables: sequential scans that make a set-up
// of 100,000 customers quadratic and skew the timed phase. A production
// server's autovacuum does this by itself.
//
// keepAnalyzed, nil where the server's autovacuum is on, stands in for it
// during the timed phase: it analyzes each table of the schema that grew
// by autovacuum's default threshold (50 rows plus 10%) since its last
// ANALYZE, checking twice a second, until stopped. Rows only updated (the
// responses and invitations each step moves on) do not count, and the
// sample is small (analyzeTables): autovacuum wakes once a minute, so
// standing in for it more often and more thoroughly than that would
// charge cxbot's timed phase for work production does not do. The timed phase grows
// answers and handoffs from empty, and PostgreSQL keeps the generic plans
// of prepared statements (pgx prepares every one) made for empty tables
// until an ANALYZE invalidates them: paced, 800 updates/s fell to 633/s
// with the step and the notice reading about 300 pages each.
func benchSchema(ctx context.Context, base, schema string) (*benchPostgres, error) {
	u, err := url.Parse(base)
	if err != nil {
		return nil, errors.New("CXBOT_DATABASE_URL: not a URL")
	}
	admin, err := sql.Open("pgx", base)
	if err != nil {
		return nil, fmt.Errorf("CXBOT_DATABASE_URL: %w", err)
	}
	if _, err := admin.ExecContext(ctx, "CREATE SCHEMA "+schema); err != nil {
		admin.Close()
		return nil, fmt.Errorf("bench: create schema %s in %s: %w", schema, safeDatabaseURL(base), err)
	}
	pg := &benchPostgres{}
	pg.drop = func() error {
		defer admin.Close()
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if _, err := admin.ExecContext(ctx, "DROP SCHEMA "+schema+" CASCADE"); err != nil {
			return fmt.Errorf("bench: drop schema %s: %w", schema, err)
		}
		return nil
	}
	pg.analyze = func(ctx context.Context) error {
		if err := analyzeTables(ctx, admin, schema, false); err != nil {
			return fmt.Errorf("bench: analyze %s: %w", schema, err)
		}
		return nil
	}
	var autovacuum string
	if err := admin.QueryRowContext(ctx, "SHOW autovacuum").Scan(&autovacuum); err != nil {
		_ = pg.drop()
		return nil, fmt.Errorf("bench: read autovacuum's setting: %w", err)
	}
	if autovacuum == "off" {
		pg.keepAnalyzed = func(ctx context.Context) func() {
			ctx, cancel := context.WithCancel(ctx)
			var wg sync.WaitGroup
			wg.Go(func() {
				tick := time.NewTicker(500 * time.Millisecond)
				defer tick.Stop()
				for {
					select {
					case <-ctx.Done():
						return
					case <-tick.C:
					}
					// A failure only leaves the statistics as they were.
					_ = analyzeTables(ctx, admin, schema, true)
				}
			})
			return func() { cancel(); wg.Wait() }
		}
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	pg.url = u.String()
	return pg, nil
}

// analyzeTables analyzes the tables of schema: all of them, or (changed)
// those that grew by more than 50 rows plus 10% since their last ANALYZE.
func analyzeTables(ctx context.Context, admin *sql.DB, schema string, changed bool) error {
	query := "SELECT quote_ident(tablename) FROM pg_tables WHERE schemaname = $1"
	if changed {
		query = `SELECT quote_ident(s.relname) FROM pg_stat_user_tables s JOIN pg_class c ON c.oid = s.relid
		WHERE s.schemaname = $1 AND s.n_live_tup > 50 + 1.1 * GREATEST(c.reltuples, 0)`
	}
	rows, err := admin.QueryContext(ctx, query, schema)
	if err != nil {
		return fmt.Errorf("list the tables: %w", err)
	}
	var tables []string
	for rows.Next() {
		var t string
		if err := rows.Scan(&t); err != nil {
			rows.Close()
			return err
		}
		tables = append(tables, schema+"."+t)
	}
	rows.Close()
	if err := rows.Err(); err != nil || len(tables) == 0 {
		return err
	}
	// A small sample is enough to plan these queries (row counts and a few
	// common values), and it keeps each ANALYZE from taking a tenth of a
	// second of the server's CPU away from the timed phase it stands in.
	tx, err := admin.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, "SET LOCAL default_statistics_target = 10"); err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, "ANALYZE "+strings.Join(tables, ", ")); err != nil {
		return err
	}
	return tx.Commit()
}

// redisKeys sums MEMORY USAGE over the keys under prefix (on every master of
// a cluster), or deletes them.
func redisKeys(ctx context.Context, c redis.UniversalClient, prefix string, del bool) (used, keys int64, err error) {
	var mu sync.Mutex
	node := func(ctx context.Context, n redis.Cmdable) error {
		var cursor uint64
		for {
			batch, next, err := n.Scan(ctx, cursor, globEscape(prefix)+"*", 1000).Result()
			if err != nil {
				return err
			}
			if len(batch) > 0 {
				pipe := n.Pipeline()
				usage := make([]*redis.IntCmd, len(batch))
				for i, k := range batch {
					if del {
						pipe.Unlink(ctx, k) // one key each: a cluster refuses keys of several slots
					} else {
						usage[i] = pipe.MemoryUsage(ctx, k)
					}
				}
				if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
					return err
				}
				mu.Lock()
				for _, u := range usage {
					if u != nil {
						used += u.Val() // 0 for a key that expired meanwhile
					}
				}
				keys += int64(len(batch))
				mu.Unlock()
			}
			if cursor = next; cursor == 0 {
				return nil
			}
		}
	}
	if cc, ok := c.(*redis.ClusterClient); ok {
		err = cc.ForEachMaster(ctx, func(ctx context.Context, n *redis.Client) error { return node(ctx, n) })
	} else {
		err = node(ctx, c)
	}
	return used, keys, err
}

func globEscape(s string) string {
	var b strings.Builder
	for _, r := range s {
		if strings.ContainsRune(`*?[]\`, r) {
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	return b.String()
}

// memory, resetPeak and peak measure cxbot's process: this one, or the
// child with --apart.
func (cx *benchCxbot) memory(f *benchFigures) {
	if cx.apart != nil {
		cx.apartMemory(f)
		return
	}
	f.heapFigures()
}

func (cx *benchCxbot) resetPeak() bool {
	if cx.apart != nil {
		return cx.apartResetPeak()
	}
	return resetPeakRSS()
}

func (cx *benchCxbot) peak(f *benchFigures, reset bool) {
	if cx.apart != nil {
		cx.apartPeak(f, reset)
		return
	}
	f.peakFigures(reset)
}

func (cx *benchCxbot) snapshot(api *benchAPI) benchSnapshot {
	if cx.apart != nil {
		return cx.apartSnapshot(api)
	}
	s := benchSnapshot{redis: cx.redisRT.n.Load(), calls: api.callCounts(), answers: api.webhookAnswers.Load(), cpu: processCPU(), machine: machineCPU()}
	for i := range s.sql {
		s.sql[i] = cx.sqlRT.n[i].Load()
	}
	return s
}

// invite asks cxbot's API to invite one customer now.
func (cx *benchCxbot) invite(ctx context.Context, client *http.Client, survey, ref string, chat int64) error {
	body, _ := json.Marshal(map[string]any{
		"survey": survey, "customer_ref": ref, "telegram_chat_id": chat, "language": "en", "now": true,
		"context": map[string]string{"order_id": "ord-" + ref},
	})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, cx.base+"/api/v1/invitations", bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+cx.apiToken)
	req.Header.Set("Content-Type", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("invite %s: %w", ref, err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusCreated {
		return fmt.Errorf("invite %s: %d %s", ref, resp.StatusCode, bytes.TrimSpace(out))
	}
	return nil
}

type benchCustomer struct {
	chat    int64
	ref     string
	comment string
	inbox   *benchInbox
	// The button to tap: the update is made when it is sent, so 100,000
	// customers do not each hold one meanwhile.
	tapMessage int
	tapData    string
	// measured
	toReply, toFinal, toNotice time.Duration
}

func benchCxbotRun(ctx context.Context, o benchOptions, cx *benchCxbot, api *benchAPI, client *http.Client, expect benchExpect) (*benchFigures, []*benchCustomer, error) {
	run := strings.ToLower(rand.Text()[:6])
	cs := make([]*benchCustomer, o.customers)
	for i := range cs {
		chat := int64(benchChatBase + i)
		cs[i] = &benchCustomer{
			chat: chat, ref: fmt.Sprintf("bench-%s-%d", run, i), inbox: api.inbox(chat),
			comment: fmt.Sprintf("Order %d came a week late and the box was crushed.", i),
		}
	}

	// Set-up, not timed: every customer gets the invitation and its keyboard,
	// in chunks that grow fourfold with the statistics refreshed after each
	// (and so before the timed phase).
	invite := func(ctx context.Context, i int) error {
		c := cs[i]
		if err := cx.invite(ctx, client, o.survey, c.ref, c.chat); err != nil {
			return err
		}
		m, err := waitMsg(ctx, c.inbox.msgs, c.chat, "invitation")
		if err != nil {
			return err
		}
		for _, row := range m.keyboard {
			for _, b := range row {
				if b.Text == expect.label {
					c.tapMessage, c.tapData = m.messageID, b.CallbackData
					return nil
				}
			}
		}
		return fmt.Errorf("chat %d: the invitation has no button %q: %q", c.chat, expect.label, m.text)
	}
	for done, chunk := 0, 1000; done < len(cs); done, chunk = done+chunk, chunk*4 {
		chunk = min(chunk, len(cs)-done)
		if _, err := runPhase(ctx, chunk, o.concurrency, func(ctx context.Context, i int) error { return invite(ctx, done+i) }); err != nil {
			return nil, nil, fmt.Errorf("bench: invitations: %w", err)
		}
		if cx.schema != nil {
			if err := cx.schema.analyze(ctx); err != nil {
				return nil, nil, err
			}
		}
	}

	f := &benchFigures{Updates: 2 * len(cs)}
	reset := cx.resetPeak()
	stopProfile, err := startProfile(o.cpuProfile)
	if err != nil {
		return nil, nil, err
	}
	defer stopProfile()

	// Timed: every customer taps the score and waits for the next question,
	// then comments and waits for the reply (and agents for their notice).
	tap := func(ctx context.Context, i int, start time.Time) error {
		c := cs[i]
		if err := api.post(ctx, client, cx.webhook, cx.secret, api.fake.TapUpdate(c.chat, c.tapMessage, c.tapData)); err != nil {
			return fmt.Errorf("chat %d: tap: %w", c.chat, err)
		}
		m, err := waitMsg(ctx, c.inbox.msgs, c.chat, "follow-up question")
		if err != nil {
			return err
		}
		if !strings.Contains(m.text, expect.question) {
			return fmt.Errorf("chat %d: after the tap got %q, want the question %q", c.chat, m.text, expect.question)
		}
		c.toReply = m.at.Sub(start)
		return nil
	}
	comment := func(ctx context.Context, i int, start time.Time) error {
		c := cs[i]
		u := api.fake.TextUpdate(c.chat, c.comment, "en")
		if err := api.post(ctx, client, cx.webhook, cx.secret, u); err != nil {
			return fmt.Errorf("chat %d: comment: %w", c.chat, err)
		}
		m, err := waitMsg(ctx, c.inbox.msgs, c.chat, "reply to the comment")
		if err != nil {
			return err
		}
		if !strings.Contains(m.text, expect.final) {
			return fmt.Errorf("chat %d: after the comment got %q, want %q", c.chat, m.text, expect.final)
		}
		c.toFinal = m.at.Sub(start)
		if expect.handoff {
			n, err := waitMsg(ctx, c.inbox.notices, c.chat, "agents' notice")
			if err != nil {
				return err
			}
			if !strings.Contains(n.text, c.comment) {
				return fmt.Errorf("chat %d: the agents' notice %q does not quote the comment", c.chat, n.text)
			}
			c.toNotice = n.at.Sub(start)
		}
		return nil
	}
	// Not timed: what every open conversation costs (closed loop only).
	between := func() error {
		used, keys, err := redisKeys(ctx, cx.app.redis.Client(), cx.app.states.Prefix(), false)
		if err != nil {
			return fmt.Errorf("measure Redis memory: %w", err)
		}
		bpc, kpc := float64(used)/float64(len(cs)), float64(keys)/float64(len(cs))
		f.RedisBytesPerConversation, f.RedisKeysPerConversation = &bpc, &kpc
		f.RedisMeasure = "MEMORY USAGE summed over the keys under the run's prefix (SCAN), over the customers"
		if cx.app.redis.Embedded() {
			f.RedisMeasure = "MEMORY USAGE as the embedded server (miniredis) estimates it: the Go size of each value, key names not counted; Redis counts more"
		}
		return nil
	}
	memory := func() error {
		cx.memory(f)
		return writeHeapProfile(o.memProfile)
	}
	stopAnalyzing := func() {}
	if cx.schema != nil && cx.schema.keepAnalyzed != nil {
		stopAnalyzing = cx.schema.keepAnalyzed(ctx)
	}
	taps, comments, wall, err := o.runHalves(ctx, len(cs), benchHalves{tap: tap, comment: comment, between: between, memory: memory,
		snap: func() benchSnapshot { return cx.snapshot(api) }})
	stopAnalyzing()
	if err != nil {
		return nil, nil, fmt.Errorf("bench: %w", err)
	}
	total := f.fillHalves(taps, comments, len(cs), true)
	stopProfile()
	cx.peak(f, reset)

	var reply, final, notice []time.Duration
	for _, c := range cs {
		reply, final = append(reply, c.toReply), append(final, c.toFinal)
		if expect.handoff {
			notice = append(notice, c.toNotice)
		}
	}
	f.UpdateToReply, f.CommentToReply = latencyOf(reply), latencyOf(final)
	if expect.handoff {
		l := latencyOf(notice)
		f.CommentToNotice = &l
	}
	f.Answers = expect.answers * len(cs)
	f.fill(total, wall, true)
	return f, cs, nil
}

// measureCxbot runs cxbot's phase and checks, before any figure is reported,
// that nothing was lost or doubled.
func measureCxbot(ctx context.Context, o benchOptions, cx *benchCxbot, api *benchAPI, client *http.Client, expect benchExpect) (*benchFigures, string, error) {
	f, cs, err := benchCxbotRun(ctx, o, cx, api, client, expect)
	if err == nil {
		err = cx.apartErr
	}
	if err != nil {
		return nil, "", err
	}
	integrity, err := cx.check(ctx, api, cs, expect)
	if err != nil {
		return nil, "", fmt.Errorf("bench: INTEGRITY CHECK FAILED, no figures reported:\n%w", err)
	}
	return f, integrity, nil
}

// check compares what SQL holds and what the fake received with what every
// customer should have caused, exactly once.
func (cx *benchCxbot) check(ctx context.Context, api *benchAPI, cs []*benchCustomer, expect benchExpect) (string, error) {
	// Anything still on its way (a doubled message) lands before counting.
	time.Sleep(200 * time.Millisecond)
	var problems []string
	problem := func(format string, args ...any) {
		if len(problems) < 20 {
			problems = append(problems, fmt.Sprintf(format, args...))
		} else if len(problems) == 20 {
			problems = append(problems, "…")
		}
	}
	handoffs := 0
	if expect.handoff {
		handoffs = 1
	}
	for _, c := range cs {
		if n := c.inbox.sent.Load(); n != 3 {
			problem("chat %d received %d messages, want 3 (invitation, question, reply)", c.chat, n)
		}
		if n := c.inbox.noticed.Load(); int(n) != handoffs {
			problem("agents got %d notices about chat %d, want %d", n, c.chat, handoffs)
		}
	}
	if n := api.strays.Load(); n > 0 {
		problem("%d messages went to chats no customer is in", n)
	}

	driver := "sqlite"
	if strings.HasPrefix(cx.dbURL, "postgres") {
		driver = "pgx"
	}
	db, err := sql.Open(driver, cx.dbURL)
	if err != nil {
		return "", err
	}
	defer db.Close()
	type row struct {
		responses, answers, handoffs, notified int
		status, comment                        string
	}
	got := map[string]*row{}
	rows, err := db.QueryContext(ctx, `SELECT r.external_id, r.status,
		(SELECT COUNT(*) FROM answers a WHERE a.response_id = r.id),
		(SELECT COUNT(*) FROM handoffs h WHERE h.response_id = r.id),
		(SELECT COUNT(*) FROM handoffs h WHERE h.response_id = r.id AND h.notified_at IS NOT NULL),
		COALESCE((SELECT MAX(h.comment) FROM handoffs h WHERE h.response_id = r.id), '')
		FROM responses r`)
	if err != nil {
		return "", fmt.Errorf("bench: read back: %w", err)
	}
	for rows.Next() {
		var chat string
		var r row
		if err := rows.Scan(&chat, &r.status, &r.answers, &r.handoffs, &r.notified, &r.comment); err != nil {
			rows.Close()
			return "", fmt.Errorf("bench: read back: %w", err)
		}
		if prev, ok := got[chat]; ok {
			prev.responses++
			continue
		}
		r.responses = 1
		got[chat] = &r
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return "", fmt.Errorf("bench: read back: %w", err)
	}
	var totalAnswers, totalHandoffs int
	for _, q := range []struct {
		sql string
		n   *int
	}{{"SELECT COUNT(*) FROM answers", &totalAnswers}, {"SELECT COUNT(*) FROM handoffs", &totalHandoffs}} {
		if err := db.QueryRowContext(ctx, q.sql).Scan(q.n); err != nil {
			return "", fmt.Errorf("bench: read back: %w", err)
		}
	}
	for _, c := range cs {
		r := got[strconv.FormatInt(c.chat, 10)]
		switch {
		case r == nil:
			problem("chat %d: no response in SQL", c.chat)
		case r.responses != 1:
			problem("chat %d: %d responses in SQL, want 1", c.chat, r.responses)
		case r.answers != expect.answers:
			problem("chat %d: %d answers in SQL, want %d", c.chat, r.answers, expect.answers)
		case r.status != string(flows.ResponseCompleted):
			problem("chat %d: response %s, want %s", c.chat, r.status, flows.ResponseCompleted)
		case r.handoffs != handoffs:
			problem("chat %d: %d handoffs in SQL, want %d", c.chat, r.handoffs, handoffs)
		case handoffs == 1 && (r.comment != c.comment || r.notified != 1):
			problem("chat %d: handoff comment %q (notified: %d), want %q, notified", c.chat, r.comment, r.notified, c.comment)
		}
	}
	if want := expect.answers * len(cs); totalAnswers != want {
		problem("SQL holds %d answers in all, want %d", totalAnswers, want)
	}
	if want := handoffs * len(cs); totalHandoffs != want {
		problem("SQL holds %d handoffs in all, want %d", totalHandoffs, want)
	}
	if len(problems) > 0 {
		return "", errors.New("  " + strings.Join(problems, "\n  "))
	}
	summary := fmt.Sprintf("OK: SQL holds %d answers (%d per customer)", totalAnswers, expect.answers)
	if handoffs == 1 {
		summary += fmt.Sprintf(" and %d handoffs (one each, with its comment, agents told)", totalHandoffs)
	}
	summary += "; every customer got each message once"
	if handoffs == 1 {
		summary += ", agents one notice per customer"
	}
	return summary, nil
}

// ---- the echo bot ----

// benchEcho runs a bare go-telegram/bot bot through the same kind of webhook
// path against the same fake: an http.Handler that decodes the update and
// runs the SDK's handler before answering 200; the handler answers a tap
// (answerCallbackQuery) and replies to every update with one sendMessage.
// Its Bot API client keeps connections alive like the customers' client.
func benchEcho(ctx context.Context, o benchOptions, api *benchAPI, client *http.Client) (*benchFigures, error) {
	var failures atomic.Int64
	var firstErr atomic.Value
	fail := func(err error) {
		if err != nil && failures.Add(1) == 1 {
			firstErr.Store(err)
		}
	}
	b, err := tgbot.New(benchToken,
		tgbot.WithServerURL(api.url), tgbot.WithSkipGetMe(), tgbot.WithNotAsyncHandlers(),
		tgbot.WithHTTPClient(time.Minute, benchClient(o.concurrency)),
		tgbot.WithErrorsHandler(fail),
		tgbot.WithDefaultHandler(func(ctx context.Context, b *tgbot.Bot, u *models.Update) {
			switch {
			case u.CallbackQuery != nil:
				q := u.CallbackQuery
				_, err := b.AnswerCallbackQuery(ctx, &tgbot.AnswerCallbackQueryParams{CallbackQueryID: q.ID})
				fail(err)
				chat := q.From.ID
				if m := q.Message.Message; m != nil {
					chat = m.Chat.ID
				}
				_, err = b.SendMessage(ctx, &tgbot.SendMessageParams{ChatID: chat, Text: "You tapped " + q.Data})
				fail(err)
			case u.Message != nil:
				_, err := b.SendMessage(ctx, &tgbot.SendMessageParams{ChatID: u.Message.Chat.ID, Text: "You said: " + u.Message.Text})
				fail(err)
			}
		}))
	if err != nil {
		return nil, fmt.Errorf("bench: echo bot: %w", err)
	}
	secret := rand.Text()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	srv := &http.Server{ReadHeaderTimeout: 10 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("X-Telegram-Bot-Api-Secret-Token") != secret {
			http.Error(w, "wrong secret", http.StatusUnauthorized)
			return
		}
		var u models.Update
		if err := json.NewDecoder(io.LimitReader(r.Body, 1<<20)).Decode(&u); err != nil {
			http.Error(w, "malformed update", http.StatusBadRequest)
			return
		}
		b.ProcessUpdate(r.Context(), &u)
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"ok":true}`+"\n")
	})}
	go func() { _ = srv.Serve(ln) }()
	defer srv.Close()
	webhook := "http://" + ln.Addr().String() + "/telegram/webhook"

	cs := make([]*benchCustomer, o.customers)
	for i := range cs {
		chat := int64(5_000_000 + i)
		cs[i] = &benchCustomer{chat: chat, inbox: api.inbox(chat), comment: fmt.Sprintf("Order %d came a week late.", i)}
		cs[i].tapData = fmt.Sprintf("a:%d:nps:%d", i+1, o.score)
	}
	snap := func() benchSnapshot {
		return benchSnapshot{calls: api.callCounts(), answers: api.webhookAnswers.Load(), cpu: processCPU(), machine: machineCPU()}
	}
	f := &benchFigures{Updates: 2 * len(cs)}
	reset := resetPeakRSS()
	profile := ""
	if o.cpuProfile != "" {
		profile = o.cpuProfile + ".echo"
	}
	stopProfile, err := startProfile(profile)
	if err != nil {
		return nil, err
	}
	defer stopProfile()
	tap := func(ctx context.Context, i int, start time.Time) error {
		c := cs[i]
		if err := api.post(ctx, client, webhook, secret, api.fake.TapUpdate(c.chat, c.tapMessage, c.tapData)); err != nil {
			return fmt.Errorf("chat %d: tap: %w", c.chat, err)
		}
		m, err := waitMsg(ctx, c.inbox.msgs, c.chat, "echo")
		c.toReply = m.at.Sub(start)
		return err
	}
	comment := func(ctx context.Context, i int, start time.Time) error {
		c := cs[i]
		u := api.fake.TextUpdate(c.chat, c.comment, "en")
		if err := api.post(ctx, client, webhook, secret, u); err != nil {
			return fmt.Errorf("chat %d: comment: %w", c.chat, err)
		}
		m, err := waitMsg(ctx, c.inbox.msgs, c.chat, "echo")
		c.toFinal = m.at.Sub(start)
		return err
	}
	memory := func() error {
		f.heapFigures()
		if o.memProfile != "" {
			return writeHeapProfile(o.memProfile + ".echo")
		}
		return nil
	}
	taps, comments, wall, err := o.runHalves(ctx, len(cs), benchHalves{tap: tap, comment: comment, memory: memory, snap: snap})
	if err != nil {
		return nil, fmt.Errorf("bench: echo: %w", err)
	}
	total := f.fillHalves(taps, comments, len(cs), false)
	stopProfile()
	f.peakFigures(reset)
	if n := failures.Load(); n > 0 {
		return nil, fmt.Errorf("bench: the echo bot failed %d Bot API calls, first: %v", n, firstErr.Load())
	}
	time.Sleep(100 * time.Millisecond)
	for _, c := range cs {
		if n := c.inbox.sent.Load(); n != 2 {
			return nil, fmt.Errorf("bench: echo: chat %d received %d messages, want 2", c.chat, n)
		}
	}
	var reply, final []time.Duration
	for _, c := range cs {
		reply, final = append(reply, c.toReply), append(final, c.toFinal)
	}
	f.UpdateToReply, f.CommentToReply = latencyOf(reply), latencyOf(final)
	f.Answers = f.Updates
	f.fill(total, wall, false)
	return f, nil
}

// ---- output ----

func (r *benchReport) print(w io.Writer) {
	pace := fmt.Sprintf("%d at a time", r.Concurrency)
	if r.Rate > 0 {
		pace = fmt.Sprintf("paced: updates arrive at %g/s (open loop: customers arrive at %g/s, each tapping, then commenting when asked), latencies from each update's due time", r.Rate, r.Rate/2)
	}
	fmt.Fprintf(w, "cxbot bench: %d customers, %s; survey %s, score %d (%s): tap, follow-up question, comment, reply\n",
		r.Customers, pace, r.Survey, r.Score, r.Class)
	fmt.Fprintf(w, "SQL:   %s\nRedis: %s\n", r.Database, r.Redis)
	fmt.Fprintf(w, "%s, GOMAXPROCS %d, %d CPUs, load average %.2f as the run began (other work on the machine skews the figures)\n",
		r.GoVersion, r.GoMaxProcs, r.NumCPU, r.LoadAverage)
	fmt.Fprintf(w, "integrity: %s\n\n", r.Integrity)

	c, e := r.Cxbot, r.Echo
	tw := tabwriter.NewWriter(w, 2, 4, 3, ' ', 0)
	fmt.Fprint(tw, "\tcxbot")
	if e != nil {
		fmt.Fprint(tw, "\techo bot")
	}
	fmt.Fprintln(tw)
	line := func(name string, cx string, echo string) {
		fmt.Fprintf(tw, "%s\t%s", name, cx)
		if e != nil {
			fmt.Fprintf(tw, "\t%s", echo)
		}
		fmt.Fprintln(tw)
	}
	pair := func(l benchLatency) string { return fmt.Sprintf("%.1f / %.1f ms", l.P50ms, l.P99ms) }
	echo := func(fn func(*benchFigures) string) string {
		if e == nil {
			return ""
		}
		return fn(e)
	}
	na := "-"
	line("answers/s", fmt.Sprintf("%.0f", c.AnswersPerSecond), echo(func(e *benchFigures) string { return fmt.Sprintf("%.0f (replies/s)", e.AnswersPerSecond) }))
	line("timed phase", fmt.Sprintf("%.2f s, %d updates", c.Seconds, c.Updates), echo(func(e *benchFigures) string { return fmt.Sprintf("%.2f s, %d updates", e.Seconds, e.Updates) }))
	line("update-to-reply p50 / p99", pair(c.UpdateToReply), echo(func(e *benchFigures) string { return pair(e.UpdateToReply) }))
	final := "comment-to-reply p50 / p99"
	if c.CommentToNotice != nil {
		final = "detractor-to-handoff p50 / p99"
	}
	line(final, pair(c.CommentToReply), echo(func(e *benchFigures) string { return pair(e.CommentToReply) + " (its reply)" }))
	if c.CommentToNotice != nil {
		line("  to agents' notice p50 / p99", pair(*c.CommentToNotice), na)
	}
	if c.RedisBytesPerConversation != nil {
		line("Redis per open conversation", fmt.Sprintf("%.0f B in %.1f keys", *c.RedisBytesPerConversation, *c.RedisKeysPerConversation), na)
	}
	// Paced, the conversations are never all open at once: memory is read at the end.
	open := fmt.Sprintf("%d open", r.Customers)
	if r.Rate > 0 {
		open = "at the end (paced)"
	}
	line("heap in use / Go sys, "+open, fmt.Sprintf("%.1f / %.1f MiB", c.HeapInuseMiB, c.SysMiB),
		echo(func(e *benchFigures) string { return fmt.Sprintf("%.1f / %.1f MiB", e.HeapInuseMiB, e.SysMiB) }))
	if c.RSSOpenMiB > 0 {
		line("cxbot RSS, "+open, fmt.Sprintf("%.1f MiB", c.RSSOpenMiB), na)
	}
	line("peak RSS", fmt.Sprintf("%.1f MiB", c.PeakRSSMiB), echo(func(e *benchFigures) string { return fmt.Sprintf("%.1f MiB", e.PeakRSSMiB) }))
	// split shows a figure per update with its tap and comment halves, when
	// they were counted apart (closed loop).
	split := func(total float64, f *benchFigures, half func(*benchPerUpdate) *float64) string {
		if f.Taps == nil || f.Comments == nil {
			return fmt.Sprintf("%.2f", total)
		}
		return fmt.Sprintf("%.2f (tap %.2f, comment %.2f)", total, *half(f.Taps), *half(f.Comments))
	}
	redisHalf := func(p *benchPerUpdate) *float64 { return p.RedisRoundTrips }
	sqlHalf := func(p *benchPerUpdate) *float64 { return p.SQLRoundTrips }
	callsHalf := func(p *benchPerUpdate) *float64 { return &p.BotAPICalls }
	if c.RedisRoundTrips != nil {
		line("Redis round trips / update", split(*c.RedisRoundTrips, c, redisHalf), na)
	}
	if c.SQLRoundTrips != nil {
		k := c.SQLByKind
		line("SQL round trips / update", split(*c.SQLRoundTrips, c, sqlHalf), na)
		parts := fmt.Sprintf("%.2f statements + %.2f BEGIN + %.2f COMMIT", k["sql"]+k["pipelined"], k["begin"], k["commit"])

		if r.Apart {
			// The child's /metrics times statements only.
			parts = fmt.Sprintf("%.2f statements (BEGIN, COMMIT and ROLLBACK not counted: its /metrics times statements only)", k["sql"])
		}
		if k["rollback"] > 0 {
			parts += fmt.Sprintf(" + %.2f ROLLBACK", k["rollback"])
		}
		line("  of which", parts, na)
		if k["pipelined"] > 0 {
			line("  pipelined (no round trip)", fmt.Sprintf("%.2f statements", k["pipelined"]), na)
		}
	}
	line("Bot API calls / update", split(c.BotAPICalls, c, callsHalf),
		echo(func(e *benchFigures) string { return split(e.BotAPICalls, e, callsHalf) }))
	methods := map[string]bool{}
	for m := range c.BotAPIByMethod {
		methods[m] = true
	}
	if e != nil {
		for m := range e.BotAPIByMethod {
			methods[m] = true
		}
	}
	names := make([]string, 0, len(methods))
	for m := range methods {
		names = append(names, m)
	}
	sort.Strings(names)
	for _, m := range names {
		line("  "+m, fmt.Sprintf("%.2f", c.BotAPIByMethod[m]), echo(func(e *benchFigures) string { return fmt.Sprintf("%.2f", e.BotAPIByMethod[m]) }))
	}
	if c.WebhookAnswers > 0 || (e != nil && e.WebhookAnswers > 0) {
		line("  of which in webhook answers", fmt.Sprintf("%.2f", c.WebhookAnswers), echo(func(e *benchFigures) string { return fmt.Sprintf("%.2f", e.WebhookAnswers) }))
	}
	line("process CPU, cores busy", fmt.Sprintf("%.2f", c.CPUCores), echo(func(e *benchFigures) string { return fmt.Sprintf("%.2f", e.CPUCores) }))
	line("machine CPU, cores busy", fmt.Sprintf("%.2f", c.MachineCPUCores), echo(func(e *benchFigures) string { return fmt.Sprintf("%.2f", e.MachineCPUCores) }))
	if e != nil && r.RatioToEcho > 0 {
		line("cxbot / echo answers/s", fmt.Sprintf("%.2f", r.RatioToEcho), "")
	}
	tw.Flush()

	fmt.Fprintln(w, `
answers/s: answers stored in SQL per second of the timed phase (the echo bot stores nothing: replies/s).
update-to-reply: from posting the tap to the fake Bot API receiving the next question's sendMessage;
detractor-to-handoff: from posting the comment to the handoff message (for other scores, the reply);
to agents' notice: from posting the comment to the notice in the agents' chat.`)
	if c.RedisMeasure != "" {
		fmt.Fprintf(w, "Redis per open conversation: after the taps, before the comments; %s.\n", c.RedisMeasure)
	}
	if r.Apart {
		fmt.Fprintln(w, `--apart: cxbot ran as "cxbot serve" in a process of its own. Its column's memory, CPU and round trips
are that process's alone: heap (no GC forced) and RSS from its GET /metrics, peak RSS
over the timed phase from /proc (VmHWM), Redis and SQL round trips from its latency histograms' counts.
The echo bot's column is still the whole bench process. Machine CPU adds PostgreSQL, Redis and the rest.`)
	} else {
		fmt.Fprintln(w, `Memory is the whole bench process (the bot, the fake Bot API, the customers): heap after a GC with
every conversation open, peak RSS over the bot's run (VmHWM). Round trips: Redis one per command or
pipeline; SQL one per statement, BEGIN, COMMIT or ROLLBACK, except statements that rode in the batch
of another (pipelined: concurrent steps share a round trip and a commit). Process CPU includes the fake and the
customers; machine CPU adds PostgreSQL, Redis and anything else running.`)
	}
	if c.PeakRSSNote != "" {
		fmt.Fprintf(w, "peak RSS: %s.\n", c.PeakRSSNote)
	}
}

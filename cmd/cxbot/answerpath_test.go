package main

import (
	"context"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/cxbot/cxbot/bot/telegram/telegramtest"
)

// privateRedis is a redis-server of the test's own, on a spare port, with
// no persistence, so the test can restart it empty without disturbing the
// Redis other tests share.
type privateRedis struct {
	t    *testing.T
	port int
	cmd  *exec.Cmd
}

// startPrivateRedis starts redis-server, or skips when the binary is missing
// (CI installs it; there the test fails rather than skips).
func startPrivateRedis(t *testing.T) *privateRedis {
	t.Helper()
	if _, err := exec.LookPath("redis-server"); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("CI: redis-server is not installed")
		}
		t.Skip("redis-server not installed")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	r := &privateRedis{t: t, port: port}
	r.start()
	t.Cleanup(r.kill)
	return r
}

func (r *privateRedis) url() string { return fmt.Sprintf("redis://127.0.0.1:%d/0", r.port) }

func (r *privateRedis) start() {
	r.t.Helper()
	r.cmd = exec.Command("redis-server", "--port", strconv.Itoa(r.port), "--bind", "127.0.0.1",
		"--save", "", "--appendonly", "no", "--dir", r.t.TempDir())
	if err := r.cmd.Start(); err != nil {
		r.t.Fatal(err)
	}
	c := redis.NewClient(&redis.Options{Addr: fmt.Sprintf("127.0.0.1:%d", r.port)})
	defer c.Close()
	deadline := time.Now().Add(10 * time.Second)
	for c.Ping(context.Background()).Err() != nil {
		if time.Now().After(deadline) {
			r.t.Fatal("private redis-server does not answer")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// restartEmpty kills the server (SIGKILL: nothing is saved) and starts a
// new, empty one on the same port.
func (r *privateRedis) restartEmpty() {
	r.t.Helper()
	r.kill()
	r.start()
}

func (r *privateRedis) kill() {
	if r.cmd != nil && r.cmd.Process != nil {
		_ = r.cmd.Process.Kill()
		_ = r.cmd.Wait()
		r.cmd = nil
	}
}

// deliverUntilOK redelivers an update the way Telegram does until the
// webhook answers 200, and returns how many answers were not 200.
func (h *harness) deliverUntilOK(u telegramtest.Update) int {
	h.t.Helper()
	refused := 0
	for try := 0; ; try++ {
		if code := h.deliver(u); code == http.StatusOK {
			return refused
		} else if code < 500 || try > 100 {
			h.t.Fatalf("update %d: webhook answered %d (try %d)", u.UpdateID, code, try+1)
		}
		refused++
		time.Sleep(50 * time.Millisecond)
	}
}

// Redis forgets everything while customers are mid-survey: restarted empty
// (a private redis-server, no persistence) or its keys flushed. Every
// answer cxbot acknowledged is in SQL, and every customer carries on at the
// question they were on: nobody is told the survey expired.
func TestRedisForgettingLosesNoAnswer(t *testing.T) {
	const customers = 12
	pg := os.Getenv("CXBOT_TEST_POSTGRES_URL")
	cases := []struct {
		name   string
		stack  func(t *testing.T) (stack, func(h *harness))
		forget string
	}{
		{"embedded, flushed", func(t *testing.T) (stack, func(*harness)) {
			return stacks(t)[0], func(h *harness) {
				if err := h.app.redis.Client().FlushAll(context.Background()).Err(); err != nil {
					t.Fatal(err)
				}
			}
		}, "flush"},
		{"private redis-server, restarted empty", func(t *testing.T) (stack, func(*harness)) {
			r := startPrivateRedis(t)
			st := stack{name: "private", redisURL: r.url(), databaseURL: stacks(t)[0].databaseURL}
			if pg != "" {
				st.databaseURL = func(t testing.TB) string { return freshSchema(t, pg) }
			}
			return st, func(*harness) { r.restartEmpty() }
		}, "restart"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			st, forget := tc.stack(t)
			h := start(t, st, options{webhook: true})
			for i := range customers {
				chat := int64(9100 + i)
				h.invite("post_purchase_nps", fmt.Sprintf("C-forget-%d", i), chat, "en")
				h.waitSent(chat, 1)
			}
			taps := make([]telegramtest.Update, customers)
			for i := range customers {
				chat := int64(9100 + i)
				u, err := h.tg.TapButton(chat, "2")
				if err != nil {
					t.Fatal(err)
				}
				taps[i] = u
				h.deliverUntilOK(u)
				h.waitSent(chat, 2) // "what went wrong?"
			}

			forget(h)

			refused := 0
			for i := range customers {
				chat := int64(9100 + i)
				refused += h.deliverUntilOK(h.tg.TextUpdate(chat, fmt.Sprintf("box %d was crushed", i), "en"))
				msgs := h.waitSent(chat, 3)
				if text := msgs[2].Text; !strings.Contains(text, "contact you") {
					t.Errorf("chat %d after Redis forgot: %q, want the handoff message", chat, text)
				}
			}
			// A tap redelivered after Redis forgot its seen mark changes nothing.
			h.deliverUntilOK(taps[0])

			for i := range customers {
				chat := int64(9100 + i)
				if n := len(h.tg.Sent(chat)); n != 3 {
					t.Errorf("chat %d got %d messages, want 3 (question, follow-up, handoff)", chat, n)
				}
				customer, err := h.app.db.CustomerByRef(context.Background(), fmt.Sprintf("C-forget-%d", i))
				if err != nil {
					t.Fatal(err)
				}
				responses, _ := h.app.db.CustomerResponses(context.Background(), customer.ID, 5)
				if len(responses) != 1 {
					t.Fatalf("customer %d: %d responses", i, len(responses))
				}
				answers, _ := h.app.db.Answers(context.Background(), responses[0].ID)
				if len(answers) != 2 || answers[0].Score == nil || *answers[0].Score != 2 || !strings.Contains(answers[1].Text, "crushed") {
					t.Errorf("customer %d answers: %+v", i, answers)
				}
			}
			h.waitFor("every handoff notice", func() bool { return len(h.tg.Sent(agentChat)) >= customers })
			if n := len(h.tg.Sent(agentChat)); n != customers {
				t.Errorf("agents got %d notices, want %d", n, customers)
			}
			t.Logf("%s: %d webhook deliveries refused with 5xx while Redis came back", tc.forget, refused)
		})
	}
}

// A step held past its lease by a slow Bot API, with the update delivered to
// two replicas at once (as a platform redelivers after a timeout): the
// lease is renewed while the slow step runs, so the other replica waits and
// then finds the update applied. One answer, one of each message, one notice.
func TestSlowStepOnTwoReplicasHasOneEffect(t *testing.T) {
	if testing.Short() {
		t.Skip("timing-heavy (leases of a second or two): runs in the full suite, not under -race -short")
	}
	for _, st := range stacks(t)[1:] { // replicas need a shared Redis and database
		t.Run(st.name, func(t *testing.T) {
			tg := telegramtest.New(testBotToken, telegramtest.WithMaxPollWait(200*time.Millisecond))
			t.Cleanup(tg.Close)
			dbURL := st.databaseURL(t)
			env := map[string]string{"CXBOT_CHAT_LEASE": "1s", "CXBOT_REDIS_PREFIX": "cx-slow-" + strconv.FormatInt(time.Now().UnixNano(), 36) + ":"}
			a := start(t, st, options{webhook: true, tg: tg, dbURL: dbURL, env: env})
			b := start(t, st, options{webhook: true, tg: tg, dbURL: dbURL, env: env})
			const chats = 6
			for i := range chats {
				a.invite("post_purchase_nps", fmt.Sprintf("C-slow-%d", i), int64(9200+i), "en")
				a.waitSent(int64(9200+i), 1)
			}
			var wg sync.WaitGroup
			for i := range chats {
				chat := int64(9200 + i)
				tap, err := tg.TapButton(chat, "3")
				if err != nil {
					t.Fatal(err)
				}
				tg.StallNext("sendMessage", chat, 3500*time.Millisecond) // 3.5 leases
				for _, h := range []*harness{a, b} {
					wg.Go(func() { h.deliverUntilOK(tap) })
				}
			}
			wg.Wait()
			for i := range chats {
				chat := int64(9200 + i)
				comment := tg.TextUpdate(chat, "late and broken", "en")
				for _, h := range []*harness{b, a} {
					wg.Go(func() { h.deliverUntilOK(comment) })
				}
			}
			wg.Wait()
			for i := range chats {
				chat := int64(9200 + i)
				if sent := tg.Sent(chat); len(sent) != 3 {
					var texts []string
					for _, m := range sent {
						texts = append(texts, m.Text)
					}
					t.Errorf("chat %d got %d messages, want 3: %q", chat, len(sent), texts)
				}
			}
			a.waitFor("the notices", func() bool { return len(tg.Sent(agentChat)) >= chats })
			time.Sleep(300 * time.Millisecond)
			if n := len(tg.Sent(agentChat)); n != chats {
				t.Errorf("agents got %d notices, want %d (one per detractor)", n, chats)
			}
		})
	}
}

// A reply that the Bot API answers 429: a short retry_after is waited out
// and the webhook still answers 200; a long one gives the update back with
// 503 and Retry-After, and the redelivery applies it once.
func TestReplyRateLimited(t *testing.T) {
	h := start(t, stacks(t)[0], options{webhook: true})
	const chat = 9300
	h.invite("post_purchase_nps", "C-429", chat, "en")
	h.waitSent(chat, 1)

	h.tg.FailNext("sendMessage", chat, http.StatusTooManyRequests, 1)
	begin := time.Now()
	tap := h.tap(chat, "8")
	if d := time.Since(begin); d < time.Second {
		t.Errorf("webhook answered after %v, want it to wait out retry_after 1s", d)
	}
	if sent := h.waitSent(chat, 2); !strings.Contains(sent[1].Text, "10") {
		t.Errorf("after the wait: %q, want the next question", sent[1].Text)
	}
	_ = tap

	h.tg.FailNext("sendMessage", chat, http.StatusTooManyRequests, 30)
	comment := h.tg.TextUpdate(chat, "faster delivery", "en")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	code, header, err := h.tg.DeliverWebhookHeader(ctx, comment)
	if err != nil {
		t.Fatal(err)
	}
	if code != http.StatusServiceUnavailable || header.Get("Retry-After") != "30" {
		t.Fatalf("long retry_after: webhook answered %d, Retry-After %q; want 503 and 30", code, header.Get("Retry-After"))
	}
	h.deliverUntilOK(comment) // Telegram redelivers later
	sent := h.waitSent(chat, 3)
	if len(sent) != 3 || !strings.Contains(sent[2].Text, "Thank") {
		t.Errorf("after the redelivery: %d messages, last %q", len(sent), sent[len(sent)-1].Text)
	}
	customer, _ := h.app.db.CustomerByRef(context.Background(), "C-429")
	responses, _ := h.app.db.CustomerResponses(context.Background(), customer.ID, 1)
	if answers, _ := h.app.db.Answers(context.Background(), responses[0].ID); len(answers) != 2 {
		t.Errorf("answers = %+v, want the score and one comment", answers)
	}
}

// After a re-prompt only the re-prompt carries a live keyboard; once the
// customer taps, no keyboard of the question is left.
func TestRepromptLeavesOneLiveKeyboard(t *testing.T) {
	h := start(t, stacks(t)[0], options{webhook: true})
	const chat = 9400
	h.invite("post_purchase_nps", "C-keys", chat, "en")
	h.waitSent(chat, 1)
	h.say(chat, "11", "en")
	sent := h.waitSent(chat, 2)
	h.waitFor("the first keyboard removed", func() bool { return len(h.tg.Sent(chat)[0].Keyboard) == 0 })
	if len(h.tg.Sent(chat)[1].Keyboard) == 0 {
		t.Fatalf("the re-prompt has no keyboard: %+v", sent[1])
	}
	h.tap(chat, "9")
	h.waitSent(chat, 3)
	h.waitFor("no live keyboard", func() bool {
		for _, m := range h.tg.Sent(chat) { // the third asks a text question: no keyboard
			if len(m.Keyboard) > 0 {
				return false
			}
		}
		return true
	})
}

// TestMain lets a test run this binary as a cxbot process of its own
// (CXBOT_TEST_CHILD=1), which it can then kill with SIGKILL.
func TestMain(m *testing.M) {
	if os.Getenv("CXBOT_TEST_CHILD") == "1" {
		main()
		return
	}
	// The slow end-to-end tests (t.Parallel) mostly wait on fakes, timers
	// and the databases: four at a time on this package's 2 cores unless
	// -parallel says otherwise.
	flag.Parse()
	if f := flag.Lookup("test.parallel"); f != nil && !flagSet("test.parallel") {
		_ = f.Value.Set("4")
	}
	os.Exit(m.Run())
}

// flagSet says whether a flag was given on the command line.
func flagSet(name string) bool {
	set := false
	flag.Visit(func(f *flag.Flag) { set = set || f.Name == name })
	return set
}

// A replica killed (SIGKILL) in the middle of a step, after the answer was
// committed and while its next message was on the wire: its chat is free
// again within the lease, and the redelivered update, handled by another
// replica, has the effect of one delivery: one answer, at most one repeated
// message, one handoff.
func TestReplicaKilledMidStep(t *testing.T) {
	if testing.Short() {
		t.Skip("timing-heavy (leases of a second or two): runs in the full suite, not under -race -short")
	}
	for _, st := range stacks(t)[1:] { // replicas need a shared Redis and database
		t.Run(st.name, func(t *testing.T) {
			tg := telegramtest.New(testBotToken, telegramtest.WithMaxPollWait(200*time.Millisecond))
			t.Cleanup(tg.Close)
			dbURL := st.databaseURL(t)
			prefix := "cx-kill-" + strconv.FormatInt(time.Now().UnixNano(), 36) + ":"
			const lease = 2 * time.Second
			b := start(t, st, options{webhook: true, tg: tg, dbURL: dbURL,
				env: map[string]string{"CXBOT_CHAT_LEASE": lease.String(), "CXBOT_REDIS_PREFIX": prefix}})
			bWebhook := b.base + "/telegram/webhook"

			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			childAddr := ln.Addr().String()
			ln.Close()
			child := exec.Command(os.Args[0], "serve")
			child.Env = append(os.Environ(), "CXBOT_TEST_CHILD=1",
				"CXBOT_HTTP_ADDR="+childAddr, "CXBOT_PUBLIC_URL=http://"+childAddr,
				"CXBOT_TELEGRAM_WEBHOOK_SECRET="+testSecret, "CXBOT_DATABASE_URL="+dbURL,
				"CXBOT_REDIS_URL="+st.redisURL, "CXBOT_REDIS_PREFIX="+prefix, "CXBOT_CONFIG_DIR=../../configs",
				"CXBOT_API_TOKEN="+testAPIToken,
				"CXBOT_TELEGRAM_TOKEN="+testBotToken, "CXBOT_TELEGRAM_API_URL="+tg.URL(),
				"CXBOT_TELEGRAM_AGENT_CHAT="+strconv.Itoa(agentChat), "CXBOT_CHAT_LEASE="+lease.String(),
				"CXBOT_DISPATCH_WORKERS=0")
			childLog := &syncBuffer{}
			child.Stdout, child.Stderr = childLog, childLog
			if err := child.Start(); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() {
				_ = child.Process.Kill()
				_ = child.Wait()
				if t.Failed() {
					t.Logf("killed replica's log:\n%s", childLog.String())
				}
			})
			b.waitFor("the child replica", func() bool {
				resp, err := http.Get("http://" + childAddr + "/healthz")
				if err == nil {
					resp.Body.Close()
				}
				return err == nil
			})

			const chat = 9500
			b.invite("post_purchase_nps", "C-killed", chat, "en")
			b.waitSent(chat, 1)
			tap, err := tg.TapButton(chat, "3")
			if err != nil {
				t.Fatal(err)
			}
			tg.StallNext("sendMessage", chat, 4*time.Second) // the follow-up question hangs on the wire
			callsBefore := tg.Calls("sendMessage")
			go func() {
				ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
				defer cancel()
				_, _ = tg.Deliver(ctx, "http://"+childAddr+"/telegram/webhook", testSecret, tap)
			}()
			b.waitFor("the killed replica's follow-up on the wire", func() bool { return tg.Calls("sendMessage") > callsBefore })
			time.Sleep(300 * time.Millisecond) // the fake has read the call and is stalling it
			if err := child.Process.Kill(); err != nil {
				t.Fatal(err)
			}
			killedAt := time.Now()

			// Telegram redelivers to another replica.
			for {
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				code, err := tg.Deliver(ctx, bWebhook, testSecret, tap)
				cancel()
				if err != nil {
					t.Fatal(err)
				}
				if code == http.StatusOK {
					break
				}
				if time.Since(killedAt) > 5*lease {
					t.Fatalf("the killed replica's chat is still busy %v after the kill (lease %v): webhook answers %d", time.Since(killedAt), lease, code)
				}
				time.Sleep(100 * time.Millisecond)
			}
			t.Logf("chat free and the update applied %v after the kill (lease %v)", time.Since(killedAt).Round(time.Millisecond), lease)

			time.Sleep(4 * time.Second) // the killed replica's stalled message lands
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if code, err := tg.Deliver(ctx, bWebhook, testSecret, tg.TextUpdate(chat, "the box was crushed", "en")); err != nil || code != http.StatusOK {
				t.Fatalf("comment: %d, %v", code, err)
			}
			followUps, handoffs := 0, 0
			for _, m := range b.waitSent(chat, 3) {
				switch {
				case strings.Contains(m.Text, "what went wrong"):
					followUps++
				case strings.Contains(m.Text, "contact you"):
					handoffs++
				}
			}
			if followUps < 1 || followUps > 2 || handoffs != 1 {
				t.Errorf("messages: %d follow-ups (want 1, at most one repeat), %d handoff messages (want 1)", followUps, handoffs)
			}
			customer, _ := b.app.db.CustomerByRef(context.Background(), "C-killed")
			responses, _ := b.app.db.CustomerResponses(context.Background(), customer.ID, 5)
			if len(responses) != 1 {
				t.Fatalf("%d responses", len(responses))
			}
			if answers, _ := b.app.db.Answers(context.Background(), responses[0].ID); len(answers) != 2 {
				t.Errorf("answers = %+v, want the score once and the comment", answers)
			}
			b.waitFor("the notice", func() bool { return len(tg.Sent(agentChat)) >= 1 })
			time.Sleep(200 * time.Millisecond)
			if n := len(tg.Sent(agentChat)); n != 1 {
				t.Errorf("agents got %d notices, want 1", n)
			}
		})
	}
}

// A customer text with a NUL byte (which PostgreSQL cannot store) is
// cleaned, not refused: the webhook answers 200 once, the comment is kept
// without the NUL, and the platform has nothing to redeliver for ever.
func TestTextWithNULIsCleaned(t *testing.T) {
	for _, st := range stacks(t) {
		t.Run(st.name, func(t *testing.T) {
			h := start(t, st, options{webhook: true})
			const chat = 9600
			h.invite("post_purchase_nps", "C-nul", chat, "en")
			h.waitSent(chat, 1)
			h.tap(chat, "2")
			h.waitSent(chat, 2)
			u := h.tg.TextUpdate(chat, "box\x00 crushed \xff", "en")
			if code := h.deliver(u); code != http.StatusOK {
				t.Fatalf("webhook answered %d for a text with a NUL byte", code)
			}
			if sent := h.waitSent(chat, 3); !strings.Contains(sent[2].Text, "contact you") {
				t.Errorf("after the comment: %q", sent[2].Text)
			}
			customer, _ := h.app.db.CustomerByRef(context.Background(), "C-nul")
			responses, _ := h.app.db.CustomerResponses(context.Background(), customer.ID, 1)
			answers, _ := h.app.db.Answers(context.Background(), responses[0].ID)
			if len(answers) != 2 || answers[1].Text != "box crushed \uFFFD" {
				t.Errorf("answers = %+v, want the comment without its NUL", answers)
			}
		})
	}
}

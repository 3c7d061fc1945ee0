package main

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/cxbot/cxbot/flows"
	"github.com/cxbot/cxbot/internal/browsertest"
)

// The dashboard's wave, survey and queue pages against a whole cxbot (real
// scheduler, store, desk and the fake Telegram), in headless Chromium. The
// helpers are internal/browsertest's, shared with httpapi's page tests.

func newTab(t *testing.T) *browsertest.Tab {
	return browsertest.New(t, browsertest.Options{
		// The editor's check of a bad definition is a 400 naming the
		// fields, shown beside them: Chromium logs it, it is no fault.
		Expected: func(url, text string) bool {
			return strings.HasSuffix(url, "/api/v1/wave-checks") && strings.Contains(text, "status of 400")
		},
		State: `"page=" + document.body.dataset.page + " loaded=" + document.body.dataset.loaded +
			" error=" + document.getElementById("page-error").textContent + " form=" + document.getElementById("e-error").textContent`,
	})
}

// fill sets a form field as typing would: the value, then an input event.
func fill(name, value string) chromedp.Action[chromedp.Void] {
	return chromedp.Func(func(ctx context.Context, _ *chromedp.Target) error {
		_, err := chromedp.Run(ctx, chromedp.Evaluate[bool](fmt.Sprintf(`(() => { const f = document.getElementById("wave-form").elements[%q];
			f.value = %q; f.dispatchEvent(new Event("input", {bubbles: true})); f.dispatchEvent(new Event("change", {bubbles: true})); return true; })()`, name, value)))
		return err
	})
}

// TestDashboardWaveInChromium: a wave created, previewed and activated from
// the dashboard invites exactly the customers the preview said it would;
// the survey preview shows the text they got; the handoff queue works a
// detractor's case. Each page is checked for console errors and saved as a
// screenshot, on a desktop and a phone-sized screen.
func TestDashboardWaveInChromium(t *testing.T) {
	t.Parallel() // slow and self-contained (own database, Redis prefix, fakes, ports): runs beside the other slow ones
	st := stacks(t)[len(stacks(t))-1]
	h := start(t, st, options{})
	b := newTab(t)

	// Eight purchases in Shanghai stores and three elsewhere, three hours ago.
	occurred := time.Now().Add(-3 * time.Hour).UTC().Format(time.RFC3339)
	var events []map[string]any
	for i := range 11 {
		store := "SH-0" + strconv.Itoa(i%3+1)
		if i >= 8 {
			store = "BJ-01"
		}
		events = append(events, map[string]any{"id": fmt.Sprintf("dash-%d", i), "customer_ref": fmt.Sprintf("D-%d", i), "touchpoint": "purchase",
			"occurred_at": occurred, "telegram_chat_id": 9100 + i, "language": "en", "attributes": map[string]string{"store": store}})
	}
	if code := h.api("POST", "/api/v1/events", map[string]any{"events": events}, nil); code != http.StatusOK && code != http.StatusCreated && code != http.StatusMultiStatus {
		t.Fatalf("events: %d", code)
	}
	loaded := func(page string) chromedp.Action[chromedp.Void] {
		return chromedp.WaitReady(chromedp.CSS(`body[data-loaded="` + page + `"]`))
	}
	b.Do(t, "sign in",
		chromedp.Navigate(h.base+"/#/waves"),
		chromedp.WaitVisible(chromedp.CSS("#token")),
		chromedp.SendKeys(chromedp.CSS("#token"), testAPIToken),
		chromedp.Click(chromedp.CSS("#signin-form button")),
		loaded("waves"),
	)
	// The shipped file waves are listed; none is ours yet.
	if got := b.Eval(t, `String(document.querySelectorAll('#waves tr[data-id="spring_nps"]').length)`); got != "0" {
		t.Fatalf("spring_nps listed before it exists: %s", got)
	}
	b.Do(t, "new wave", chromedp.Click(chromedp.CSS("#new-wave")), loaded("wave-edit"))
	if got := b.Eval(t, `document.querySelector('[data-field="id"] .field-error').textContent`); got != "" {
		t.Errorf("an untouched new form shows %q beside the id", got)
	}
	// Review finding 11: opening the editor checks nothing (an empty form
	// would be a 400 in the console every time).
	if got := b.Eval(t, `String(performance.getEntriesByType("resource").filter((e) => e.name.endsWith("/api/v1/wave-checks")).length)`); got != "0" {
		t.Errorf("opening a new form sent %s wave-checks", got)
	}
	// Review finding 1: empty cap and quiet hours say the default applies,
	// and no placeholder looks like a value.
	for field, want := range map[string]string{"quiet_hours": "empty: the default · off: none", "frequency_cap": "empty: the default · off: none", "reminder_after": "empty: no reminder"} {
		if got := b.Eval(t, fmt.Sprintf(`document.querySelector('#wave-form [name=%q]').placeholder`, field)); got != want {
			t.Errorf("placeholder of %s = %q, want %q", field, got, want)
		}
	}

	// Bad input: each error appears beside its field, nothing is stored.
	b.Do(t, "bad input",
		chromedp.SendKeys(chromedp.CSS(`#wave-form input[name="id"]`), "Spring NPS"),
		fill("freq", "cron"), fill("schedule", "every minute"), fill("sample", "150%"), fill("quiet_hours", "21-9"),
	)
	b.Until(t, "field errors", `document.getElementById("wave-form").dataset.valid === "false" && document.querySelector('[data-field="sample"] .field-error').textContent !== ""`)
	for field, want := range map[string]string{
		"id": "lowercase letters", "schedule": "not a valid cron spec", "sample": "at most 100%", "quiet_hours": "is not HH:MM-HH:MM", "touchpoint": "is required",
	} {
		got := b.Eval(t, fmt.Sprintf(`document.querySelector('[data-field=%q] .field-error').textContent`, field))
		if !strings.Contains(got, want) {
			t.Errorf("beside %s: %q, want %q", field, got, want)
		}
	}
	b.Screenshot(t, "wave-editor-errors")
	b.NoProblems(t, "editor errors")
	if code := h.api("GET", "/api/v1/waves/spring_nps", nil, nil); code != http.StatusNotFound {
		t.Fatalf("a checked definition was stored: %d", code)
	}

	// A good definition: the schedule in words and its next five runs.
	b.Do(t, "good input",
		fill("id", "spring_nps"), fill("survey", "post_purchase_nps"), fill("touchpoint", "purchase"), fill("delay", "1h"),
		fill("where", "store=SH-*"), fill("schedule", "@every 1s"), fill("sample", "50%"), fill("quiet_hours", ""),
		fill("expires_after", "72h"), fill("reminder_after", "24h"), fill("timezone", "Asia/Shanghai"),
		chromedp.Click(chromedp.CSS(`#wave-form input[name="channels"][value="wechat"]`)),
	)
	b.Until(t, "a valid form", `document.getElementById("wave-form").dataset.valid === "true"`)
	if got := b.Eval(t, `document.querySelector('#wave-form [name="frequency_cap"]').placeholder`); got != "empty: the default, 1 per 7d · off: none" {
		t.Errorf("the empty cap's placeholder after a check = %q, want the server's default", got)
	}
	if got := b.Eval(t, `document.getElementById("e-when").textContent + " | " + document.querySelectorAll("#e-runs li").length + " | " + document.getElementById("e-runs").dataset.tz`); got != "every second | 5 | Asia/Shanghai" {
		t.Errorf("schedule shown as %q", got)
	}
	if got := b.Eval(t, `document.querySelector("#e-runs li").textContent`); !strings.HasSuffix(got, "+08:00") {
		t.Errorf("first run %q is not in Shanghai time", got)
	}
	// The calendar builder writes the cron spec in the wave's zone.
	b.Do(t, "monthly", fill("freq", "monthly"), fill("monthday", "1"), fill("at", "10:00"))
	b.Until(t, "the monthly schedule", `document.getElementById("e-when").textContent === "on day 1 of every month at 10:00 (Asia/Shanghai time)"`)
	b.Screenshot(t, "wave-editor")
	b.Do(t, "back to every second", fill("freq", "cron"), fill("schedule", "@every 1s"))
	b.Until(t, "every second", `document.getElementById("e-when").textContent === "every second"`)
	b.NoProblems(t, "editor")

	// Saved as a draft, previewed, nothing sent.
	b.Do(t, "save", chromedp.Click(chromedp.CSS("#e-save")), loaded("wave"))
	if got := b.Eval(t, `document.getElementById("w-state").dataset.state`); got != "paused" {
		t.Fatalf("a new wave is %q, want a paused draft", got)
	}
	b.Do(t, "preview", chromedp.Click(chromedp.CSS("#w-preview")), chromedp.WaitReady(chromedp.CSS(`body[data-previewed]`)))
	would, _ := strconv.Atoi(b.Eval(t, `document.body.dataset.previewed`))
	shown := strings.Fields(b.Eval(t, `[...document.querySelectorAll("#w-sample tbody tr")].map(r => r.dataset.chat).join(" ")`))
	slices.Sort(shown)
	if would == 0 || would >= 8 || len(shown) != would {
		t.Fatalf("preview: %d would be invited, %d shown; want some but not all of the 8 Shanghai customers (a 50%% sample)", would, len(shown))
	}
	b.Screenshot(t, "wave-preview")
	b.NoProblems(t, "wave page")
	time.Sleep(1500 * time.Millisecond) // the draft's cron job has ticked
	for i := range 11 {
		if n := len(h.tg.Sent(int64(9100 + i))); n != 0 {
			t.Fatalf("the draft invited chat %d", 9100+i)
		}
	}

	// Activated: exactly the previewed customers are invited.
	b.Do(t, "activate", chromedp.Click(chromedp.CSS("#w-activate")), chromedp.WaitReady(chromedp.CSS(`body[data-action="active"]`)))
	h.waitFor("the previewed invitations", func() bool {
		n := 0
		for i := range 11 {
			if len(h.tg.Sent(int64(9100+i))) > 0 {
				n++
			}
		}
		return n >= would
	})
	time.Sleep(1500 * time.Millisecond) // more ticks invite no one else
	var invited []string
	for i := range 11 {
		if sent := h.tg.Sent(int64(9100 + i)); len(sent) > 0 {
			invited = append(invited, strconv.Itoa(9100+i))
			if len(sent) != 1 {
				t.Errorf("chat %d got %d messages", 9100+i, len(sent))
			}
		}
	}
	slices.Sort(invited)
	if !slices.Equal(invited, shown) {
		t.Fatalf("invited %v; the preview said %v", invited, shown)
	}
	first := h.tg.Sent(mustInt(t, invited[0]))[0]

	b.Do(t, "waves list", chromedp.Navigate(h.base+"/#/waves"), loaded("waves"))
	if got := b.Eval(t, `[...document.querySelector('#waves tr[data-id="spring_nps"]').cells].map(c => c.textContent).join("|")`); !strings.HasPrefix(got, "spring_nps|post_purchase_nps|every second|active|") {
		t.Errorf("list row %q", got)
	}
	b.Screenshot(t, "waves")
	b.NoProblems(t, "waves list")

	// The survey preview shows what the customer got, word for word.
	b.Do(t, "survey preview", chromedp.Navigate(h.base+"/#/surveys/post_purchase_nps"), loaded("survey"),
		chromedp.SetValue(chromedp.CSS("#s-lang"), "en"))
	b.Eval(t, `(() => { document.getElementById("s-lang").dispatchEvent(new Event("change")); return ""; })()`)
	if got := b.Eval(t, `document.querySelector('[data-question="nps"] .telegram .bubble').textContent`); got != first.Text {
		t.Errorf("preview shows %q; the customer got %q", got, first.Text)
	}
	if got := b.Eval(t, `[...document.querySelectorAll('[data-question="nps"] .telegram .krow')].map(r => r.textContent).join("|")`); got != "012345|678910" {
		t.Errorf("keyboard rows %q", got)
	}
	b.Screenshot(t, "survey-preview")
	b.NoProblems(t, "survey preview")

	// A detractor's comment reaches the queue as text; the case is worked
	// from the dashboard.
	var agent struct {
		ID int64 `json:"id"`
	}
	if code := h.api("POST", "/api/v1/agents", map[string]any{"telegram_user_id": 601, "name": "Lin"}, &agent); code != http.StatusCreated {
		t.Fatalf("add agent: %d", code)
	}
	customer := mustInt(t, invited[0])
	h.tap(customer, "2")
	h.waitSent(customer, 2)
	h.say(customer, `<img src=x onerror=alert(1)> 物流太慢`, "en")
	h.waitSent(customer, 3)
	h.waitFor("the open case", func() bool {
		var list struct {
			Handoffs []caseJSON `json:"handoffs"`
		}
		h.api("GET", "/api/v1/handoffs?status=open", nil, &list)
		return len(list.Handoffs) == 1
	})
	b.Do(t, "queue", chromedp.Navigate(h.base+"/#/queue"), loaded("queue"))
	row := b.Eval(t, `document.querySelector("#cases tbody tr[data-id] td.comment").textContent + "|" + document.querySelectorAll("#cases img").length`)
	if row != `<img src=x onerror=alert(1)> 物流太慢|0` {
		t.Errorf("queue row comment %q; want the text itself", row)
	}
	b.Screenshot(t, "queue")
	b.NoProblems(t, "queue")
	b.Do(t, "case", chromedp.Click(chromedp.CSS("#cases tbody tr[data-id] a")), loaded("case"))
	b.Do(t, "claim", chromedp.SetValue(chromedp.CSS("#c-agent"), strconv.FormatInt(agent.ID, 10)), chromedp.Click(chromedp.CSS("#c-claim")),
		chromedp.WaitReady(chromedp.CSS(`body[data-action="/claim:claimed"]`)))
	b.Do(t, "reply", chromedp.SendKeys(chromedp.CSS("#c-reply"), "Sorry — we refund the shipping."), chromedp.Click(chromedp.CSS("#c-reply-form button")),
		chromedp.WaitReady(chromedp.CSS(`body[data-action="/reply:claimed"]`)))
	if got := h.waitSent(customer, 4)[3].Text; !strings.Contains(got, "Sorry — we refund the shipping.") {
		t.Errorf("the customer got %q", got)
	}
	msgs := b.Eval(t, `[...document.querySelectorAll("#c-messages li .text")].map(e => e.textContent).join("|") + "|" + document.querySelectorAll("#c-messages img").length`)
	if !strings.Contains(msgs, "Sorry — we refund the shipping.") || !strings.HasSuffix(msgs, "|0") {
		t.Errorf("case messages %q", msgs)
	}
	b.Screenshot(t, "case")
	b.NoProblems(t, "case")
	b.Do(t, "resolve", chromedp.SetValue(chromedp.CSS("#c-note"), "refunded"), chromedp.Click(chromedp.CSS("#c-resolve-form button")),
		chromedp.WaitReady(chromedp.CSS(`body[data-action="/resolve:resolved"]`)))
	var c caseJSON
	if h.api("GET", "/api/v1/handoffs/"+b.Eval(t, `String(document.querySelector("#c-title").textContent.match(/\d+/)[0])`), nil, &c); c.Status != "resolved" || c.ClaimedByName != "Lin" {
		t.Errorf("case after the dashboard: %+v", c)
	}

	// On a phone, in Chinese: each page fits and reads.
	b.Do(t, "phone", chromedp.EmulateViewport(390, 844, chromedp.EmulateMobile), chromedp.Navigate(h.base+"/#/waves/spring_nps"), loaded("wave"),
		chromedp.Click(chromedp.CSS("#lang")), loaded("wave"))
	if got := b.Eval(t, `document.querySelector('a[href="#/waves"]').textContent + "|" + document.getElementById("w-state").textContent`); got != "调研波次|运行中" {
		t.Errorf("Chinese: %q", got)
	}
	if got := b.Eval(t, `String(document.documentElement.scrollWidth <= window.innerWidth + 1)`); got != "true" {
		t.Errorf("the wave page is wider than the phone: %s", b.Eval(t, `String(document.documentElement.scrollWidth)`))
	}
	b.Screenshot(t, "wave-phone-zh")
	for _, p := range []struct{ hash, page string }{{"#/waves", "waves"}, {"#/wave-edit/spring_nps", "wave-edit"}, {"#/surveys/post_purchase_nps", "survey"},
		{"#/queue", "queue"}, {"#/queue/" + strconv.FormatInt(c.ID, 10), "case"}} {
		b.Do(t, p.page+" on a phone", chromedp.Navigate(h.base+"/"+p.hash), loaded(p.page))
		if p.page == "wave-edit" {
			b.Until(t, "the stored wave in the form", `document.getElementById("e-when").textContent === "每 1 秒"`)
		}
		if got := b.Eval(t, `String(document.documentElement.scrollWidth <= window.innerWidth + 1)`); got != "true" {
			t.Errorf("%s is wider than the phone: %s", p.page, b.Eval(t, `String(document.documentElement.scrollWidth)`))
		}
		b.Screenshot(t, p.page+"-phone-zh")
		b.NoProblems(t, p.page+" on a phone")
	}

	// Retired from its page, in two steps (no browser dialog).
	b.Do(t, "retire", chromedp.Navigate(h.base+"/#/waves/spring_nps"), loaded("wave"), chromedp.Click(chromedp.CSS("#w-retire")),
		chromedp.Click(chromedp.CSS("#w-retire-confirm")), chromedp.WaitReady(chromedp.CSS(`body[data-action="retired"]`)))
	var w struct {
		Retired bool `json:"retired"`
	}
	if h.api("GET", "/api/v1/waves/spring_nps", nil, &w); !w.Retired {
		t.Error("the wave is not retired")
	}
	b.NoProblems(t, "retire")
}

func mustInt(t *testing.T, s string) int64 {
	t.Helper()
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// TestDashboardNavFollowsTokenRole: a stored token's role decides which
// pages the dashboard offers: a marketer gets no queue, an agent only the
// queue (and its page works), and a revoked token is signed out.
func TestDashboardNavFollowsTokenRole(t *testing.T) {
	t.Parallel() // slow and self-contained (own database, Redis prefix, fakes, ports): runs beside the other slow ones
	st := stacks(t)[len(stacks(t))-1]
	h := start(t, st, options{})
	ctx := context.Background()
	mint := func(role flows.APIRole) (string, flows.APIToken) {
		secret, tok, err := flows.NewAPIToken("dash-"+string(role), role, 0, "test", time.Now())
		if err != nil {
			t.Fatal(err)
		}
		if tok, err = h.app.db.CreateAPIToken(ctx, tok); err != nil {
			t.Fatal(err)
		}
		return secret, tok
	}
	loaded := func(page string) chromedp.Action[chromedp.Void] {
		return chromedp.WaitReady(chromedp.CSS(`body[data-loaded="` + page + `"]`))
	}
	visibleNav := `[...document.querySelectorAll("#nav a")].filter(a => !a.hidden).map(a => a.getAttribute("href")).join(" ")`
	for _, c := range []struct {
		role      flows.APIRole
		page, nav string
	}{
		{flows.APIMarketer, "overview", "#/overview #/comments #/waves #/surveys"},
		{flows.APIAgent, "queue", "#/queue"},
	} {
		secret, tok := mint(c.role)
		b := newTab(t)
		b.Do(t, "sign in as "+string(c.role),
			chromedp.Navigate(h.base+"/#/"+c.page),
			chromedp.WaitVisible(chromedp.CSS("#token")),
			chromedp.SendKeys(chromedp.CSS("#token"), secret),
			chromedp.Click(chromedp.CSS("#signin-form button")),
			loaded(c.page),
		)
		if got := b.Eval(t, visibleNav); got != c.nav {
			t.Errorf("%s sees %q, want %q", c.role, got, c.nav)
		}
		if got, want := b.Eval(t, `document.getElementById("whoami").textContent`), "Signed in as dash-"+string(c.role)+" ("+string(c.role)+")"; got != want {
			t.Errorf("header shows %q, want %q", got, want)
		}
		b.NoProblems(t, string(c.role)+" signed in")
		b.Screenshot(t, "role-"+string(c.role))
		if _, _, err := h.app.db.RevokeAPIToken(ctx, tok.ID); err != nil {
			t.Fatal(err)
		}
		// Stored tokens are trusted for a few seconds; after that the
		// revoked one is refused and the dashboard asks to sign in again.
		b.Do(t, "after revoking",
			chromedp.Sleep(6*time.Second),
			chromedp.Navigate(h.base+"/#/"+c.page),
			chromedp.Reload(),
			chromedp.WaitVisible(chromedp.CSS("#token")),
		)
		// The API's reason, not "Wrong token.".
		b.Until(t, "the revoked token's message", `document.getElementById("signin-error").textContent === "this bearer token was revoked"`)
	}
}

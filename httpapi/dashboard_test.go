package httpapi

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"

	"github.com/cxbot/cxbot/flows"
)

// chromiumPath finds headless Chromium; without it the dashboard tests
// skip, except in CI (CI=true), where they fail.
func chromiumPath(t *testing.T) string {
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("Chromium is not installed: the dashboard tests need it (apt-get install chromium)")
	}
	t.Skip("Chromium is not installed (apt-get install chromium)")
	return ""
}

// screenshotDir is where the dashboard tests save a screenshot of each
// page: CXBOT_SCREENSHOTS, or cxbot-dashboard under the temp folder.
func screenshotDir(t *testing.T) string {
	dir := os.Getenv("CXBOT_SCREENSHOTS")
	if dir == "" {
		dir = filepath.Join(os.TempDir(), "cxbot-dashboard")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// browser is one headless Chromium tab that records console errors and
// warnings, uncaught exceptions, browser log errors (a resource that failed
// to load, a blocked script) and dialogs (an alert would mean injected
// script ran).
type browser struct {
	ctx      context.Context
	mu       sync.Mutex
	problems []string
}

func newBrowser(t *testing.T) *browser {
	t.Helper()
	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(chromiumPath(t)), chromedp.NoSandbox,
		chromedp.WindowSize(1280, 900))
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelTab := chromedp.NewContext(allocCtx)
	// The whole browser session is bounded: a hung page fails the test.
	ctx, cancelTime := context.WithTimeout(ctx, 90*time.Second)
	t.Cleanup(func() { cancelTime(); cancelTab(); cancelAlloc() })
	b := &browser{ctx: ctx}
	note := func(p string) {
		b.mu.Lock()
		defer b.mu.Unlock()
		b.problems = append(b.problems, p)
	}
	messages := chromedp.Console(ctx)
	go func() {
		for m, err := range messages {
			if err != nil {
				return
			}
			switch m.Type {
			case chromedp.ConsoleException, "error", "warning":
				note(fmt.Sprintf("console %s: %s (%s:%d)", m.Type, m.Text, m.URL, m.Line))
			}
		}
	}()
	if err := chromedp.Listen(ctx, func(ev any) {
		if d, ok := ev.(*page.EventJavascriptDialogOpening); ok {
			go note("dialog opened: " + d.Message)
		}
	}); err != nil {
		t.Fatalf("start Chromium: %v", err)
	}
	return b
}

func (b *browser) do(t *testing.T, what string, steps ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 20*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, steps...); err != nil {
		state, _ := chromedp.Run(b.ctx, chromedp.Evaluate[string](
			`"echarts=" + typeof echarts + " signin.hidden=" + document.getElementById("signin").hidden + " nav.hidden=" + document.getElementById("nav").hidden + " token=" + document.getElementById("token").value + " loaded=" + document.body.dataset.loaded + " error=" + document.getElementById("error").textContent + " signin=" + document.getElementById("signin-error").textContent`))
		b.noProblems(t, what)
		t.Fatalf("%s: %v (page: %s)", what, err, state)
	}
}

func (b *browser) text(t *testing.T, sel string) string {
	t.Helper()
	v, err := chromedp.Run(b.ctx, chromedp.TextContent(chromedp.CSS(sel)))
	if err != nil {
		t.Fatalf("text of %s: %v", sel, err)
	}
	return v
}

func (b *browser) eval(t *testing.T, expr string) string {
	t.Helper()
	v, err := chromedp.Run(b.ctx, chromedp.Evaluate[string](expr))
	if err != nil {
		t.Fatalf("evaluate %s: %v", expr, err)
	}
	return v
}

func (b *browser) noProblems(t *testing.T, where string) {
	t.Helper()
	time.Sleep(200 * time.Millisecond) // let the console's queue drain
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, p := range b.problems {
		t.Errorf("%s: %s", where, p)
	}
	b.problems = nil
}

func (b *browser) screenshot(t *testing.T, name string) {
	t.Helper()
	png, err := chromedp.Run(b.ctx, chromedp.FullScreenshot(100) /* 100: PNG */)
	if err != nil {
		t.Fatalf("screenshot %s: %v", name, err)
	}
	path := filepath.Join(screenshotDir(t), name+".png")
	if err := os.WriteFile(path, png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot: %s", path)
}

// TestDashboardInChromium signs in, checks that the overview shows the
// API's figures and the comments show customer text as text, with no
// console error, on a desktop and a phone-sized screen.
func TestDashboardInChromium(t *testing.T) {
	seed := exportFixture()
	seed = append(seed, seededResponse{"post_purchase_nps", "C-5", nil, seed[0].at.Add(3 * time.Hour),
		[]flows.Answer{score(flows.KindNPS, "nps", 0), text("why", "物流还是慢 https://example.com/"+strings.Repeat("x", 300))}})
	a := newStoreAPI(t, seed)
	b := newBrowser(t)
	loaded := func(page string) chromedp.Action[chromedp.Void] {
		return chromedp.WaitReady(chromedp.CSS(`body[data-loaded="` + page + `"]`))
	}
	b.do(t, "open", chromedp.Navigate(a.srv.URL+"/"))
	b.do(t, "wait for the sign-in", chromedp.WaitVisible(chromedp.CSS("#token")))
	b.do(t, "type the token", chromedp.SendKeys(chromedp.CSS("#token"), testToken))
	b.do(t, "sign in",
		chromedp.Click(chromedp.CSS("#signin-form button")),
		loaded("overview"),
		chromedp.SetValue(chromedp.CSS("#f-tz"), "UTC"),
		chromedp.Click(chromedp.CSS("#f-apply")),
		loaded("overview"),
	)
	// The breakdown starts by touchpoint (every install has one); by store:
	b.eval(t, `(() => { const d = document.getElementById("f-dim"); d.value = "store"; d.dispatchEvent(new Event("change")); return "" })()`)
	b.do(t, "break down by store", loaded("overview"))
	npsShown := b.text(t, "#nps-score")
	dims := b.eval(t, `[...document.querySelectorAll("#breakdown tbody tr")].map(r => [...r.cells].map(c => c.textContent).join("|")).join(";")`)
	funnelStarted := b.text(t, `#funnel tr[data-step="started"] td:nth-child(2)`)
	var api struct {
		Total struct{ Score *float64 }
	}
	a.do(http.MethodGet, "/api/v1/reports/nps?survey=post_purchase_nps&tz=UTC&group_by=day", "").json(t, &api)
	if api.Total.Score == nil || npsShown != fmt.Sprint(*api.Total.Score) {
		t.Errorf("NPS shown %q, the API says %v", npsShown, api.Total.Score)
	}
	var byStore struct {
		Groups []struct {
			Key           string
			Responses     int
			Score         *float64
			MarginOfError *float64 `json:"margin_of_error"`
		}
	}
	a.do(http.MethodGet, "/api/v1/reports/nps?survey=post_purchase_nps&tz=UTC&group_by=store", "").json(t, &byStore)
	var want []string
	for _, g := range byStore.Groups {
		key := g.Key
		if key == "" {
			key = "(none)"
		}
		want = append(want, fmt.Sprintf("%s|%d|%v|%v", key, g.Responses, *g.Score, *g.MarginOfError))
	}
	if dims != strings.Join(want, ";") || len(want) != 3 {
		t.Errorf("breakdown shown %q, the API says %q", dims, want)
	}
	if funnelStarted != "4" {
		t.Errorf("funnel started = %q, want 4", funnelStarted)
	}
	var handoffs flows.HandoffReport
	a.do(http.MethodGet, "/api/v1/reports/handoffs?survey=post_purchase_nps&tz=UTC", "").json(t, &handoffs)
	if got := b.text(t, "#handoffs-detail div"); !strings.HasPrefix(got, fmt.Sprintf("%d cases", handoffs.Total.Cases)) {
		t.Errorf("handoffs shown %q, the API says %d cases", got, handoffs.Total.Cases)
	}
	b.screenshot(t, "overview")
	b.noProblems(t, "overview")

	b.do(t, "comments", chromedp.Navigate(a.srv.URL+"/#/comments"), loaded("comments"))
	comment := b.text(t, `#comments tbody tr:last-child td.comment`)
	scripts := b.eval(t, `String(document.querySelectorAll("main script, td *").length)`)
	if comment != "物流太慢, <script>alert(1)</script>" || scripts != "0" {
		t.Errorf("comment shown as %q (%s elements inside cells); want the text itself", comment, scripts)
	}
	terms := b.eval(t, `[...document.querySelectorAll("#terms tbody tr")].map(r => r.cells[0].textContent).join(" ")`)
	var termsAPI flows.TermsReport
	a.do(http.MethodGet, "/api/v1/reports/terms?survey=post_purchase_nps&tz=UTC", "").json(t, &termsAPI)
	var wantTerms []string
	for _, term := range termsAPI.Terms {
		wantTerms = append(wantTerms, term.Term)
	}
	if terms != strings.Join(wantTerms, " ") || !strings.Contains(terms, "物流") {
		t.Errorf("terms shown %q, the API says %q", terms, wantTerms)
	}
	if base, note := b.eval(t, `document.getElementById("terms-note").dataset.baseline`), b.text(t, "#terms-note"); base != termsAPI.Baseline || base != "happy" ||
		!strings.Contains(note, fmt.Sprintf("%d comments of happy customers", termsAPI.BaselineComments)) {
		t.Errorf("terms baseline shown %q %q, the API says %q", base, note, termsAPI.Baseline)
	}
	if who := b.text(t, "#whoami"); !strings.HasPrefix(who, "Signed in as") {
		t.Errorf("header names %q", who)
	}
	b.screenshot(t, "comments")
	b.noProblems(t, "comments")

	b.do(t, "phone, Chinese",
		chromedp.EmulateViewport(390, 844, chromedp.EmulateMobile),
		chromedp.Navigate(a.srv.URL+"/#/overview"),
		loaded("overview"),
		chromedp.Click(chromedp.CSS("#lang")),
		chromedp.Sleep(300*time.Millisecond),
		loaded("overview"),
	)
	zh := b.text(t, `a[href="#/overview"]`)
	if zh != "概览" {
		t.Errorf("Chinese navigation = %q", zh)
	}
	if survey := b.eval(t, `document.querySelector("#f-survey option[value=post_purchase_nps]").textContent`); survey != "购买之后 (post_purchase_nps)" {
		t.Errorf("Chinese survey title = %q", survey)
	}
	b.do(t, "comments on a phone", chromedp.Navigate(a.srv.URL+"/#/comments"), loaded("comments"))
	// The long unbroken comment wraps and the table scrolls in its box: the
	// page itself is no wider than the phone.
	if w := b.eval(t, `document.documentElement.scrollWidth + " " + document.documentElement.clientWidth`); w != "390 390" {
		t.Errorf("phone page width (scroll, client) = %s", w)
	}
	classes := b.eval(t, `[...document.querySelectorAll("#f-class option")].map(o => o.value + "=" + o.textContent).join(" ")`)
	if classes != "=全部 detractor=贬损者 passive=被动者 promoter=推荐者 dissatisfied=不满意 neutral=一般 satisfied=满意 difficult=费力 easy=轻松" {
		t.Errorf("Chinese class filter = %q", classes)
	}
	if score := b.text(t, `#comments tbody tr:last-child td:nth-child(3)`); score != "2 (贬损者)" {
		t.Errorf("Chinese score cell = %q", score)
	}
	b.screenshot(t, "overview-phone-zh")
	b.noProblems(t, "phone")

	// A wrong token is told, not shown figures.
	b.do(t, "wrong token",
		chromedp.Click(chromedp.CSS("#signout")),
		chromedp.WaitVisible(chromedp.CSS("#token")),
		chromedp.SetValue(chromedp.CSS("#token"), "wrong"),
		chromedp.Click(chromedp.CSS("#signin-form button")),
		chromedp.Sleep(500*time.Millisecond),
	)
	signinErr := b.text(t, "#signin-error")
	if signinErr != "令牌错误。" {
		t.Errorf("wrong token shows %q", signinErr)
	}
}

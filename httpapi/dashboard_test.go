package httpapi

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/cxbot/cxbot/flows"
	"github.com/cxbot/cxbot/internal/browsertest"
)

// newBrowser opens a headless Chromium tab on the dashboard (see
// internal/browsertest); a failed step prints what the page shows.
func newBrowser(t *testing.T) *browsertest.Tab {
	return browsertest.New(t, browsertest.Options{
		Session: 90 * time.Second,
		State: `"echarts=" + typeof echarts + " signin.hidden=" + document.getElementById("signin").hidden + " nav.hidden=" + document.getElementById("nav").hidden +
			" loaded=" + document.body.dataset.loaded + " error=" + document.getElementById("error").textContent + " signin=" + document.getElementById("signin-error").textContent`,
	})
}

// TestDashboardInChromium signs in, checks that the overview shows the
// API's figures and the comments show customer text as text, with no
// console error, on a desktop and a phone-sized screen.
func TestDashboardInChromium(t *testing.T) {
	t.Parallel() // a browser and a store: the slowest test overlaps the rest
	seed := exportFixture()
	seed = append(seed, seededResponse{"post_purchase_nps", "C-5", nil, seed[0].at.Add(3 * time.Hour),
		[]flows.Answer{score(flows.KindNPS, "nps", 0), text("why", "物流还是慢 https://example.com/"+strings.Repeat("x", 300))}})
	a := newStoreAPI(t, seed)
	b := newBrowser(t)
	loaded := func(page string) chromedp.Action[chromedp.Void] {
		return chromedp.WaitReady(chromedp.CSS(`body[data-loaded="` + page + `"]`))
	}
	b.Do(t, "open", chromedp.Navigate(a.srv.URL+"/"))
	b.Do(t, "wait for the sign-in", chromedp.WaitVisible(chromedp.CSS("#token")))
	b.Do(t, "type the token", chromedp.SendKeys(chromedp.CSS("#token"), testToken))
	b.Do(t, "sign in",
		chromedp.Click(chromedp.CSS("#signin-form button")),
		loaded("overview"),
		chromedp.SetValue(chromedp.CSS("#f-tz"), "UTC"),
		chromedp.Click(chromedp.CSS("#f-apply")),
		loaded("overview"),
	)
	// The breakdown starts by touchpoint (every install has one); by store:
	b.Eval(t, `(() => { const d = document.getElementById("f-dim"); d.value = "store"; d.dispatchEvent(new Event("change")); return "" })()`)
	b.Do(t, "break down by store", loaded("overview"))
	npsShown := b.Text(t, "#nps-score")
	dims := b.Eval(t, `[...document.querySelectorAll("#breakdown tbody tr")].map(r => [...r.cells].map(c => c.textContent).join("|")).join(";")`)
	funnelStarted := b.Text(t, `#funnel tr[data-step="started"] td:nth-child(2)`)
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
	if got := b.Text(t, "#handoffs-detail div"); !strings.HasPrefix(got, fmt.Sprintf("%d cases", handoffs.Total.Cases)) {
		t.Errorf("handoffs shown %q, the API says %d cases", got, handoffs.Total.Cases)
	}
	b.Screenshot(t, "overview")
	b.NoProblems(t, "overview")

	b.Do(t, "comments", chromedp.Navigate(a.srv.URL+"/#/comments"), loaded("comments"))
	comment := b.Text(t, `#comments tbody tr:last-child td.comment`)
	scripts := b.Eval(t, `String(document.querySelectorAll("main script, td *").length)`)
	if comment != "物流太慢, <script>alert(1)</script>" || scripts != "0" {
		t.Errorf("comment shown as %q (%s elements inside cells); want the text itself", comment, scripts)
	}
	terms := b.Eval(t, `[...document.querySelectorAll("#terms tbody tr")].map(r => r.cells[0].textContent).join(" ")`)
	var termsAPI flows.TermsReport
	a.do(http.MethodGet, "/api/v1/reports/terms?survey=post_purchase_nps&tz=UTC", "").json(t, &termsAPI)
	var wantTerms []string
	for _, term := range termsAPI.Terms {
		wantTerms = append(wantTerms, term.Term)
	}
	if terms != strings.Join(wantTerms, " ") || !strings.Contains(terms, "物流") {
		t.Errorf("terms shown %q, the API says %q", terms, wantTerms)
	}
	if base, note := b.Eval(t, `document.getElementById("terms-note").dataset.baseline`), b.Text(t, "#terms-note"); base != termsAPI.Baseline || base != "happy" ||
		!strings.Contains(note, fmt.Sprintf("%d comments of happy customers", termsAPI.BaselineComments)) {
		t.Errorf("terms baseline shown %q %q, the API says %q", base, note, termsAPI.Baseline)
	}
	if who := b.Text(t, "#whoami"); !strings.HasPrefix(who, "Signed in as") {
		t.Errorf("header names %q", who)
	}
	b.Screenshot(t, "comments")
	b.NoProblems(t, "comments")

	b.Do(t, "phone, Chinese",
		chromedp.EmulateViewport(390, 844, chromedp.EmulateMobile),
		chromedp.Navigate(a.srv.URL+"/#/overview"),
		loaded("overview"),
		chromedp.Click(chromedp.CSS("#lang")),
		chromedp.Sleep(300*time.Millisecond),
		loaded("overview"),
	)
	zh := b.Text(t, `a[href="#/overview"]`)
	if zh != "概览" {
		t.Errorf("Chinese navigation = %q", zh)
	}
	if survey := b.Eval(t, `document.querySelector("#f-survey option[value=post_purchase_nps]").textContent`); survey != "购买之后 (post_purchase_nps)" {
		t.Errorf("Chinese survey title = %q", survey)
	}
	b.Do(t, "comments on a phone", chromedp.Navigate(a.srv.URL+"/#/comments"), loaded("comments"))
	// The long unbroken comment wraps and the table scrolls in its box: the
	// page itself is no wider than the phone.
	if w := b.Eval(t, `document.documentElement.scrollWidth + " " + document.documentElement.clientWidth`); w != "390 390" {
		t.Errorf("phone page width (scroll, client) = %s", w)
	}
	classes := b.Eval(t, `[...document.querySelectorAll("#f-class option")].map(o => o.value + "=" + o.textContent).join(" ")`)
	if classes != "=全部 detractor=贬损者 passive=被动者 promoter=推荐者 dissatisfied=不满意 neutral=一般 satisfied=满意 difficult=费力 easy=轻松" {
		t.Errorf("Chinese class filter = %q", classes)
	}
	if score := b.Text(t, `#comments tbody tr:last-child td:nth-child(3)`); score != "2 (贬损者)" {
		t.Errorf("Chinese score cell = %q", score)
	}
	b.Screenshot(t, "overview-phone-zh")
	b.NoProblems(t, "phone")

	// A wrong token is told, not shown figures.
	b.Do(t, "wrong token",
		chromedp.Click(chromedp.CSS("#signout")),
		chromedp.WaitVisible(chromedp.CSS("#token")),
		chromedp.SetValue(chromedp.CSS("#token"), "wrong"),
		chromedp.Click(chromedp.CSS("#signin-form button")),
		chromedp.Sleep(500*time.Millisecond),
	)
	signinErr := b.Text(t, "#signin-error")
	if signinErr != "令牌错误。" {
		t.Errorf("wrong token shows %q", signinErr)
	}
}

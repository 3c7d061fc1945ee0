// Package browsertest drives the dashboard in a real headless Chromium for
// tests (httpapi's pages, cmd/cxbot's whole-app flows): one tab that
// records console errors, uncaught exceptions, failed loads and dialogs (an
// alert would mean injected script ran), so a test can fail on any of them.
package browsertest

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
)

// Chromium finds headless Chromium; without it the test is skipped,
// except in CI (CI=true), where it fails.
func Chromium(t testing.TB) string {
	t.Helper()
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

// ScreenshotDir is where screenshots go: CXBOT_SCREENSHOTS, or
// cxbot-dashboard under the temp folder.
func ScreenshotDir(t testing.TB) string {
	t.Helper()
	dir := os.Getenv("CXBOT_SCREENSHOTS")
	if dir == "" {
		dir = filepath.Join(os.TempDir(), "cxbot-dashboard")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// Options tune a tab.
type Options struct {
	// Session bounds the whole tab: a hung page fails the test.
	Session time.Duration
	// Expected reports a console message that is an expected answer, not a
	// fault (a 400 a form shows beside its fields).
	Expected func(url, text string) bool
	// State is a JavaScript expression (a string) describing the page,
	// printed when a step fails.
	State string
}

// Tab is one headless Chromium tab.
type Tab struct {
	ctx      context.Context
	state    string
	mu       sync.Mutex
	problems []string
}

// New opens a tab at 1280×900; it closes at the test's cleanup.
func New(t testing.TB, o Options) *Tab {
	t.Helper()
	if o.Session == 0 {
		o.Session = 3 * time.Minute
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(Chromium(t)), chromedp.NoSandbox, chromedp.WindowSize(1280, 900))
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelTab := chromedp.NewContext(allocCtx)
	ctx, cancelTime := context.WithTimeout(ctx, o.Session)
	t.Cleanup(func() { cancelTime(); cancelTab(); cancelAlloc() })
	b := &Tab{ctx: ctx, state: o.State}
	messages := chromedp.Console(ctx)
	go func() {
		for m, err := range messages {
			if err != nil {
				return
			}
			if o.Expected != nil && o.Expected(m.URL, m.Text) {
				continue
			}
			switch m.Type {
			case chromedp.ConsoleException, "error", "warning":
				b.note(fmt.Sprintf("console %s: %s (%s:%d)", m.Type, m.Text, m.URL, m.Line))
			}
		}
	}()
	if err := chromedp.Listen(ctx, func(ev any) {
		if d, ok := ev.(*page.EventJavascriptDialogOpening); ok {
			go b.note("dialog opened: " + d.Message)
		}
	}); err != nil {
		t.Fatalf("start Chromium: %v", err)
	}
	return b
}

func (b *Tab) note(p string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.problems = append(b.problems, p)
}

// Do runs steps within 20 s; on failure it reports the page's state and
// whatever the console recorded.
func (b *Tab) Do(t testing.TB, what string, steps ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 20*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, steps...); err != nil {
		var state string
		if b.state != "" {
			state, _ = chromedp.Run(b.ctx, chromedp.Evaluate[string](b.state))
		}
		b.NoProblems(t, what)
		t.Fatalf("%s: %v (page: %s)", what, err, state)
	}
}

// Text is the text content of the element sel.
func (b *Tab) Text(t testing.TB, sel string) string {
	t.Helper()
	v, err := chromedp.Run(b.ctx, chromedp.TextContent(chromedp.CSS(sel)))
	if err != nil {
		t.Fatalf("text of %s: %v", sel, err)
	}
	return v
}

// Eval evaluates a JavaScript expression that yields a string.
func (b *Tab) Eval(t testing.TB, expr string) string {
	t.Helper()
	v, err := chromedp.Run(b.ctx, chromedp.Evaluate[string](expr))
	if err != nil {
		t.Fatalf("evaluate %s: %v", expr, err)
	}
	return v
}

// Until polls a JavaScript condition for up to 15 s (a page updated by fetches).
func (b *Tab) Until(t testing.TB, what, cond string) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		ok, err := chromedp.Run(b.ctx, chromedp.Evaluate[bool](cond))
		if err == nil && ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("waiting for %s (%s): %v", what, cond, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// NoProblems fails the test with every problem recorded so far, then
// forgets them.
func (b *Tab) NoProblems(t testing.TB, where string) {
	t.Helper()
	time.Sleep(200 * time.Millisecond) // let the console's queue drain
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, p := range b.problems {
		t.Errorf("%s: %s", where, p)
	}
	b.problems = nil
}

// Screenshot saves the whole page as NAME.png in ScreenshotDir.
func (b *Tab) Screenshot(t testing.TB, name string) {
	t.Helper()
	png, err := chromedp.Run(b.ctx, chromedp.FullScreenshot(100) /* 100: PNG */)
	if err != nil {
		t.Fatalf("screenshot %s: %v", name, err)
	}
	path := filepath.Join(ScreenshotDir(t), name+".png")
	if err := os.WriteFile(path, png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot: %s", path)
}

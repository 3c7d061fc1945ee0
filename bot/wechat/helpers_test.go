package wechat

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cxbot/cxbot/bot/wechat/wechattest"
	"github.com/cxbot/cxbot/flows"
)

const (
	appID     = "wx1234567890abcdef"
	appSecret = "s3cret-app-secret"
	token     = "cxbotToken1"
	aesKey    = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG" // WeChat's sample-code key
	openID    = "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o"
)

var start = time.Date(2025, 3, 14, 9, 26, 53, 0, time.UTC)

// clock is a test clock shared by the fake, the KV and the adapter.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: start} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// memKV is an in-memory KV with TTLs on a test clock: a stand-in for
// cxbot's Redis, which store tests cover.
type memKV struct {
	now  func() time.Time
	mu   sync.Mutex
	m    map[string]memEntry
	fail error // returned by every call when set
}

type memEntry struct {
	value   string
	expires time.Time
}

func newMemKV(now func() time.Time) *memKV { return &memKV{now: now, m: map[string]memEntry{}} }

func (k *memKV) GetString(_ context.Context, key string) (string, bool, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.fail != nil {
		return "", false, k.fail
	}
	e, ok := k.m[key]
	if !ok || !k.now().Before(e.expires) {
		return "", false, nil
	}
	return e.value, true, nil
}

func (k *memKV) SetString(_ context.Context, key, value string, ttl time.Duration) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.fail != nil {
		return k.fail
	}
	k.m[key] = memEntry{value, k.now().Add(ttl)}
	return nil
}

func (k *memKV) Delete(_ context.Context, key string) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.fail != nil {
		return k.fail
	}
	delete(k.m, key)
	return nil
}

func (k *memKV) FirstUse(_ context.Context, key, value string, ttl time.Duration) (string, bool, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.fail != nil {
		return "", false, k.fail
	}
	if e, ok := k.m[key]; ok && k.now().Before(e.expires) {
		return e.value, false, nil
	}
	k.m[key] = memEntry{value, k.now().Add(ttl)}
	return value, true, nil
}

func (k *memKV) setFail(err error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.fail = err
}

// testDecodeTap reads "a:<responseID>:<questionID>:<value>", a stand-in for flows.DecodeTap.
func testDecodeTap(data string) (flows.Tap, error) {
	parts := strings.Split(data, ":")
	if len(parts) != 4 || parts[0] != "a" {
		return flows.Tap{}, fmt.Errorf("tap %q: %w", data, flows.ErrInvalid)
	}
	id, err := strconv.ParseInt(parts[1], 10, 64)
	if err != nil {
		return flows.Tap{}, fmt.Errorf("tap %q: %w", data, flows.ErrInvalid)
	}
	return flows.Tap{ResponseID: id, QuestionID: parts[2], Value: parts[3]}, nil
}

func testLogger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Helper()
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

type env struct {
	a     *Adapter
	fake  *wechattest.Server
	kv    *memKV
	clock *clock
	cfg   Config
}

// setup starts a fake WeChat API and an adapter talking to it, in plaintext
// mode unless edit sets an AESKey.
func setup(t *testing.T, edit func(*Config), fakeOpts ...wechattest.Option) *env {
	t.Helper()
	clk := newClock()
	fake := wechattest.New(appID, appSecret, append([]wechattest.Option{wechattest.WithClock(clk.Now)}, fakeOpts...)...)
	t.Cleanup(fake.Close)
	kv := newMemKV(clk.Now)
	cfg := Config{
		AppID:     appID,
		AppSecret: appSecret,
		Token:     token,
		APIURL:    fake.URL(),
		DecodeTap: testDecodeTap,
		Cache:     kv,
		Nonces:    kv,
		Now:       clk.Now,
	}
	if edit != nil {
		edit(&cfg)
	}
	a, err := New(cfg, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	return &env{a: a, fake: fake, kv: kv, clock: clk, cfg: cfg}
}

// another builds a second adapter (another replica) on the same fake and KV.
func (e *env) another(t *testing.T) *Adapter {
	t.Helper()
	a, err := New(e.cfg, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// webhookServer serves a's webhook for h and returns its URL.
func webhookServer(t *testing.T, a *Adapter, h Handler) string {
	t.Helper()
	srv := httptest.NewServer(a.WebhookHandler(h))
	t.Cleanup(srv.Close)
	return srv.URL + WebhookPath
}

// recorder is a Handler that records updates and fails on demand.
type recorder struct {
	mu    sync.Mutex
	calls []flows.Update
	fail  error
}

func (r *recorder) HandleUpdate(_ context.Context, u flows.Update) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls = append(r.calls, u)
	return r.fail
}

func (r *recorder) snapshot() []flows.Update {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]flows.Update(nil), r.calls...)
}

// sameUpdate compares updates, taps by value.
func sameUpdate(got, want flows.Update) error {
	if (got.Tap == nil) != (want.Tap == nil) || (got.Tap != nil && *got.Tap != *want.Tap) {
		return fmt.Errorf("tap %+v, want %+v", got.Tap, want.Tap)
	}
	got.Tap, want.Tap = nil, nil
	if got != want {
		return fmt.Errorf("got  %+v\nwant %+v", got, want)
	}
	return nil
}

var errBoom = errors.New("boom")

// memQuota is an in-memory QuotaCounter on the test clock, counting as
// cxbot's Redis does (store tests cover that one).
type memQuota struct {
	now func() time.Time
	mu  sync.Mutex
	m   map[string]quotaEntry
}

type quotaEntry struct {
	left    int
	expires time.Time
}

func newMemQuota(now func() time.Time) *memQuota {
	return &memQuota{now: now, m: map[string]quotaEntry{}}
}

func (q *memQuota) GrantQuota(_ context.Context, key string, n int, ttl time.Duration) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	now := q.now()
	if e, ok := q.m[key]; ok && now.Before(e.expires) && e.left >= n && !e.expires.Before(now.Add(ttl)) {
		return nil
	}
	q.m[key] = quotaEntry{n, now.Add(ttl)}
	return nil
}

func (q *memQuota) TakeQuota(_ context.Context, key string) (bool, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	e, ok := q.m[key]
	if !ok || e.left <= 0 || !q.now().Before(e.expires) {
		return false, nil
	}
	e.left--
	q.m[key] = e
	return true, nil
}

func (q *memQuota) DropQuota(_ context.Context, key string) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	delete(q.m, key)
	return nil
}

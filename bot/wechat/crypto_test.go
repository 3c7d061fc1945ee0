package wechat

// The encrypted path is checked against implementations other than the one
// the adapter uses (the SDK's util.DecryptMsg):
//   - WeChat's published sample push (testdata/published), signature and
//     ciphertext byte for byte;
//   - fixtures made with openssl and coreutils (testdata/gen-fixtures.sh);
//   - wechattest's own Go implementation, in both directions, at every
//     padding length.

import (
	"bufio"
	"bytes"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/silenceper/wechat/v2/util"

	"github.com/cxbot/cxbot/bot/wechat/wechattest"
	"github.com/cxbot/cxbot/flows"
)

// readParams reads a params.env file: KEY=value lines, # comments.
func readParams(t *testing.T, path string) map[string]string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	params := map[string]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			t.Fatalf("%s: bad line %q", path, line)
		}
		params[k] = v
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return params
}

// readFile reads a fixture without its trailing newline.
func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimRight(string(b), "\n")
}

func request(t *testing.T, query, body string) wechattest.Request {
	t.Helper()
	q, err := url.ParseQuery(query)
	if err != nil {
		t.Fatal(err)
	}
	return wechattest.Request{Method: http.MethodPost, Query: q, Body: body}
}

func TestPublishedSampleVector(t *testing.T) {
	dir := filepath.Join("testdata", "published")
	p := readParams(t, filepath.Join(dir, "params.env"))
	body := readFile(t, filepath.Join(dir, "request.xml"))
	want := readFile(t, filepath.Join(dir, "message.xml")) // openssl's decryption
	encrypt := between(body, "<Encrypt><![CDATA[", "]]>")

	// WeChat's published msg_signature, by the fake and by the SDK.
	if got := wechattest.Signature(p["TOKEN"], p["TIMESTAMP"], p["NONCE"], encrypt); got != p["MSG_SIGNATURE"] {
		t.Errorf("wechattest msg_signature %s, published %s", got, p["MSG_SIGNATURE"])
	}
	if got := util.Signature(p["TOKEN"], p["TIMESTAMP"], p["NONCE"], encrypt); got != p["MSG_SIGNATURE"] {
		t.Errorf("SDK msg_signature %s, published %s", got, p["MSG_SIGNATURE"])
	}

	// The SDK and the fake both decrypt it to what openssl did.
	random, plain, err := util.DecryptMsg(p["APPID"], encrypt, p["AESKEY"])
	if err != nil || string(plain) != want {
		t.Fatalf("SDK decryption: %v\n%s", err, plain)
	}
	msg, app, random2, err := wechattest.Decrypt(p["AESKEY"], encrypt)
	if err != nil || string(msg) != want || app != readFile(t, filepath.Join(dir, "appid.txt")) || !bytes.Equal(random, random2) {
		t.Fatalf("wechattest decryption: %v, app %q\n%s", err, app, msg)
	}
	// With the sample's random prefix, the fake reproduces WeChat's ciphertext.
	again, err := wechattest.Encrypt(p["AESKEY"], p["APPID"], random2, msg)
	if err != nil || again != encrypt {
		t.Fatalf("wechattest encryption differs from WeChat's:\n%s\n%s", again, encrypt)
	}

	// And the adapter takes the sample push. Official accounts send the plain
	// signature beside msg_signature; the sample (shared with WeCom) has only
	// the latter, so it is added.
	e := setup(t, func(c *Config) { c.AppID, c.Token, c.AESKey = p["APPID"], p["TOKEN"], p["AESKEY"] })
	sampleTime, err := strconv.ParseInt(p["TIMESTAMP"], 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	e.clock.Advance(time.Unix(sampleTime, 0).Sub(e.clock.Now())) // the sample is from 2014
	rec := &recorder{}
	hook := webhookServer(t, e.a, rec)
	q := url.Values{}
	q.Set("signature", wechattest.Signature(p["TOKEN"], p["TIMESTAMP"], p["NONCE"]))
	q.Set("timestamp", p["TIMESTAMP"])
	q.Set("nonce", p["NONCE"])
	q.Set("encrypt_type", "aes")
	q.Set("msg_signature", p["MSG_SIGNATURE"])
	in := wechattest.NewInbound(p["TOKEN"], p["APPID"], p["AESKEY"], wechattest.Safe)
	status, answer, err := in.Deliver(testCtx(t), hook, wechattest.Request{Method: http.MethodPost, Query: q, Body: body})
	if err != nil || status != http.StatusOK || answer != "success" {
		t.Fatalf("sample push: %d %q %v", status, answer, err)
	}
	wantUpdate := flows.Update{Channel: flows.ChannelWeChat, UpdateID: "msg:4561255354251345929", ChatID: "mycreate", UserID: "mycreate",
		Text: "hello", ReceivedAt: time.Unix(1409659813, 0).UTC()}
	if calls := rec.snapshot(); len(calls) != 1 {
		t.Fatalf("handler got %+v", calls)
	} else if err := sameUpdate(calls[0], wantUpdate); err != nil {
		t.Fatal(err)
	}
}

// fixtures are the pushes in testdata/aes and the updates they make.
var fixtures = []struct {
	name string
	want flows.Update
}{
	{"text", flows.Update{Channel: flows.ChannelWeChat, UpdateID: "msg:7481234567890123456", ChatID: "oFixtureUser0000000000000001",
		UserID: "oFixtureUser0000000000000001", Text: "９分！物流很快👍 a<b&c ]]> 完", ReceivedAt: time.Unix(1741944410, 0).UTC()}},
	{"menu_tap", flows.Update{Channel: flows.ChannelWeChat, UpdateID: "msg:7481234567890123457", ChatID: "oFixtureUser0000000000000001",
		UserID: "oFixtureUser0000000000000001", Text: "9", Tap: &flows.Tap{ResponseID: 4242, QuestionID: "nps", Value: "9"},
		ReceivedAt: time.Unix(1741944411, 0).UTC()}},
	{"subscribe_scene", flows.Update{Channel: flows.ChannelWeChat, UpdateID: "evt:oFixtureUser0000000000000002:1741944412:subscribe",
		ChatID: "oFixtureUser0000000000000002", UserID: "oFixtureUser0000000000000002", Text: "/start Lk3-TOKEN_x",
		ReceivedAt: time.Unix(1741944412, 0).UTC()}},
}

func TestFixturesAgreeWithTheGoImplementations(t *testing.T) {
	dir := filepath.Join("testdata", "aes")
	p := readParams(t, filepath.Join(dir, "params.env"))
	for _, f := range fixtures {
		t.Run(f.name, func(t *testing.T) {
			msg := readFile(t, filepath.Join(dir, f.name+".xml"))
			encrypt := readFile(t, filepath.Join(dir, f.name+".encrypt"))

			got, err := wechattest.Encrypt(p["AESKEY"], p["APPID"], []byte(p["RANDOM16"]), []byte(msg))
			if err != nil || got != encrypt {
				t.Fatalf("wechattest and openssl differ (%v):\n%s\n%s", err, got, encrypt)
			}
			random, plain, err := util.DecryptMsg(p["APPID"], encrypt, p["AESKEY"])
			if err != nil || string(plain) != msg || string(random) != p["RANDOM16"] {
				t.Fatalf("SDK decryption of openssl's ciphertext: %v\n%s", err, plain)
			}

			q, err := url.ParseQuery(readFile(t, filepath.Join(dir, f.name+".aes.query")))
			if err != nil {
				t.Fatal(err)
			}
			if got := wechattest.Signature(p["TOKEN"], p["TIMESTAMP"], p["NONCE"]); q.Get("signature") != got {
				t.Errorf("signature %s, wechattest says %s", q.Get("signature"), got)
			}
			if got := wechattest.Signature(p["TOKEN"], p["TIMESTAMP"], p["NONCE"], encrypt); q.Get("msg_signature") != got {
				t.Errorf("msg_signature %s, wechattest says %s", q.Get("msg_signature"), got)
			}
		})
	}
}

func TestFixturesThroughTheWebhook(t *testing.T) {
	dir := filepath.Join("testdata", "aes")
	p := readParams(t, filepath.Join(dir, "params.env"))
	account := func(key string) func(*Config) {
		return func(c *Config) { c.AppID, c.Token, c.AESKey = p["APPID"], p["TOKEN"], key }
	}
	in := wechattest.NewInbound(p["TOKEN"], p["APPID"], p["AESKEY"], wechattest.Safe)

	for _, f := range fixtures {

		file := func(suffix string) string { return readFile(t, filepath.Join(dir, f.name+suffix)) }
		deliveries := []struct {
			name string
			key  string // the adapter's AESKey
			req  wechattest.Request
		}{
			{"safe", p["AESKEY"], request(t, file(".aes.query"), file(".safe.xml"))},
			{"compatible", p["AESKEY"], request(t, file(".aes.query"), file(".compat.xml"))},
			{"compatible, plain fields", "", request(t, file(".aes.query"), file(".compat.xml"))},
			{"plaintext", "", request(t, file(".plain.query"), file(".xml"))},
		}
		for _, d := range deliveries {
			// The fixtures share one timestamp and nonce: each delivery goes
			// to an adapter of its own, or the second would be a replay.
			rec := &recorder{}
			hook := webhookServer(t, setup(t, account(d.key)).a, rec)
			status, answer, err := in.Deliver(testCtx(t), hook, d.req)
			if err != nil || status != http.StatusOK || answer != "success" {
				t.Errorf("%s, %s: %d %q %v", f.name, d.name, status, answer, err)
				continue
			}
			if calls := rec.snapshot(); len(calls) != 1 {
				t.Errorf("%s, %s: handler got %+v", f.name, d.name, calls)
			} else if err := sameUpdate(calls[0], f.want); err != nil {
				t.Errorf("%s, %s: %v", f.name, d.name, err)
			}
		}
	}
}

// TestCryptoCrossCheck runs the SDK's and wechattest's implementations
// against each other at every padding length (1 to 32 bytes).
func TestCryptoCrossCheck(t *testing.T) {
	random := []byte("0123456789abcdef")
	for n := 0; n < 96; n++ {
		msg := []byte(strings.Repeat("消", n/3) + strings.Repeat("x", n%3)) // n bytes
		enc, err := wechattest.Encrypt(aesKey, appID, random, msg)
		if err != nil {
			t.Fatal(err)
		}
		gotRandom, plain, err := util.DecryptMsg(appID, enc, aesKey)
		if err != nil || !bytes.Equal(plain, msg) || !bytes.Equal(gotRandom, random) {
			t.Fatalf("%d bytes: SDK decrypting wechattest: %v %q", n, err, plain)
		}
		sdkEnc, err := util.EncryptMsg(random, msg, appID, aesKey)
		if err != nil || string(sdkEnc) != enc {
			t.Fatalf("%d bytes: SDK and wechattest encrypt differently (%v)", n, err)
		}
		back, app, _, err := wechattest.Decrypt(aesKey, string(sdkEnc))
		if err != nil || !bytes.Equal(back, msg) || app != appID {
			t.Fatalf("%d bytes: wechattest decrypting the SDK: %v %q %q", n, err, back, app)
		}
	}
	if _, _, err := util.DecryptMsg("wx-other", mustEncrypt(t, []byte("<xml/>")), aesKey); err == nil {
		t.Fatal("the SDK accepted a message sealed for another AppID")
	}
}

func mustEncrypt(t *testing.T, msg []byte) string {
	t.Helper()
	enc, err := wechattest.Encrypt(aesKey, appID, []byte("0123456789abcdef"), msg)
	if err != nil {
		t.Fatal(err)
	}
	return enc
}

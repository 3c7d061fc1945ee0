package redisstore

import (
	"testing"
	"time"

	"github.com/cxbot/cxbot/flows"
)

func TestRedisKVRoundTrip(t *testing.T) {
	t.Parallel()
	eachRedis(t, func(t *testing.T, r *Store) {
		ctx := testCtx(t)
		get := func(key string) (string, bool) {
			t.Helper()
			v, ok, err := r.GetString(ctx, key)
			if err != nil {
				t.Fatalf("GetString(%q): %v", key, err)
			}
			return v, ok
		}
		if v, ok := get("wechat:token:wx123"); ok {
			t.Fatalf("GetString before set = %q, true", v)
		}
		if err := r.SetString(ctx, "wechat:token:wx123", "ACCESS_TOKEN_1", time.Hour); err != nil {
			t.Fatal(err)
		}
		if v, ok := get("wechat:token:wx123"); !ok || v != "ACCESS_TOKEN_1" {
			t.Fatalf("GetString = %q, %v", v, ok)
		}
		// Overwrite replaces the value and the TTL.
		if err := r.SetString(ctx, "wechat:token:wx123", "令牌-2", time.Minute); err != nil {
			t.Fatal(err)
		}
		if v, ok := get("wechat:token:wx123"); !ok || v != "令牌-2" {
			t.Fatalf("GetString after overwrite = %q, %v", v, ok)
		}
		if ttl := r.Client().PTTL(ctx, r.kvKey("wechat:token:wx123")).Val(); ttl <= 0 || ttl > time.Minute {
			t.Fatalf("PTTL after overwrite = %v, want (0, 1m]", ttl)
		}
		// The empty string is a value, not absence.
		if err := r.SetString(ctx, "empty", "", time.Hour); err != nil {
			t.Fatal(err)
		}
		if v, ok := get("empty"); !ok || v != "" {
			t.Fatalf("GetString of empty value = %q, %v", v, ok)
		}
		// Another key, another namespace: nothing shared.
		if _, ok := get("wechat:token:wx999"); ok {
			t.Fatal("other key present")
		}
		if _, ok, err := r.WithPrefix(r.Prefix()+"x:").GetString(ctx, "wechat:token:wx123"); err != nil || ok {
			t.Fatalf("other prefix: ok %v, err %v", ok, err)
		}
		// Another replica sees the value.
		if v, ok, err := replica(t, r).GetString(ctx, "wechat:token:wx123"); err != nil || !ok || v != "令牌-2" {
			t.Fatalf("replica GetString = %q, %v, %v", v, ok, err)
		}

		if err := r.Delete(ctx, "wechat:token:wx123"); err != nil {
			t.Fatal(err)
		}
		if _, ok := get("wechat:token:wx123"); ok {
			t.Fatal("present after Delete")
		}
		if err := r.Delete(ctx, "wechat:token:wx123"); err != nil {
			t.Fatalf("Delete of absent key: %v", err)
		}
	})
}

func TestRedisKVExpires(t *testing.T) {
	t.Parallel()
	eachRedis(t, func(t *testing.T, r *Store) {
		ctx := testCtx(t)
		if err := r.SetString(ctx, "short", "v", 300*time.Millisecond); err != nil {
			t.Fatal(err)
		}
		if err := r.SetString(ctx, "long", "v", time.Hour); err != nil {
			t.Fatal(err)
		}
		if _, ok, err := r.GetString(ctx, "short"); err != nil || !ok {
			t.Fatalf("GetString right after set = %v, %v", ok, err)
		}
		time.Sleep(time.Second)
		if v, ok, err := r.GetString(ctx, "short"); err != nil || ok {
			t.Fatalf("GetString after TTL = %q, %v, %v; want expired", v, ok, err)
		}
		if _, ok, err := r.GetString(ctx, "long"); err != nil || !ok {
			t.Fatalf("GetString of the 1h key = %v, %v", ok, err)
		}
	})
}

func TestRedisWindow(t *testing.T) {
	t.Parallel()
	eachRedis(t, func(t *testing.T, r *Store) {
		ctx := testCtx(t)
		tg, wc := flows.ChannelTelegram, flows.ChannelWeChat
		open := func(ch flows.Channel, chat string) bool {
			t.Helper()
			ok, err := r.WindowOpen(ctx, ch, chat)
			if err != nil {
				t.Fatalf("WindowOpen(%s, %s): %v", ch, chat, err)
			}
			return ok
		}
		if open(wc, "oCUST1") {
			t.Fatal("window open before any message")
		}
		if err := touchWindow(ctx, r, wc, "oCUST1", 300*time.Millisecond); err != nil {
			t.Fatal(err)
		}
		if !open(wc, "oCUST1") {
			t.Fatal("window closed right after a message")
		}
		if open(wc, "oCUST2") || open(tg, "oCUST1") {
			t.Fatal("window open for another chat or channel")
		}
		if err := touchWindow(ctx, r, wc, "oCUST2", time.Minute); err != nil {
			t.Fatal(err)
		}
		// Every message restarts the window.
		if err := touchWindow(ctx, r, wc, "oCUST2", 48*time.Hour); err != nil {
			t.Fatal(err)
		}
		if ttl := r.Client().PTTL(ctx, r.chatKeys(wc, "oCUST2").window()).Val(); ttl <= 47*time.Hour {
			t.Fatalf("window PTTL after a second touch = %v, want about 48h", ttl)
		}
		time.Sleep(time.Second)
		if open(wc, "oCUST1") {
			t.Fatal("window still open after its TTL")
		}
		if !open(wc, "oCUST2") {
			t.Fatal("48h window closed")
		}
	})
}

package main

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/cxbot/cxbot/flows"
	"github.com/cxbot/cxbot/internal/rediscluster"
)

// clusterStack keeps conversations on a local 3-master Redis Cluster, and
// answers in PostgreSQL when CXBOT_TEST_POSTGRES_URL is set (SQLite
// otherwise). Skipped without redis-server and redis-cli, failed in CI.
func clusterStack(t *testing.T) stack {
	t.Helper()
	c := rediscluster.Start(t, 3)
	st := stack{name: "cluster", redisURL: c.URL(),
		databaseURL: func(t testing.TB) string { return filepath.Join(t.TempDir(), "cxbot.db") }}
	if pg := os.Getenv("CXBOT_TEST_POSTGRES_URL"); pg != "" {
		st.databaseURL = func(t testing.TB) string { return freshSchema(t, pg) }
	}
	return st
}

// Customers take post_purchase_nps with cxbot on a Redis Cluster: every
// turn (a MULTI over the chat's lease, seen mark, state and window) runs on
// the master that owns the chat, chats on all three masters, redeliveries
// are recognised, and the answers are stored.
func TestClusterConversations(t *testing.T) {
	h := start(t, clusterStack(t), options{webhook: true})
	if !h.app.redis.Cluster() {
		t.Fatal("CXBOT_REDIS_URL=redis+cluster://… did not open a cluster client")
	}
	var health map[string]any
	if code := h.api("GET", "/healthz", nil, &health); code != http.StatusOK {
		t.Fatalf("healthz on the cluster: %d %v", code, health)
	}

	// Chats whose hash tags ({telegram:<chat>}) fall in each third of the
	// slots, so on each master.
	chats := []int64{3001, 3002, 3003, 3004, 3005, 3006}
	for i, chat := range chats {
		customer(t, h, chat, i%2 == 0)
	}

	for i, chat := range chats {
		answers := h.answersOf(fmt.Sprintf("C-%d", chat))
		if i%2 == 0 {
			if len(answers) != 2 || *answers[0].Score != 2 || answers[0].Class != flows.ClassDetractor || answers[1].Text != "late and broken" {
				t.Errorf("chat %d: detractor's stored answers: %+v", chat, answers)
			}
		} else if len(answers) != 1 || *answers[0].Score != 10 || answers[0].Class != flows.ClassPromoter {
			t.Errorf("chat %d: promoter's stored answers: %+v", chat, answers)
		}
	}
	if r := h.nps("post_purchase_nps"); r != (npsReport{Responses: 6, Promoters: 3, Detractors: 3, NPS: 0}) {
		t.Errorf("report = %+v", r)
	}
	if n := len(h.tg.Sent(agentChat)); n != 3 {
		t.Errorf("agents got %d notices, want 3 (one per detractor)", n)
	}

	// The chats' keys are spread over the three masters.
	cluster := h.app.redis.Client().(*redis.ClusterClient)
	prefix := h.app.states.Prefix() + "{"
	var mu sync.Mutex
	perMaster := map[string]int{}
	err := cluster.ForEachMaster(context.Background(), func(ctx context.Context, m *redis.Client) error {
		n := 0
		iter := m.Scan(ctx, 0, prefix+"*", 1000).Iterator()
		for iter.Next(ctx) {
			n++
		}
		mu.Lock()
		perMaster[m.Options().Addr] = n
		mu.Unlock()
		return iter.Err()
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(perMaster) != 3 {
		t.Fatalf("%d masters, want 3", len(perMaster))
	}
	for addr, n := range perMaster {
		if n == 0 {
			t.Errorf("master %s holds no chat's keys: %v", addr, perMaster)
		}
	}
}

// customer takes one chat through the survey: a detractor scores 2 and
// explains, a promoter scores 10; the score's tap is delivered twice.
func customer(t *testing.T, h *harness, chat int64, detractor bool) {
	t.Helper()
	ref := fmt.Sprintf("C-%d", chat)
	h.invite("post_purchase_nps", ref, chat, "en")
	h.waitSent(chat, 1)
	score, want := "10", 2
	if detractor {
		score, want = "2", 3
	}
	tap := h.tap(chat, score)
	h.waitSent(chat, 2)
	if code := h.deliver(tap); code != http.StatusOK { // Telegram redelivers
		t.Errorf("chat %d: redelivered tap answered %d", chat, code)
	}
	if detractor {
		h.say(chat, "late and broken", "en")
		if last := h.waitSent(chat, 3)[2].Text; !strings.Contains(last, "our team will contact you") {
			t.Errorf("chat %d: handoff message %q", chat, last)
		}
	}
	if n := len(h.tg.Sent(chat)); n != want {
		t.Errorf("chat %d: %d messages, want %d (a redelivery answered twice?)", chat, n, want)
	}
}

// CXBOT_REDIS_URL takes a cluster as redis+cluster://host:port,host:port;
// a bad one is named without its password.
func TestClusterRedisURLSetting(t *testing.T) {
	cfg, err := loadConfig(envOf(map[string]string{"CXBOT_REDIS_URL": "redis+cluster://:pw@10.0.0.1:7000,10.0.0.2:7000/?dial_timeout=3s"}))
	if err != nil || cfg.RedisURL == "" {
		t.Fatalf("cluster URL refused: %v", err)
	}
	for _, bad := range []string{"redis+cluster://:hunter2@10.0.0.1:7000,10.0.0.2", "redis+cluster://:hunter2@10.0.0.1:7000/2", "redis+sentinel://:hunter2@h:1"} {
		_, err := loadConfig(envOf(map[string]string{"CXBOT_REDIS_URL": bad}))
		if err == nil || !strings.Contains(err.Error(), "CXBOT_REDIS_URL") || strings.Contains(err.Error(), "hunter2") {
			t.Errorf("CXBOT_REDIS_URL=%s: err = %v; want it named, without the password", bad, err)
		}
		if err != nil && strings.Contains(err.Error(), "invalid value") {
			t.Errorf("CXBOT_REDIS_URL=%s: err = %v; want what is wrong", bad, err)
		}
	}
	// A brace in the prefix would change the chats' hash tags.
	if _, err := loadConfig(envOf(map[string]string{"CXBOT_REDIS_PREFIX": "cx{1}:"})); err == nil || !strings.Contains(err.Error(), "CXBOT_REDIS_PREFIX") {
		t.Errorf("CXBOT_REDIS_PREFIX with a hash tag: err = %v", err)
	}
}

package rediscluster

import (
	"context"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

func TestClusterStartsServesAndStops(t *testing.T) {
	c := Start(t, 3)
	if len(c.Addrs) != 3 {
		t.Fatalf("Addrs = %v, want 3", c.Addrs)
	}
	if want := "redis+cluster://" + strings.Join(c.Addrs, ","); c.URL() != want {
		t.Fatalf("URL = %q, want %q", c.URL(), want)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	cl := redis.NewClusterClient(&redis.ClusterOptions{Addrs: c.Addrs})
	defer cl.Close()
	// Keys spread over every master: each one owns a third of the slots.
	for i := range 60 {
		if err := cl.Set(ctx, "k"+strconv.Itoa(i), i, time.Minute).Err(); err != nil {
			t.Fatalf("SET on the cluster: %v", err)
		}
	}
	err := cl.ForEachMaster(ctx, func(ctx context.Context, m *redis.Client) error {
		n, err := m.DBSize(ctx).Result()
		if err == nil && n == 0 {
			t.Errorf("master %s holds no key", m.Options().Addr)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, addr := range c.Addrs {
		node := redis.NewClient(&redis.Options{Addr: addr})
		info, err := node.ClusterInfo(ctx).Result()
		node.Close()
		if err != nil || field(info, "cluster_state") != "ok" || field(info, "cluster_size") != "3" {
			t.Fatalf("%s: cluster info %q, %v", addr, info, err)
		}
	}

	if err := c.Stop(); err != nil {
		t.Fatal(err)
	}
	if err := c.Stop(); err != nil {
		t.Fatalf("second Stop: %v", err)
	}
	for _, addr := range c.Addrs {
		if conn, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
			conn.Close()
			t.Fatalf("%s still accepts connections after Stop", addr)
		}
	}
}

func TestFreePortLeavesRoomForTheBus(t *testing.T) {
	for range 20 {
		p, err := freePort()
		if err != nil {
			t.Fatal(err)
		}
		if p <= 0 || p+busOffset > 65535 {
			t.Fatalf("port %d: its bus port %d is out of range", p, p+busOffset)
		}
	}
}

func TestField(t *testing.T) {
	info := "cluster_state:ok\r\ncluster_slots_ok:16384\r\ncluster_known_nodes:3\r\n"
	if field(info, "cluster_state") != "ok" || field(info, "cluster_known_nodes") != "3" || field(info, "nope") != "" {
		t.Fatalf("field parses %q wrongly", info)
	}
}

func TestNewRefusesFewerThanThreeMasters(t *testing.T) {
	if _, err := New(context.Background(), t.TempDir(), 2); err == nil {
		t.Fatal("New with 2 masters: want an error")
	}
}

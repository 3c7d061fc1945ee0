// Package rediscluster starts a Redis Cluster of local redis-server
// processes for tests: each master on a free loopback port (whose cluster
// bus port, port+10000, is free too), joined with redis-cli --cluster create
// and ready once every node reports cluster_state:ok.
package rediscluster

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// busOffset is how far above a node's port Redis Cluster opens its bus.
const busOffset = 10000

// Cluster is a running local Redis Cluster with no replicas.
type Cluster struct {
	// Addrs are the masters' host:port, in the order they were started.
	Addrs []string

	dir      string
	nodes    []*node
	stopOnce sync.Once
}

// node is one redis-server process; exited is closed once it has exited
// (its Wait, called once, has returned).
type node struct {
	cmd    *exec.Cmd
	exited chan struct{}
}

// Available reports why a cluster cannot be started here (redis-server or
// redis-cli not on PATH), nil when it can.
func Available() error {
	for _, name := range []string{"redis-server", "redis-cli"} {
		if _, err := exec.LookPath(name); err != nil {
			return fmt.Errorf("rediscluster: %s is not on PATH (Debian: apt-get install redis-server)", name)
		}
	}
	return nil
}

// SkipUnlessAvailable skips tb when a cluster cannot be started here, and
// fails it instead when CI is set, where a skipped cluster test would hide
// a failure.
func SkipUnlessAvailable(tb testing.TB) {
	tb.Helper()
	if err := Available(); err != nil {
		if os.Getenv("CI") != "" {
			tb.Fatalf("%v; CI must run the Redis Cluster tests", err)
		}
		tb.Skip(err)
	}
}

// Start starts a cluster of masters nodes for tb and stops it when tb ends
// (see SkipUnlessAvailable for a machine without Redis).
func Start(tb testing.TB, masters int) *Cluster {
	tb.Helper()
	SkipUnlessAvailable(tb)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	c, err := New(ctx, tb.TempDir(), masters)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		if err := c.Stop(); err != nil {
			tb.Errorf("rediscluster: stop: %v", err)
		}
	})
	return c
}

// New starts masters redis-server processes in cluster mode, with their
// nodes-<port>.conf files and logs in dir, joins them into one cluster and
// waits until every node reports cluster_state:ok. Nothing is persisted.
// The caller must Stop the cluster; on an error nothing is left running.
func New(ctx context.Context, dir string, masters int) (*Cluster, error) {
	if masters < 3 {
		return nil, fmt.Errorf("rediscluster: %d masters: Redis Cluster needs at least 3", masters)
	}
	if err := Available(); err != nil {
		return nil, err
	}
	c := &Cluster{dir: dir}
	for range masters {
		if err := c.startNode(ctx); err != nil {
			_ = c.Stop()
			return nil, err
		}
	}
	if err := c.create(ctx); err != nil {
		_ = c.Stop()
		return nil, err
	}
	return c, nil
}

// URL is the cluster as CXBOT_REDIS_URL names one.
func (c *Cluster) URL() string {
	return "redis+cluster://" + strings.Join(c.Addrs, ",")
}

// Stop stops every node (SIGTERM, then SIGKILL after a few seconds) and
// waits for them to exit. Safe to call more than once.
func (c *Cluster) Stop() error {
	var errs []error
	c.stopOnce.Do(func() {
		for _, n := range c.nodes {
			errs = append(errs, n.stop())
		}
	})
	return errors.Join(errs...)
}

// StopNode stops the i-th master (of Addrs) alone, as a crash would; Stop
// still cleans up the others.
func (c *Cluster) StopNode(i int) error {
	if i < 0 || i >= len(c.nodes) {
		return fmt.Errorf("rediscluster: no node %d of %d", i, len(c.nodes))
	}
	return c.nodes[i].stop()
}

func (n *node) stop() error {
	select {
	case <-n.exited:
		return nil
	default:
	}
	_ = n.cmd.Process.Signal(os.Interrupt)
	select {
	case <-n.exited:
		return nil
	case <-time.After(5 * time.Second):
		_ = n.cmd.Process.Kill()
		<-n.exited
		return fmt.Errorf("redis-server pid %d ignored SIGINT, killed", n.cmd.Process.Pid)
	}
}

// startNode starts one node on a free port. Another process can take the
// port between the check and redis-server's bind, so a node that exits
// before it answers is tried again on another port.
func (c *Cluster) startNode(ctx context.Context) error {
	var lastErr error
	for range 5 {
		port, err := freePort()
		if err != nil {
			return err
		}
		n, err := c.spawn(port)
		if err != nil {
			return err
		}
		addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
		if lastErr = n.waitPing(ctx, addr); lastErr == nil {
			c.nodes = append(c.nodes, n)
			c.Addrs = append(c.Addrs, addr)
			return nil
		}
		_ = n.stop()
		if ctx.Err() != nil {
			break
		}
	}
	return fmt.Errorf("rediscluster: start redis-server: %w", lastErr)
}

func (c *Cluster) spawn(port int) (*node, error) {
	ps := strconv.Itoa(port)
	p := exec.Command("redis-server",
		"--port", ps,
		"--bind", "127.0.0.1",
		"--cluster-enabled", "yes",
		"--cluster-config-file", filepath.Join(c.dir, "nodes-"+ps+".conf"),
		"--cluster-node-timeout", "5000",
		"--save", "",
		"--appendonly", "no",
		"--dir", c.dir,
		"--logfile", filepath.Join(c.dir, "redis-"+ps+".log"),
	)
	setParentDeath(p)
	if err := p.Start(); err != nil {
		return nil, fmt.Errorf("rediscluster: %w", err)
	}
	n := &node{cmd: p, exited: make(chan struct{})}
	go func() {
		_ = p.Wait()
		close(n.exited)
	}()
	return n, nil
}

// freePort returns a loopback port that is free now and whose bus port
// (port+10000) is free too.
func freePort() (int, error) {
	for range 50 {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return 0, fmt.Errorf("rediscluster: free port: %w", err)
		}
		port := l.Addr().(*net.TCPAddr).Port
		if port+busOffset > 65535 {
			_ = l.Close()
			continue
		}
		bus, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port+busOffset)))
		_ = l.Close()
		if err != nil {
			continue
		}
		_ = bus.Close()
		return port, nil
	}
	return 0, errors.New("rediscluster: no free port whose bus port (port+10000) is free too")
}

// waitPing waits until the node answers PING on addr, or fails at once when
// its process exits first (the port was taken in between).
func (n *node) waitPing(ctx context.Context, addr string) error {
	cl := redis.NewClient(&redis.Options{Addr: addr, MaxRetries: -1, DialTimeout: time.Second})
	defer cl.Close()
	deadline := time.Now().Add(15 * time.Second)
	for {
		err := cl.Ping(ctx).Err()
		if err == nil {
			return nil
		}
		select {
		case <-n.exited:
			return fmt.Errorf("redis-server on %s exited at start-up: %w", addr, err)
		case <-ctx.Done():
			return fmt.Errorf("redis-server on %s: %w", addr, ctx.Err())
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("redis-server on %s does not answer: %w", addr, err)
		}
	}
}

// create joins the nodes and waits until each one sees the whole cluster.
func (c *Cluster) create(ctx context.Context) error {
	args := append([]string{"--cluster", "create"}, c.Addrs...)
	args = append(args, "--cluster-replicas", "0", "--cluster-yes")
	cctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	var out bytes.Buffer
	cli := exec.CommandContext(cctx, "redis-cli", args...)
	cli.Stdout, cli.Stderr = &out, &out
	if err := cli.Run(); err != nil {
		return fmt.Errorf("rediscluster: redis-cli --cluster create: %w\n%s", err, out.String())
	}
	want := strconv.Itoa(len(c.Addrs))
	for _, addr := range c.Addrs {
		if err := waitClusterOK(cctx, addr, want); err != nil {
			return err
		}
	}
	return nil
}

func waitClusterOK(ctx context.Context, addr, nodes string) error {
	cl := redis.NewClient(&redis.Options{Addr: addr, MaxRetries: -1})
	defer cl.Close()
	var info string
	for {
		s, err := cl.ClusterInfo(ctx).Result()
		if err == nil {
			info = s
			if field(info, "cluster_state") == "ok" && field(info, "cluster_known_nodes") == nodes &&
				field(info, "cluster_slots_ok") == "16384" {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("rediscluster: %s never reported cluster_state:ok with %s nodes: %w\n%s", addr, nodes, ctx.Err(), info)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// field returns the value of name in CLUSTER INFO's "name:value" lines.
func field(info, name string) string {
	for line := range strings.Lines(info) {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), name+":"); ok {
			return v
		}
	}
	return ""
}

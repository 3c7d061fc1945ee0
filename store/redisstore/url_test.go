package redisstore

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cxbot/cxbot/flows"
)

func TestParseClusterURL(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		in    string
		addrs []string
		name  string
	}{
		{"redis+cluster://10.0.0.1:6379", []string{"10.0.0.1:6379"}, "redis+cluster://10.0.0.1:6379"},
		{"redis+cluster://:s3cretpw@a:7000,b:7001,c:7002/", []string{"a:7000", "b:7001", "c:7002"}, "redis+cluster://a:7000,b:7001,c:7002"},
		{"redis+cluster://cx:s3cretpw@a:7000,[::1]:7001/0?dial_timeout=3s&max_redirects=5", []string{"a:7000", "[::1]:7001"}, "redis+cluster://a:7000,[::1]:7001"},
		{"rediss+cluster://cx:s3cretpw@a:7000,b:7001", []string{"a:7000", "b:7001"}, "rediss+cluster://a:7000,b:7001"},
	} {
		got, err := parseURL(tc.in)
		if err != nil {
			t.Errorf("parseURL(%q): %v", tc.in, err)
			continue
		}
		if got.cluster == nil || got.single != nil {
			t.Errorf("parseURL(%q) is not a cluster", tc.in)
			continue
		}
		if !slices.Equal(got.cluster.Addrs, tc.addrs) {
			t.Errorf("parseURL(%q).Addrs = %v, want %v", tc.in, got.cluster.Addrs, tc.addrs)
		}
		if got.name != tc.name {
			t.Errorf("parseURL(%q).name = %q, want %q", tc.in, got.name, tc.name)
		}
		if strings.Contains(tc.in, "s3cretpw") && got.cluster.Password != "s3cretpw" {
			t.Errorf("parseURL(%q).Password = %q", tc.in, got.cluster.Password)
		}
		if tls := strings.HasPrefix(tc.in, "rediss"); (got.cluster.TLSConfig != nil) != tls {
			t.Errorf("parseURL(%q): TLS %v, want %v", tc.in, got.cluster.TLSConfig != nil, tls)
		}
	}
	o, _ := parseURL("redis+cluster://a:1,b:2?dial_timeout=3s&max_redirects=5")
	if o.cluster.DialTimeout != 3*time.Second || o.cluster.MaxRedirects != 5 {
		t.Errorf("options not read: dial timeout %v, max redirects %d", o.cluster.DialTimeout, o.cluster.MaxRedirects)
	}
	single, err := parseURL("redis://:s3cretpw@h:6379/2")
	if err != nil || single.single == nil || single.cluster != nil || single.single.DB != 2 {
		t.Errorf("parseURL(redis://…) = %+v, %v; want one server, db 2", single, err)
	}
}

func TestBadRedisURLsAreInvalidAndHideThePassword(t *testing.T) {
	t.Parallel()
	for _, bad := range []string{
		"localhost:6379",
		"s3cretpw",
		"http://x:s3cretpw@host/",
		"redis://x:s3cretpw@host:port/",
		"redis+cluster://x:s3cretpw@",
		"redis+cluster://x:s3cretpw@a:1,",
		"redis+cluster://x:s3cretpw@a:1,b",
		"redis+cluster://x:s3cretpw@a:1,b:99999",
		"redis+cluster://x:s3cretpw@a:1,:2",
		"redis+cluster://x:s3/cretpw@a:1",
		"redis+cluster://x:s3cretpw@a:1/3",
		"redis+cluster://x:s3cretpw@a:1?addr=b:2",
		"redis+cluster://x:s3cretpw@a:1?no_such_option=1",
		"redis+cluster://x:s3cretpw@a:1?dial_timeout=soon",
		"redis+cluster://x:s3cretpw@a:1?%zz",
		"redis+sentinel://x:s3cretpw@a:1",
	} {
		err := CheckURL(bad)
		if !errors.Is(err, flows.ErrInvalid) {
			t.Errorf("CheckURL(%q) = %v, want ErrInvalid", bad, err)
		}
		if err != nil && (strings.Contains(err.Error(), "s3cretpw") || strings.Contains(err.Error(), "cretpw")) {
			t.Errorf("CheckURL(%q) leaks the password: %v", bad, err)
		}
	}
	for _, good := range []string{"", "redis://127.0.0.1:6379/0", "rediss://:pw@h:6380", "redis+cluster://a:1,b:2,c:3"} {
		if err := CheckURL(good); err != nil {
			t.Errorf("CheckURL(%q) = %v", good, err)
		}
	}
}

func TestClusterOpenFailureHidesThePassword(t *testing.T) {
	t.Parallel()
	r, err := Open(testCtx(t), "redis+cluster://cxuser:s3cretpw@127.0.0.1:1,127.0.0.1:2", nil)
	if err == nil {
		r.Close()
		t.Fatal("Open of a cluster on closed ports succeeded")
	}
	if !errors.Is(err, flows.ErrUnavailable) || strings.Contains(err.Error(), "s3cretpw") || !strings.Contains(err.Error(), "127.0.0.1:1,127.0.0.1:2") {
		t.Fatalf("err = %v; want ErrUnavailable naming the seeds, not the password", err)
	}
}

package redisstore

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"

	"github.com/redis/go-redis/v9"

	"github.com/cxbot/cxbot/flows"
)

// The schemes of a Redis Cluster URL: the seed nodes' host:port, separated
// by commas, e.g. redis+cluster://:pass@10.0.0.1:6379,10.0.0.2:6379/.
const (
	clusterScheme    = "redis+cluster"
	clusterTLSScheme = "rediss+cluster"
)

// target is what a Redis URL names: one server or a cluster.
type target struct {
	single  *redis.Options        // redis://, rediss://
	cluster *redis.ClusterOptions // redis+cluster://, rediss+cluster://
	name    string                // the URL without credentials, for logs and errors
}

// CheckURL reports whether Open would accept rawURL (it does not connect).
// The error never contains the URL's password.
func CheckURL(rawURL string) error {
	if rawURL == "" {
		return nil
	}
	_, err := parseURL(rawURL)
	return err
}

// parseURL reads a standalone URL (redis://[user:pass@]host:port[/db][?opts],
// rediss:// for TLS, as go-redis's ParseURL) or a cluster URL
// (redis+cluster://[user:pass@]host:port[,host:port…][/][?opts],
// rediss+cluster:// for TLS; the options are those of go-redis's
// ParseClusterURL). Errors wrap flows.ErrInvalid and never show the
// password.
func parseURL(rawURL string) (target, error) {
	scheme, rest, ok := strings.Cut(rawURL, "://")
	if !ok {
		return target{}, fmt.Errorf("%w: redis: url: must start with redis://, rediss://, redis+cluster:// or rediss+cluster://", flows.ErrInvalid)
	}
	switch scheme {
	case "redis", "rediss":
		name := safeRedisURL(rawURL)
		o, err := redis.ParseURL(rawURL)
		if err != nil {
			return target{}, fmt.Errorf("%w: redis: url %s: %s", flows.ErrInvalid, name, safeParseError(err))
		}
		return target{single: o, name: name}, nil
	case clusterScheme, clusterTLSScheme:
		return parseClusterURL(scheme, rest)
	}
	return target{}, fmt.Errorf("%w: redis: url: scheme %q is not redis, rediss, redis+cluster or rediss+cluster", flows.ErrInvalid, safeScheme(scheme))
}

// parseClusterURL splits the seed list and hands go-redis's ParseClusterURL
// the form it reads: the first seed as the host, the others as addr=…
// query parameters.
func parseClusterURL(scheme, rest string) (target, error) {
	rest, _, _ = strings.Cut(rest, "#")
	authority, tail := rest, ""
	if i := strings.IndexAny(rest, "/?"); i >= 0 {
		authority, tail = rest[:i], rest[i:]
	}
	userinfo, hostList := "", authority
	if i := strings.LastIndex(authority, "@"); i >= 0 {
		userinfo, hostList = authority[:i+1], authority[i+1:]
	}
	path, query, _ := strings.Cut(tail, "?")

	// Until the seeds are known to be host:port, the URL is not shown: a
	// password with an unescaped "/" would end up among them.
	name := scheme + "://(not shown)"
	bad := func(format string, a ...any) (target, error) {
		return target{}, fmt.Errorf("%w: redis: url %s: %s", flows.ErrInvalid, name, fmt.Sprintf(format, a...))
	}
	hosts := strings.Split(hostList, ",")
	for i, h := range hosts {
		host, port, err := net.SplitHostPort(h)
		n, perr := strconv.Atoi(port)
		if err != nil || host == "" || perr != nil || n < 1 || n > 65535 {
			return bad("seed %d of %d is not host:port (list the nodes as host1:port1,host2:port2)", i+1, len(hosts))
		}
	}
	name = scheme + "://" + hostList
	switch path {
	case "", "/", "/0":
	default:
		return bad("a cluster has only database 0: leave the path empty")
	}
	if q, err := url.ParseQuery(query); err != nil {
		return bad("the query is not URL-encoded")
	} else if q.Has("addr") {
		return bad("list every seed before the path (host1:port1,host2:port2), not as addr=")
	}
	u := "redis://"
	if scheme == clusterTLSScheme {
		u = "rediss://"
	}
	u += userinfo + hosts[0] + "?" + query
	for _, h := range hosts[1:] {
		u += "&addr=" + url.QueryEscape(h)
	}
	o, err := redis.ParseClusterURL(u)
	if err != nil {
		return bad("%s", safeParseError(err))
	}
	return target{cluster: o, name: name}, nil
}

// safeScheme shows an unknown scheme only when it is short and plain, so
// that a password pasted in the wrong place is not echoed.
func safeScheme(s string) string {
	if len(s) > 20 || strings.ContainsAny(s, ":@/ ") {
		return "(not shown)"
	}
	return s
}

// safeRedisURL names a Redis URL in errors and logs without its password
// (userinfo and query are dropped; the query may carry credentials too).
func safeRedisURL(rawURL string) string {
	u, err := url.Parse(rawURL)
	if err != nil {
		return "(unparsable URL, not shown)"
	}
	return (&url.URL{Scheme: u.Scheme, Host: u.Host, Path: u.Path}).String()
}

// safeParseError drops the URL that *url.Error quotes, which would include
// the password.
func safeParseError(err error) string {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err.Error()
	}
	return err.Error()
}

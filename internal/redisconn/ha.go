package redisconn

import (
	"crypto/tls"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// hosts splits "h1:p1,h2:p2" and checks each address.
func hosts(list string) ([]string, error) {
	var out []string
	for _, h := range strings.Split(list, ",") {
		if _, port, err := net.SplitHostPort(h); err != nil || port == "" {
			return nil, fmt.Errorf("%q is not host:port", h)
		}
		out = append(out, h)
	}
	return out, nil
}

// parseMulti reads scheme://[user:pass@]h1:p1,h2:p2[/path][?query]; url.Parse
// refuses several hosts, so the host list is cut out first.
func parseMulti(rawURL string) (user *url.Userinfo, addrs []string, path string, q url.Values, err error) {
	_, rest, _ := strings.Cut(rawURL, "://")
	rest, query, _ := strings.Cut(rest, "?")
	if at := strings.LastIndex(rest, "@"); at >= 0 {
		u, err := url.Parse("x://" + rest[:at+1] + "h")
		if err != nil {
			return nil, nil, "", nil, fmt.Errorf("bad credentials part")
		}
		user, rest = u.User, rest[at+1:]
	}
	hostPart, path, _ := strings.Cut(rest, "/")
	if addrs, err = hosts(hostPart); err != nil {
		return nil, nil, "", nil, err
	}
	q, err = url.ParseQuery(query)
	if err != nil {
		return nil, nil, "", nil, fmt.Errorf("bad query")
	}
	return user, addrs, path, q, nil
}

func parseSentinel(rawURL string, useTLS bool, timeout time.Duration) (Target, error) {
	user, addrs, master, q, err := parseMulti(rawURL)
	if err != nil {
		return Target{}, fmt.Errorf("redis-sentinel URL: %w", err)
	}
	if master == "" {
		return Target{}, fmt.Errorf("redis-sentinel URL: no master name (redis-sentinel://s1:26379,s2:26379/mymaster)")
	}
	o := &redis.FailoverOptions{
		MasterName: master, SentinelAddrs: addrs, SentinelPassword: q.Get("sentinel_password"),
		DialTimeout: timeout, ReadTimeout: timeout, WriteTimeout: timeout, PoolTimeout: timeout,
		ContextTimeoutEnabled: true, MaxRetries: 1, DialerRetries: 2,
		PipelineReadBufferSize: pipelineBuffer, PipelineWriteBufferSize: pipelineBuffer,
	}
	if user != nil {
		o.Username = user.Username()
		o.Password, _ = user.Password()
	}
	if db := q.Get("db"); db != "" {
		if o.DB, err = strconv.Atoi(db); err != nil || o.DB < 0 {
			return Target{}, fmt.Errorf("redis-sentinel URL: db %q is not a number", db)
		}
	}
	if useTLS {
		o.TLSConfig = &tls.Config{MinVersion: tls.VersionTLS12}
	}
	return Target{failover: o}, nil
}

func parseCluster(rawURL string, useTLS bool, timeout time.Duration) (Target, error) {
	user, addrs, path, _, err := parseMulti(rawURL)
	if err != nil {
		return Target{}, fmt.Errorf("redis-cluster URL: %w", err)
	}
	if path != "" {
		return Target{}, fmt.Errorf("redis-cluster URL: a cluster has only database 0 (drop /%s)", path)
	}
	o := &redis.ClusterOptions{
		Addrs:       addrs,
		DialTimeout: timeout, ReadTimeout: timeout, WriteTimeout: timeout, PoolTimeout: timeout,
		ContextTimeoutEnabled: true, MaxRetries: 1, DialerRetries: 2,
		PipelineReadBufferSize: pipelineBuffer, PipelineWriteBufferSize: pipelineBuffer,
		// A backstop for topology changes no command of ours notices (a
		// failover of a master this process had not used yet); a node
		// found away triggers a reload at once (Client).
		ClusterStateReloadInterval: 10 * time.Second,
	}
	if user != nil {
		o.Username = user.Username()
		o.Password, _ = user.Password()
	}
	if useTLS {
		o.TLSConfig = &tls.Config{MinVersion: tls.VersionTLS12}
	}
	return Target{cluster: o}, nil
}

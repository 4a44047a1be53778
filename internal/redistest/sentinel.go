package redistest

import (
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// SentinelMaster is the master name the sentinels of a SentinelSet monitor.
const SentinelMaster = "mymaster"

// SentinelConfig tunes a set started with StartSentinel.
type SentinelConfig struct {
	// DownAfter is down-after-milliseconds: how long the master may be
	// unreachable before a sentinel deems it down; 1s when zero.
	DownAfter time.Duration
	// FailoverTimeout is failover-timeout; 3s when zero. A failover that
	// stalls (a split vote) is retried only after twice this.
	FailoverTimeout time.Duration
	// AppendOnly turns AOF persistence on in the master and the replica.
	AppendOnly bool
	// AppendFsync is their AOF fsync policy ("everysec" when empty, or "always").
	AppendFsync string
}

// SentinelSet is a master, its replica and three sentinels watching them
// (quorum 2), each a process of its own on 127.0.0.1.
type SentinelSet struct {
	// Sentinels are the three sentinel processes.
	Sentinels []*Server

	t         testing.TB
	data      []*Server // the first master, then its replica
	admin     map[*Server]*redis.Client
	sentinels map[*Server]*redis.SentinelClient
}

// StartSentinel starts a master, a replica of it and three sentinels, and
// returns once the replica's link is up and every sentinel knows the replica
// and the other two sentinels. Everything stops, and the directories go,
// when the test ends.
func StartSentinel(t testing.TB, cfg SentinelConfig) *SentinelSet {
	t.Helper()
	if cfg.DownAfter <= 0 {
		cfg.DownAfter = time.Second
	}
	if cfg.FailoverTimeout <= 0 {
		cfg.FailoverTimeout = 3 * time.Second
	}
	ss := &SentinelSet{t: t, admin: map[*Server]*redis.Client{}, sentinels: map[*Server]*redis.SentinelClient{}}
	t.Cleanup(ss.stop)
	limit := 30*time.Second + 10*cfg.DownAfter

	dataConfig := func(extra ...string) func(string, []int) (Config, string, error) {
		return func(_ string, ports []int) (Config, string, error) {
			return Config{
				Port:        ports[0],
				AppendOnly:  cfg.AppendOnly,
				AppendFsync: cfg.AppendFsync,
				// Sync a replica at once rather than waiting 5s for more of them.
				Extra: append([]string{"--repl-diskless-sync-delay", "0"}, extra...),
			}, "", nil
		}
	}
	master, err := startOnFreePorts(1, dataConfig())
	if err != nil {
		t.Fatalf("redistest: start sentinel's master: %v", err)
	}
	ss.addData(master)
	replica, err := startOnFreePorts(1, dataConfig("--replicaof", "127.0.0.1", port(master)))
	if err != nil {
		t.Fatalf("redistest: start sentinel's replica: %v", err)
	}
	ss.addData(replica)
	// Sentinels find replicas in the master's INFO, which they read every
	// 10s: have the replica attached before they first look.
	if _, err := waitFor(limit, func() error { return ss.replicating(master, replica) }); err != nil {
		t.Fatalf("redistest: sentinel's replica %s did not attach to %s within %s: %v; logs:%s", replica.Addr, master.Addr, limit, err, logTails(ss.data))
	}

	for i := range 3 {
		s, err := startOnFreePorts(1, func(dir string, ports []int) (Config, string, error) {
			conf := filepath.Join(dir, "sentinel.conf")
			text := fmt.Sprintf("sentinel monitor %[1]s 127.0.0.1 %[2]s 2\n"+
				"sentinel down-after-milliseconds %[1]s %[3]d\n"+
				"sentinel failover-timeout %[1]s %[4]d\n"+
				"sentinel parallel-syncs %[1]s 1\n",
				SentinelMaster, port(master), cfg.DownAfter.Milliseconds(), cfg.FailoverTimeout.Milliseconds())
			// Sentinel rewrites its configuration file: it must be writable.
			if err := os.WriteFile(conf, []byte(text), 0o600); err != nil {
				return Config{}, "", fmt.Errorf("redistest: write %s: %w", conf, err)
			}
			return Config{Port: ports[0], Extra: []string{"--sentinel"}}, conf, nil
		})
		if err != nil {
			t.Fatalf("redistest: start sentinel %d: %v", i, err)
		}
		ss.Sentinels = append(ss.Sentinels, s)
		ss.sentinels[s] = redis.NewSentinelClient(&redis.Options{
			Network: "unix", Addr: s.Socket, MaxRetries: -1, DialerRetries: 1,
			DialTimeout: callTimeout, ReadTimeout: callTimeout, WriteTimeout: callTimeout,
		})
	}
	if _, err := waitFor(limit, func() error { return ss.settled(replica) }); err != nil {
		t.Fatalf("redistest: sentinels not settled within %s: %v; logs:%s", limit, err, logTails(ss.all()))
	}
	return ss
}

func (ss *SentinelSet) addData(s *Server) {
	ss.data = append(ss.data, s)
	ss.admin[s] = adminClient(s)
}

func (ss *SentinelSet) all() []*Server { return append(slices.Clone(ss.data), ss.Sentinels...) }

// replicating checks that replica's link to master is up and master lists it.
func (ss *SentinelSet) replicating(master, replica *Server) error {
	ctx, cancel := callCtx()
	defer cancel()
	info, err := ss.admin[replica].Info(ctx, "replication").Result()
	if err != nil {
		return fmt.Errorf("INFO replication on %s: %w", replica.Addr, err)
	}
	if l := infoField(info, "master_link_status"); l != "up" {
		return fmt.Errorf("replica %s has master_link_status:%s", replica.Addr, l)
	}
	if info, err = ss.admin[master].Info(ctx, "replication").Result(); err != nil {
		return fmt.Errorf("INFO replication on %s: %w", master.Addr, err)
	}
	if !strings.Contains(infoField(info, "slave0"), "port="+port(replica)+",") {
		return fmt.Errorf("master %s does not list replica %s yet", master.Addr, replica.Addr)
	}
	return nil
}

// settled checks that every sentinel sees the master up, the replica
// healthy and linked, and both other sentinels.
func (ss *SentinelSet) settled(replica *Server) error {
	for _, s := range ss.Sentinels {
		sc := ss.sentinels[s]
		ctx, cancel := callCtx()
		m, err := sc.Master(ctx, SentinelMaster).Result()
		cancel()
		if err != nil {
			return fmt.Errorf("SENTINEL MASTER on sentinel %s: %w", s.Addr, err)
		}
		if m["flags"] != "master" || m["num-slaves"] != "1" || m["num-other-sentinels"] != "2" {
			return fmt.Errorf("sentinel %s sees master flags %q with %s replicas and %s other sentinels",
				s.Addr, m["flags"], m["num-slaves"], m["num-other-sentinels"])
		}
		ctx, cancel = callCtx()
		replicas, err := sc.Replicas(ctx, SentinelMaster).Result()
		cancel()
		if err != nil {
			return fmt.Errorf("SENTINEL REPLICAS on sentinel %s: %w", s.Addr, err)
		}
		if len(replicas) != 1 || replicas[0]["name"] != replica.Addr || replicas[0]["flags"] != "slave" || replicas[0]["master-link-status"] != "ok" {
			return fmt.Errorf("sentinel %s sees replicas %v", s.Addr, replicas)
		}
		ctx, cancel = callCtx()
		others, err := sc.Sentinels(ctx, SentinelMaster).Result()
		cancel()
		if err != nil {
			return fmt.Errorf("SENTINEL SENTINELS on sentinel %s: %w", s.Addr, err)
		}
		for _, o := range others {
			if o["flags"] != "sentinel" {
				return fmt.Errorf("sentinel %s sees sentinel %s with flags %q", s.Addr, o["name"], o["flags"])
			}
		}
	}
	return nil
}

// URL returns the REDIS_URL form of database db behind the sentinels:
// redis-sentinel://127.0.0.1:s1,127.0.0.1:s2,127.0.0.1:s3/mymaster?db=N.
func (ss *SentinelSet) URL(db int) string {
	return fmt.Sprintf("redis-sentinel://%s/%s?db=%d", strings.Join(ss.sentinelAddrs(), ","), SentinelMaster, db)
}

func (ss *SentinelSet) sentinelAddrs() []string {
	var addrs []string
	for _, s := range ss.Sentinels {
		addrs = append(addrs, s.Addr)
	}
	return addrs
}

// Client returns a new failover client for database db, finding the master
// through the sentinels; it is closed when the test ends.
func (ss *SentinelSet) Client(t testing.TB, db int) *redis.Client {
	t.Helper()
	c := redis.NewFailoverClient(&redis.FailoverOptions{
		MasterName: SentinelMaster, SentinelAddrs: ss.sentinelAddrs(), DB: db,
	})
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// Master returns the current master: of the servers the sentinels name, the
// one running with role:master, else the one most sentinels name (after a
// failover, some sentinels name the new master before others). It fails the
// test that started the set when no sentinel answers.
func (ss *SentinelSet) Master() *Server {
	ss.t.Helper()
	m, err := ss.master()
	if err != nil {
		ss.t.Fatalf("redistest: sentinel master: %v", err)
	}
	return m
}

func (ss *SentinelSet) master() (*Server, error) {
	votes := map[*Server]int{}
	err := errors.New("no sentinel is running")
	for _, s := range ss.Sentinels {
		if !s.alive() {
			continue
		}
		var named *Server
		if named, err = ss.named(s); err == nil {
			votes[named]++
		}
	}
	if len(votes) == 0 {
		return nil, err
	}
	candidates := slices.SortedFunc(maps.Keys(votes), func(a, b *Server) int { return votes[b] - votes[a] })
	for _, s := range candidates {
		if ss.isMaster(s) == nil {
			return s, nil
		}
	}
	return candidates[0], nil
}

// Replica returns the data server that is not the current Master: the
// replica, or after a failover the former master (dead if it was killed).
func (ss *SentinelSet) Replica() *Server {
	ss.t.Helper()
	if ss.Master() == ss.data[0] {
		return ss.data[1]
	}
	return ss.data[0]
}

// WaitFailover waits, after killed.Kill() on the master, until a sentinel's
// SENTINEL GET-MASTER-ADDR-BY-NAME names the former replica and that replica
// reports role:master, and returns when it first saw both.
func (ss *SentinelSet) WaitFailover(killed *Server, limit time.Duration) (promotedAt time.Time, err error) {
	var replica *Server
	switch killed {
	case ss.data[0]:
		replica = ss.data[1]
	case ss.data[1]:
		replica = ss.data[0]
	default:
		return time.Time{}, fmt.Errorf("redistest: sentinel failover: %s is not the master or the replica", killed.Addr)
	}
	at, err := waitFor(limit, func() error {
		if err := ss.isMaster(replica); err != nil {
			return err
		}
		var reasons []string
		for _, s := range ss.Sentinels {
			named, err := ss.named(s)
			if err == nil && named == replica {
				return nil
			}
			if err != nil {
				reasons = append(reasons, err.Error())
			} else {
				reasons = append(reasons, fmt.Sprintf("sentinel %s names %s", s.Addr, named.Addr))
			}
		}
		return fmt.Errorf("%s is master but no sentinel names it: %s", replica.Addr, strings.Join(reasons, "; "))
	})
	if err != nil {
		return time.Time{}, fmt.Errorf("redistest: sentinel failover from %s to %s not seen within %s: %w; logs:%s", killed.Addr, replica.Addr, limit, err, logTails(ss.all()))
	}
	return at, nil
}

// named returns the data server sentinel s names as the master.
func (ss *SentinelSet) named(s *Server) (*Server, error) {
	ctx, cancel := callCtx()
	defer cancel()
	addr, err := ss.sentinels[s].GetMasterAddrByName(ctx, SentinelMaster).Result()
	if err != nil {
		return nil, fmt.Errorf("SENTINEL GET-MASTER-ADDR-BY-NAME on sentinel %s: %w", s.Addr, err)
	}
	if len(addr) == 2 {
		for _, d := range ss.data {
			if d.Addr == addr[0]+":"+addr[1] {
				return d, nil
			}
		}
	}
	return nil, fmt.Errorf("sentinel %s names %v, neither the master nor the replica", s.Addr, addr)
}

// isMaster checks that s runs and reports role:master.
func (ss *SentinelSet) isMaster(s *Server) error {
	ctx, cancel := callCtx()
	defer cancel()
	info, err := ss.admin[s].Info(ctx, "replication").Result()
	if err != nil {
		return fmt.Errorf("INFO replication on %s: %w", s.Addr, err)
	}
	if r := infoField(info, "role"); r != "master" {
		return fmt.Errorf("%s reports role:%s", s.Addr, r)
	}
	return nil
}

// stop stops the sentinels first, so that stopping the master starts no
// failover, then the master and replica.
func (ss *SentinelSet) stop() {
	for _, c := range ss.sentinels {
		_ = c.Close()
	}
	for _, c := range ss.admin {
		_ = c.Close()
	}
	for _, group := range [][]*Server{ss.Sentinels, ss.data} {
		var wg sync.WaitGroup
		for _, s := range group {
			wg.Go(s.Stop)
		}
		wg.Wait()
	}
}

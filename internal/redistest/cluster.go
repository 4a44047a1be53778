package redistest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// slotCount is how many hash slots a Redis Cluster has.
const slotCount = 16384

// masterSlots are the slots of each master at the start, as redis-cli
// --cluster create splits them.
var masterSlots = [3]slotRange{{0, 5460}, {5461, 10922}, {10923, slotCount - 1}}

// ClusterConfig tunes a cluster started with StartCluster.
type ClusterConfig struct {
	// NodeTimeout is cluster-node-timeout: how long a master may be
	// unreachable before its replica takes over; 1s when zero.
	NodeTimeout time.Duration
	// AppendOnly turns AOF persistence on in every node.
	AppendOnly bool
	// AppendFsync is the AOF fsync policy ("everysec" when empty, or "always").
	AppendFsync string
}

// Cluster is a Redis Cluster on 127.0.0.1: three masters sharing the slots
// and one replica for each, every node a process of its own. A killed node
// brought back with Restart rejoins as a replica of the node that replaced
// it.
type Cluster struct {
	// Nodes are the six servers: the three masters first (slots 0-5460,
	// 5461-10922, 10923-16383), then the replica of each in the same order.
	// Failovers change the roles; MasterOf and Masters tell the current ones.
	Nodes []*Server

	t           testing.TB
	nodeTimeout time.Duration
	ids         map[*Server]string        // cluster node IDs, kept across restarts in nodes.conf
	admin       map[*Server]*redis.Client // one polling client per node
}

// StartCluster starts a six-node cluster and returns once every node reports
// cluster_state:ok, knows every other node in its role, and every replica's
// link to its master is up. The nodes stop, and their directories go, when
// the test ends.
func StartCluster(t testing.TB, cfg ClusterConfig) *Cluster {
	t.Helper()
	if cfg.NodeTimeout <= 0 {
		cfg.NodeTimeout = time.Second
	}
	c := &Cluster{t: t, nodeTimeout: cfg.NodeTimeout, ids: map[*Server]string{}, admin: map[*Server]*redis.Client{}}
	t.Cleanup(c.stop)
	busPorts := make([]int, 6)
	for i := range 6 {
		s, err := startOnFreePorts(2, func(dir string, ports []int) (Config, string, error) {
			busPorts[i] = ports[1]
			return Config{
				Port:        ports[0],
				AppendOnly:  cfg.AppendOnly,
				AppendFsync: cfg.AppendFsync,
				Extra: []string{
					"--cluster-enabled", "yes",
					"--cluster-config-file", filepath.Join(dir, "nodes.conf"),
					// An explicit bus port: port+10000 may be taken or above 65535.
					"--cluster-port", strconv.Itoa(ports[1]),
					"--cluster-node-timeout", strconv.FormatInt(cfg.NodeTimeout.Milliseconds(), 10),
					// Let a replica fail over however long it was cut off.
					"--cluster-replica-validity-factor", "0",
					// Sync replicas at once rather than waiting 5s for more of them.
					"--repl-diskless-sync-delay", "0",
				},
			}, "", nil
		})
		if err != nil {
			t.Fatalf("redistest: start cluster node %d: %v", i, err)
		}
		c.Nodes = append(c.Nodes, s)
		c.admin[s] = adminClient(s)
	}
	if err := c.form(busPorts); err != nil {
		t.Fatalf("redistest: form cluster: %v; node logs:%s", err, logTails(c.Nodes))
	}
	return c
}

// form joins the started nodes into a cluster, as redis-cli --cluster create
// would, and waits for it to settle.
func (c *Cluster) form(busPorts []int) error {
	ctx := context.Background()
	for i, s := range c.Nodes {
		id, err := c.admin[s].ClusterMyID(ctx).Result()
		if err != nil {
			return fmt.Errorf("CLUSTER MYID on %s: %w", s.Addr, err)
		}
		c.ids[s] = id
		// Distinct epochs up front, so the masters need not resolve collisions.
		if err := c.admin[s].Do(ctx, "CLUSTER", "SET-CONFIG-EPOCH", i+1).Err(); err != nil {
			return fmt.Errorf("CLUSTER SET-CONFIG-EPOCH on %s: %w", s.Addr, err)
		}
	}
	first := c.admin[c.Nodes[0]]
	for i, s := range c.Nodes[1:] {
		if err := first.Do(ctx, "CLUSTER", "MEET", "127.0.0.1", port(s), busPorts[i+1]).Err(); err != nil {
			return fmt.Errorf("CLUSTER MEET %s from %s: %w", s.Addr, c.Nodes[0].Addr, err)
		}
	}
	for i, m := range c.Nodes[:3] {
		lo, hi := masterSlots[i].lo, masterSlots[i].hi
		if err := c.admin[m].ClusterAddSlotsRange(ctx, lo, hi).Err(); err != nil {
			return fmt.Errorf("CLUSTER ADDSLOTSRANGE %d %d on %s: %w", lo, hi, m.Addr, err)
		}
	}
	limit := 30*time.Second + 10*c.nodeTimeout
	// A replica can follow its master only once the handshake made it known.
	for i, r := range c.Nodes[3:] {
		masterID := c.ids[c.Nodes[i]]
		if _, err := waitFor(limit, func() error {
			ctx, cancel := callCtx()
			defer cancel()
			return c.admin[r].ClusterReplicate(ctx, masterID).Err()
		}); err != nil {
			return fmt.Errorf("CLUSTER REPLICATE %s (%s) on %s: %w", masterID, c.Nodes[i].Addr, r.Addr, err)
		}
	}
	if _, err := waitFor(limit, c.settled); err != nil {
		return fmt.Errorf("not settled within %s: %w", limit, err)
	}
	return nil
}

// stateOK checks that node s reports cluster_state:ok.
func (c *Cluster) stateOK(s *Server) error {
	ctx, cancel := callCtx()
	defer cancel()
	info, err := c.admin[s].ClusterInfo(ctx).Result()
	if err != nil {
		return fmt.Errorf("CLUSTER INFO on %s: %w", s.Addr, err)
	}
	if st := infoField(info, "cluster_state"); st != "ok" {
		return fmt.Errorf("%s reports cluster_state:%s", s.Addr, st)
	}
	return nil
}

// settled checks the cluster is as form built it, seen from every node:
// state ok, all nodes connected and healthy, each replica following its
// master with its link up.
func (c *Cluster) settled() error {
	for i, s := range c.Nodes {
		if err := c.stateOK(s); err != nil {
			return err
		}
		nodes, err := c.nodes(s)
		if err != nil {
			return err
		}
		for j, o := range c.Nodes {
			n, ok := nodes[c.ids[o]]
			switch {
			case !ok:
				return fmt.Errorf("%s does not know %s yet", s.Addr, o.Addr)
			case n.addr != o.Addr:
				return fmt.Errorf("%s sees %s at %s", s.Addr, o.Addr, n.addr)
			case slices.ContainsFunc(n.flags, func(f string) bool {
				return f == "fail" || f == "fail?" || f == "handshake" || f == "noaddr"
			}):
				return fmt.Errorf("%s flags %s %v", s.Addr, o.Addr, n.flags)
			case j != i && n.link != "connected":
				return fmt.Errorf("%s has no link to %s yet", s.Addr, o.Addr)
			case j >= 3 && n.master != c.ids[c.Nodes[j-3]]:
				return fmt.Errorf("%s does not see %s replicating %s yet", s.Addr, o.Addr, c.Nodes[j-3].Addr)
			}
		}
		if i >= 3 {
			ctx, cancel := callCtx()
			info, err := c.admin[s].Info(ctx, "replication").Result()
			cancel()
			if err != nil {
				return fmt.Errorf("INFO replication on %s: %w", s.Addr, err)
			}
			if l := infoField(info, "master_link_status"); l != "up" {
				return fmt.Errorf("replica %s has master_link_status:%s", s.Addr, l)
			}
		}
	}
	return nil
}

// URL returns the REDIS_URL form of the cluster, listing every node:
// redis-cluster://127.0.0.1:p1,127.0.0.1:p2,….
func (c *Cluster) URL() string { return "redis-cluster://" + strings.Join(c.addrs(), ",") }

func (c *Cluster) addrs() []string {
	var addrs []string
	for _, s := range c.Nodes {
		addrs = append(addrs, s.Addr)
	}
	return addrs
}

// Client returns a new cluster client seeded with every node, closed when
// the test ends.
func (c *Cluster) Client(t testing.TB) *redis.ClusterClient {
	t.Helper()
	cc := redis.NewClusterClient(&redis.ClusterOptions{Addrs: c.addrs()})
	t.Cleanup(func() { _ = cc.Close() })
	return cc
}

// MasterOf returns the master serving key's slot now, as the first node that
// answers sees it. It fails the test that started the cluster when no node
// answers, so call it from that test's goroutine.
func (c *Cluster) MasterOf(key string) *Server {
	c.t.Helper()
	owners, err := c.slotOwners()
	if err != nil {
		c.t.Fatalf("redistest: master of %q: %v", key, err)
	}
	slot := KeySlot(key)
	m := c.byAddr(owners[slot])
	if m == nil {
		c.t.Fatalf("redistest: master of %q: slot %d is served by %q, not one of the nodes", key, slot, owners[slot])
	}
	return m
}

// Masters returns the masters serving slots now, in slot order, as the first
// node that answers sees them. It fails the test that started the cluster
// when no node answers.
func (c *Cluster) Masters() []*Server {
	c.t.Helper()
	owners, err := c.slotOwners()
	if err != nil {
		c.t.Fatalf("redistest: cluster masters: %v", err)
	}
	var masters []*Server
	for _, addr := range owners {
		if m := c.byAddr(addr); m != nil && !slices.Contains(masters, m) {
			masters = append(masters, m)
		}
	}
	return masters
}

// WaitFailover waits, after killed.Kill() on a master, until one of its
// replicas reports role:master and every surviving node reports
// cluster_state:ok and maps all of killed's slots to that replica in CLUSTER
// SLOTS (so that any client refreshing its slot map finds it), and returns
// when it first saw that. Call it right after the kill: it learns killed's
// slots and replicas from the survivors, which forget them on promotion.
func (c *Cluster) WaitFailover(killed *Server, limit time.Duration) (promotedAt time.Time, err error) {
	killedID, ok := c.ids[killed]
	if !ok {
		return time.Time{}, fmt.Errorf("redistest: cluster failover: %s is not a node of this cluster", killed.Addr)
	}
	survivors := slices.DeleteFunc(slices.Clone(c.Nodes), func(s *Server) bool { return s == killed || !s.alive() })
	// Its slots and replicas, as any survivor sees them: views may lag.
	var slots []slotRange
	var candidates []*Server
	answered := false
	for _, s := range survivors {
		view, nodesErr := c.nodes(s)
		if nodesErr != nil {
			err = nodesErr
			continue
		}
		answered = true
		if len(slots) == 0 {
			slots = view[killedID].slots
		}
		for _, r := range survivors {
			if view[c.ids[r]].master == killedID && !slices.Contains(candidates, r) {
				candidates = append(candidates, r)
			}
		}
	}
	if !answered {
		return time.Time{}, fmt.Errorf("redistest: cluster failover of %s: no survivor answers CLUSTER NODES (last: %v); node logs:%s", killed.Addr, err, logTails(c.Nodes))
	}
	if len(slots) == 0 || len(candidates) == 0 {
		return time.Time{}, fmt.Errorf("redistest: cluster failover of %s: survivors see it serving slots %v with %d live replicas: not a master that can fail over, or its failover finished before WaitFailover", killed.Addr, slots, len(candidates))
	}
	at, err := waitFor(limit, func() error { return c.failedOver(survivors, candidates, slots) })
	if err != nil {
		return time.Time{}, fmt.Errorf("redistest: cluster failover of %s (slots %v) not seen within %s: %w; node logs:%s", killed.Addr, slots, limit, err, logTails(c.Nodes))
	}
	return at, nil
}

// failedOver checks whether a candidate replica took over slots everywhere.
func (c *Cluster) failedOver(survivors, candidates []*Server, slots []slotRange) error {
	var promoted *Server
	for _, s := range candidates {
		ctx, cancel := callCtx()
		info, err := c.admin[s].Info(ctx, "replication").Result()
		cancel()
		if err == nil && infoField(info, "role") == "master" {
			promoted = s
			break
		}
	}
	if promoted == nil {
		return errors.New("no replica of it reports role:master")
	}
	for _, s := range survivors {
		if err := c.stateOK(s); err != nil {
			return fmt.Errorf("%s is master; %w", promoted.Addr, err)
		}
		owners, err := c.slotOwnersOn(s)
		if err != nil {
			return err
		}
		for _, r := range slots {
			for slot := r.lo; slot <= r.hi; slot++ {
				if owners[slot] != promoted.Addr {
					return fmt.Errorf("%s is master; %s maps slot %d to %q", promoted.Addr, s.Addr, slot, owners[slot])
				}
			}
		}
	}
	return nil
}

// stop stops every node at once.
func (c *Cluster) stop() {
	for _, a := range c.admin {
		_ = a.Close()
	}
	var wg sync.WaitGroup
	for _, s := range c.Nodes {
		wg.Go(s.Stop)
	}
	wg.Wait()
}

func (c *Cluster) byAddr(addr string) *Server {
	for _, s := range c.Nodes {
		if s.Addr == addr {
			return s
		}
	}
	return nil
}

// slotOwners maps each slot to its master's address, as the first live node
// that answers sees it.
func (c *Cluster) slotOwners() (*[slotCount]string, error) {
	err := errors.New("no node is running")
	for _, s := range c.Nodes {
		if !s.alive() {
			continue
		}
		var owners *[slotCount]string
		if owners, err = c.slotOwnersOn(s); err == nil {
			return owners, nil
		}
	}
	return nil, err
}

// slotOwnersOn maps each slot to its master's address as node s sees it
// (CLUSTER SHARDS); unserved slots map to "".
func (c *Cluster) slotOwnersOn(s *Server) (*[slotCount]string, error) {
	ctx, cancel := callCtx()
	defer cancel()
	shards, err := c.admin[s].ClusterShards(ctx).Result()
	if err != nil {
		return nil, fmt.Errorf("CLUSTER SHARDS on %s: %w", s.Addr, err)
	}
	var owners [slotCount]string
	for _, sh := range shards {
		master := ""
		for _, n := range sh.Nodes {
			if n.Role == "master" && n.Health == "online" {
				master = net.JoinHostPort(n.IP, strconv.FormatInt(n.Port, 10))
			}
		}
		if master == "" {
			continue
		}
		for _, r := range sh.Slots {
			for slot := max(r.Start, 0); slot <= min(r.End, slotCount-1); slot++ {
				owners[slot] = master
			}
		}
	}
	return &owners, nil
}

// clusterNode is one line of CLUSTER NODES.
type clusterNode struct {
	addr   string // ip:port, without the bus port
	flags  []string
	master string // the master's ID for a replica, else "-"
	link   string // "connected" or "disconnected"
	slots  []slotRange
}

// slotRange is the slots lo to hi, both included.
type slotRange struct{ lo, hi int }

func (r slotRange) String() string { return fmt.Sprintf("%d-%d", r.lo, r.hi) }

// nodes returns node s's view of the cluster (CLUSTER NODES) by node ID.
func (c *Cluster) nodes(s *Server) (map[string]clusterNode, error) {
	ctx, cancel := callCtx()
	defer cancel()
	text, err := c.admin[s].ClusterNodes(ctx).Result()
	if err != nil {
		return nil, fmt.Errorf("CLUSTER NODES on %s: %w", s.Addr, err)
	}
	return parseClusterNodes(text), nil
}

// parseClusterNodes reads CLUSTER NODES: "<id> <ip:port@bus[,host]> <flags>
// <master> <ping-sent> <pong-recv> <epoch> <link> <slot>…".
func parseClusterNodes(text string) map[string]clusterNode {
	nodes := map[string]clusterNode{}
	for line := range strings.SplitSeq(text, "\n") {
		f := strings.Fields(line)
		if len(f) < 8 {
			continue
		}
		addr, _, _ := strings.Cut(f[1], "@")
		n := clusterNode{addr: addr, flags: strings.Split(f[2], ","), master: f[3], link: f[7]}
		for _, tok := range f[8:] {
			if strings.HasPrefix(tok, "[") { // a slot being migrated or imported
				continue
			}
			loS, hiS, isRange := strings.Cut(tok, "-")
			if !isRange {
				hiS = loS
			}
			lo, err1 := strconv.Atoi(loS)
			hi, err2 := strconv.Atoi(hiS)
			if err1 == nil && err2 == nil {
				n.slots = append(n.slots, slotRange{lo, hi})
			}
		}
		nodes[f[0]] = n
	}
	return nodes
}

// KeySlot returns the cluster hash slot of key, as CLUSTER KEYSLOT would:
// CRC16 of the key, or of its hash tag (the text between the first "{" and
// the next "}", when not empty), modulo 16384.
func KeySlot(key string) int {
	if open := strings.IndexByte(key, '{'); open >= 0 {
		if end := strings.IndexByte(key[open+1:], '}'); end > 0 {
			key = key[open+1 : open+1+end]
		}
	}
	return int(crc16(key) % slotCount)
}

// crc16 is CRC-16/XMODEM (polynomial 0x1021, initial value 0), the one Redis
// Cluster uses.
func crc16(s string) uint16 {
	var crc uint16
	for i := range len(s) {
		crc ^= uint16(s[i]) << 8
		for range 8 {
			if crc&0x8000 != 0 {
				crc = crc<<1 ^ 0x1021
			} else {
				crc <<= 1
			}
		}
	}
	return crc
}

// port returns the TCP port of a server started with one.
func port(s *Server) string {
	_, p, _ := strings.Cut(s.Addr, ":")
	return p
}

package redistest

import (
	"context"
	"fmt"
	"os"
	"sync"
	"testing"

	"github.com/redis/go-redis/v9"
)

// databases is how many logical databases the package server offers, and so
// how many tests can hold one at the same time; more wait for a free one.
const databases = 64

// pkg is the test package's shared server, started on first use.
var pkg struct {
	mainCalled bool
	once       sync.Once
	srv        *Server
	err        error
	free       chan int
}

// Main runs a test package's tests and stops its redis-server afterwards.
// Call it from TestMain; New refuses to work without it, so that no server
// outlives its package.
func Main(m *testing.M) {
	pkg.mainCalled = true
	code := m.Run()
	if pkg.srv != nil {
		pkg.srv.Stop()
	}
	os.Exit(code)
}

// DB is one logical database lent to a test.
type DB struct {
	// Server is the package's redis-server.
	Server *Server
	// Index is the database number on it.
	Index int
}

// Options returns go-redis options for this database.
func (d DB) Options() *redis.Options { return d.Server.Options(d.Index) }

// URL returns the REDIS_URL form of this database (unix://…?db=N).
func (d DB) URL() string { return d.Server.URL(d.Index) }

// Client returns a new go-redis client for this database, closed when the test ends.
func (d DB) Client(t testing.TB) *redis.Client {
	t.Helper()
	c := redis.NewClient(d.Options())
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// Lend gives the test an empty logical database of its own on the package's
// redis-server, starting the server on first use. The database is returned
// to the pool when the test ends.
func Lend(t testing.TB) DB {
	t.Helper()
	if !pkg.mainCalled {
		t.Fatal("redistest: call redistest.Main(m) from this package's TestMain before using Redis")
	}
	pkg.once.Do(func() {
		pkg.srv, pkg.err = Start(Config{Databases: databases})
		pkg.free = make(chan int, databases)
		for i := range databases {
			pkg.free <- i
		}
	})
	if pkg.err != nil {
		t.Fatal(pkg.err)
	}
	var idx int
	select {
	case idx = <-pkg.free:
	case <-t.Context().Done():
		t.Fatal("redistest: no free database before the test ended")
	}
	t.Cleanup(func() { pkg.free <- idx })

	db := DB{Server: pkg.srv, Index: idx}
	c := redis.NewClient(db.Options())
	defer c.Close()
	if err := c.FlushDB(context.Background()).Err(); err != nil {
		t.Fatal(fmt.Errorf("redistest: flush db %d: %w", idx, err))
	}
	return db
}

// New lends the test a database (see Lend) and returns a client for it.
func New(t testing.TB) *redis.Client {
	t.Helper()
	return Lend(t).Client(t)
}

// StartServer starts a dedicated redis-server for one test (for tests that
// kill or restart Redis), stopped when the test ends.
func StartServer(t testing.TB, cfg Config) *Server {
	t.Helper()
	s, err := Start(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Stop)
	return s
}

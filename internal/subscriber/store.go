package subscriber

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
)

// Store reads and writes subscriber state in Redis for one mini program.
type Store struct {
	rdb        redis.UniversalClient
	keys       Keys
	sessionTTL time.Duration
}

// New returns a Store; sessions live for sessionTTL.
func New(rdb redis.UniversalClient, appID string, sessionTTL time.Duration) *Store {
	return &Store{rdb: rdb, keys: NewKeys(appID), sessionTTL: sessionTTL}
}

// Binding is a user bound to an openid at login.
type Binding struct {
	UserID  string
	OpenID  string
	UnionID string
	BoundAt time.Time
}

// bind stores the binding and, when the user's openid changed (another
// WeChat account), drops the grants: they belonged to the old openid.
var bind = redis.NewScript(`
local old = redis.call("HGET", KEYS[1], "openid")
if old and old ~= ARGV[1] then
	redis.call("DEL", KEYS[2])
end
redis.call("HSET", KEYS[1], "openid", ARGV[1], "unionid", ARGV[2], "bound_at", ARGV[3])
return old or ""`)

// Bind records that userID is the WeChat user openid, and returns the
// openid it was bound to before ("" if none).
func (s *Store) Bind(ctx context.Context, b Binding) (string, error) {
	if !ValidUserID(b.UserID) {
		return "", ErrInvalidUserID
	}
	old, err := bind.Run(ctx, s.rdb, []string{s.keys.Binding(b.UserID), s.keys.Grants(b.UserID)},
		b.OpenID, b.UnionID, b.BoundAt.UTC().Format(time.RFC3339)).Text()
	if err != nil {
		return "", fmt.Errorf("bind user: %w", err)
	}
	// The reverse index lives in another hash slot: a second command.
	if err := s.rdb.Set(ctx, s.keys.OpenID(b.OpenID), b.UserID, 0).Err(); err != nil {
		return "", fmt.Errorf("index openid: %w", err)
	}
	return old, nil
}

// Lookup returns the binding of userID; ok is false when the user never logged in.
func (s *Store) Lookup(ctx context.Context, userID string) (b Binding, ok bool, err error) {
	if !ValidUserID(userID) {
		return Binding{}, false, nil
	}
	// Only the binding's fields: the hash also lists the user's
	// notifications (record.Keys.UserList).
	v, err := s.rdb.HMGet(ctx, s.keys.Binding(userID), "openid", "unionid", "bound_at").Result()
	if err != nil {
		return Binding{}, false, fmt.Errorf("read binding: %w", err)
	}
	field := func(i int) string { f, _ := v[i].(string); return f }
	if field(0) == "" {
		return Binding{}, false, nil
	}
	at, _ := time.Parse(time.RFC3339, field(2))
	return Binding{UserID: userID, OpenID: field(0), UnionID: field(1), BoundAt: at}, true, nil
}

// UserOf returns the user bound to openid; ok is false when none is.
func (s *Store) UserOf(ctx context.Context, openid string) (userID string, ok bool, err error) {
	id, err := s.rdb.Get(ctx, s.keys.OpenID(openid)).Result()
	if errors.Is(err, redis.Nil) {
		return "", false, nil
	}
	if err != nil {
		return "", false, fmt.Errorf("read openid index: %w", err)
	}
	return id, true, nil
}

// NewSession starts a login session for userID and returns its bearer
// token (256 random bits) and expiry. Only the token's SHA-256 is stored.
func (s *Store) NewSession(ctx context.Context, userID string) (token string, expires time.Time, err error) {
	raw := make([]byte, 32)
	if _, err := rand.Read(raw); err != nil {
		return "", time.Time{}, fmt.Errorf("session token: %w", err)
	}
	token = base64.RawURLEncoding.EncodeToString(raw)
	expires = time.Now().Add(s.sessionTTL).Truncate(time.Second)
	if err := s.rdb.Set(ctx, s.keys.Session(hash(token)), userID, s.sessionTTL).Err(); err != nil {
		return "", time.Time{}, fmt.Errorf("store session: %w", err)
	}
	return token, expires, nil
}

// SessionUser returns the user of a session token; ok is false for an
// unknown or expired one.
func (s *Store) SessionUser(ctx context.Context, token string) (userID string, ok bool, err error) {
	if len(token) != 43 { // 32 bytes in unpadded base64url; anything else was never issued
		return "", false, nil
	}
	id, err := s.rdb.Get(ctx, s.keys.Session(hash(token))).Result()
	if errors.Is(err, redis.Nil) {
		return "", false, nil
	}
	if err != nil {
		return "", false, fmt.Errorf("read session: %w", err)
	}
	return id, true, nil
}

func hash(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}

// atoi reads a grant count; Redis hash values are decimal strings.
func atoi(s string) int {
	n, _ := strconv.Atoi(s)
	return n
}

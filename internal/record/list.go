package record

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/redis/go-redis/v9"

	"wxnotify/internal/task"
)

// Lookup is Status by the template and dedupe key the order service posted.
func (s *Store) Lookup(ctx context.Context, template, dedupeKey string) (Status, error) {
	return s.LookupOn(ctx, task.ChannelSubscribe, template, dedupeKey)
}

// LookupOn is Lookup for a notification posted on channel c.
func (s *Store) LookupOn(ctx context.Context, c task.Channel, template, dedupeKey string) (Status, error) {
	return s.Status(ctx, task.IDOn(c, template, dedupeKey))
}

// ErrBadCursor is returned for a cursor UserNotifications did not give.
var ErrBadCursor = errors.New("not a cursor of this listing")

// UserNotifications lists a user's recent notifications, newest first: at
// most limit, after cursor ("" for the newest). next is the cursor of the
// following page, "" when there is none.
func (s *Store) UserNotifications(ctx context.Context, userID, cursor string, limit int) (list []Status, next string, err error) {
	var after listEntry
	if cursor != "" {
		if after, err = parseCursor(cursor); err != nil {
			return nil, "", err
		}
	}
	all, err := s.rdb.HGetAll(ctx, s.keys.UserList(userID)).Result()
	if err != nil {
		return nil, "", fmt.Errorf("list notifications of %s: %w", userID, err)
	}
	var entries []listEntry
	for f, v := range all {
		if e, ok := readListEntry(f, v); ok && (cursor == "" || e.before(after)) {
			entries = append(entries, e)
		}
	}
	slices.SortFunc(entries, func(a, b listEntry) int {
		if a.before(b) {
			return 1
		}
		return -1
	})
	if len(entries) > limit {
		next = entries[limit-1].cursor()
		entries = entries[:limit]
	}
	if len(entries) == 0 {
		return nil, "", nil
	}
	// One GET per record, pipelined: records live in different slots.
	cmds := make([]*redis.StringCmd, len(entries))
	_, err = s.rdb.Pipelined(ctx, func(pipe redis.Pipeliner) error {
		for i, e := range entries {
			cmds[i] = pipe.Get(ctx, s.keys.Record(e.hash))
		}
		return nil
	})
	if err != nil && !errors.Is(err, redis.Nil) {
		return nil, "", fmt.Errorf("read notifications of %s: %w", userID, err)
	}
	for i, cmd := range cmds {
		rec, err := cmd.Result()
		if err != nil {
			continue // past its retention
		}
		st, err := decode(entries[i].hash, rec)
		if err != nil {
			return nil, "", err
		}
		if st.UserID != userID {
			continue // a repeat of another user's notification named this user (Enqueue)
		}
		st.ID = st.Template + "-" + entries[i].hash
		list = append(list, st)
	}
	return list, next, nil
}

// listEntry is one notification in a user's list: its id's hash (hex) and
// when it was accepted (Unix µs).
type listEntry struct {
	hash string
	at   int64
}

// listField is the user-hash field that lists notification id.
func listField(id string) string {
	h := idHash(id)
	if raw, err := hex.DecodeString(h); err == nil {
		return "n:" + string(raw)
	}
	return "n:" + h
}

func readListEntry(field, value string) (listEntry, bool) {
	raw, ok := strings.CutPrefix(field, "n:")
	at, err := strconv.ParseInt(value, 10, 64)
	if !ok || err != nil || len(raw) != 16 {
		return listEntry{}, false
	}
	return listEntry{hash: hex.EncodeToString([]byte(raw)), at: at}, true
}

// before orders entries by acceptance time, then hash.
func (e listEntry) before(o listEntry) bool {
	return e.at < o.at || e.at == o.at && e.hash < o.hash
}

func (e listEntry) cursor() string { return strconv.FormatInt(e.at, 10) + "." + e.hash }

func parseCursor(c string) (listEntry, error) {
	at, h, ok := strings.Cut(c, ".")
	n, err := strconv.ParseInt(at, 10, 64)
	if _, herr := hex.DecodeString(h); !ok || err != nil || n <= 0 || herr != nil || len(h) != 32 {
		return listEntry{}, ErrBadCursor
	}
	return listEntry{hash: h, at: n}, nil
}

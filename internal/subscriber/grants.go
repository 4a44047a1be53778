package subscriber

import (
	"context"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
)

// Choice is what the user answered for one template in wx.requestSubscribeMessage.
type Choice struct {
	TemplateID string
	// LongTerm marks a long-term template: one accept allows repeated sends.
	LongTerm bool
	// Result is "accept", "reject", "ban" or "filter".
	Result string
}

// Choice results as wx.requestSubscribeMessage reports them.
const (
	Accept = "accept"
	Reject = "reject"
	Ban    = "ban"
	Filter = "filter"
)

// Apply records the user's choices and returns their grants afterwards:
// each accept of a one-time template adds one send, an accept of a
// long-term template sets it to 1 (repeated sends), reject and ban set it
// to zero, filter (a duplicate title WeChat dropped) changes nothing.
func (s *Store) Apply(ctx context.Context, userID string, choices []Choice) (map[string]int, error) {
	if !ValidUserID(userID) {
		return nil, ErrInvalidUserID
	}
	key, off := s.keys.Grants(userID), s.keys.Unsubscribed(userID)
	var all *redis.MapStringStringCmd
	// One MULTI on one key: the answer reflects exactly these changes.
	_, err := s.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		for _, c := range choices {
			switch {
			case c.Result == Accept && !c.LongTerm:
				p.HIncrBy(ctx, key, c.TemplateID, 1)
				p.HDel(ctx, off, c.TemplateID)
			case c.Result == Accept:
				p.HSet(ctx, key, c.TemplateID, 1)
				p.HDel(ctx, off, c.TemplateID)
			case c.Result == Reject || c.Result == Ban:
				p.HSet(ctx, key, c.TemplateID, 0)
			}
		}
		all = p.HGetAll(ctx, key)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("apply subscription choices: %w", err)
	}
	return counts(all.Val()), nil
}

// Grants returns the user's remaining sends per template id.
func (s *Store) Grants(ctx context.Context, userID string) (map[string]int, error) {
	if !ValidUserID(userID) {
		return map[string]int{}, nil
	}
	m, err := s.rdb.HGetAll(ctx, s.keys.Grants(userID)).Result()
	if err != nil {
		return nil, fmt.Errorf("read grants: %w", err)
	}
	return counts(m), nil
}

// Unsubscribed returns the templates (by id) the user turned off in
// WeChat's settings, and when.
func (s *Store) Unsubscribed(ctx context.Context, userID string) (map[string]time.Time, error) {
	if !ValidUserID(userID) {
		return map[string]time.Time{}, nil
	}
	m, err := s.rdb.HGetAll(ctx, s.keys.Unsubscribed(userID)).Result()
	if err != nil {
		return nil, fmt.Errorf("read unsubscribed templates: %w", err)
	}
	out := make(map[string]time.Time, len(m))
	for k, v := range m {
		out[k] = time.Unix(int64(atoi(v)), 0).UTC()
	}
	return out, nil
}

func counts(m map[string]string) map[string]int {
	out := make(map[string]int, len(m))
	for k, v := range m {
		out[k] = atoi(v)
	}
	return out
}

// ApplyPush records choices WeChat pushed for the user. With countAccepts
// (GRANT_SOURCE=events) a popup accept adds a grant as a report would;
// without it accepts only lift an earlier unsubscribe. A reject zeroes the
// grant; from the settings page (settings) it also marks the template
// unsubscribed, so that notifications still queued complete as skipped
// "unsubscribed" instead of "no_grant".
func (s *Store) ApplyPush(ctx context.Context, userID string, choices []Choice, countAccepts, settings bool) error {
	if !ValidUserID(userID) {
		return ErrInvalidUserID
	}
	key, off := s.keys.Grants(userID), s.keys.Unsubscribed(userID)
	_, err := s.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		for _, c := range choices {
			switch {
			case c.Result == Accept && countAccepts && !c.LongTerm:
				p.HIncrBy(ctx, key, c.TemplateID, 1)
				p.HDel(ctx, off, c.TemplateID)
			case c.Result == Accept && countAccepts:
				p.HSet(ctx, key, c.TemplateID, 1)
				p.HDel(ctx, off, c.TemplateID)
			case c.Result == Accept:
				p.HDel(ctx, off, c.TemplateID)
			case c.Result == Reject || c.Result == Ban:
				p.HSet(ctx, key, c.TemplateID, 0)
				if settings {
					p.HSet(ctx, off, c.TemplateID, time.Now().Unix())
				}
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("apply pushed choices: %w", err)
	}
	return nil
}

// pushTTL is how long a popup or settings push is remembered. WeChat pushes
// again only a push it got no answer to within 5 s, three times at most:
// its retries come within a minute, and an hour covers them as it covers
// the msgid meeting's (record.msgTTL). A day, as it was, kept every
// subscription's key 24 times as long for nothing: with one accept per
// one-time notification that was about 27 bytes per retained notification
// (192 bytes a key, for 1 of the retention's 7 days).
const pushTTL = time.Hour

// FirstPush reports whether a WeChat push (by its ID) is seen for the first
// time; WeChat retries a push it got no answer to, and a retry must not be
// applied twice. Pushes are remembered for pushTTL.
func (s *Store) FirstPush(ctx context.Context, id string) (bool, error) {
	ok, err := s.rdb.SetNX(ctx, s.keys.Push(id), 1, pushTTL).Result()
	if err != nil {
		return false, fmt.Errorf("remember push: %w", err)
	}
	return ok, nil
}

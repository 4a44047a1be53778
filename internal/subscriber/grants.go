package subscriber

import (
	"context"
	"fmt"

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
	key := s.keys.Grants(userID)
	var all *redis.MapStringStringCmd
	// One MULTI on one key: the answer reflects exactly these changes.
	_, err := s.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		for _, c := range choices {
			switch {
			case c.Result == Accept && !c.LongTerm:
				p.HIncrBy(ctx, key, c.TemplateID, 1)
			case c.Result == Accept:
				p.HSet(ctx, key, c.TemplateID, 1)
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

func counts(m map[string]string) map[string]int {
	out := make(map[string]int, len(m))
	for k, v := range m {
		out[k] = atoi(v)
	}
	return out
}

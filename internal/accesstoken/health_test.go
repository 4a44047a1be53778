package accesstoken_test

import (
	"context"
	"testing"
	"time"

	"wxnotify/internal/accesstoken"
	"wxnotify/internal/sandbox"
)

// The console's view of the token: when it was fetched and how long it has
// left, or WeChat's refusal — and never the token itself.
func TestHealthRecordsFetchAndRefusal(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	t.Run("fetched", func(t *testing.T) {
		t.Parallel()
		b := setup(t, nil)
		rdb := b.db.Client(t)
		before, err := accesstoken.ReadHealth(ctx, rdb, appID)
		if err != nil || before.Cached || !before.FetchedAt.IsZero() {
			t.Fatalf("cold: %+v, %v", before, err)
		}
		if _, err := b.process(t, rdb, accesstoken.Config{}).Get(ctx); err != nil {
			t.Fatal(err)
		}
		h, err := accesstoken.ReadHealth(ctx, rdb, appID)
		if err != nil {
			t.Fatal(err)
		}
		if !h.Cached || h.ExpiresIn <= 0 || time.Since(h.FetchedAt) > time.Minute || h.Lifetime <= 0 || h.Refusal != nil || h.Refusing {
			t.Fatalf("after a fetch: %+v", h)
		}
	})
	t.Run("refused", func(t *testing.T) {
		t.Parallel()
		b := setup(t, func(c *sandbox.Config) { c.Faults.SecretFrozen = true })
		rdb := b.db.Client(t)
		if _, err := b.process(t, rdb, accesstoken.Config{}).Get(ctx); err == nil {
			t.Fatal("a frozen secret gave a token")
		}
		h, err := accesstoken.ReadHealth(ctx, rdb, appID)
		if err != nil {
			t.Fatal(err)
		}
		if h.Cached || !h.Refusing || h.Refusal == nil || h.Refusal.Code == 0 || time.Since(h.RefusedAt) > time.Minute {
			t.Fatalf("after a refusal: %+v", h)
		}
	})
}

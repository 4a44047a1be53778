package record

// SetFeedBound lowers the bound of the feed's in-flight sets, so that a
// test fills one with a few entries.
func (s *Store) SetFeedBound(n int) { s.feedLen = n }

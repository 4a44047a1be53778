package sandbox

// CallCount is how often one endpoint was called and what it answered.
type CallCount struct {
	Calls int `json:"calls"`
	// Outcomes counts answers by errcode ("0" for success) or by fault
	// ("http_500", "hang", "lost_reply", "client_gone").
	Outcomes map[string]int `json:"outcomes"`
}

func (s *Sandbox) count(endpoint, outcome string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.calls[endpoint]
	if c == nil {
		c = &CallCount{Outcomes: make(map[string]int)}
		s.calls[endpoint] = c
	}
	c.Calls++
	c.Outcomes[outcome]++
}

// Calls returns the call counts per endpoint.
func (s *Sandbox) Calls() map[string]CallCount {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[string]CallCount, len(s.calls))
	for e, c := range s.calls {
		cp := CallCount{Calls: c.Calls, Outcomes: make(map[string]int, len(c.Outcomes))}
		for k, v := range c.Outcomes {
			cp.Outcomes[k] = v
		}
		out[e] = cp
	}
	return out
}

// CallsTo returns how often endpoint was called.
func (s *Sandbox) CallsTo(endpoint string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if c := s.calls[endpoint]; c != nil {
		return c.Calls
	}
	return 0
}

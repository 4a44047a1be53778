package wechat

import "testing"

// Every errcode Classify knows has words for the console.
func TestEveryClassifiedErrcodeIsExplained(t *testing.T) {
	t.Parallel()
	tables := []map[int]rule{common}
	for _, table := range byEndpoint {
		tables = append(tables, table)
	}
	for _, table := range tables {
		for code := range table {
			if Explain(code) == "" {
				t.Errorf("errcode %d has no words", code)
			}
		}
	}
	if Explain(45999) == "" || Explain(12345) != "" {
		t.Errorf("an unlisted 45xxx reads %q, an unknown code %q", Explain(45999), Explain(12345))
	}
}

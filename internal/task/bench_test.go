package task_test

import (
	"testing"
	"time"

	"wxnotify/internal/task"
)

func benchPayload() task.Payload {
	return task.Payload{
		Template: "order_arrived", TemplateID: "Zx8qLtOrderArrived0000000000000000000000000", UserID: "shop-user-42",
		DedupeKey: "order-TX20261124001", Page: "pages/order/detail?id=TX20261124001",
		Data: map[string]string{"thing1": "牛肉面 x2", "character_string2": "TX20261124001", "time3": "2026年11月24日 15:01",
			"thing4": "3号楼前台", "thing5": "请凭取件码取件"},
		CreatedAt: time.Date(2026, 11, 24, 7, 1, 0, 0, time.UTC),
	}
}

func BenchmarkPayloadEncode(b *testing.B) {
	p := benchPayload()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := p.Encode(); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkPayloadDecode(b *testing.B) {
	raw, _ := benchPayload().Encode()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := task.Decode(raw); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkID(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		_ = task.ID("order_arrived", "order-TX20261124001")
	}
}

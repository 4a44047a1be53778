package webhook_test

import (
	"testing"

	"wxnotify/internal/redistest"
)

func TestMain(m *testing.M) { redistest.Main(m) }

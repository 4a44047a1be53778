package delivery

import (
	"testing"

	"wxnotify/internal/redistest"
)

func TestMain(m *testing.M) { redistest.Main(m) }

const tmpl = "Zx8qLtOrderArrived0000000000000000000000000"

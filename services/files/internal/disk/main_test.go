package disk_test

import (
	"testing"

	"github.com/cofferhq/coffer/pkg/pgtest"
)

// The upload benchmark runs the real Service, whose metadata lives in PostgreSQL.
func TestMain(m *testing.M) { pgtest.Main(m) }

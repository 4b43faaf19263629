package auth_test

import (
	"testing"

	"github.com/cofferhq/coffer/pkg/pgtest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

package auditpg

import (
	"context"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"
)

// Bad arguments are refused with the usage before any database is opened.
func TestCommandRefusesBadArgumentsWithoutConnecting(t *testing.T) {
	connect := func(context.Context) (*pgxpool.Pool, error) {
		t.Fatal("connect called for bad arguments")
		return nil, errors.New("unreachable")
	}
	for _, args := range [][]string{nil, {"drop"}, {"verify", "extra"}, {"export", "--nope"}, {"export", "stray"}} {
		err := Command(context.Background(), "coffer-test", "t_audit", args, connect, io.Discard)
		if err == nil || !strings.Contains(err.Error(), "coffer-test audit verify") {
			t.Errorf("%q: got %v, want the usage", args, err)
		}
	}
	err := Command(context.Background(), "coffer-test", "t_audit", []string{"export", "--since", "yesterday"}, connect, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "--since") {
		t.Errorf("bad --since: got %v", err)
	}
	if u := Usage("coffer-files"); !strings.Contains(u, "\n"+strings.Repeat(" ", 32)+"print records") {
		t.Errorf("usage not aligned:\n%s", u)
	}
}

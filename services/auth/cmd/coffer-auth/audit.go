package main

import (
	"context"
	"io"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/cofferhq/coffer/pkg/auditlog/auditpg"
)

// auditTable is the auth service's audit log (migration 0017).
const auditTable = "auth_audit_log"

func auditStore(pool *pgxpool.Pool) *auditpg.Store {
	s, err := auditpg.New(pool, auditTable)
	if err != nil {
		panic(err) // a constant table name: unreachable
	}
	return s
}

// auditCmd is "coffer-auth audit verify|export" (pkg/auditlog/auditpg.Command).
func auditCmd(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	return auditpg.Command(ctx, "coffer-auth", auditTable, args, func(ctx context.Context) (*pgxpool.Pool, error) {
		_, pool, err := adminDB(ctx, getenv, false)
		return pool, err
	}, stdout)
}

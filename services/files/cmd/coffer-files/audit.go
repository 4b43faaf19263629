package main

import (
	"context"
	"fmt"
	"io"
	"os"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/cofferhq/coffer/pkg/auditlog/auditpg"
)

// auditTable is the file service's audit log (migration 0011).
const auditTable = "file_audit_log"

func auditStore(pool *pgxpool.Pool) *auditpg.Store {
	s, err := auditpg.New(pool, auditTable)
	if err != nil {
		panic(err) // a constant table name: unreachable
	}
	return s
}

// auditCmd is "coffer-files audit verify|export" (pkg/auditlog/auditpg.Command).
func auditCmd(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	return auditpg.Command(ctx, "coffer-files", auditTable, args, func(ctx context.Context) (*pgxpool.Pool, error) {
		cfg, err := loadConfig(getenv, os.ReadFile)
		if err != nil {
			return nil, fmt.Errorf("configuration:\n%w", err)
		}
		pool, err := pgxpool.New(ctx, cfg.DirectURL)
		if err != nil {
			return nil, fmt.Errorf("database: %w", err)
		}
		return pool, nil
	}, stdout)
}

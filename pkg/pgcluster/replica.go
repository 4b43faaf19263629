package pgcluster

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
)

// StartReplica clones the cluster with pg_basebackup (-R -X stream) and starts the clone as a
// hot-standby streaming replica on a socket folder of its own. Stop it before the primary.
//
// The replica replays what the primary writes within milliseconds; tests make it lag on
// demand with SELECT pg_wal_replay_pause() (and pg_wal_replay_resume()) on the replica.
func (c *Cluster) StartReplica(ctx context.Context) (*Cluster, error) {
	r := &Cluster{bin: c.bin, durable: c.durable, settings: c.settings, runAs: c.runAs, ownsData: true}
	var err error
	if r.socketDir, err = r.makeDir(""); err != nil {
		return nil, err
	}
	tmp, err := r.makeDir("")
	if err != nil {
		os.RemoveAll(r.socketDir)
		return nil, err
	}
	r.dataDir = filepath.Join(tmp, "data")
	// -R writes standby.signal and a primary_conninfo naming the primary's socket folder.
	if err := r.command(ctx, "pg_basebackup", "-h", c.socketDir, "-U", "postgres", "-D", r.dataDir, "-R", "-X", "stream", "-c", "fast"); err != nil {
		r.cleanup()
		return nil, fmt.Errorf("pgcluster: pg_basebackup: %w", err)
	}
	if err := r.StartServer(ctx); err != nil {
		r.cleanup()
		return nil, err
	}
	return r, nil
}

//go:build !unix

package main

import "os"

// lockFile does nothing where flock does not exist: concurrent coffer processes there may
// each spend the refresh token, which ends the session (log in again).
func lockFile(*os.File) error { return nil }

func unlockFile(*os.File) error { return nil }

package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/cofferhq/coffer/pkg/client"
)

// Defaults match `make run`.
const (
	defaultFilesURL = "http://localhost:8082"
	defaultAuthURL  = "http://localhost:8081"
)

// session is what `coffer login` stores, in credentials.json (mode 0600) under the config
// folder: the servers, who is logged in and the tokens.
type session struct {
	FilesURL     string    `json:"server"`
	AuthURL      string    `json:"auth_server"`
	Username     string    `json:"username,omitempty"`
	ClientID     string    `json:"client_id,omitempty"`
	ClientSecret string    `json:"client_secret,omitempty"`
	AccessToken  string    `json:"access_token"`
	RefreshToken string    `json:"refresh_token,omitempty"`
	Scope        string    `json:"scope,omitempty"`
	Expiry       time.Time `json:"expiry,omitzero"`
}

func (s session) token() client.Token {
	return client.Token{AccessToken: s.AccessToken, TokenType: "Bearer", RefreshToken: s.RefreshToken, Scope: s.Scope, Expiry: s.Expiry}
}

func (s *session) setToken(t client.Token) {
	s.AccessToken, s.RefreshToken, s.Scope, s.Expiry = t.AccessToken, t.RefreshToken, t.Scope, t.Expiry
}

// configDir is COFFER_CONFIG_DIR, or coffer under the user's config folder
// (os.UserConfigDir: $XDG_CONFIG_HOME or ~/.config on Linux).
func (a *app) configDir() (string, error) {
	if d := a.getenv("COFFER_CONFIG_DIR"); d != "" {
		return d, nil
	}
	d, err := os.UserConfigDir()
	if err != nil {
		return "", fmt.Errorf("no config folder: %w (set COFFER_CONFIG_DIR)", err)
	}
	return filepath.Join(d, "coffer"), nil
}

func (a *app) configFile(name string) (string, error) {
	d, err := a.configDir()
	if err != nil {
		return "", err
	}
	return filepath.Join(d, name), nil
}

// loadSession reads the stored session; a missing file is an empty session.
func (a *app) loadSession() (session, error) {
	var s session
	err := a.readJSON("credentials.json", &s)
	return s, err
}

func (a *app) saveSession(s session) error { return a.writeJSON("credentials.json", s) }

func (a *app) readJSON(name string, v any) error {
	p, err := a.configFile(name)
	if err != nil {
		return err
	}
	b, err := os.ReadFile(p)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("%s is damaged: %w", p, err)
	}
	return nil
}

// writeJSON replaces a config file atomically, readable by its owner only.
func (a *app) writeJSON(name string, v any) error {
	p, err := a.configFile(name)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
		return err
	}
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	f, err := os.CreateTemp(filepath.Dir(p), "."+name+".*")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	if err := f.Chmod(0o600); err != nil {
		f.Close()
		return err
	}
	if _, err := f.Write(append(b, '\n')); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(f.Name(), p)
}

// transfers remembers unfinished transfers between runs, in transfers.json.
type transfers struct {
	// Uploads maps "absolute path|size|mtime" to the tus upload URL.
	Uploads map[string]string `json:"uploads,omitempty"`
	// Downloads maps the absolute path of a partial download to the ETag of its bytes.
	Downloads map[string]string `json:"downloads,omitempty"`
	// Hashes maps an upload's key (as Uploads) to the SHA-256 state of the bytes the
	// service acknowledged, so a resume does not read them again.
	Hashes map[string]hashCheckpoint `json:"hashes,omitempty"`
}

// hashCheckpoint is a SHA-256 state (encoding.BinaryMarshaler form) after Offset bytes.
type hashCheckpoint struct {
	Offset int64  `json:"offset"`
	State  []byte `json:"state"`
}

// updateTransfers applies fn to the stored transfers. Failures to remember only cost a
// later resume, so they are not fatal.
func (a *app) updateTransfers(fn func(*transfers)) {
	var t transfers
	_ = a.readJSON("transfers.json", &t)
	if t.Uploads == nil {
		t.Uploads = map[string]string{}
	}
	if t.Downloads == nil {
		t.Downloads = map[string]string{}
	}
	if t.Hashes == nil {
		t.Hashes = map[string]hashCheckpoint{}
	}
	fn(&t)
	if err := a.writeJSON("transfers.json", t); err != nil {
		fprintf(a.stderr, "coffer: cannot remember the transfer for resuming: %v\n", err)
	}
}

func (a *app) loadTransfers() transfers {
	var t transfers
	_ = a.readJSON("transfers.json", &t)
	return t
}

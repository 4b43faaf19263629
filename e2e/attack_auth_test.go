package e2e_test

import (
	"context"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// Section G of SECURITY.md: abuse of the auth service.

// TestAttackLoginEnumeration: an unknown user and a wrong password get the same status,
// headers that matter and body; the timing of each is logged (never asserted) to show the
// dummy hash does its work.
func TestAttackLoginEnumeration(t *testing.T) {
	s := startStack(t, stackOptions{})
	c := s.client()
	c.signUp("alice")
	login := func(u, pw string) (response, time.Duration) {
		start := time.Now()
		r := c.postJSON(c.auth+"/v1/login", map[string]string{"username": u, "password": pw})
		return r, time.Since(start)
	}
	var tUnknown, tWrong []time.Duration
	for i := range 5 {
		unknown, d1 := login("nobody-"+strconv.Itoa(i), "pw-alice-long-enough")
		wrong, d2 := login("alice", "wrong-password-"+strconv.Itoa(i))
		tUnknown, tWrong = append(tUnknown, d1), append(tWrong, d2)
		if unknown.Status != http.StatusUnauthorized || unknown.Status != wrong.Status {
			t.Fatalf("unknown user %d, wrong password %d; want both 401", unknown.Status, wrong.Status)
		}
		if string(unknown.Body) != string(wrong.Body) {
			t.Fatalf("bodies differ:\n%s\n%s", unknown.Body, wrong.Body)
		}
		for _, h := range []string{"Content-Type", "Content-Length", "WWW-Authenticate", "Retry-After", "Cache-Control"} {
			if unknown.Header.Get(h) != wrong.Header.Get(h) {
				t.Fatalf("header %s: unknown %q, wrong %q", h, unknown.Header.Get(h), wrong.Header.Get(h))
			}
		}
	}
	// Different case of a real username is the same user, not an oracle.
	if r, _ := login("ALICE", "wrong"); r.Status != http.StatusUnauthorized {
		t.Fatalf("ALICE/wrong: %d", r.Status)
	}
	slices.Sort(tUnknown)
	slices.Sort(tWrong)
	t.Logf("login median: unknown user %v, wrong password %v (5 each)", tUnknown[2], tWrong[2])
}

// TestAttackPasswordStorage: passwords are stored as argon2id of at least m=19 MiB, t=2, p=1,
// with a unique salt; a 1 MB password is refused without being hashed; none of it reaches
// the body or the logs.
func TestAttackPasswordStorage(t *testing.T) {
	s := startStack(t, stackOptions{})
	c := s.client()
	c.signUp("alice")
	c.signUp("bob")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, s.authDB)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	rows, _ := conn.Query(ctx, "SELECT password_hash FROM users ORDER BY username")
	hashes, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil || len(hashes) != 2 {
		t.Fatalf("hashes %v, %v", hashes, err)
	}
	re := regexp.MustCompile(`^\$argon2id\$v=19\$m=(\d+),t=(\d+),p=(\d+)\$([A-Za-z0-9+/]+)\$([A-Za-z0-9+/]+)$`)
	var salts []string
	for _, h := range hashes {
		m := re.FindStringSubmatch(h)
		if m == nil {
			t.Fatalf("password hash %q is not PHC argon2id", h)
		}
		mem, _ := strconv.Atoi(m[1])
		tm, _ := strconv.Atoi(m[2])
		p, _ := strconv.Atoi(m[3])
		if mem < 19*1024 || tm < 2 || p < 1 {
			t.Fatalf("argon2id m=%d t=%d p=%d, want at least m=19456 t=2 p=1", mem, tm, p)
		}
		if strings.Contains(h, "pw-") {
			t.Fatal("password stored in clear")
		}
		salts = append(salts, m[4])
	}
	if salts[0] == salts[1] {
		t.Fatal("two users share a salt")
	}

	huge := strings.Repeat("p", 1<<20)
	for _, path := range []string{"/v1/login", "/v1/users"} {
		r := c.postJSON(c.auth+path, map[string]string{"username": "mallory", "password": huge})
		if r.Status < 400 || r.Status >= 500 {
			t.Fatalf("1 MB password on %s: %d, want 4xx", path, r.Status)
		}
		if strings.Contains(string(r.Body), "pppppppp") {
			t.Fatalf("%s echoes the password", path)
		}
	}
	if strings.Contains(s.Auth.Logs(), "pppppppp") || strings.Contains(s.Auth.Logs(), "pw-alice") {
		t.Fatal("auth logs hold a password")
	}
}

// TestAttackLoginStorm: a flood of concurrent logins against an auth service with one
// password-hashing slot. Those that cannot get a slot in time are refused with 503 busy and
// Retry-After instead of queueing argon2 work (19 MiB each) without bound; every other answer
// is an ordinary 401; the process's peak memory stays far below one hash per request; and a
// normal login succeeds once the storm is over.
func TestAttackLoginStorm(t *testing.T) {
	s := startStack(t, stackOptions{AuthEnv: map[string]string{
		"COFFER_AUTH_HASH_CONCURRENCY": "1",
		// Throttling is proved elsewhere: here only the hashing bound may refuse.
		"COFFER_AUTH_LOGIN_PAIR_ATTEMPTS": "100000", "COFFER_AUTH_LOGIN_ACCOUNT_ATTEMPTS": "100000",
		"COFFER_AUTH_LOGIN_ADDRESS_ATTEMPTS": "100000",
	}})
	c := s.client()
	c.signUp("alice")
	pid := s.Auth.Pid()
	rssBefore := procStatusKB(t, pid, "VmRSS")

	const storm = 200
	statuses := make([]int, storm)
	var wg sync.WaitGroup
	for i := range storm {
		wg.Go(func() {
			// Half wrong passwords of a real user, half unknown users (the dummy hash).
			user := "alice"
			if i%2 == 1 {
				user = "nobody-" + strconv.Itoa(i)
			}
			r := c.postJSON(c.auth+"/v1/login", map[string]string{"username": user, "password": "wrong-password-" + strconv.Itoa(i)})
			statuses[i] = r.Status
			switch r.Status {
			case http.StatusServiceUnavailable:
				if r.Header.Get("Retry-After") == "" || r.problemCode(t) != "busy" {
					t.Errorf("503 without Retry-After or code busy: %v %s", r.Header, r.Body)
				}
			case http.StatusUnauthorized:
				if r.problemCode(t) != "invalid_credentials" {
					t.Errorf("401 body %s", r.Body)
				}
			default:
				t.Errorf("storm login: %d %s", r.Status, r.Body)
			}
		})
	}
	wg.Wait()
	busy := 0
	for _, st := range statuses {
		if st == http.StatusServiceUnavailable {
			busy++
		}
	}
	peak := procStatusKB(t, pid, "VmHWM")
	t.Logf("%d concurrent logins: %d refused busy; auth VmRSS %d KiB before, peak %d KiB", storm, busy, rssBefore, peak)
	if busy == 0 {
		t.Fatalf("none of %d concurrent logins on one hashing slot was refused as busy", storm)
	}
	// Unbounded, the storm would hash up to 200 × 19 MiB at once. With one slot the peak
	// allows a few hashes' worth of garbage (26 MiB measured), never a fortieth of that.
	if grew := peak - rssBefore; grew > 96<<10 {
		t.Fatalf("auth peak memory grew by %d KiB during the storm, want at most 96 MiB", grew)
	}
	select {
	case <-s.Auth.Done():
		t.Fatalf("auth exited during the storm:\n%s", s.Auth.Logs())
	default:
	}
	c.login("alice", "pw-alice-long-enough")
}

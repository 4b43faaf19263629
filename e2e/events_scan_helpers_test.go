package e2e_test

import (
	"bufio"
	"crypto/md5"
	"encoding/hex"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// eicar is the standard antivirus test file (68 bytes), harmless by design.
const eicar = `X5O!P%@AP[4\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*`

// clamd is a real ClamAV daemon (Debian's clamav-daemon) on a unix socket in a folder of the
// test's own, with a signature database the test writes: one MD5 hash signature for the
// EICAR file (signature downloads are impossible here). Stop and Start let a test take it away.
type clamd struct {
	t    testing.TB
	dir  string
	Sock string
	cmd  *exec.Cmd
	done chan struct{}
	logs strings.Builder
}

func startClamd(t testing.TB) *clamd {
	t.Helper()
	bin, err := exec.LookPath("clamd")
	if err != nil {
		bin = "/usr/sbin/clamd"
	}
	if _, err := os.Stat(bin); err != nil {
		t.Fatalf("clamd (Debian's clamav-daemon) is required for this test: %v", err)
	}
	// A short folder: a unix socket path is limited to about 100 bytes.
	dir, err := os.MkdirTemp("", "clamd-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	db := filepath.Join(dir, "db")
	if err := os.MkdirAll(filepath.Join(dir, "tmp"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(db, 0o755); err != nil {
		t.Fatal(err)
	}
	sum := md5.Sum([]byte(eicar))
	sig := fmt.Sprintf("%s:%d:Coffer.Test.EICAR\n", hex.EncodeToString(sum[:]), len(eicar))
	if err := os.WriteFile(filepath.Join(db, "coffer.hdb"), []byte(sig), 0o644); err != nil {
		t.Fatal(err)
	}
	c := &clamd{t: t, dir: dir, Sock: filepath.Join(dir, "clamd.sock")}
	conf := strings.Join([]string{
		"DatabaseDirectory " + db,
		"LocalSocket " + c.Sock,
		"TemporaryDirectory " + filepath.Join(dir, "tmp"),
		"Foreground yes",
		"User root",
		"LogFile " + filepath.Join(dir, "clamd.log"),
	}, "\n") + "\n"
	if err := os.WriteFile(filepath.Join(dir, "clamd.conf"), []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	c.cmd = exec.Command(bin, "--config-file="+filepath.Join(dir, "clamd.conf"))
	c.Start()
	t.Cleanup(c.Stop)
	return c
}

// Start runs clamd and waits until it answers PING.
func (c *clamd) Start() {
	c.t.Helper()
	cmd := exec.Command(c.cmd.Path, c.cmd.Args[1:]...)
	cmd.Stdout, cmd.Stderr = &c.logs, &c.logs
	if err := cmd.Start(); err != nil {
		c.t.Fatalf("start clamd: %v", err)
	}
	c.cmd = cmd
	c.done = make(chan struct{})
	go func() { cmd.Wait(); close(c.done) }()
	deadline := time.Now().Add(90 * time.Second)
	for !c.ping() {
		select {
		case <-c.done:
			log, _ := os.ReadFile(filepath.Join(c.dir, "clamd.log"))
			c.t.Fatalf("clamd exited: %s\n%s", c.logs.String(), log)
		default:
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("clamd not ready in 90s: %s", c.logs.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// Stop stops clamd (SIGTERM, then SIGKILL) and waits for it to exit.
func (c *clamd) Stop() {
	if c.cmd == nil || c.cmd.Process == nil {
		return
	}
	select {
	case <-c.done:
		return
	default:
	}
	c.cmd.Process.Signal(os.Interrupt)
	select {
	case <-c.done:
	case <-time.After(10 * time.Second):
		c.cmd.Process.Kill()
		<-c.done
	}
	os.Remove(c.Sock)
}

func (c *clamd) ping() bool {
	conn, err := net.DialTimeout("unix", c.Sock, time.Second)
	if err != nil {
		return false
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(2 * time.Second))
	if _, err := conn.Write([]byte("zPING\x00")); err != nil {
		return false
	}
	reply, _ := bufio.NewReader(conn).ReadString(0)
	return strings.TrimRight(reply, "\x00") == "PONG"
}

// tusEventsJS runs e2e/node/tus-events.mjs (tus-js-client) and returns its report.
type tusEventsResult struct {
	Status     string `json:"status"`
	URL        string `json:"url"`
	FileID     string `json:"fileId"`
	HTTPStatus int    `json:"httpStatus"`
	Body       string `json:"body"`
	Requests   int    `json:"requests"`
}

func tusEventsJS(t testing.TB, endpoint, token, name string, data []byte) tusEventsResult {
	t.Helper()
	file := filepath.Join(t.TempDir(), "upload.bin")
	if err := os.WriteFile(file, data, 0o600); err != nil {
		t.Fatal(err)
	}
	var res tusEventsResult
	runTusNode(t, 2*time.Minute, "tus-events.mjs", []string{"--endpoint", endpoint, "--token", token, "--file", file, "--name", name}, &res)
	return res
}

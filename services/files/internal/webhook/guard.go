package webhook

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"syscall"
	"time"

	"github.com/cofferhq/coffer/services/files/internal/files"
)

// Guard decides which addresses outgoing requests (webhooks, the pre-create hook) may reach.
// It refuses loopback, link-local (where cloud metadata services live), unspecified, multicast
// and the known metadata addresses, unless AllowLocal is set (tests, or an operator whose
// receivers run beside Coffer). It checks at connect time, on the address actually dialled,
// so a name that resolves differently later (DNS rebinding) gains nothing.
type Guard struct {
	AllowLocal bool
}

// metadata addresses outside the link-local ranges.
var metadataAddrs = []netip.Addr{
	netip.MustParseAddr("fd00:ec2::254"),   // AWS IMDS over IPv6
	netip.MustParseAddr("100.100.100.200"), // Alibaba Cloud
}

// Allowed reports whether the guard lets a connection reach ip.
func (g Guard) Allowed(ip netip.Addr) bool {
	if g.AllowLocal {
		return true
	}
	ip = ip.Unmap()
	switch {
	case !ip.IsValid(), ip.IsLoopback(), ip.IsLinkLocalUnicast(), ip.IsLinkLocalMulticast(),
		ip.IsInterfaceLocalMulticast(), ip.IsMulticast(), ip.IsUnspecified():
		return false
	}
	for _, m := range metadataAddrs {
		if ip == m {
			return false
		}
	}
	return true
}

// CheckURL refuses a URL that is not http(s) or whose host resolves to a refused address.
func (g Guard) CheckURL(ctx context.Context, raw string) error {
	u, err := parseHTTPURL(raw)
	if err != nil {
		return err
	}
	if g.AllowLocal {
		return nil
	}
	host := u.Hostname()
	if ip, err := netip.ParseAddr(host); err == nil {
		if !g.Allowed(ip) {
			return files.Invalid("url leads to a refused address (loopback, link-local or metadata)")
		}
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	addrs, err := net.DefaultResolver.LookupNetIP(ctx, "ip", host)
	if err != nil {
		return files.Invalid("url host %q does not resolve", host)
	}
	for _, ip := range addrs {
		if !g.Allowed(ip) {
			return files.Invalid("url leads to a refused address (loopback, link-local or metadata)")
		}
	}
	return nil
}

// Client returns an HTTP client whose connections the guard checks, which uses no proxy,
// follows no redirect (a 3xx is the answer, and not a success) and gives up after timeout.
func (g Guard) Client(timeout time.Duration) *http.Client {
	d := &net.Dialer{Timeout: timeout, Control: func(network, address string, _ syscall.RawConn) error {
		ap, err := netip.ParseAddrPort(address)
		if err != nil {
			return fmt.Errorf("%w: %s", ErrRefusedAddress, address)
		}
		if !g.Allowed(ap.Addr()) {
			return fmt.Errorf("%w: %s", ErrRefusedAddress, ap.Addr())
		}
		return nil
	}}
	return &http.Client{
		Timeout: timeout,
		Transport: &http.Transport{
			Proxy:                 nil,
			DialContext:           d.DialContext,
			ForceAttemptHTTP2:     true,
			MaxIdleConnsPerHost:   8,
			IdleConnTimeout:       90 * time.Second,
			TLSHandshakeTimeout:   timeout,
			ResponseHeaderTimeout: timeout,
		},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

package page

import (
	"net/netip"
	"sync"
	"time"
)

// The server runs conndiag check toward a URL a visitor typed: a service
// to anyone who can open the page, so it is bounded. Only ws:// and wss://
// URLs (ParseWS); one check at a time and one every CheckEvery for each
// address (Limiter); and never toward a network the visitor is not on
// (CheckAllowed), so the page cannot be used to look into the server's own
// private networks.

// scope orders address kinds from the most to the least reachable: a
// browser may have the server check addresses of its own scope and wider.
func scope(a netip.Addr) int {
	a = a.Unmap()
	switch {
	case a.IsLoopback():
		return 0
	case a.IsLinkLocalUnicast() || a.IsUnspecified() || a.IsMulticast() || a.IsInterfaceLocalMulticast():
		return -1 // never: link-local holds cloud metadata services
	case a.IsPrivate() || a.Is4() && netip.MustParsePrefix("100.64.0.0/10").Contains(a):
		return 1
	}
	return 2
}

// CheckAllowed reports whether the server may check addrs for a browser at
// client, and the first address it may not: a browser on this machine may
// have anything but link-local checked, one on a private network private
// and public addresses, one from the internet public addresses only.
func CheckAllowed(client netip.Addr, addrs []netip.Addr) (netip.Addr, bool) {
	c := scope(client)
	for _, a := range addrs {
		s := scope(a)
		if s < 0 || c < 0 || s < c {
			return a, false
		}
	}
	return netip.Addr{}, len(addrs) > 0
}

// Limiter bounds the checks: one at a time, and one every Every for each
// client address, remembering at most Max addresses.
type Limiter struct {
	Every time.Duration // default CheckEvery
	Max   int           // default 4096
	Now   func() time.Time

	mu   sync.Mutex
	last map[netip.Addr]time.Time
	busy bool
}

// Begin takes the one check slot for client. It returns the release
// function, or how long client must wait (busy: another check runs).
func (l *Limiter) Begin(client netip.Addr) (release func(), wait time.Duration, busy bool) {
	now := time.Now
	if l.Now != nil {
		now = l.Now
	}
	every := l.Every
	if every <= 0 {
		every = CheckEvery
	}
	max := l.Max
	if max <= 0 {
		max = 4096
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	t := now()
	if last, ok := l.last[client]; ok && t.Sub(last) < every {
		return nil, every - t.Sub(last), false
	}
	if l.busy {
		return nil, 0, true
	}
	if l.last == nil {
		l.last = map[netip.Addr]time.Time{}
	}
	if len(l.last) >= max {
		for a, at := range l.last { // forget what is past its wait, else anything
			if t.Sub(at) >= every || len(l.last) >= max {
				delete(l.last, a)
			}
			if len(l.last) < max/2 {
				break
			}
		}
	}
	l.last[client] = t
	l.busy = true
	return func() {
		l.mu.Lock()
		l.busy = false
		l.mu.Unlock()
	}, 0, false
}

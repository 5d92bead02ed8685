package verdict

import (
	"net/netip"
	"strings"
	"syscall"
	"testing"

	"github.com/conndiag/conndiag/internal/dnsprobe"
	"github.com/conndiag/conndiag/internal/host"
	"github.com/conndiag/conndiag/internal/i18n"
	"github.com/conndiag/conndiag/internal/neterr"
)

func manyAddrs(n int) []netip.Addr {
	var out []netip.Addr
	for i := range n {
		out = append(out, netip.AddrFrom4([4]byte{203, 0, byte(113 + i/250), byte(1 + i%250)}))
	}
	return out
}

func TestListArg(t *testing.T) {
	p := i18n.New("en")
	text := func(v any) string {
		if m, ok := v.(i18n.Msg); ok {
			return p.Text(m)
		}
		return v.(string)
	}
	tests := []struct {
		n    int
		want string
	}{
		{0, ""},
		{1, "203.0.113.1"},
		{maxListed, "203.0.113.1, 203.0.113.2, 203.0.113.3, 203.0.113.4, 203.0.113.5, 203.0.113.6, 203.0.113.7, 203.0.113.8"},
		{maxListed + 1, "203.0.113.1, 203.0.113.2, 203.0.113.3, 203.0.113.4, 203.0.113.5, 203.0.113.6, 203.0.113.7, 203.0.113.8 and 1 more"},
		{400, "203.0.113.1, 203.0.113.2, 203.0.113.3, 203.0.113.4, 203.0.113.5, 203.0.113.6, 203.0.113.7, 203.0.113.8 and 392 more"},
	}
	for _, tt := range tests {
		if got := text(dnsAddrList(manyAddrs(tt.n))); got != tt.want {
			t.Errorf("%d addresses: got %q, want %q", tt.n, got, tt.want)
		}
	}
	var ttl []dnsprobe.Addr
	for _, a := range manyAddrs(20) {
		ttl = append(ttl, dnsprobe.Addr{IP: a, TTL: 60})
	}
	if got := text(dnsTTLList(ttl)); !strings.HasSuffix(got, "203.0.113.8 (TTL 60) and 12 more") {
		t.Errorf("TTL list: %q", got)
	}
}

// A name with 400 addresses: no evidence line lists them all, and the verdict
// says how many were tried.
func TestManyAddressesBounded(t *testing.T) {
	all := manyAddrs(400)
	var tried []AddrEvidence
	for _, a := range all[:MaxTried] {
		tried = append(tried, AddrEvidence{Addr: netip.AddrPortFrom(a, 8282), Connect: conn(neterr.Refused, syscall.ECONNREFUSED), Route: defRoute})
	}
	tests := []struct {
		name string
		ev   Evidence
		want string // in the verdict's evidence
	}{
		{"system answer", nEv("app.test:8282", DNS{Addresses: all}, tried...),
			"app.test has 400 addresses: 16 of them were tried (16 at most per name, taking IPv4 and IPv6 in turn), 384 were not."},
		{"hosts file against DNS", nEv("app.test:8282", DNS{Addresses: all,
			Hosts:  &dnsprobe.HostsEntry{File: "/etc/hosts", Line: 1, Lines: 400, Text: "203.0.113.1 app.test", Addrs: all},
			Server: nAnswer("198.51.100.1:53", "NOERROR", "192.0.2.1")}, tried...),
			"and 392 more"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, fs := Decide(tt.ev)
			text := nTexts(fs[0].Evidence)
			if !strings.Contains(text, tt.want) {
				t.Errorf("want %q in the verdict's evidence:\n%s", tt.want, text)
			}
			for _, f := range fs {
				for _, m := range f.Evidence {
					line := i18n.New("en").Text(m)
					if n := strings.Count(line, "203.0."); n > maxListed+1 {
						t.Errorf("%s: a line lists %d addresses: %.200s…", f.Cause, n, line)
					}
				}
			}
		})
	}
	// Every address tried: nothing to say.
	_, fs := Decide(nEv("app.test:8282", DNS{}, tried...))
	if text := nAllText(fs); strings.Contains(text, "were not") {
		t.Errorf("no address was skipped:\n%s", text)
	}
}

// conndiag's own EMFILE is its own limit, never a finding about the target.
func TestOwnDescriptorLimit(t *testing.T) {
	emfile := conn(neterr.TooManyFiles, syscall.EMFILE)
	emfile.Op = "socket"
	tests := []struct {
		name  string
		lim   *Limit
		errno syscall.Errno
		want  []string
		not   []string
	}{
		{"limit known", &Limit{Soft: 64, Hard: 64, Open: 63}, syscall.EMFILE,
			[]string{"conndiag itself ran out of file descriptors, so 203.0.113.2:8282 could not be tried",
				"Descriptor limit of this process: 64 (hard 64); open now: 63.", "conndiag's own", "ulimit -n 4096", "The hard limit is 64"},
			[]string{"leaked connections"}},
		{"high soft limit", &Limit{Soft: 10000, Hard: host.Unlimited, Open: 10000}, syscall.EMFILE,
			[]string{"ulimit -n 20000", "conndiag's own"}, []string{"The hard limit"}},
		{"limit unreadable", nil, syscall.EMFILE, []string{"conndiag itself", "ulimit -n 4096"}, []string{"Descriptor limit"}},
		{"system table full", nil, syscall.ENFILE, []string{"sysctl fs.file-nr fs.file-max"}, []string{"conndiag itself"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := emfile
			c.Errno = tt.errno
			out, fs := Decide(ev1(AddrEvidence{Addr: server, Connect: c, NoFile: tt.lim}))
			if out != OutcomeLocalError || fs[0].Cause != CauseFDExhausted || fs[0].Confidence != High {
				t.Fatalf("got %s / %s %s", out, fs[0].Cause, fs[0].Confidence)
			}
			text := render(i18n.New("en"), fs)
			for _, w := range tt.want {
				if !strings.Contains(text, w) {
					t.Errorf("want %q in:\n%s", w, text)
				}
			}
			for _, w := range tt.not {
				if strings.Contains(text, w) {
					t.Errorf("%q must not be in:\n%s", w, text)
				}
			}
			for _, lang := range []string{"ar", "zh"} {
				if s := render(i18n.New(lang), fs); strings.Contains(s, "bulk.") {
					t.Errorf("%s: a message ID is missing: %s", lang, s)
				}
			}
		})
	}
}

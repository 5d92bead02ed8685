package verdict

import (
	"fmt"
	"net/netip"
	"time"

	"github.com/conndiag/conndiag/internal/evidence"
	"github.com/conndiag/conndiag/internal/i18n"
)

// Evidence lines that several stages show.

// AddrClass names the special-purpose range of a, or "" for a global address.
func AddrClass(a netip.Addr) string {
	a = a.Unmap()
	switch {
	case a.IsLoopback():
		return "loopback"
	case a.IsLinkLocalUnicast():
		return "link_local"
	case a.Is4() && cgnat.Contains(a):
		return "cgnat"
	case a.Is6() && a.IsPrivate():
		return "ula"
	case a.IsPrivate():
		return "private"
	}
	return ""
}

var cgnat = netip.MustParsePrefix("100.64.0.0/10")

func connectLine(a AddrEvidence) i18n.Msg {
	c := a.Connect
	addr := a.Addr.String()
	switch c.Kind {
	case evidence.OK:
		return i18n.M("ev.connect.ok", "Addr", addr, "Dur", Dur(c.Duration))
	case evidence.Refused:
		if ic := c.ICMP; ic != nil && ic.Origin != 0 {
			// A REJECT rule's ICMP port unreachable is no TCP RST: say what came back.
			return i18n.M("portfamily.ev.connect.refused_icmp", "Addr", addr, "ICMP", icmpName(ic), "From", ic.From.String(), "Dur", Dur(c.Duration))
		}
		return i18n.M("ev.connect.refused", "Addr", addr, "Dur", Dur(c.Duration))
	case evidence.Timeout:
		// The time actually waited (the connect's duration), not the budget:
		// a wait cut short (a failed neighbour lookup, Ctrl-C) says so.
		waited := c.Duration
		if waited <= 0 {
			waited = max(a.Wait, a.Timeout)
		}
		if a.Wait > 0 {
			return i18n.M("ev.connect.timeout_adaptive", "Addr", addr, "SYNs", a.SYNs, "Wait", Dur(waited), "RTT", Dur(a.RTT))
		}
		return i18n.M("ev.connect.timeout", "Addr", addr, "Timeout", Dur(waited))
	}
	errText := ""
	if c.Err != nil {
		errText = c.Err.Error()
	}
	if c.Errno != 0 {
		return i18n.M("ev.connect.errno", "Addr", addr, "Op", c.Op, "Errno", c.Name(), "Text", c.Errno.Error(), "Dur", Dur(c.Duration))
	}
	return i18n.M("ev.connect.error", "Addr", addr, "Err", errText, "Dur", Dur(c.Duration))
}

func otherLines(a AddrEvidence) []i18n.Msg {
	var out []i18n.Msg
	for _, p := range a.Others {
		switch p.Kind {
		case evidence.OK:
			out = append(out, i18n.M("ev.port.open", "Port", p.Port, "Dur", Dur(p.Duration)))
		case evidence.Refused:
			if ic := p.ICMP; ic != nil && ic.Origin != 0 {
				out = append(out, i18n.M("portfamily.ev.port.refused_icmp", "Port", p.Port, "ICMP", icmpName(ic), "From", ic.From.String(), "Dur", Dur(p.Duration)))
				continue
			}
			out = append(out, i18n.M("ev.port.refused", "Port", p.Port, "Dur", Dur(p.Duration)))
		case evidence.Timeout:
			out = append(out, i18n.M("ev.port.silent", "Port", p.Port))
		default:
			out = append(out, i18n.M("ev.port.other", "Port", p.Port, "Kind", string(p.Kind)))
		}
	}
	return out
}

func routeLines(a AddrEvidence) []i18n.Msg {
	dst := a.Addr.Addr().String()
	r := a.Route
	switch {
	case r == nil && a.RouteErr != "":
		return []i18n.Msg{i18n.M("ev.route.error", "Dst", dst, "Err", a.RouteErr)}
	case r == nil:
		return nil
	case r.Type == "none":
		return []i18n.Msg{i18n.M("ev.route.none", "Dst", dst)}
	case r.Type == "local":
		return []i18n.Msg{i18n.M("ev.route.local", "Dst", dst, "Iface", r.Iface)}
	case r.Type != "unicast" && r.Type != "":
		return []i18n.Msg{i18n.M("ev.route.type", "Dst", dst, "Type", r.Type, "Prefix", r.Dst.String())}
	case r.Default:
		return []i18n.Msg{i18n.M("ev.route.default", "Dst", dst, "Gateway", r.Gateway.String(), "Iface", r.Iface)}
	case r.OnLink || !r.Gateway.IsValid():
		return []i18n.Msg{i18n.M("ev.route.onlink", "Dst", dst, "Iface", r.Iface, "Prefix", r.Dst.String())}
	}
	return []i18n.Msg{i18n.M("ev.route.via", "Dst", dst, "Prefix", r.Dst.String(), "Gateway", r.Gateway.String(), "Iface", r.Iface)}
}

// Dur formats a duration for people: "0.4 ms", "212 ms", "3.0 s".
func Dur(d time.Duration) string {
	switch {
	case d <= 0:
		return "0 ms"
	case d < time.Millisecond:
		return fmt.Sprintf("%.2f ms", float64(d)/float64(time.Millisecond))
	case d < 10*time.Millisecond:
		return fmt.Sprintf("%.1f ms", float64(d)/float64(time.Millisecond))
	case d < time.Second:
		return fmt.Sprintf("%d ms", d.Milliseconds())
	}
	return fmt.Sprintf("%.1f s", d.Seconds())
}

// icmpLine shows the ICMP error the kernel kept for the connect.
func icmpLine(a AddrEvidence) i18n.Msg {
	ic := a.Connect.ICMP
	return i18n.M("ev.icmp", "Type", ic.Type, "Code", ic.Code, "Name", ic.Describe(), "From", ic.From.String())
}

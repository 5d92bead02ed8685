package listen

import (
	"encoding/json"
	"net/netip"
)

// Info is the whoami answer: the connection as this endpoint saw it. Its
// JSON form is the convention shared with conndiag check:
//
//	{"conndiag":"listen","version":"…","proto":"websocket","client":"IP:PORT","server":"IP:PORT"}
//
// http adds "headers".
type Info struct {
	Conndiag string            `json:"conndiag"` // always "listen"
	Version  string            `json:"version"`
	Proto    Proto             `json:"proto"`
	Client   string            `json:"client"` // the peer address seen here
	Server   string            `json:"server"` // the local address the connection arrived at
	Headers  map[string]string `json:"headers,omitempty"`
}

// ServerHeader is the value of the Server header of every HTTP response and
// WebSocket handshake response.
func ServerHeader(version string) string { return "conndiag-listen/" + version }

// connInfo is what every session of a connection knows about it.
type connInfo struct {
	ep    *endpoint
	peer  netip.AddrPort
	local netip.AddrPort
	held  int64  // bytes of Config.MaxBuffered its buffers hold
	seen  uint64 // its entry in ep.seen (the check page's join), 0 when none
}

func (c *connInfo) info() Info {
	return Info{Conndiag: "listen", Version: c.ep.version, Proto: c.ep.Proto, Client: c.peer.String(), Server: c.local.String()}
}

// appendWhoami appends the JSON answer for this connection.
func (c *connInfo) appendWhoami(out []byte) []byte {
	b, err := json.Marshal(c.info())
	if err != nil { // a struct of strings always marshals
		panic(err)
	}
	return append(out, b...)
}

package probe

import (
	"bytes"
	"context"
	"net"
	"time"

	"github.com/conndiag/conndiag/internal/evidence"
)

// Message is a text or frame exchange (defined in internal/evidence).
type Message = evidence.Message

// TextMessage sends the line "whoami\n", as the Workerman text protocol
// frames messages, and reads until a line comes back or the deadline. An
// echo server echoes it; a conndiag listen endpoint answers with its whoami
// JSON; a server of another protocol shows itself (HTTP 400, a greeting).
func TextMessage(ctx context.Context, conn net.Conn, deadline time.Time) *Message {
	defer closeOnDone(ctx, conn)()
	rec := record(conn, MaxKeep)
	rec.SetDeadline(deadline)
	if _, err := rec.Write([]byte(WhoamiRequest + "\n")); err == nil {
		readUntil(rec, func(b []byte) bool { return bytes.IndexByte(b, '\n') >= 0 || recognised(b) })
	}
	m := &Message{Exchange: rec.exchange()}
	m.Service = Classify(m.Received, m.Sent)
	if i := bytes.IndexByte(m.Received, '\n'); i >= 0 {
		if w, ok := ParseWhoami(m.Received[:i]); ok {
			m.Whoami = &w
		}
	}
	return m
}

// recognised: the bytes already name a service, so waiting for more tells nothing.
func recognised(b []byte) bool {
	s := Classify(b, nil).Name
	return SpeaksOther(s) || s == SvcTLS
}

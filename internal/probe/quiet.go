package probe

import (
	"context"
	"net"
	"time"
)

// Quiet watches conn until deadline without sending anything, as a plain
// TCP client that only connects would: a server that resets or closes the
// connection at once shows itself (Reply Reset or Closed), one that speaks
// first (SSH, SMTP, a database greeting) shows its first bytes, and
// silence (Reply Silent) is the normal answer. It reads at most MaxKeep
// bytes and stops at the first of them.
func Quiet(ctx context.Context, conn net.Conn, deadline time.Time) Exchange {
	defer closeOnDone(ctx, conn)()
	rec := record(conn, MaxKeep)
	rec.SetDeadline(deadline)
	buf := make([]byte, MaxKeep)
	rec.Read(buf)
	return rec.exchange()
}

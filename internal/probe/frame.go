package probe

import (
	"bytes"
	"context"
	"encoding/binary"
	"net"
	"time"

	"github.com/conndiag/conndiag/internal/evidence"
)

// FrameState is how far a buffer holds a frame (defined in internal/evidence).
type FrameState = evidence.FrameState

// The frame states.
const (
	FrameIncomplete = evidence.FrameIncomplete
	FrameComplete   = evidence.FrameComplete
	FrameInvalid    = evidence.FrameInvalid
)

// EncodeFrame frames payload as the Workerman frame protocol does: a 4-byte
// big-endian length that counts itself, then the payload.
func EncodeFrame(payload []byte) []byte {
	b := make([]byte, 4+len(payload))
	binary.BigEndian.PutUint32(b, uint32(4+len(payload)))
	copy(b[4:], payload)
	return b
}

// ParseFrame reads the first frame of b (see evidence.ParseFrame).
func ParseFrame(b []byte) (payload []byte, total int, st FrameState) { return evidence.ParseFrame(b) }

// FrameMessage sends one frame whose payload is "whoami" and reads until a
// whole frame comes back or the deadline. Bytes that cannot start a frame
// end the wait at the first line break (a text server's answer).
func FrameMessage(ctx context.Context, conn net.Conn, deadline time.Time) *Message {
	defer closeOnDone(ctx, conn)()
	rec := record(conn, MaxKeep)
	rec.SetDeadline(deadline)
	if _, err := rec.Write(EncodeFrame([]byte(WhoamiRequest))); err == nil {
		readUntil(rec, func(b []byte) bool {
			_, _, st := ParseFrame(b)
			return st == FrameComplete || st == FrameInvalid && (bytes.IndexByte(b, '\n') >= 0 || recognised(b))
		})
	}
	m := &Message{Exchange: rec.exchange()}
	m.Service = Classify(m.Received, m.Sent)
	if payload, _, st := ParseFrame(m.Received); st == FrameComplete {
		if w, ok := ParseWhoami(payload); ok {
			m.Whoami = &w
		}
	}
	return m
}

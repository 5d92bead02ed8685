package probe

import (
	"bytes"
	"context"
	"encoding/binary"
	"net"
	"time"
)

// FrameState says how far a Workerman frame has arrived.
type FrameState int

const (
	FrameIncomplete FrameState = iota // fewer bytes than the header announces
	FrameComplete
	FrameInvalid // the header cannot be a frame: shorter than itself, or beyond MaxFrame
)

// EncodeFrame frames payload as the Workerman frame protocol does: a 4-byte
// big-endian length that counts itself, then the payload.
func EncodeFrame(payload []byte) []byte {
	b := make([]byte, 4+len(payload))
	binary.BigEndian.PutUint32(b, uint32(4+len(payload)))
	copy(b[4:], payload)
	return b
}

// ParseFrame reads the first frame of b. total is the frame's whole length
// once the header is in (0 before).
func ParseFrame(b []byte) (payload []byte, total int, st FrameState) {
	if len(b) < 4 {
		return nil, 0, FrameIncomplete
	}
	n := binary.BigEndian.Uint32(b)
	if n < 4 || n > MaxFrame {
		return nil, 0, FrameInvalid
	}
	if uint32(len(b)) < n {
		return nil, int(n), FrameIncomplete
	}
	return b[4:n], int(n), FrameComplete
}

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

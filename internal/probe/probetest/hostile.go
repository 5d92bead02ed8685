package probetest

import (
	"bytes"
	"io"
	"net"
	"time"
)

// Hostile servers: each waits for the client's first bytes (so an HTTP
// client never sees an answer before its request), answers badly, and
// ends when the client goes or the test cleans up.

// EndlessHead is the start of a WebSocket upgrade answer whose last header
// never ends (Endless streams its value).
const EndlessHead = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nX-Long: "

// EndlessHead200 is the same after a 200.
const EndlessHead200 = "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nX-Long: "

// Endless answers with head, then with 'a' bytes without end, as fast as
// the client reads them: a header that never ends.
func Endless(head string) func(net.Conn) {
	return func(c net.Conn) {
		if !firstBytes(c) {
			return
		}
		go io.Copy(io.Discard, c)
		if _, err := io.WriteString(c, head); err != nil {
			return
		}
		chunk := bytes.Repeat([]byte("a"), 32<<10)
		for {
			if _, err := c.Write(chunk); err != nil {
				return
			}
		}
	}
}

// Stall answers with b and then says nothing more, keeping the connection
// open: a server that sent a valid start and stalled.
func Stall(b string) func(net.Conn) {
	return func(c net.Conn) {
		if !firstBytes(c) {
			return
		}
		if _, err := io.WriteString(c, b); err != nil {
			return
		}
		io.Copy(io.Discard, c)
	}
}

// Trickle answers with b one byte every interval, then says nothing more.
func Trickle(b string, every time.Duration) func(net.Conn) {
	return func(c net.Conn) {
		if !firstBytes(c) {
			return
		}
		done := make(chan struct{})
		go func() {
			defer close(done)
			io.Copy(io.Discard, c)
		}()
		t := time.NewTicker(every)
		defer t.Stop()
		for i := 0; i < len(b); i++ {
			if _, err := c.Write([]byte{b[i]}); err != nil {
				return
			}
			select {
			case <-done:
				return
			case <-t.C:
			}
		}
		<-done
	}
}

// firstBytes waits for the client's first bytes (10 s at most).
func firstBytes(c net.Conn) bool {
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	buf := make([]byte, 4096)
	n, _ := c.Read(buf)
	c.SetReadDeadline(time.Time{})
	return n > 0
}

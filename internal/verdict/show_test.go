package verdict

import "testing"

func TestShow(t *testing.T) {
	hello := []byte{0x16, 0x03, 0x01, 0x00, 0x05, 0x01, 0, 0, 0, 0}
	if got := Show(hello, 517, 50); got != "[TLS ClientHello, 517 bytes]" {
		t.Errorf("ClientHello shown as %q", got)
	}
	alert := []byte{0x15, 0x03, 0x03, 0x00, 0x02, 0x02, 40}
	if got := Show(alert, 7, 50); got != "[TLS alert: handshake failure, 7 bytes]" {
		t.Errorf("alert shown as %q", got)
	}
	if got := Show([]byte("HTTP/1.1 200 OK\r\n"), 300, 50); got != `HTTP/1.1 200 OK\r\n (300 bytes)` {
		t.Errorf("truncated capture shown as %q", got)
	}
	if got := Show([]byte("hello"), 5, 50); got != "hello" {
		t.Errorf("whole text shown as %q", got)
	}
}

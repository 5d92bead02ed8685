package listen

import "bytes"

// tcpSession echoes raw bytes. When a connection starts with exactly
// "whoami\n" (or "whoami\r\n"), those bytes get the whoami answer instead,
// then echo goes on.
type tcpSession struct {
	c       *connInfo
	decided bool // the first bytes were looked at
}

var (
	whoamiLF   = []byte("whoami\n")
	whoamiCRLF = []byte("whoami\r\n")
)

func (s *tcpSession) feed(in []byte, out *[]byte) result {
	n := 0
	if !s.decided {
		switch {
		case bytes.HasPrefix(in, whoamiLF):
			n = len(whoamiLF)
		case bytes.HasPrefix(in, whoamiCRLF):
			n = len(whoamiCRLF)
		case bytes.HasPrefix(whoamiLF, in) || bytes.HasPrefix(whoamiCRLF, in):
			return result{} // could still become whoami: wait for more
		}
		s.decided = true
		if n > 0 {
			*out = s.c.appendWhoami(*out)
			*out = append(*out, '\n')
		}
	}
	*out = append(*out, in[n:]...)
	return result{n: len(in)}
}

func (s *tcpSession) ready() bool            { return true }
func (s *tcpSession) busy() bool             { return false }
func (s *tcpSession) goodbye(out *[]byte)    {}
func (s *tcpSession) overloaded(out *[]byte) {}

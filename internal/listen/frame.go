package listen

import "encoding/binary"

// frameSession is the Workerman frame protocol: a 4-byte big-endian length
// that counts itself, then the payload. Each frame is echoed as it came.
type frameSession struct {
	c   *connInfo
	max int // the whole frame, header included
}

func (s *frameSession) feed(in []byte, out *[]byte) result {
	n := 0
	for len(in)-n >= 4 {
		if len(*out) >= outLimit {
			return result{n: n, full: true}
		}
		size := binary.BigEndian.Uint32(in[n:])
		if size < 4 {
			return closeWith(n, reasonFrameTooShort(size))
		}
		if uint64(size) > uint64(s.max) {
			return closeWith(n, reasonFrameTooBig(size, s.max))
		}
		if len(in)-n < int(size) {
			return result{n: n, need: int(size)}
		}
		payload := in[n+4 : n+int(size)]
		n += int(size)
		if string(payload) == "whoami" {
			at := len(*out)
			*out = append(*out, 0, 0, 0, 0)
			*out = s.c.appendWhoami(*out)
			binary.BigEndian.PutUint32((*out)[at:], uint32(len(*out)-at))
		} else {
			*out = binary.BigEndian.AppendUint32(*out, size)
			*out = append(*out, payload...)
		}
	}
	return result{n: n}
}

func (s *frameSession) ready() bool            { return true }
func (s *frameSession) busy() bool             { return false }
func (s *frameSession) goodbye(out *[]byte)    {}
func (s *frameSession) overloaded(out *[]byte) {}

package listen

import "bytes"

// textSession is the Workerman text protocol: each line ending in "\n" is
// one message. A line is echoed without its "\r\n" or "\n", then "\n", as
// Workerman's Text::decode and Text::encode do.
type textSession struct {
	c   *connInfo
	max int // line length without the "\n"
}

func (s *textSession) feed(in []byte, out *[]byte) result {
	n := 0
	for n < len(in) {
		if len(*out) >= outLimit {
			return result{n: n, full: true}
		}
		i := bytes.IndexByte(in[n:], '\n')
		if i < 0 {
			if len(in)-n > s.max {
				return closeWith(n, reasonLineTooLong(s.max))
			}
			return result{n: n}
		}
		if i > s.max {
			return closeWith(n, reasonLineTooLong(s.max))
		}
		line := in[n : n+i]
		n += i + 1
		line = bytes.TrimSuffix(line, []byte{'\r'})
		if string(line) == "whoami" {
			*out = s.c.appendWhoami(*out)
		} else {
			*out = append(*out, line...)
		}
		*out = append(*out, '\n')
	}
	return result{n: n}
}

func (s *textSession) ready() bool            { return true }
func (s *textSession) busy() bool             { return false }
func (s *textSession) goodbye(out *[]byte)    {}
func (s *textSession) overloaded(out *[]byte) {}

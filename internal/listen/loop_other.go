//go:build !linux

package listen

// Without epoll every endpoint uses a goroutine per connection (stream.go).

type loop struct{}

func (s *Server) handToLoops() error { return nil }
func (l *loop) run()                 {}
func (l *loop) wake()                {}
func (l *loop) release()             {}
func closeFD(int)                    {}

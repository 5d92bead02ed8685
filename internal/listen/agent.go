package listen

import (
	"net/http"
	"strings"

	"github.com/conndiag/conndiag/internal/agent"
)

// withAgent hands the agent's paths to Config.Agent and everything else to h.
func (s *Server) withAgent(h http.Handler) http.Handler {
	if s.cfg.Agent == nil {
		return h
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, agent.Prefix) {
			if cc, _ := r.Context().Value(ctxKey{}).(*countConn); cc != nil {
				cc.requests.Add(1)
			}
			s.cfg.Agent.ServeHTTP(w, r)
			return
		}
		h.ServeHTTP(w, r)
	})
}

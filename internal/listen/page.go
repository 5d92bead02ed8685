package listen

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"time"

	"github.com/conndiag/conndiag/internal/host"
	"github.com/conndiag/conndiag/internal/i18n"
	"github.com/conndiag/conndiag/internal/page"
	"github.com/conndiag/conndiag/internal/verdict"
)

// The check page (internal/page) is served by every http endpoint at every
// path but its two POST paths: the JSON info answer stays for
// Accept: application/json and /whoami.

// CheckFunc runs conndiag check toward a URL a visitor of the check page
// typed, from this server. It returns the findings and the addresses it
// tried, which the page holds to page.CheckAllowed once more (a name may
// resolve differently the second time).
type CheckFunc func(ctx context.Context, url string) ([]verdict.Finding, []netip.Addr)

// pageState is what the check page keeps between its requests.
type pageState struct {
	sessions page.Sessions
	limit    page.Limiter
}

func (s *Server) pageEndpoints() []page.Endpoint {
	out := make([]page.Endpoint, len(s.eps))
	for i, ep := range s.eps {
		out[i] = page.Endpoint{URI: ep.label(), Addr: ep.addr, TLS: ep.TLS, WebSocket: ep.Proto == WebSocket,
			HTTP: ep.Proto == HTTP, Plain: ep.Proto == Text || ep.Proto == Frame || ep.Proto == TCP}
	}
	return out
}

func (s *Server) pageTimeout() time.Duration {
	if s.cfg.PageTimeout > 0 {
		return s.cfg.PageTimeout
	}
	return page.Timeout
}

func (s *Server) pageHold() time.Duration {
	switch {
	case s.cfg.PageHold > 0:
		return s.cfg.PageHold
	case s.cfg.PageHold < 0:
		return 0
	}
	return page.Hold
}

// pageLang is the language of a page request: ?lang=, else Accept-Language,
// else the listen's own.
func (s *Server) pageLang(r *http.Request) string {
	if l := r.URL.Query().Get("lang"); page.Known(l) {
		return strings.ToLower(l)
	}
	if al := r.Header.Get("Accept-Language"); al != "" {
		return page.Lang(al)
	}
	if page.Known(s.cfg.Printer.Lang) {
		return s.cfg.Printer.Lang
	}
	return "en"
}

func securityHeaders(h http.Header) {
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Content-Security-Policy", page.CSP)
}

func clientOf(r *http.Request) netip.Addr {
	ap, err := netip.ParseAddrPort(r.RemoteAddr)
	if err != nil {
		return netip.Addr{}
	}
	return ap.Addr().Unmap()
}

func localOf(r *http.Request) netip.AddrPort {
	if la, ok := r.Context().Value(http.LocalAddrContextKey).(net.Addr); ok {
		return addrPortOf(la)
	}
	return netip.AddrPort{}
}

// servePage writes the check page and keeps its session.
func (s *Server) servePage(w http.ResponseWriter, r *http.Request, ep *endpoint, info Info) {
	local := localOf(r)
	hostName := page.PageHost(r.Host)
	if hostName == "" {
		hostName = local.Addr().String()
	}
	sess := &page.Session{ID: page.NewToken(), Created: time.Now(), Client: clientOf(r), Host: hostName,
		Lang: s.pageLang(r), PageTLS: ep.TLS, PagePort: ep.addr.Port()}
	sess.Targets, sess.Skipped = page.Targets(s.pageEndpoints(), hostName, local.Addr(), page.NewToken)
	s.pg.sessions.Add(sess)
	var buf bytes.Buffer
	if err := page.WritePage(&buf, *sess, page.Info{Client: info.Client, Server: info.Server, Headers: info.Headers, Version: s.cfg.Version},
		s.pageTimeout(), s.pageHold()); err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	h := w.Header()
	securityHeaders(h)
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Content-Language", sess.Lang)
	h.Set("Vary", "Accept-Language, Accept")
	_, _ = w.Write(buf.Bytes())
}

// postBody reads the body of one of the page's POSTs: JSON only (a form of
// another site cannot send it without asking first), at most max bytes.
func postBody(w http.ResponseWriter, r *http.Request, max int64) ([]byte, bool) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", "POST")
		http.Error(w, "POST only", http.StatusMethodNotAllowed)
		return nil, false
	}
	if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt != "application/json" {
		http.Error(w, "Content-Type must be application/json", http.StatusUnsupportedMediaType)
		return nil, false
	}
	b, err := io.ReadAll(http.MaxBytesReader(w, r.Body, max))
	if err != nil {
		http.Error(w, "the body is too large", http.StatusRequestEntityTooLarge)
		return nil, false
	}
	return b, true
}

type prepareReq struct {
	Session string `json:"session"`
	URL     string `json:"url"`
}

type prepareResp struct {
	Token   string `json:"token,omitempty"`
	URL     string `json:"url,omitempty"`
	HoldURL string `json:"hold_url,omitempty"`
	Error   string `json:"error,omitempty"`
}

// servePrepare takes a URL the person typed: it gives the page the URL to
// open (with a token when it is an endpoint of this listen) and starts the
// server's own check toward it.
func (s *Server) servePrepare(w http.ResponseWriter, r *http.Request) {
	b, ok := postBody(w, r, 4<<10)
	if !ok {
		return
	}
	var req prepareReq
	d := json.NewDecoder(bytes.NewReader(b))
	d.DisallowUnknownFields()
	answer := func(code int, v prepareResp) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(code)
		_ = json.NewEncoder(w).Encode(v)
	}
	if err := d.Decode(&req); err != nil || !page.ValidToken(req.Session) {
		answer(http.StatusBadRequest, prepareResp{Error: "bad request"})
		return
	}
	sess, ok := s.pg.sessions.Get(req.Session)
	if !ok {
		answer(http.StatusBadRequest, prepareResp{Error: i18n.New(s.pageLang(r)).T("page.too_old")})
		return
	}
	p := i18n.New(sess.Lang)
	u, err := page.ParseWS(strings.TrimSpace(req.URL))
	switch {
	case errors.Is(err, page.ErrScheme):
		answer(http.StatusOK, prepareResp{Error: p.T("page.form.bad_scheme")})
		return
	case err != nil:
		answer(http.StatusOK, prepareResp{Error: p.T("page.form.bad_url", "Err", err.Error())})
		return
	}
	local := localOf(r).Addr()
	own := page.Own(s.pageEndpoints(), u, sess.Host, func(a netip.Addr) bool { return a == local || isLocalAddr(a) })
	t := page.Typed(u, own, page.NewToken(), page.NewToken())
	var run *page.CheckRun
	if own < 0 {
		run = page.NewCheckRun()
	}
	if !s.pg.sessions.AddTyped(sess.ID, t, run) {
		answer(http.StatusOK, prepareResp{Error: p.T("page.form.too_many")})
		return
	}
	if run != nil {
		go s.runCheck(run, sess.Client, u.String(), u.Hostname())
	}
	answer(http.StatusOK, prepareResp{Token: t.Token, URL: t.URL, HoldURL: t.HoldURL})
}

func isLocalAddr(a netip.Addr) bool {
	if a.IsLoopback() {
		return true
	}
	addrs, err := host.LocalAddrs()
	if err != nil {
		return false
	}
	for _, l := range addrs {
		if l.Prefix.Addr().Unmap() == a.Unmap() {
			return true
		}
	}
	return false
}

// checkBound is the longest the server's own check of a typed URL may take.
const checkBound = 20 * time.Second

// runCheck runs the server's check of a typed URL within the limits the
// page states, and records why it did not when it does not.
func (s *Server) runCheck(run *page.CheckRun, client netip.Addr, url, hostName string) {
	defer close(run.Done)
	if s.cfg.Check == nil {
		run.Note = i18n.M("page.check.off")
		return
	}
	release, wait, busy := s.pg.limit.Begin(client)
	switch {
	case busy:
		run.Note = i18n.M("page.check.busy")
		return
	case release == nil:
		run.Note = i18n.M("page.check.rate", "Every", verdict.Dur(page.CheckEvery), "Wait", verdict.Dur(wait.Round(time.Second)))
		return
	}
	defer release()
	ctx, cancel := context.WithTimeout(context.Background(), checkBound)
	defer cancel()
	addrs := []netip.Addr{}
	if a, err := netip.ParseAddr(hostName); err == nil {
		addrs = append(addrs, a.Unmap())
	} else {
		lctx, lcancel := context.WithTimeout(ctx, 3*time.Second)
		as, _ := net.DefaultResolver.LookupNetIP(lctx, "ip", hostName)
		lcancel()
		for _, a := range as {
			addrs = append(addrs, a.Unmap())
		}
	}
	if len(addrs) > 0 {
		if bad, ok := page.CheckAllowed(client, addrs); !ok {
			run.Note = i18n.M("page.check.private", "URL", url, "Addr", bad.String())
			return
		}
	}
	fs, tried := s.cfg.Check(ctx, url)
	if len(tried) > 0 {
		if bad, ok := page.CheckAllowed(client, tried); !ok {
			run.Note = i18n.M("page.check.private", "URL", url, "Addr", bad.String())
			return
		}
	}
	run.Findings = fs
}

// joinWait bounds the wait for a connection that failed in the browser to be
// recorded by its endpoint before the report is judged.
const joinWait = 2 * time.Second

// serveReport joins what the page posts with what the endpoints saw and
// answers with the verdict fragment.
func (s *Server) serveReport(w http.ResponseWriter, r *http.Request) {
	b, ok := postBody(w, r, page.MaxReport)
	if !ok {
		return
	}
	rep, err := page.ParseReport(b)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	sess, ok := s.pg.sessions.Get(rep.Session)
	if !ok {
		http.Error(w, i18n.New(s.pageLang(r)).T("page.too_old"), http.StatusBadRequest)
		return
	}
	// A failure the browser saw can reach it before the server's goroutine
	// has recorded its side (a TLS alert): wait while such a connection is
	// still in progress, at most joinWait (a fixed 100 ms was too short
	// under load, and needless when nothing arrived).
	seen := func(i int) []page.Seen { return s.eps[i].seen.recent() }
	for deadline := time.Now().Add(joinWait); sess.Pending(rep, seen) && time.Now().Before(deadline); {
		select {
		case <-r.Context().Done():
			return
		case <-time.After(10 * time.Millisecond):
		}
	}
	eps := s.pageEndpoints()
	joined := sess.Join(rep, eps, seen, s.pageTimeout())
	var rs []page.Result
	for _, j := range joined {
		run := s.pg.sessions.Check(sess.ID, j.Token)
		var check []verdict.Finding
		if run != nil {
			select {
			case <-run.Done:
			case <-r.Context().Done():
				return
			}
			check = run.Findings
			if len(check) > 0 {
				j.Browser.Check = string(check[0].Cause)
			}
		}
		rs = append(rs, page.Result{Browser: j.Browser, Findings: verdict.DecideBrowser(j.Browser, check), Check: run})
	}
	var buf bytes.Buffer
	if err := page.WriteResult(&buf, sess.Lang, rs, rep.Holding, s.pageHold()); err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	h := w.Header()
	securityHeaders(h)
	h.Set("Content-Type", "text/html; charset=utf-8")
	_, _ = w.Write(buf.Bytes())
}

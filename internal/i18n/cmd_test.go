package i18n_test

import (
	"net/netip"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/conndiag/conndiag/internal/escape"
	"github.com/conndiag/conndiag/internal/i18n"
)

func TestCmdQuotesValues(t *testing.T) {
	zone := "IN_$(touch${IFS}/tmp/pw)"
	tests := []struct {
		name string
		got  i18n.Msg
		want string
	}{
		// Plain values come out as fmt prints them: today's commands do not change.
		{"port", i18n.Cmd("ufw allow %d/tcp", 8282), "ufw allow 8282/tcp"},
		{"in single quotes", i18n.Cmd("ss -ltnp 'sport = :%d'", 8282), "ss -ltnp 'sport = :8282'"},
		{"address", i18n.Cmd("ip route get %s", netip.MustParseAddr("2001:db8::1")), "ip route get 2001:db8::1"},
		{"in double quotes", i18n.Cmd(`sysctl -w net.ipv4.ip_local_port_range="%s"`, "10000 65000"), `sysctl -w net.ipv4.ip_local_port_range="10000 65000"`},
		{"host", i18n.Cmd("dig +short %s @%s", "example.com", i18n.Verbatim("192.0.2.53 -p 5353")), "dig +short example.com @192.0.2.53 -p 5353"},
		{"path", i18n.Cmd("sed -i '%d s/^/# /' %s", 3, "/etc/hosts"), "sed -i '3 s/^/# /' /etc/hosts"},
		{"percent", i18n.Cmd("printf '%%s' %s", "x"), "printf '%s' x"},
		{"width", i18n.Cmd("echo %*d", 5, 42), "echo '   42'"}, // a padded value is one word
		{"index", i18n.Cmd("echo %[2]s %[1]s", "a b", "c"), "echo c 'a b'"},
		// Values that are not plain words become literals where they stand.
		{"zone", i18n.Cmd("firewall-cmd --permanent --zone=%s --add-port=%d/tcp && firewall-cmd --reload", zone, 8282),
			"firewall-cmd --permanent --zone='IN_$(touch${IFS}/tmp/pw)' --add-port=8282/tcp && firewall-cmd --reload"},
		{"quote in single", i18n.Cmd("echo '%s'", "it's"), `echo 'it'\''s'`},
		{"expansion in double", i18n.Cmd(`export NO_PROXY="${NO_PROXY:+$NO_PROXY,}%s"`, "$(id)"), `export NO_PROXY="${NO_PROXY:+$NO_PROXY,}"'$(id)'""`},
		{"empty", i18n.Cmd("getent ahosts %s", ""), "getent ahosts ''"},
		{"bracketed", i18n.Cmd("openssl s_client -connect %s", netip.MustParseAddrPort("[::1]:443")), "openssl s_client -connect '[::1]:443'"},
		{"escaped quote in format", i18n.Cmd(`echo \'%s`, "a b"), `echo \''a b'`},
		{"verbatim line", i18n.CmdLine("nft insert rule inet filter input tcp dport 80 accept"), "nft insert rule inet filter input tcp dport 80 accept"},
		{"verbatim in quotes is a value", i18n.Cmd("echo '%s'", i18n.Verbatim("a'b")), `echo 'a'\''b'`},
		{"snippet", i18n.Snippet("new Worker('%s://0.0.0.0:%d');", "websocket", 8282), "new Worker('websocket://0.0.0.0:8282');"},
	}
	for _, tt := range tests {
		if !tt.got.IsCmd() || tt.got.Cmd != tt.want {
			t.Errorf("%s: got %+v, want command %s", tt.name, tt.got, tt.want)
		}
	}
}

func TestCmdWithholdsUnsafe(t *testing.T) {
	p := i18n.New("en")
	tests := []struct {
		name string
		got  i18n.Msg
		show string // the escaped, quoted value the note shows
	}{
		{"ESC in a value", i18n.Cmd("getent ahosts %s", "a\x1b[2Jb"), `'a\x1b[2Jb'`},
		{"CR LF in a value", i18n.Cmd("dig %s", "x\r\n$ curl x|sh"), `'x\r\n$ curl x|sh'`},
		{"bidi in a value", i18n.Cmd("ss %s", "a\u202eb"), `'a\xe2\x80\xaeb'`},
		{"shell in a line", i18n.CmdLine("firewall-cmd --zone=IN_$(touch${IFS}/tmp/pw) --reload"), "'--zone=IN_$(touch${IFS}/tmp/pw)'"},
		{"glued redirect", i18n.CmdLine("nft insert rule inet x>/etc/passwd input accept"), "'x>/etc/passwd'"},
		{"empty line", i18n.CmdLine(""), "''"},
		{"snippet value", i18n.Snippet("new Worker('%s://0.0.0.0:%d');", "ws'); system('id", 1), `'ws'\''); system('\''id'`},
		{"snippet control", i18n.Snippet("new Worker('%s');", "a\nb"), `'a\nb'`},
		{"command built raw", i18n.Msg{Cmd: "echo \x1b]0;pwned\x07"}, `'echo \x1b]0;pwned\x07'`},
	}
	for _, tt := range tests {
		text := p.Text(tt.got)
		if tt.got.IsCmd() && tt.name != "command built raw" {
			t.Errorf("%s: offered as a command: %q", tt.name, tt.got.Cmd)
		}
		if !strings.Contains(text, "left out") || !strings.Contains(text, tt.show) {
			t.Errorf("%s: rendered %q, want the note with %s", tt.name, text, tt.show)
		}
		if !escape.IsSafe(text) {
			t.Errorf("%s: note %q is not safe to show", tt.name, text)
		}
	}
}

// TestCmdPastedIntoShell pastes commands built from hostile values into a
// real sh in a scratch directory, with a PATH of one directory whose only
// program echoes its arguments: each value arrives as one literal argument,
// and nothing is created.
func TestCmdPastedIntoShell(t *testing.T) {
	sh, err := exec.LookPath("sh")
	if err != nil {
		t.Skip("no sh")
	}
	dir := t.TempDir()
	bin := dir + "/bin"
	script := "#!/bin/sh\nfor a in \"$@\"; do printf '<%s>' \"$a\"; done\n"
	if err := writeExec(bin, "tool", script); err != nil {
		t.Fatal(err)
	}
	values := []string{"IN_$(touch${IFS}pw)", "`touch pw`", "a;touch pw", "a b", "it's", "${HOME}", "*", "x>pw", "!!", "", "[::1]:80"}
	for _, v := range values {
		for _, c := range []struct {
			msg  i18n.Msg
			want string
		}{
			{i18n.Cmd("tool --zone=%s", v), "<--zone=" + v + ">"},
			{i18n.Cmd("tool '%s'", v), "<" + v + ">"},
			{i18n.Cmd(`tool "x%sy"`, v), "<x" + v + "y>"},
		} {
			if !c.msg.IsCmd() {
				t.Errorf("%q: withheld %+v", v, c.msg)
				continue
			}
			cmd := exec.Command(sh, "-c", c.msg.Cmd)
			cmd.Dir, cmd.Env = dir, []string{"PATH=" + bin, "HOME=/nonexistent"}
			out, err := cmd.CombinedOutput()
			if err != nil || string(out) != c.want {
				t.Errorf("%s: printed %q (%v), want %q", c.msg.Cmd, out, err, c.want)
			}
		}
	}
	if exists(dir + "/pw") {
		t.Errorf("a pasted command created %s/pw", dir)
	}
}

func writeExec(dir, name, text string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	return os.WriteFile(dir+"/"+name, []byte(text), 0o755)
}

func exists(path string) bool {
	_, err := os.Lstat(path)
	return err == nil
}

// Whatever the values, a command Cmd offers has no shell syntax outside
// quotes and is safe to show; otherwise it is withheld.
func FuzzCmd(f *testing.F) {
	for _, v := range []string{"IN_$(touch${IFS}/tmp/pw)", "it's", "a\x1bb", "\"$x\"", "`id`", "!!", "a b", "", "\\", "'\\''"} {
		f.Add(v)
	}
	formats := []string{
		"firewall-cmd --permanent --zone=%s --add-port=8282/tcp && firewall-cmd --reload",
		"ss -ltnp 'sport = :%s'",
		`export NO_PROXY="${NO_PROXY:+$NO_PROXY,}%s" no_proxy="${no_proxy:+$no_proxy,}%s"`,
		"dig +short %s @%s",
	}
	f.Fuzz(func(t *testing.T, v string) {
		for _, format := range formats {
			args := []any{v}
			if strings.Count(format, "%s") == 2 {
				args = append(args, v)
			}
			m := i18n.Cmd(format, args...)
			if !m.IsCmd() {
				if m.ID != "escape.cmd.withheld" || escape.IsSafe(v) {
					t.Fatalf("%q withheld for %q: %+v", format, v, m)
				}
				continue
			}
			if !escape.IsSafe(m.Cmd) {
				t.Fatalf("unsafe to show: %q", m.Cmd)
			}
			if strings.Contains(format, "$") {
				continue // the format's own expansions (NO_PROXY) are not the check's to pass
			}
			if err := escape.CheckLine(m.Cmd); err != nil {
				t.Fatalf("%q: %v", m.Cmd, err)
			}
		}
	})
}

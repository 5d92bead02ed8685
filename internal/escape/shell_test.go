package escape

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

func TestQuote(t *testing.T) {
	tests := []struct{ in, want string }{
		{"public", "public"},
		{"203.0.113.2", "203.0.113.2"},
		{"2001:db8::1", "2001:db8::1"},
		{"fe80::1%eth0", "fe80::1%eth0"},
		{"10.0.0.0/8", "10.0.0.0/8"},
		{"8282/tcp", "8282/tcp"},
		{"--zone=public", "--zone=public"},
		{"/etc/sysctl.d/60-conndiag.conf", "/etc/sysctl.d/60-conndiag.conf"},
		{"user@host", "user@host"},
		{"a,b+c", "a,b+c"},
		{"", "''"},
		{"IN_$(touch${IFS}/tmp/pw)", "'IN_$(touch${IFS}/tmp/pw)'"},
		{"`id`", "'`id`'"},
		{"it's", `'it'\''s'`},
		{"'", `''\'''`},
		{"a b", "'a b'"},
		{"x>/etc/passwd", "'x>/etc/passwd'"},
		{"[::1]:80", "'[::1]:80'"}, // a glob pattern otherwise
		{"~root", "'~root'"},
		{"#c", "'#c'"},
		{"a;b", "'a;b'"},
		{"a&b", "'a&b'"},
		{"a|b", "'a|b'"},
		{"!!", "'!!'"},
		{"*", "'*'"},
		{`a\b`, `'a\b'`},
		{"例子", "'例子'"},
	}
	for _, tt := range tests {
		if got := Quote(tt.in); got != tt.want {
			t.Errorf("Quote(%q) = %s, want %s", tt.in, got, tt.want)
		}
		if ShellWord(tt.in) != (tt.in == tt.want) {
			t.Errorf("ShellWord(%q) = %v", tt.in, ShellWord(tt.in))
		}
	}
}

func TestInDoubleAndSingle(t *testing.T) {
	tests := []struct{ in, double, single string }{
		{"10000 65000", "10000 65000", "10000 65000"},
		{"example.com", "example.com", "example.com"},
		{"$(id)", `"'$(id)'"`, "$(id)"},
		{"a`b", "\"'a`b'\"", "a`b"},
		{`a"b`, `"'a"b'"`, `a"b`},
		{`a\b`, `"'a\b'"`, `a\b`},
		{"a!b", `"'a!b'"`, "a!b"},
		{"it's", "it's", `it'\''s`},
		{"$'", `"'$'\'''"`, `$'\''`},
	}
	for _, tt := range tests {
		if got := InDouble(tt.in); got != tt.double {
			t.Errorf("InDouble(%q) = %s, want %s", tt.in, got, tt.double)
		}
		if got := InSingle(tt.in); got != tt.single {
			t.Errorf("InSingle(%q) = %s, want %s", tt.in, got, tt.single)
		}
	}
}

// shellValues are hostile values that a real shell must take literally once quoted.
var shellValues = []string{
	"IN_$(touch${IFS}/tmp/pw)", "`touch /tmp/pw`", "a;touch /tmp/pw", "a&&touch /tmp/pw", "a|touch /tmp/pw",
	"a>pw", "it's", "'", "''", `\'`, `"`, `$'\x41'`, "${PATH}", "$HOME", "!!", "!-1", "*", "?", "[a]", "~", "~root",
	"#c", "a b", "  ", "", "{a,b}", "a=b", "-n", "%", "例子", "مثال", `\`, `a\`, "\\\n",
}

// TestQuoteInRealShells pastes each quoted value into sh (and bash when
// there is one) and reads back what the shell took: exactly the value, and
// nothing run.
func TestQuoteInRealShells(t *testing.T) {
	dir := t.TempDir()
	for _, sh := range []string{"sh", "bash", "dash"} {
		path, err := exec.LookPath(sh)
		if err != nil {
			t.Logf("%s: not installed", sh)
			continue
		}
		for _, v := range shellValues {
			for _, c := range []struct{ name, line string }{
				{"plain", "printf '%s' " + Quote(v)},
				{"single", "printf '%s' '" + InSingle(v) + "'"},
				{"double", "printf '%s' \"" + InDouble(v) + "\""},
				{"glued", "printf '%s' x" + Quote(v) + "y"},
			} {
				cmd := exec.Command(path, "-c", c.line)
				cmd.Dir = dir
				cmd.Env = []string{"PATH=/usr/bin:/bin", "HOME=" + dir}
				out, err := cmd.Output()
				want := v
				if c.name == "glued" {
					want = "x" + v + "y"
				}
				if err != nil || string(out) != want {
					t.Errorf("%s %s: %s printed %q (%v), want %q", sh, c.name, c.line, out, err, want)
				}
			}
		}
		if ents, _ := os.ReadDir(dir); len(ents) > 0 {
			t.Errorf("%s created %s: a quoted value ran", sh, filepath.Join(dir, ents[0].Name()))
		}
	}
}

func TestCheckLine(t *testing.T) {
	ok := []string{
		"ufw allow 8282/tcp",
		"ufw insert 1 allow 8282/tcp",
		"firewall-cmd --permanent --zone=public --add-port=8282/tcp && firewall-cmd --reload",
		"firewall-cmd --permanent --zone='IN_$(touch${IFS}/tmp/pw)' --add-port=8282/tcp && firewall-cmd --reload",
		"nft insert rule inet filter input tcp dport 8282 accept",
		"ip6tables-legacy -t raw -I PREROUTING -p tcp --dport 8282 -j ACCEPT",
		`printf 'net.core.somaxconn = 4096\nnet.ipv4.tcp_max_syn_backlog = 4096\n' > /etc/sysctl.d/60-conndiag.conf && sysctl --system`,
		`sysctl -w net.ipv4.ip_local_port_range="10000 65000"`,
		"ss -ltnp 'sport = :8282'",
		"ls /proc/42/fd | wc -l",
		"dig +short example.com @192.0.2.53 -p 5353",
		"cmd 2>&1 ; other 2> /dev/null",
	}
	for _, s := range ok {
		if err := CheckLine(s); err != nil {
			t.Errorf("CheckLine(%q) = %v, want nil", s, err)
		}
	}
	bad := []struct{ line, word string }{
		{"firewall-cmd --permanent --zone=IN_$(touch${IFS}/tmp/pw) --add-port=8282/tcp", "--zone=IN_$(touch${IFS}/tmp/pw)"},
		{"nft insert rule inet x>/etc/passwd input tcp dport 1 accept", "x>/etc/passwd"},
		{"iptables -I `id` -j ACCEPT", "`id`"},
		{"echo \"$HOME\"", `"$HOME"`},
		{"echo \"a\\\"b\"", `"a\"`},
		{"echo 'unterminated", "'unterminated"},
		{"echo \"unterminated", "\"unterminated"},
		{"rm *", "*"},
		{"cd ~", "~"},
		{"a #comment", "#comment"},
		{"a &", "&"},
		{"a  b", "a"},
		{"a ", "a"},
		{"", ""},
		{"echo a\nrm -rf /", "a\nrm"},
		{"echo \x1b]0;x\x07", "\x1b]0;x\x07"},
		{"echo 'a\x1bb'", "'a\x1bb'"},
		{"echo \u202eb", "\u202eb"},
		{"a;b", "a;b"},
	}
	for _, tt := range bad {
		err := CheckLine(tt.line)
		var le *LineError
		if !errors.As(err, &le) || !errors.Is(err, ErrShellSyntax) {
			t.Errorf("CheckLine(%q) = %v, want a LineError", tt.line, err)
			continue
		}
		if le.Word != tt.word {
			t.Errorf("CheckLine(%q) blames %q, want %q", tt.line, le.Word, tt.word)
		}
		if !IsSafe(err.Error()) {
			t.Errorf("CheckLine(%q) error %q is not safe to show", tt.line, err)
		}
	}
}

func FuzzQuote(f *testing.F) {
	for _, v := range shellValues {
		f.Add(v)
	}
	f.Fuzz(func(t *testing.T, s string) {
		q := Quote(s)
		if ShellWord(s) {
			if q != s {
				t.Fatalf("Quote changed the plain word %q to %q", s, q)
			}
			return
		}
		if len(q) < 2 || q[0] != '\'' || q[len(q)-1] != '\'' {
			t.Fatalf("Quote(%q) = %q is not single-quoted", s, q)
		}
		// Undo the quoting as a shell does: text between quotes is literal, \' is a quote.
		var b strings.Builder
		in := false
		for i := 0; i < len(q); i++ {
			switch {
			case q[i] == '\'':
				in = !in
			case !in && q[i] == '\\' && i+1 < len(q) && q[i+1] == '\'':
				b.WriteByte('\'')
				i++
			case in:
				b.WriteByte(q[i])
			default:
				t.Fatalf("Quote(%q) = %q has %q outside quotes", s, q, q[i])
			}
		}
		if in || b.String() != s {
			t.Fatalf("Quote(%q) = %q reads back as %q", s, q, b.String())
		}
		if IsSafe(s) && CheckLine("echo "+q) != nil {
			t.Fatalf("CheckLine rejects quoted %q: %v", q, CheckLine("echo "+q))
		}
	})
}

func FuzzCheckLine(f *testing.F) {
	f.Add("firewall-cmd --permanent --zone=IN_$(touch${IFS}/tmp/pw) --add-port=8282/tcp")
	f.Add(`printf 'a = 1\n' > /etc/sysctl.d/x.conf && sysctl --system`)
	f.Add(`echo "a" 'b' c"d"'e' 2>&1`)
	f.Fuzz(func(t *testing.T, s string) {
		err := CheckLine(s)
		if err == nil {
			// An accepted line has no byte that a shell expands outside single quotes.
			in1, in2 := false, false
			for i := 0; i < len(s); i++ {
				c := s[i]
				switch {
				case in1:
					in1 = c != '\''
				case c == '\'' && !in2:
					in1 = true
				case c == '\\' && !in2 && i+1 < len(s) && s[i+1] == '\'':
					i++
				case c == '"':
					in2 = !in2
				case in2 && strings.IndexByte("$`\\!", c) >= 0, !in2 && !wordByte(c) && strings.IndexByte(" &|;<>", c) < 0:
					t.Fatalf("CheckLine accepted %q with %q", s, c)
				}
			}
			if in1 || in2 || !IsSafe(s) {
				t.Fatalf("CheckLine accepted %q", s)
			}
		}
	})
}

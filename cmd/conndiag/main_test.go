package main

import (
	"encoding/json"
	"errors"
	"net"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rogpeppe/go-internal/testscript"
)

// The CLI contract of SPEC.md (exit codes, one line on stderr for bad input,
// nothing on stdout then, JSON on --json) as testscript files in
// testdata/script, in the style of age's: each script runs this very main,
// re-executed as the command conndiag.
func TestMain(m *testing.M) {
	testscript.Main(m, map[string]func(){"conndiag": main})
}

func TestScripts(t *testing.T) {
	testscript.Run(t, testscript.Params{
		Dir: "testdata/script",
		Setup: func(env *testscript.Env) error {
			// The scripts choose the language and colour themselves.
			for _, k := range []string{"LANG", "LC_ALL", "LC_MESSAGES", "NO_COLOR", "TERM"} {
				env.Setenv(k, "")
			}
			return nil
		},
		Cmds: map[string]func(ts *testscript.TestScript, neg bool, args []string){
			"exitcode":  cmdExitcode,
			"oneline":   cmdOneline,
			"jsonlines": cmdJSONLines,
			"freeport":  cmdFreeport,
			"waitport":  cmdWaitport,
		},
	})
}

// exitcode N PROG ARGS...: run PROG and require exit status N.
func cmdExitcode(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) < 2 {
		ts.Fatalf("usage: exitcode N prog args...")
	}
	want, err := strconv.Atoi(args[0])
	ts.Check(err)
	err = ts.Exec(args[1], args[2:]...)
	got := 0
	if err != nil {
		var ee *exec.ExitError
		if !errors.As(err, &ee) {
			ts.Fatalf("%v", err)
		}
		got = ee.ExitCode()
	}
	if got != want {
		ts.Fatalf("exit status %d, want %d\nstdout:\n%s\nstderr:\n%s", got, want, ts.ReadFile("stdout"), ts.ReadFile("stderr"))
	}
}

// oneline stdout|stderr: the output is exactly one line, ending in a newline.
func cmdOneline(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 1 {
		ts.Fatalf("usage: oneline stdout|stderr")
	}
	s := ts.ReadFile(args[0])
	one := strings.Count(s, "\n") == 1 && strings.HasSuffix(s, "\n")
	if one == neg {
		ts.Fatalf("%s is %d lines, want one line:\n%s", args[0], strings.Count(s, "\n"), s)
	}
}

// jsonlines stdout N: stdout is N JSON objects, one a line.
func cmdJSONLines(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 2 {
		ts.Fatalf("usage: jsonlines stdout|stderr N")
	}
	want, err := strconv.Atoi(args[1])
	ts.Check(err)
	lines := strings.Split(strings.TrimSuffix(ts.ReadFile(args[0]), "\n"), "\n")
	if len(lines) != want {
		ts.Fatalf("%d lines, want %d JSON objects", len(lines), want)
	}
	for _, l := range lines {
		var v map[string]any
		if err := json.Unmarshal([]byte(l), &v); err != nil {
			ts.Fatalf("not a JSON object (%v): %s", err, l)
		}
	}
}

// freeport VAR: a loopback TCP port free right now, in $VAR.
func cmdFreeport(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 1 {
		ts.Fatalf("usage: freeport VAR")
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	ts.Check(err)
	port := l.Addr().(*net.TCPAddr).Port
	ts.Check(l.Close())
	ts.Setenv(args[0], strconv.Itoa(port))
}

// waitport PORT: wait until something accepts on 127.0.0.1:PORT.
func cmdWaitport(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 1 {
		ts.Fatalf("usage: waitport PORT")
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", net.JoinHostPort("127.0.0.1", args[0]), time.Second)
		if err == nil {
			c.Close()
			return
		}
		if time.Now().After(deadline) {
			ts.Fatalf("nothing listens on 127.0.0.1:%s: %v", args[0], err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

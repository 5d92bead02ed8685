package explain

import "testing"

// Every signal has a meaning, and every rule points at a signal or a context that exists.
func TestTablesAreComplete(t *testing.T) {
	for k := range signals {
		if meaning[k] == "" {
			t.Errorf("signal %q has no meaning", k)
		}
	}
	for k := range meaning {
		if _, ok := signals[k]; !ok {
			t.Errorf("meaning for unknown signal %q", k)
		}
	}
	for _, ru := range rules {
		if ru.sig != "" {
			if _, ok := signals[ru.sig]; !ok {
				t.Errorf("rule %q: unknown signal %q", ru.lit, ru.sig)
			}
		}
		if ru.ctx != "" {
			if _, ok := contexts[ru.ctx]; !ok {
				t.Errorf("rule %q: unknown context %q", ru.lit, ru.ctx)
			}
		}
		if ru.sig == "" && ru.ctx == "" && ru.refine == nil {
			t.Errorf("rule %q says nothing", ru.lit)
		}
	}
	for _, e := range chromiumErrors {
		if e.sig != "" {
			if _, ok := signals[e.sig]; !ok {
				t.Errorf("chromium %d: unknown signal %q", e.num, e.sig)
			}
		}
	}
	for _, tab := range []map[int]string{unixErrno, macErrno, winErrno} {
		for n, s := range tab {
			if _, ok := signals[s]; !ok {
				t.Errorf("errno %d: unknown signal %q", n, s)
			}
		}
	}
}

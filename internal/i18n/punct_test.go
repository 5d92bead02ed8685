package i18n_test

import (
	"regexp"
	"testing"

	"github.com/conndiag/conndiag/internal/i18n"
)

// Chinese prose uses full-width punctuation (，；：！？（）。); ASCII marks stay
// only inside code, commands, addresses and lists of forms ("::1",
// "host:port, [v6addr]:port"). These patterns find an ASCII mark that
// touches Chinese text, where the full-width one belongs.
var asciiInChinese = []*regexp.Regexp{
	regexp.MustCompile(`\p{Han}[,;!?]`),              // 中文, → 中文，
	regexp.MustCompile(`\p{Han}:($|[^:/])`),          // 中文: → 中文：  (not "::1")
	regexp.MustCompile(`[,;!?:] \p{Han}`),            // x, 中文 → x，中文
	regexp.MustCompile(`\}\}[,;!?]\s*\p{Han}`),       // {{.X}}, 中文
	regexp.MustCompile(`\p{Han}\s?\((\p{Han}|\{\{)`), // 中文 (中文 → 中文（中文
	regexp.MustCompile(`\p{Han}\)|\)\p{Han}`),        // 中文) → 中文）
	regexp.MustCompile(`\p{Han}\.(\s|$)|\p{Han}。\.`), // 中文. → 中文。
}

func TestChinesePunctuationIsFullWidth(t *testing.T) {
	texts, err := i18n.Texts("zh")
	if err != nil {
		t.Fatal(err)
	}
	plurals, err := i18n.PluralForms("zh")
	if err != nil {
		t.Fatal(err)
	}
	check := func(id, s string) {
		for _, re := range asciiInChinese {
			if loc := re.FindStringIndex(s); loc != nil {
				lo, hi := max(0, loc[0]-12), min(len(s), loc[1]+12)
				t.Errorf("zh %q: ASCII punctuation in Chinese prose (use the full-width mark): …%s…", id, s[lo:hi])
				return
			}
		}
	}
	for id, s := range texts {
		check(id, s)
	}
	for id, forms := range plurals {
		for _, s := range forms {
			check(id, s)
		}
	}
	// The patterns can fail.
	for _, bad := range []string{"无法连接, 请检查", "端口: 80", "已关闭 (超时)", "完成."} {
		found := false
		for _, re := range asciiInChinese {
			found = found || re.MatchString(bad)
		}
		if !found {
			t.Errorf("%q is not caught", bad)
		}
	}
}

package explain

// matcher finds every occurrence of a fixed set of literals in a line in one
// pass (Aho-Corasick compiled to a DFA), ignoring ASCII case. Bytes that occur
// in no literal share one input class, which keeps the table small; non-ASCII
// literals (Chinese, Arabic) match byte for byte.
type matcher struct {
	class [256]uint8
	shift uint // rows are 1<<shift entries, a power of two at least nclass
	// trans[row+class] is where a state goes on a byte: the next state's
	// number, with ends set when that state ends at least one literal. A
	// state's row starts at its number << shift, so a byte costs a shift,
	// an addition and one load from a table of 16-bit entries, small enough
	// to keep the states a log goes through in cache.
	trans []uint16
	outs  [][]int32 // literals ending at a state, suffixes included
	lens  []int     // length of each literal
}

const ends = 1 << 15

func fold(b byte) byte {
	if 'A' <= b && b <= 'Z' {
		return b + 'a' - 'A'
	}
	return b
}

func newMatcher(lits []string) *matcher {
	m := &matcher{lens: make([]int, len(lits))}
	// Input classes: one per distinct folded byte of the literals, 0 for the rest.
	n := 1
	for _, l := range lits {
		for i := 0; i < len(l); i++ {
			b := fold(l[i])
			if m.class[b] == 0 {
				if n == 256 {
					panic("explain: too many byte classes")
				}
				m.class[b] = uint8(n)
				n++
			}
		}
	}
	for b := 'A'; b <= 'Z'; b++ {
		m.class[b] = m.class[b+'a'-'A']
	}
	for 1<<m.shift < n {
		m.shift++
	}
	w := 1 << m.shift
	// Trie, in the table itself: a row per node, its children nonzero (no
	// edge leads back to the root, node 0).
	rows := 1
	for _, l := range lits {
		rows += len(l)
	}
	m.trans = make([]uint16, w, rows*w)
	var outs [][]int32
	outs = append(outs, nil)
	for i, l := range lits {
		m.lens[i] = len(l)
		s := 0
		for j := 0; j < len(l); j++ {
			e := s<<m.shift + int(m.class[fold(l[j])])
			if m.trans[e] == 0 {
				if len(outs) >= ends {
					panic("explain: too many matcher states")
				}
				m.trans[e] = uint16(len(outs))
				outs = append(outs, nil)
				m.trans = append(m.trans, make([]uint16, w)...)
			}
			s = int(m.trans[e])
		}
		outs[s] = append(outs[s], int32(i))
	}
	// Breadth-first: failure links, and each row completed from its failure
	// state's (done before it, being shallower).
	fail := make([]uint16, len(outs))
	queue := []uint16{}
	for c := 0; c < n; c++ {
		if nx := m.trans[c]; nx != 0 {
			queue = append(queue, nx)
		}
	}
	for len(queue) > 0 {
		s := int(queue[0])
		queue = queue[1:]
		f := int(fail[s])
		outs[s] = append(outs[s], outs[f]...)
		row, frow := m.trans[s*w:s*w+n], m.trans[f*w:f*w+n]
		for c, nx := range row {
			if nx != 0 {
				fail[nx] = frow[c]
				queue = append(queue, nx)
			} else {
				row[c] = frow[c]
			}
		}
	}
	m.outs = outs
	for i, v := range m.trans {
		if len(m.outs[v]) > 0 {
			m.trans[i] = v | ends
		}
	}
	return m
}

// A hitter takes the literals found in one text, in the order they end.
type hitter interface {
	hit(lit, at int)
}

// scan reports every literal found in line[i:], starting in state st.
func (m *matcher) scan(line []byte, i int, st uint16, h hitter) {
	for {
		i, st = m.walk(line, i, st)
		if i == len(line) {
			return
		}
		m.report(st, i, h)
		i++
	}
}

// walk goes through line from offset i in state st up to the first byte
// that ends a literal (where it stops, in the state it enters) or the end.
// It calls nothing, so the compiler keeps its loop in registers (and the
// mask tells it the shift is short, sparing the checks of a long one).
func (m *matcher) walk(line []byte, i int, st uint16) (int, uint16) {
	trans, class, shift := m.trans, &m.class, m.shift&15
	for ; i < len(line); i++ {
		st = trans[int(st&^ends)<<shift+int(class[line[i]])]
		if st&ends != 0 {
			return i, st
		}
	}
	return i, st
}

func (m *matcher) report(st uint16, i int, h hitter) {
	for _, l := range m.outs[st&^ends] {
		h.hit(int(l), i+1-m.lens[l])
	}
}

// scan4 scans four texts at once: their walks through the table do not
// depend on each other, so the processor overlaps their loads (one walk
// waits on each load in turn). Each text's literals are reported as scan
// reports them.
func (m *matcher) scan4(t *[4][]byte, h *[4]hitter) {
	k := min(len(t[0]), len(t[1]), len(t[2]), len(t[3]))
	var st [4]uint16
	i := 0
	for {
		i = m.walk4(t[0][:k], t[1][:k], t[2][:k], t[3][:k], i, &st)
		if i == k {
			break
		}
		for j, s := range st {
			if s&ends != 0 {
				m.report(s, i, h[j])
			}
		}
		i++
	}
	for j := range t {
		m.scan(t[j], i, st[j], h[j])
	}
}

// walk4 is walk over four texts of one length at once, up to where one of
// them ends a literal.
func (m *matcher) walk4(a, b, c, d []byte, i int, st *[4]uint16) int {
	trans, class, shift := m.trans, &m.class, m.shift&15
	b, c, d = b[:len(a)], c[:len(a)], d[:len(a)]
	sa, sb, sc, sd := st[0], st[1], st[2], st[3]
	for ; i < len(a); i++ {
		sa = trans[int(sa&^ends)<<shift+int(class[a[i]])]
		sb = trans[int(sb&^ends)<<shift+int(class[b[i]])]
		sc = trans[int(sc&^ends)<<shift+int(class[c[i]])]
		sd = trans[int(sd&^ends)<<shift+int(class[d[i]])]
		if (sa|sb|sc|sd)&ends != 0 {
			break
		}
	}
	st[0], st[1], st[2], st[3] = sa, sb, sc, sd
	return i
}

package explain

// matcher finds every occurrence of a fixed set of literals in a line in one
// pass (Aho-Corasick compiled to a DFA), ignoring ASCII case. Bytes that occur
// in no literal share one input class, which keeps the table small; non-ASCII
// literals (Chinese, Arabic) match byte for byte.
type matcher struct {
	class  [256]uint8
	nclass int
	// next[state*nclass+class] is the next state; a negative entry ^s means
	// state s ends at least one literal. 16 bits keep the table in cache.
	next []int16
	outs [][]int32 // literals ending at a state, suffixes included
	lens []int     // length of each literal
}

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
	m.nclass = n
	// Trie.
	type node struct {
		child map[uint8]int32
		fail  int32
		out   []int32
	}
	nodes := []node{{child: map[uint8]int32{}}}
	for i, l := range lits {
		m.lens[i] = len(l)
		s := int32(0)
		for j := 0; j < len(l); j++ {
			c := m.class[fold(l[j])]
			nx, ok := nodes[s].child[c]
			if !ok {
				nx = int32(len(nodes))
				nodes = append(nodes, node{child: map[uint8]int32{}})
				nodes[s].child[c] = nx
			}
			s = nx
		}
		nodes[s].out = append(nodes[s].out, int32(i))
	}
	// Breadth-first: failure links and the full transition table.
	if len(nodes) > 1<<15 {
		panic("explain: too many matcher states")
	}
	m.next = make([]int16, len(nodes)*n)
	m.outs = make([][]int32, len(nodes))
	queue := []int32{}
	for c := 0; c < n; c++ {
		if nx, ok := nodes[0].child[uint8(c)]; ok {
			nodes[nx].fail = 0
			m.next[c] = int16(nx)
			queue = append(queue, nx)
		} else {
			m.next[c] = 0
		}
	}
	for len(queue) > 0 {
		s := queue[0]
		queue = queue[1:]
		f := nodes[s].fail
		nodes[s].out = append(nodes[s].out, nodes[f].out...)
		for c := 0; c < n; c++ {
			if nx, ok := nodes[s].child[uint8(c)]; ok {
				nodes[nx].fail = int32(m.next[int(f)*n+c])
				m.next[int(s)*n+c] = int16(nx)
				queue = append(queue, nx)
			} else {
				m.next[int(s)*n+c] = m.next[int(f)*n+c]
			}
		}
	}
	for s := range nodes {
		m.outs[s] = nodes[s].out
	}
	for i, v := range m.next {
		if len(m.outs[v]) > 0 {
			m.next[i] = ^v
		}
	}
	return m
}

// scan calls hit with each literal found and the offset where it starts.
func (m *matcher) scan(line []byte, hit func(lit, at int)) {
	s := 0
	n := m.nclass
	next, class := m.next, &m.class
	for i := 0; i < len(line); i++ {
		v := int(next[s*n+int(class[line[i]])])
		if v >= 0 {
			s = v
			continue
		}
		s = ^v
		for _, l := range m.outs[s] {
			hit(int(l), i+1-m.lens[l])
		}
	}
}

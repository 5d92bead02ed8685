package load

import (
	"sort"
	"time"
)

// Death is a held connection that ended before the run did.
type Death struct {
	Opened time.Duration // when it was established, since the start of the run
	Age    time.Duration // how long it lived
	// Code is the WebSocket close code the server sent, 1006 when the TCP
	// connection ended without a close frame, 0 for a plain TCP target.
	Code  int
	Reset bool // ended by a TCP reset rather than a FIN
}

// Cluster is a group of deaths at nearly the same age.
type Cluster struct {
	Age    time.Duration // the median age of the group
	Count  int
	Deaths int // all deaths
	// OpenSpread is how far apart the group's connections were opened. When
	// it exceeds the tolerance, the age, not the moment, is what they share
	// (a timeout, not a restart); when the connections were opened together
	// the two cannot be told apart.
	OpenSpread time.Duration
	Codes      map[int]int
}

// ClusterTolerance is how close ages must be to count as the same age.
func ClusterTolerance(age time.Duration) time.Duration {
	return max(250*time.Millisecond, age/20)
}

// ClusterDeaths finds the largest group of deaths at one age. It reports
// one when at least three connections, and at least half of those that died,
// died within ClusterTolerance of the same age.
func ClusterDeaths(ds []Death) (Cluster, bool) {
	if len(ds) < 3 {
		return Cluster{}, false
	}
	s := append([]Death(nil), ds...)
	sort.Slice(s, func(i, j int) bool { return s[i].Age < s[j].Age })
	bi, bj := 0, 0
	for i, j := 0, 0; i < len(s); i++ {
		if j < i {
			j = i
		}
		for j+1 < len(s) && s[j+1].Age-s[i].Age <= ClusterTolerance(s[i].Age) {
			j++
		}
		if j-i > bj-bi {
			bi, bj = i, j
		}
	}
	g := s[bi : bj+1]
	if len(g) < 3 || 2*len(g) < len(s) {
		return Cluster{}, false
	}
	c := Cluster{Age: g[len(g)/2].Age, Count: len(g), Deaths: len(s), Codes: map[int]int{}}
	minO, maxO := g[0].Opened, g[0].Opened
	for _, d := range g {
		c.Codes[d.Code]++
		minO, maxO = min(minO, d.Opened), max(maxO, d.Opened)
	}
	c.OpenSpread = maxO - minO
	return c, true
}

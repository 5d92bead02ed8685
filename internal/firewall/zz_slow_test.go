package firewall

import (
	"bytes"
	"testing"
	"time"
)

func FuzzZZSlow(f *testing.F) {
	for _, name := range []string{"native.json", "firewalld.json", "iptnft-as-nft.json"} {
		f.Add(readTestdata(f, name))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		start := time.Now()
		done := make(chan struct{})
		go func() {
			select {
			case <-done:
			case <-time.After(2 * time.Second):
				panic("slow input")
			}
		}()
		tables, err := ParseNftJSON(bytes.NewReader(data), nil, nil)
		if err == nil {
			rs := &Ruleset{Tables: tables}
			rs.Evaluate(Packet{Family: IPv4, Port: 8282, InIface: "eth0", Local: local4})
		}
		close(done)
		_ = start
	})
}

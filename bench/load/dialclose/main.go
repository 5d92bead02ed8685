// Command dialclose is the baseline of bench/load.sh: the smallest Go loop
// that opens and closes TCP connections (optionally with one HTTP request
// each), with a fixed number of goroutines, for a fixed time. It prints the
// connections completed per second.
package main

import (
	"bufio"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:9000", "host:port")
	httpPath := flag.String("http", "", "send GET PATH and read the response before closing")
	conc := flag.Int("c", 100, "goroutines")
	dur := flag.Duration("d", 5*time.Second, "duration")
	flag.Parse()
	var ok, failed atomic.Int64
	end := time.Now().Add(*dur)
	req := []byte("GET " + *httpPath + " HTTP/1.1\r\nHost: " + *addr + "\r\n\r\n")
	var wg sync.WaitGroup
	start := time.Now()
	for range *conc {
		wg.Add(1)
		go func() {
			defer wg.Done()
			br := bufio.NewReaderSize(nil, 4096)
			for time.Now().Before(end) {
				c, err := net.DialTimeout("tcp", *addr, 3*time.Second)
				if err != nil {
					failed.Add(1)
					continue
				}
				if *httpPath != "" {
					br.Reset(c)
					if _, err = c.Write(req); err == nil {
						var resp *http.Response
						if resp, err = http.ReadResponse(br, nil); err == nil {
							_, err = io.Copy(io.Discard, resp.Body)
							resp.Body.Close()
						}
					}
				}
				c.Close()
				if err != nil {
					failed.Add(1)
					continue
				}
				ok.Add(1)
			}
		}()
	}
	wg.Wait()
	el := time.Since(start).Seconds()
	fmt.Printf("%.0f %d %d\n", float64(ok.Load())/el, ok.Load(), failed.Load())
	if ok.Load() == 0 {
		os.Exit(1)
	}
}

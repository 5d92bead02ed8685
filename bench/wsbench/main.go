// Command wsbench is the other side of bench/proto.sh: "serve" runs a
// WebSocket server on a free loopback port and prints its address; "dial
// URL" is a plain Go client that does only the opening handshake, the
// baseline conndiag check is compared with.
package main

import (
	"fmt"
	"net"
	"net/http"
	"os"
	"time"

	"github.com/gorilla/websocket"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: wsbench serve | wsbench dial ws://HOST:PORT/PATH")
		os.Exit(2)
	}
	switch os.Args[1] {
	case "serve":
		serve()
	case "dial":
		if len(os.Args) != 3 {
			fmt.Fprintln(os.Stderr, "usage: wsbench dial ws://HOST:PORT/PATH")
			os.Exit(2)
		}
		d := websocket.Dialer{HandshakeTimeout: 3 * time.Second}
		c, _, err := d.Dial(os.Args[2], nil)
		if err != nil {
			fmt.Fprintln(os.Stderr, "wsbench:", err)
			os.Exit(1)
		}
		c.Close()
	default:
		fmt.Fprintln(os.Stderr, "wsbench: unknown mode", os.Args[1])
		os.Exit(2)
	}
}

func serve() {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Fprintln(os.Stderr, "wsbench:", err)
		os.Exit(1)
	}
	fmt.Println(ln.Addr())
	up := websocket.Upgrader{}
	http.Serve(ln, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := up.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		defer c.Close()
		for {
			if _, _, err := c.ReadMessage(); err != nil {
				return
			}
		}
	}))
}

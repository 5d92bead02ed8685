//go:build linux

package testbed

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// Nginx runs nginx in n, in the foreground and as root, with servers (the
// server blocks, already formatted) inside an http block whose pid file,
// logs and temporary directories are in dir (a fresh temporary directory
// when ""), and waits until each of ports listens. It returns dir, for files
// the server blocks name (certificates, a root). It is stopped with the test.
func (n *NS) Nginx(t testing.TB, dir, servers string, ports ...int) string {
	t.Helper()
	RequireTool(t, "nginx")
	if dir == "" {
		dir = t.TempDir()
	}
	conf := filepath.Join(dir, "nginx.conf")
	err := os.WriteFile(conf, []byte(fmt.Sprintf(`user root;
worker_processes 1;
pid %[1]s/nginx.pid;
error_log %[1]s/error.log;
events { worker_connections 1024; }
http {
  access_log off;
  client_body_temp_path %[1]s/body;
  proxy_temp_path %[1]s/proxy;
  fastcgi_temp_path %[1]s/fastcgi;
  uwsgi_temp_path %[1]s/uwsgi;
  scgi_temp_path %[1]s/scgi;
%[2]s
}
`, dir, servers)), 0o644)
	if err != nil {
		t.Fatal(err)
	}
	n.Start(t, "nginx", "-c", conf, "-e", filepath.Join(dir, "error.log"), "-g", "daemon off;")
	for _, p := range ports {
		n.WaitListening(t, "tcp", p, 10*time.Second)
	}
	return dir
}

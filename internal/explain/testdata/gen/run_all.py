import json, subprocess, sys, os
IN = ['/tmp/gen/in']
NODE = ['node', '/tmp/gen/gen.js']
PY = ['/root/.pyenv/shims/python3', '/tmp/gen/gen.py']
SYSPY = ['/usr/bin/python3', '/tmp/gen/gen.py']
JAVA = ['java', '-cp', '/tmp/gen', 'Gen']
PHP = ['php', '/tmp/gen/gen.php']
GO = ['/tmp/gen/gocli']
CA = '/tmp/gen/ca.pem'

def clients(url, hp, kind):
    c = []
    http = url.replace('ws://', 'http://').replace('wss://', 'https://')
    wsu = url.replace('http://', 'ws://').replace('https://', 'wss://')
    c += [('curl', ['curl', '-sS', '-m', '4', http])]
    if kind in ('tcp',):
        c += [('curl -v', ['curl', '-v', '-sS', '-m', '4', http])]
    c += [('node net', NODE + ['net', http]), ('node net message', NODE + ['netmsg', http]), ('node http', NODE + ['http', http]),
          ('node fetch', NODE + ['fetch', http]), ('node ws', NODE + ['ws', wsu])]
    c += [('python socket', PY + ['socket', http]), ('python requests', PY + ['requests', http]), ('python urllib', PY + ['urllib', http]),
          ('python asyncio', PY + ['asyncio', http]), ('python websockets', SYSPY + ['websockets', wsu])]
    if http.startswith('https'):
        c += [('python ssl', PY + ['ssl', http]), ('openssl s_client', ['sh', '-c', 'openssl s_client -connect %s -servername %s </dev/null 2>&1 | grep -v "^---$" | head -20' % (hp, hp.split(':')[0])])]
    c += [('java socket', JAVA + ['socket', http]), ('java HttpURLConnection', JAVA + ['url', http]), ('java HttpClient', JAVA + ['httpclient', http]), ('java WebSocket', JAVA + ['ws', wsu])]
    c += [('php stream_socket_client', PHP + ['ssl' if http.startswith('https') else 'tcp', http, CA]), ('php file_get_contents', PHP + ['fgc', http])]
    c += [('go net.Dial', GO + ['dial', hp]), ('go net/http', GO + ['http', http]), ('go gorilla/websocket', GO + ['gorilla', wsu]), ('go gobwas/ws', GO + ['gobwas', wsu]), ('go coder/websocket', GO + ['coder', wsu])]
    if http.startswith('https'):
        c += [('go crypto/tls', GO + ['tls', hp])]
    return c

SCEN = [
  ('refused', 'http://127.0.0.1:1/', '127.0.0.1:1', 'tcp'),
  ('refused_localhost', 'http://localhost:1/', 'localhost:1', 'tcp'),
  ('timeout', 'http://127.0.0.1:7070/', '127.0.0.1:7070', 'tcp'),
  ('admin_prohibited', 'http://127.0.0.1:7071/', '127.0.0.1:7071', 'tcp'),
  ('unreachable_route', 'http://203.0.113.5:8282/', '203.0.113.5:8282', 'tcp'),
  ('prohibit_route', 'http://203.0.113.130:8282/', '203.0.113.130:8282', 'tcp'),
  ('net_unreachable', 'http://198.51.100.7:8282/', '198.51.100.7:8282', 'tcp'),
  ('net_unreachable6', 'http://[2001:db8::7]:8282/', '[2001:db8::7]:8282', 'tcp'),
  ('nxdomain', 'http://nosuch.test:8282/', 'nosuch.test:8282', 'tcp'),
  ('ws200', 'ws://127.0.0.1:8001/chat', '127.0.0.1:8001', 'ws'),
  ('ws404', 'ws://127.0.0.1:8002/chat', '127.0.0.1:8002', 'ws'),
  ('ws403', 'ws://127.0.0.1:8003/chat', '127.0.0.1:8003', 'ws'),
  ('ws502', 'ws://127.0.0.1:8502/chat', '127.0.0.1:8502', 'ws'),
  ('reset', 'ws://127.0.0.1:8004/', '127.0.0.1:8004', 'ws'),
  ('closed', 'ws://127.0.0.1:8005/', '127.0.0.1:8005', 'ws'),
  ('silent', 'ws://127.0.0.1:8006/', '127.0.0.1:8006', 'ws'),
  ('ssh', 'ws://127.0.0.1:8007/', '127.0.0.1:8007', 'ws'),
  ('textproto', 'ws://127.0.0.1:8008/', '127.0.0.1:8008', 'ws'),
  ('plain_to_tls', 'ws://127.0.0.1:8448/', '127.0.0.1:8448', 'ws'),
  ('tls_to_plain', 'wss://127.0.0.1:8001/', '127.0.0.1:8001', 'tls'),
  ('selfsigned', 'wss://localhost:8443/', 'localhost:8443', 'tls'),
  ('expired', 'wss://app.test:8444/', 'app.test:8444', 'tls'),
  ('wrongname', 'wss://app.test:8445/', 'app.test:8445', 'tls'),
  ('clientcert', 'wss://app.test:8446/', 'app.test:8446', 'tls'),
  ('tls10', 'wss://app.test:8447/', 'app.test:8447', 'tls'),
]
only = sys.argv[1:]
env = dict(os.environ, SSL_CERT_FILE=CA, NODE_EXTRA_CA_CERTS=CA, REQUESTS_CA_BUNDLE=CA, LANG='C.UTF-8')
out = open('/tmp/gen/raw.jsonl', 'a')
for name, url, hp, kind in SCEN:
    if only and name not in only:
        continue
    for client, cmd in clients(url, hp, kind):
        e = dict(env)
        if name == 'selfsigned':
            e.pop('SSL_CERT_FILE'); e.pop('NODE_EXTRA_CA_CERTS'); e.pop('REQUESTS_CA_BUNDLE')
        if client.startswith('curl') and url.startswith('wss') and name != 'selfsigned':
            cmd = cmd[:1] + ['--cacert', CA] + cmd[1:]
        try:
            p = subprocess.run(IN + cmd, capture_output=True, timeout=15, env=e)
            text = (p.stdout + p.stderr).decode('utf-8', 'replace')
        except subprocess.TimeoutExpired:
            text = 'GEN-TIMEOUT'
        rec = {'scenario': name, 'client': client, 'url': url, 'cmd': ' '.join(cmd), 'out': text}
        out.write(json.dumps(rec, ensure_ascii=False) + '\n'); out.flush()
        print(name, client, repr(text[-160:]), flush=True)

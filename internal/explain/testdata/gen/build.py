import json, re, subprocess, sys
raw = [json.loads(l) for l in open('/tmp/gen/raw.jsonl')]
VER = {'curl': 'curl 7.88.1 (OpenSSL 3.0.19)', 'node': 'Node.js v20.20.2', 'node ws': 'Node.js v20.20.2, ws 8', 'python': 'CPython 3.11.7',
       'python requests': 'CPython 3.11.7, requests 2.34.2, urllib3 2.7.0', 'python websockets': 'CPython 3.11 (Debian 12), websockets 10.4',
       'java': 'OpenJDK 17.0.15', 'php': 'PHP 8.2.36', 'go': 'Go 1.26.8', 'go gorilla/websocket': 'Go 1.26.8, gorilla/websocket v1.5.3',
       'go gobwas/ws': 'Go 1.26.8, gobwas/ws v1.5.0', 'go coder/websocket': 'Go 1.26.8, coder/websocket v1.8.15', 'openssl': 'OpenSSL 3.0.19 s_client'}
TRUTH = {'refused': 'not_listening', 'refused_localhost': 'not_listening', 'timeout': 'filtered', 'admin_prohibited': 'firewall_reject',
         'unreachable_route': 'host_unreachable', 'prohibit_route': 'firewall_reject', 'net_unreachable': 'no_route', 'net_unreachable6': 'family_mismatch',
         'nxdomain': 'dns_failure', 'ws200': 'ws_upgrade_rejected', 'ws404': 'ws_path_not_found', 'ws403': 'ws_origin_rejected', 'ws502': 'proxy_upstream_failed',
         'reset': 'reset_by_peer', 'closed': 'not_http', 'silent': 'not_http', 'ssh': 'other_service', 'textproto': 'not_http', 'plain_to_tls': 'tls_expected',
         'tls_to_plain': 'tls_unexpected', 'selfsigned': 'tls_certificate', 'expired': 'tls_certificate', 'wrongname': 'tls_certificate',
         'clientcert': 'tls_client_certificate', 'tls10': 'tls_obsolete'}
DESC = {'refused': 'nothing listens on the port', 'refused_localhost': 'nothing listens on localhost (both ::1 and 127.0.0.1)',
        'timeout': 'iptables DROP on the port', 'admin_prohibited': 'iptables REJECT --reject-with icmp-admin-prohibited',
        'unreachable_route': 'an unreachable route', 'prohibit_route': 'a prohibit route', 'net_unreachable': 'no route at all',
        'net_unreachable6': 'no IPv6 route', 'nxdomain': 'DNS answers NXDOMAIN', 'ws200': 'an HTTP server answering 200 to the WebSocket handshake',
        'ws404': 'an HTTP server answering 404', 'ws403': 'a server answering 403', 'ws502': 'a gateway answering 502 (nginx page)',
        'reset': 'a server that accepts and resets', 'closed': 'a server that accepts and closes', 'silent': 'a server that accepts and never answers',
        'ssh': 'an SSH banner', 'textproto': 'a text-protocol server answering a JSON line', 'plain_to_tls': 'plain HTTP/WebSocket to a Go TLS server',
        'tls_to_plain': 'TLS to a plain HTTP port', 'selfsigned': 'a self-signed certificate', 'expired': 'an expired certificate',
        'wrongname': 'a certificate for another name', 'clientcert': 'a server requiring a client certificate', 'tls10': 'a server offering only TLS 1.0'}
JUNK = re.compile(r'^(OK|TIMEOUT-NO-ERROR|socket timeout event|Error: timeout|status \d+|GEN-TIMEOUT)\s*$')
def fam(client):
    if client.startswith('curl'): return VER['curl']
    if client == 'node ws': return VER['node ws']
    if client.startswith('node'): return VER['node']
    if client == 'python requests': return VER['python requests']
    if client == 'python websockets': return VER['python websockets']
    if client.startswith('python'): return VER['python']
    if client.startswith('java'): return VER['java']
    if client.startswith('php'): return VER['php']
    if client.startswith('openssl'): return VER['openssl']
    if client in VER: return VER[client]
    return VER['go']
entries = []
seen = set()
for r in raw:
    out = r['out'].strip('\n')
    out = re.sub(r' \(status \d+\)$', '', out, flags=re.M)            # our test client's own addition
    out = '\n'.join(l for l in out.split('\n') if not l.startswith('errno=') and not l.startswith('PHP Warning:  Undefined'))
    if not out.strip() or JUNK.match(out.strip()):
        continue
    key = re.sub(r'0x[0-9a-f]+|:\d{5}->|[0-9A-F]{16}:error', 'X', out)
    if key in seen: continue
    seen.add(key)
    entries.append({'text': out, 'source': 'generated: %s, %s (%s), loopback in a network namespace' % (fam(r['client']), r['client'], DESC[r['scenario']]),
                    'truth': TRUTH[r['scenario']], 'scenario': r['scenario']})
for l in open('/tmp/gen/extra.jsonl'):
    e = json.loads(l)
    entries.append(e)
json.dump(entries, open('/tmp/gen/entries.json', 'w'))
with open('/tmp/gen/texts.jsonl', 'w') as f:
    for e in entries: f.write(json.dumps({'text': e['text']}) + '\n')
print(len(entries))

<?php
[$_, $mode, $url] = $argv;
$p = parse_url($url);
$port = $p['port'] ?? (in_array($p['scheme'], ['https','wss']) ? 443 : 80);
$ctx = stream_context_create(['ssl' => ['cafile' => $argv[3] ?? null]]);
switch ($mode) {
case 'tcp': $s = stream_socket_client("tcp://{$p['host']}:$port", $errno, $errstr, 3); if (!$s) echo "errno=$errno errstr=$errstr\n"; break;
case 'ssl': $s = stream_socket_client("ssl://{$p['host']}:$port", $errno, $errstr, 3, STREAM_CLIENT_CONNECT, $ctx); if (!$s) echo "errno=$errno errstr=$errstr\n"; break;
case 'fgc': file_get_contents($url, false, stream_context_create(['http' => ['timeout' => 3]])); break;
case 'accept': $srv = stream_socket_server("tcp://127.0.0.1:8999", $e, $es); stream_socket_accept($srv, 1); break;
case 'server': $srv = stream_socket_server("tcp://127.0.0.1:8001", $e, $es); if (!$srv) echo "errno=$e errstr=$es\n"; break;
}

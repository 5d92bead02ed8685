// node gen.js MODE URL — prints the error as Node shows it
const [mode, url] = process.argv.slice(2);
const u = new URL(url);
const port = Number(u.port) || (u.protocol === 'https:' || u.protocol === 'wss:' ? 443 : 80);
const done = (e) => { console.log(e && e.stack ? require('util').inspect(e) : String(e)); process.exit(0); };
setTimeout(() => done('TIMEOUT-NO-ERROR'), 8000);
switch (mode) {
  case 'net': require('net').connect({host: u.hostname.replace(/[\[\]]/g, ''), port, timeout: 3000}).on('error', done).on('timeout', () => done('socket timeout event')).on('connect', () => done('OK')); break;
  case 'netmsg': require('net').connect({host: u.hostname.replace(/[\[\]]/g, ''), port}).on('error', e => done(String(e))).on('connect', () => done('OK')); break;
  case 'http': require(u.protocol === 'https:' ? 'https' : 'http').get(url, {timeout: 3000}, r => done('status ' + r.statusCode)).on('error', e => done(String(e))).on('timeout', function () { this.destroy(new Error('timeout')); }); break;
  case 'fetch': fetch(url, {signal: AbortSignal.timeout(4000)}).then(r => done('status ' + r.status), done); break;
  case 'ws': { const WebSocket = require('/tmp/gen/node/node_modules/ws'); const w = new WebSocket(url, {handshakeTimeout: 3000}); w.on('error', e => done(String(e))); w.on('open', () => done('OK')); break; }
  case 'wsfull': { const WebSocket = require('/tmp/gen/node/node_modules/ws'); const w = new WebSocket(url, {handshakeTimeout: 3000}); w.on('error', done); w.on('open', () => done('OK')); break; }
  case 'uncaught': require('net').connect({host: u.hostname, port}); break;
}

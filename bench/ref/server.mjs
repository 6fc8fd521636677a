// SPDX-License-Identifier: MIT
// The reference server of bench/run.sh: a small Node `ws` server that speaks the part of
// rollcall's protocol the benchmark scenarios use (the HS256 token on the upgrade, WELCOME,
// PING -> PONG, ANNOUNCE -> ANNOUNCEMENT to the class, ERROR for the rest), written the way a
// careful Node developer would write it, so that the benchmark can put rollcall's figures
// beside those of the usual alternative. It is not a second broker: no presence, no journal,
// no sessions, no frames. See bench/README.md.
//
// node server.mjs [--host 127.0.0.1] [--port 0] [--port-file FILE]
//   (or BENCH_REF_HOST, BENCH_REF_PORT, BENCH_REF_PORT_FILE); the secret comes from
//   ROLLCALL_JWT_SECRET. Listens on loopback only. SIGTERM or SIGINT: close and exit 0.

import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import { WebSocketServer, WebSocket } from 'ws';

const MAX_PAYLOAD = 64 * 1024; // the broker's largest text message
const OUTBOX_LIMIT = 4 * 1024 * 1024; // the broker's outbox byte limit: over it, close 4001
const LOOPBACK = new Set(['127.0.0.1', '::1', 'localhost']);

function fail(msg) {
  process.stderr.write(`ref-server: ${msg}\n`);
  process.exit(1);
}

function parseArgs(argv) {
  const o = {
    host: process.env.BENCH_REF_HOST || '127.0.0.1',
    port: process.env.BENCH_REF_PORT || '0',
    portFile: process.env.BENCH_REF_PORT_FILE || '',
  };
  for (let i = 0; i < argv.length; i++) {
    const name = argv[i];
    const value = argv[i + 1];
    if (name === '--help') {
      process.stdout.write('usage: node server.mjs [--host H] [--port N] [--port-file F]\n');
      process.exit(0);
    }
    if (value === undefined) fail(`${name} needs a value`);
    if (name === '--host') o.host = value;
    else if (name === '--port') o.port = value;
    else if (name === '--port-file') o.portFile = value;
    else fail(`unknown option ${name}`);
    i++;
  }
  const port = Number(o.port);
  if (!Number.isInteger(port) || port < 0 || port > 65535) fail(`bad port '${o.port}'`);
  o.port = port;
  // A benchmark target: it listens where the load generator is allowed to go, nowhere else.
  if (!LOOPBACK.has(o.host)) fail(`refusing host '${o.host}': loopback only`);
  return o;
}

// --- the token ------------------------------------------------------------------------------

function b64json(part) {
  try {
    const v = JSON.parse(Buffer.from(part, 'base64url').toString('utf8'));
    return v !== null && typeof v === 'object' && !Array.isArray(v) ? v : null;
  } catch {
    return null;
  }
}

function isId(s) {
  return typeof s === 'string' && s.length > 0 && s.length <= 128;
}

// Returns { sub, role, classes } for a valid token, or null.
function verifyToken(token, secret, nowS) {
  if (typeof token !== 'string' || token.length === 0 || token.length > 8192) return null;
  const parts = token.split('.');
  if (parts.length !== 3) return null;
  const [h, c, s] = parts;
  const header = b64json(h);
  if (!header || header.alg !== 'HS256') return null;

  // The signature is checked before anything in the claims is believed.
  const want = crypto.createHmac('sha256', secret).update(`${h}.${c}`).digest();
  const got = Buffer.from(s, 'base64url');
  if (got.length !== want.length || !crypto.timingSafeEqual(got, want)) return null;

  const claims = b64json(c);
  if (!claims) return null;
  if (typeof claims.exp !== 'number' || nowS > claims.exp) return null;
  if (typeof claims.nbf === 'number' && claims.nbf > nowS) return null;
  if (!isId(claims.sub)) return null;
  if (claims.role !== 'student' && claims.role !== 'teacher') return null;

  const classes = [];
  if (claims.class_id !== undefined) {
    if (!isId(claims.class_id)) return null;
    classes.push(claims.class_id);
  }
  if (claims.classes !== undefined) {
    if (!Array.isArray(claims.classes)) return null;
    for (const k of claims.classes) {
      if (!isId(k)) return null;
      if (!classes.includes(k)) classes.push(k);
    }
  }
  if (classes.length === 0) return null;
  return { sub: claims.sub, role: claims.role, classes };
}

// --- messages -------------------------------------------------------------------------------

function iso() {
  return new Date().toISOString();
}

// One envelope as the broker writes it: event, data, then id when the request had one.
function envelope(event, data, id) {
  const m = { event, data };
  if (id !== undefined) m.id = id;
  return JSON.stringify(m);
}

function sendError(ws, code, message, id) {
  ws.send(envelope('ERROR', { code, message, ref: id === undefined ? null : id }, id));
}

// Which class a request acts on: data.class_id when given (it must be one of the token's),
// else the token's only class. Sends the error and returns null otherwise.
function resolveClass(ws, data, id) {
  const want = data && data.class_id;
  if (typeof want === 'string') {
    if (ws.user.classes.includes(want)) return want;
    sendError(ws, 'CLASS_FORBIDDEN', 'class_id is not in your token', id);
    return null;
  }
  if (ws.user.classes.length === 1) return ws.user.classes[0];
  sendError(ws, 'CLASS_REQUIRED', 'your token allows several classes: set data.class_id', id);
  return null;
}

// --- the server -----------------------------------------------------------------------------

const opts = parseArgs(process.argv.slice(2));
const secret = process.env.ROLLCALL_JWT_SECRET;
if (!secret) fail('ROLLCALL_JWT_SECRET is not set');

const rooms = new Map(); // class id -> Set of sockets
let slowCloses = 0;

function join(ws) {
  for (const k of ws.user.classes) {
    let room = rooms.get(k);
    if (!room) {
      room = new Set();
      rooms.set(k, room);
    }
    room.add(ws);
  }
}

function leave(ws) {
  for (const k of ws.user.classes) {
    const room = rooms.get(k);
    if (!room) continue;
    room.delete(ws);
    if (room.size === 0) rooms.delete(k);
  }
}

// Sends one already serialized message, closing a consumer whose backlog is over the limit
// rather than buffering for it without bound.
function deliver(ws, buf) {
  if (ws.readyState !== WebSocket.OPEN) return;
  if (ws.bufferedAmount > OUTBOX_LIMIT) {
    slowCloses++;
    ws.close(4001, 'slow consumer');
    return;
  }
  ws.send(buf, { binary: false });
}

function onAnnounce(ws, msg) {
  if (ws.user.role !== 'teacher') {
    sendError(ws, 'FORBIDDEN', `a ${ws.user.role} may not send ANNOUNCE`, msg.id);
    return;
  }
  const data = msg.data;
  const text = data && typeof data === 'object' ? data.text : undefined;
  if (typeof text !== 'string') {
    sendError(ws, 'INVALID_PAYLOAD', 'data.text is required', msg.id);
    return;
  }
  const classId = resolveClass(ws, data, msg.id);
  if (!classId) return;
  const out = { class_id: classId, text, from: ws.user.sub, name: null, at: iso() };
  // Serialized and encoded once for the whole class, as the broker shares one message.
  const buf = Buffer.from(envelope('ANNOUNCEMENT', out));
  for (const peer of rooms.get(classId) || []) {
    if (peer !== ws) deliver(peer, buf);
  }
  deliver(ws, Buffer.from(envelope('ANNOUNCEMENT', out, msg.id)));
}

function onPing(ws, msg) {
  const data = {};
  if (msg.data && typeof msg.data === 'object' && msg.data.ts !== undefined) data.ts = msg.data.ts;
  data.server_time = iso();
  ws.send(envelope('PONG', data, msg.id));
}

function onMessage(ws, raw, isBinary) {
  if (isBinary) {
    sendError(ws, 'UNKNOWN_EVENT', 'binary messages are not supported here');
    return;
  }
  let msg;
  try {
    msg = JSON.parse(raw.toString('utf8'));
  } catch {
    sendError(ws, 'BAD_JSON', 'the message is not JSON');
    return;
  }
  if (msg === null || typeof msg !== 'object' || Array.isArray(msg) || typeof msg.event !== 'string') {
    sendError(ws, 'BAD_ENVELOPE', 'expected {"event": ..., "data": {...}}');
    return;
  }
  if (msg.event === 'PING') onPing(ws, msg);
  else if (msg.event === 'ANNOUNCE') onAnnounce(ws, msg);
  else sendError(ws, 'UNKNOWN_EVENT', `unknown event "${msg.event.slice(0, 64)}"`, msg.id);
}

const wss = new WebSocketServer({
  noServer: true,
  perMessageDeflate: false,
  maxPayload: MAX_PAYLOAD,
});

wss.on('connection', (ws, user) => {
  ws.user = user;
  ws.on('error', () => {}); // a peer that breaks the protocol is closed by ws; nothing to add
  ws.on('close', () => leave(ws));
  ws.on('message', (raw, isBinary) => onMessage(ws, raw, isBinary));
  ws.send(
    envelope('WELCOME', {
      user_id: user.sub,
      role: user.role,
      name: null,
      classes: user.classes,
      server_time: iso(),
      protocol: 1,
    }),
  );
  join(ws);
});

function refuse(socket, status, reason, body) {
  socket.end(
    `HTTP/1.1 ${status} ${reason}\r\n` +
      (status === 401 ? 'WWW-Authenticate: Bearer realm="rollcall", error="invalid_token"\r\n' : '') +
      'Content-Type: text/plain\r\n' +
      `Content-Length: ${Buffer.byteLength(body)}\r\n` +
      'Connection: close\r\n\r\n' +
      body,
  );
}

const server = http.createServer((req, res) => {
  const path = (req.url || '').split('?')[0];
  if (req.method === 'GET' && path === '/readyz') {
    res.writeHead(200, { 'Content-Type': 'text/plain' });
    res.end('ready\n');
    return;
  }
  res.writeHead(404, { 'Content-Type': 'text/plain' });
  res.end('not found\n');
});

server.on('upgrade', (req, socket, head) => {
  socket.on('error', () => {});
  let url;
  try {
    url = new URL(req.url || '/', 'http://localhost');
  } catch {
    refuse(socket, 400, 'Bad Request', 'bad request target\n');
    return;
  }
  if (url.pathname !== '/ws') {
    refuse(socket, 404, 'Not Found', 'no WebSocket endpoint here: use /ws\n');
    return;
  }
  const user = verifyToken(url.searchParams.get('token'), secret, Date.now() / 1000);
  if (!user) {
    refuse(socket, 401, 'Unauthorized', 'invalid or missing token\n');
    return;
  }
  wss.handleUpgrade(req, socket, head, (ws) => wss.emit('connection', ws, user));
});

server.on('error', (err) => fail(`listen: ${err.message}`));

server.listen(opts.port, opts.host, () => {
  const port = server.address().port;
  if (opts.portFile) {
    // Written whole, then renamed, so a reader never sees half a number.
    const tmp = `${opts.portFile}.tmp`;
    fs.writeFileSync(tmp, `${port}\n`);
    fs.renameSync(tmp, opts.portFile);
  }
});

let stopping = false;
function stop() {
  if (stopping) return;
  stopping = true;
  server.close();
  for (const ws of wss.clients) ws.close(1001, 'going away');
  if (slowCloses) process.stderr.write(`ref-server: closed ${slowCloses} slow consumers (4001)\n`);
  // Exit once every client is gone, or after a second whatever the peers do.
  const done = () => process.exit(0);
  setTimeout(done, 1000).unref();
  wss.close(done);
}
process.on('SIGTERM', stop);
process.on('SIGINT', stop);

// A minimal RFC 6455 WebSocket client over node:net, for the gateway's tests and smoke tools (Node 20
// has no global WebSocket and the project declares no client package). Enough for the tests: the
// opening handshake with custom headers, a refused upgrade reported with its status and body,
// masked binary and text frames out, unfragmented and fragmented frames in, ping -> pong, close
// handshake, and pause()/resume() of reading to play a slow consumer. wss: over node:tls with the
// caller's TLS options (a test CA: Node 20 reads NODE_EXTRA_CA_CERTS only at start). No extensions.
//
// It satisfies gateway/client.ts's Transport (send + assignable onmessage), so a TradingClient runs
// over it unchanged.

import { createHash, randomBytes, randomFillSync } from 'node:crypto';
import { connect, type Socket } from 'node:net';
import { connect as tlsConnect, type ConnectionOptions } from 'node:tls';

const GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';

/**
 * Masking keys (RFC 6455 5.3: fresh and unpredictable per frame) come from a pool filled by the
 * CSPRNG 1,024 keys at a time. One crypto call per frame (randomBytes(4)) left a weak global handle
 * per call for the next scavenge to process: at 10-20k frames/s in the SLO load generator those
 * scavenges took 4-30 ms (docs/benchmarks.md, "SLO harness").
 */
const MASK_POOL = Buffer.alloc(4096);
let maskAt = MASK_POOL.length;
function maskKey(): number {
  if (maskAt === MASK_POOL.length) { randomFillSync(MASK_POOL); maskAt = 0; }
  const at = maskAt;
  maskAt += 4;
  return at;
}

export class UpgradeRefusedError extends Error {
  override readonly name = 'UpgradeRefusedError';
  constructor(readonly status: number, readonly headers: Record<string, string>, readonly body: string) {
    super(`upgrade refused: HTTP ${status} ${body}`);
  }
}

export interface CloseInfo {
  code: number;
  reason: string;
}

export class RawWebSocket {
  onmessage: ((event: { data: unknown }) => void) | null = null;
  /** Text frames also arrive through onmessage (data is a string); this hook sees them too. */
  ontext: ((text: string) => void) | null = null;
  readonly closed: Promise<CloseInfo>;
  closeInfo: CloseInfo | null = null;
  private resolveClosed: (c: CloseInfo) => void = () => {};
  private buf: Buffer = Buffer.alloc(0);
  private fragments: Buffer[] = [];
  private fragmentOpcode = 0;
  private sentClose = false;

  private constructor(private readonly socket: Socket, leftover: Buffer) {
    this.closed = new Promise((r) => { this.resolveClosed = r; });
    socket.on('data', (d: Buffer) => this.onData(d));
    socket.on('close', () => this.finish({ code: 1006, reason: 'connection lost' }));
    socket.on('error', () => {});
    if (leftover.length > 0) this.onData(leftover);
  }

  /**
   * Opens ws:// or wss://host:port/path?query with extra request headers; `tls` (e.g. `{ ca }`) is
   * used for wss: only. Rejects with UpgradeRefusedError.
   */
  static connect(url: string, headers: Record<string, string> = {}, timeoutMs = 5000, tls: ConnectionOptions = {}): Promise<RawWebSocket> {
    const u = new URL(url);
    const secure = u.protocol === 'wss:';
    if (!secure && u.protocol !== 'ws:') return Promise.reject(new Error(`only ws: and wss: URLs, got ${u.protocol}`));
    const key = randomBytes(16).toString('base64');
    const expectAccept = createHash('sha1').update(key + GUID).digest('base64');
    return new Promise<RawWebSocket>((resolve, reject) => {
      // Node sets SNI and checks the certificate against the host (IP SANs for an IP) itself.
      const socket = secure
        ? tlsConnect({ ...tls, host: u.hostname, port: Number(u.port || 443) })
        : connect({ host: u.hostname, port: Number(u.port || 80) });
      socket.setNoDelay(true);
      let head = Buffer.alloc(0);
      const timer = setTimeout(() => { socket.destroy(); reject(new Error('handshake timeout')); }, timeoutMs);
      const fail = (e: Error): void => { clearTimeout(timer); socket.destroy(); reject(e); };
      socket.once('error', fail);
      // Over TLS the request waits for the handshake (and its certificate check) to finish.
      socket.on(secure ? 'secureConnect' : 'connect', () => {
        const lines = [
          `GET ${u.pathname}${u.search} HTTP/1.1`, `Host: ${u.host}`, 'Upgrade: websocket', 'Connection: Upgrade',
          `Sec-WebSocket-Key: ${key}`, 'Sec-WebSocket-Version: 13',
          ...Object.entries(headers).map(([k, v]) => `${k}: ${v}`),
        ];
        socket.write(lines.join('\r\n') + '\r\n\r\n');
      });
      const onHead = (d: Buffer): void => {
        head = Buffer.concat([head, d]);
        const end = head.indexOf('\r\n\r\n');
        if (end < 0) return;
        const text = head.subarray(0, end).toString('latin1');
        const [statusLine, ...rest] = text.split('\r\n');
        const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(statusLine ?? '')?.[1] ?? 0);
        const hs: Record<string, string> = {};
        for (const l of rest) { const i = l.indexOf(':'); if (i > 0) hs[l.slice(0, i).trim().toLowerCase()] = l.slice(i + 1).trim(); }
        const after = head.subarray(end + 4);
        if (status !== 101) {
          const len = Number(hs['content-length'] ?? -1);
          let body = after;
          const done = (): void => { clearTimeout(timer); socket.destroy(); reject(new UpgradeRefusedError(status, hs, body.toString('utf8'))); };
          if (len >= 0 && body.length >= len) { body = body.subarray(0, len); done(); return; }
          socket.off('data', onHead);
          socket.on('data', (more: Buffer) => {
            body = Buffer.concat([body, more]);
            if (len >= 0 && body.length >= len) { body = body.subarray(0, len); done(); }
          });
          socket.on('end', done);
          return;
        }
        if (hs['sec-websocket-accept'] !== expectAccept) { fail(new Error('bad Sec-WebSocket-Accept')); return; }
        clearTimeout(timer);
        socket.off('data', onHead);
        socket.off('error', fail);
        resolve(new RawWebSocket(socket, Buffer.from(after)));
      };
      socket.on('data', onHead);
    });
  }

  /** Sends one binary frame (Uint8Array / ArrayBuffer) or one text frame (string). */
  send(data: ArrayBuffer | Uint8Array | string): void {
    if (typeof data === 'string') this.sendFrame(0x1, Buffer.from(data, 'utf8'));
    else this.sendFrame(0x2, data instanceof Uint8Array ? Buffer.from(data.buffer, data.byteOffset, data.byteLength) : Buffer.from(data));
  }

  /** Starts the close handshake; resolves when the connection is closed. */
  close(code = 1000, reason = ''): Promise<CloseInfo> {
    if (!this.sentClose && this.closeInfo === null) {
      this.sentClose = true;
      const r = Buffer.from(reason, 'utf8');
      const p = Buffer.alloc(2 + r.length);
      p.writeUInt16BE(code, 0); r.copy(p, 2);
      this.sendFrame(0x8, p);
      setTimeout(() => this.socket.destroy(), 1000).unref();
    }
    return this.closed;
  }

  /** Drops the TCP connection without a close frame (a crashed client). */
  destroy(): void {
    this.socket.destroy();
  }

  /** Stops reading from the socket (the server's send buffer fills up): a slow consumer. */
  pause(): void { this.socket.pause(); }
  resume(): void { this.socket.resume(); }

  private sendFrame(opcode: number, payload: Buffer): void {
    if (this.socket.destroyed) return;
    const n = payload.length;
    const headLen = n < 126 ? 2 : n < 65536 ? 4 : 10;
    const frame = Buffer.alloc(headLen + 4 + n);
    frame[0] = 0x80 | opcode;
    if (n < 126) frame[1] = 0x80 | n;
    else if (n < 65536) { frame[1] = 0x80 | 126; frame.writeUInt16BE(n, 2); }
    else { frame[1] = 0x80 | 127; frame.writeUInt32BE(Math.floor(n / 2 ** 32), 2); frame.writeUInt32BE(n >>> 0, 6); }
    const m = maskKey();
    const m0 = MASK_POOL[m]!, m1 = MASK_POOL[m + 1]!, m2 = MASK_POOL[m + 2]!, m3 = MASK_POOL[m + 3]!;
    frame[headLen] = m0; frame[headLen + 1] = m1; frame[headLen + 2] = m2; frame[headLen + 3] = m3;
    const o = headLen + 4;
    for (let i = 0; i < n; i++) { const k = i & 3; frame[o + i] = payload[i]! ^ (k === 0 ? m0 : k === 1 ? m1 : k === 2 ? m2 : m3); }
    this.socket.write(frame);
  }

  private onData(d: Buffer): void {
    this.buf = this.buf.length === 0 ? d : Buffer.concat([this.buf, d]);
    for (;;) {
      const b = this.buf;
      if (b.length < 2) return;
      const fin = (b[0]! & 0x80) !== 0;
      const opcode = b[0]! & 0x0f;
      let len = b[1]! & 0x7f;
      let p = 2;
      if (len === 126) { if (b.length < 4) return; len = b.readUInt16BE(2); p = 4; }
      else if (len === 127) { if (b.length < 10) return; len = b.readUInt32BE(2) * 2 ** 32 + b.readUInt32BE(6); p = 10; }
      const masked = (b[1]! & 0x80) !== 0;
      const maskAt = p;
      if (masked) p += 4;
      if (b.length < p + len) return;
      let payload = b.subarray(p, p + len);
      if (masked) { payload = Buffer.from(payload); for (let i = 0; i < len; i++) payload[i] = payload[i]! ^ b[maskAt + (i & 3)]!; }
      this.buf = b.subarray(p + len);
      this.onFrame(fin, opcode, payload);
    }
  }

  private onFrame(fin: boolean, opcode: number, payload: Buffer): void {
    if (opcode === 0x8) {
      const code = payload.length >= 2 ? payload.readUInt16BE(0) : 1005;
      const reason = payload.length > 2 ? payload.subarray(2).toString('utf8') : '';
      if (!this.sentClose) { this.sentClose = true; const p = Buffer.alloc(2); p.writeUInt16BE(code === 1005 ? 1000 : code, 0); this.sendFrame(0x8, p); }
      this.finish({ code, reason });
      this.socket.end();
      return;
    }
    if (opcode === 0x9) { this.sendFrame(0xa, payload); return; }
    if (opcode === 0xa) return;
    if (opcode === 0x0) {
      this.fragments.push(Buffer.from(payload));
      if (!fin) return;
      const all = Buffer.concat(this.fragments);
      this.fragments = [];
      this.deliver(this.fragmentOpcode, all);
      return;
    }
    if (!fin) { this.fragmentOpcode = opcode; this.fragments = [Buffer.from(payload)]; return; }
    this.deliver(opcode, payload);
  }

  private deliver(opcode: number, payload: Buffer): void {
    if (opcode === 0x1) {
      const text = payload.toString('utf8');
      this.ontext?.(text);
      this.onmessage?.({ data: text });
      return;
    }
    // A fresh ArrayBuffer per message (the client may keep it).
    const ab = new ArrayBuffer(payload.length);
    new Uint8Array(ab).set(payload);
    this.onmessage?.({ data: ab });
  }

  private finish(c: CloseInfo): void {
    if (this.closeInfo !== null) return;
    this.closeInfo = c;
    this.resolveClosed(c);
  }
}

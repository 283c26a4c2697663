// A loopback TCP proxy for failure tests: forwards 127.0.0.1:<port> to a target; cut() drops every
// connection and refuses new ones (the service looks down), restore() accepts again.

import net from 'node:net';

export class TcpProxy {
  private server: net.Server | null = null;
  private readonly sockets = new Set<net.Socket>();
  private down = false;
  port = 0;
  accepted = 0;

  constructor(private readonly targetHost: string, private readonly targetPort: number) {}

  async listen(): Promise<number> {
    const server = net.createServer((client) => {
      if (this.down) { client.destroy(); return; }
      this.accepted++;
      const upstream = net.connect(this.targetPort, this.targetHost);
      this.sockets.add(client); this.sockets.add(upstream);
      const close = (): void => { client.destroy(); upstream.destroy(); this.sockets.delete(client); this.sockets.delete(upstream); };
      client.on('error', close); upstream.on('error', close);
      client.on('close', close); upstream.on('close', close);
      client.pipe(upstream); upstream.pipe(client);
    });
    this.server = server;
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
    this.port = (server.address() as net.AddressInfo).port;
    return this.port;
  }

  cut(): void {
    this.down = true;
    for (const s of this.sockets) s.destroy();
    this.sockets.clear();
  }

  restore(): void {
    this.down = false;
  }

  async close(): Promise<void> {
    this.cut();
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }
}

/** The URL with host and port replaced (to go through a proxy). */
export function viaProxy(url: string, port: number): string {
  const u = new URL(url);
  u.hostname = '127.0.0.1';
  u.port = String(port);
  return u.toString();
}

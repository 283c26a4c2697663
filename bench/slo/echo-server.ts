// The floor: a bare uWebSockets.js binary echo server on 127.0.0.1 (any free port). Every binary
// message goes back unchanged, as one message. Forked by the harness (IPC: {type:'ready', url});
// standalone it prints the URL and runs until SIGINT.

import uWS from 'uWebSockets.js';

const app = uWS.App();
app.ws('/*', {
  compression: uWS.DISABLED,
  maxPayloadLength: 1 << 20,
  maxBackpressure: 64 << 20,
  idleTimeout: 120,
  message: (ws, msg, isBinary) => { ws.send(msg, isBinary, false); },
});
app.listen('127.0.0.1', 0, (sock) => {
  if (sock === false) {
    process.stderr.write('echo server: cannot listen on 127.0.0.1\n');
    process.exit(1);
  }
  const port = uWS.us_socket_local_port(sock as unknown as uWS.us_socket);
  const url = `ws://127.0.0.1:${port}/echo`;
  if (process.send) {
    process.send({ type: 'ready', url });
    process.on('message', (m: { type?: string }) => { if (m?.type === 'stop') process.exit(0); });
    process.on('disconnect', () => process.exit(0));
  } else {
    process.stdout.write(`${url}\n`);
  }
});

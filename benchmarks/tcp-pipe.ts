// Raw TCP of N bytes, the baseline of the distribution benchmark: `receive HOST PORT` prints
// "ready", then, once a sender has closed, the bytes and seconds from its connection to its end;
// `send HOST PORT BYTES` writes that many bytes and closes.

import { connect, createServer } from 'node:net';

const [mode, host, port, bytes] = process.argv.slice(2);

if (mode === 'receive') {
  const server = createServer((socket) => {
    const start = performance.now();
    let received = 0;
    socket.on('data', (data: Buffer) => (received += data.byteLength));
    socket.on('end', () => {
      console.log(JSON.stringify({ bytes: received, seconds: (performance.now() - start) / 1000 }));
      server.close();
    });
  });
  server.listen(Number(port), host, () => console.log('ready'));
} else if (mode === 'send') {
  const block = Buffer.alloc(1024 * 1024, 7);
  let left = Number(bytes);
  const socket = connect(Number(port), host, () => {
    const write = () => {
      while (left > 0) {
        const piece = left >= block.byteLength ? block : block.subarray(0, left);
        left -= piece.byteLength;
        if (!socket.write(piece)) return void socket.once('drain', write);
      }
      socket.end();
    };
    write();
  });
} else {
  console.error('usage: tcp-pipe receive HOST PORT | send HOST PORT BYTES');
  process.exit(2);
}

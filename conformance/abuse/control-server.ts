// An idle HTTP server in a process of its own: the latency a probe sees from this machine alone, so a
// loaded machine (npm test runs files side by side) is not mistaken for a node that froze.

import { spawn } from 'node:child_process';
import { once } from 'node:events';

export interface ControlServer {
  url: string;
  close(): Promise<void>;
}

const SERVER = `
const server = require('node:http').createServer((_request, response) => response.end('ok'));
server.listen(0, '127.0.0.1', () => process.stdout.write(server.address().port + '\\n'));
`;

export async function startControlServer(): Promise<ControlServer> {
  const env = { ...process.env };
  delete env['NODE_OPTIONS']; // the test runner's loader hooks would only slow it down
  const child = spawn(process.execPath, ['-e', SERVER], { env, stdio: ['ignore', 'pipe', 'inherit'] });
  const kill = () => void child.kill('SIGKILL');
  process.once('exit', kill);
  const [chunk] = (await once(child.stdout!, 'data')) as [Buffer];
  return {
    url: `http://127.0.0.1:${Number(chunk.toString().trim())}`,
    async close() {
      process.off('exit', kill);
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = once(child, 'exit');
      kill();
      await exited;
    },
  };
}

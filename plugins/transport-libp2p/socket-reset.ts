// libp2p aborts a TCP connection with socket.resetAndDestroy(). On a socket already ended (a
// graceful close under way) libuv refuses the reset and Node 20 then never closes the handle, so
// the process cannot exit. Such a socket is destroyed plainly: its FIN is out, a RST cannot follow.

import { Socket } from 'node:net';

const resetAndDestroy = Socket.prototype.resetAndDestroy;

Socket.prototype.resetAndDestroy = function (this: Socket) {
  if (this.writableEnded) return this.destroy();
  return resetAndDestroy.call(this);
};

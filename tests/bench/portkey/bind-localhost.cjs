// bind-localhost.cjs — preload (`node -r ./bind-localhost.cjs ...`) that makes every TCP
// listener of the process bind 127.0.0.1. The Portkey gateway's start script listens on
// every interface and has no option for the address; tests/bench/run must not expose
// it, so the host argument of net.Server.prototype.listen is replaced here. Unix socket
// paths and inherited handles are left alone.
'use strict';
const net = require('node:net');

const HOST = '127.0.0.1';
const listen = net.Server.prototype.listen;

function isPort(v) {
  return typeof v === 'number' || (typeof v === 'string' && /^\d+$/.test(v));
}

net.Server.prototype.listen = function listenOnLoopback(...args) {
  const first = args[0];
  if (first && typeof first === 'object' && !Array.isArray(first) &&
      !('path' in first) && !('handle' in first) && !('fd' in first) &&
      !('_handle' in first)) {
    // listen(options[, callback])
    args[0] = { ...first, host: HOST };
  } else if (isPort(first) || first === undefined || first === null) {
    // listen([port[, host[, backlog]]][, callback])
    const rest = args.slice(1);
    if (rest.length && (typeof rest[0] === 'string' || rest[0] === undefined || rest[0] === null)) {
      rest.shift();                       // the host the caller asked for (if any)
    }
    args = [first == null ? 0 : Number(first), HOST, ...rest];
  }
  return listen.apply(this, args);
};

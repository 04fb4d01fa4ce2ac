// Idle connections: CONNECTIONS authenticated WebSockets that only wait for
// HOLD seconds, PER_VU of them per VU (k6/websockets lets one VU hold many).
// Read the server's memory before and during the hold yourself, e.g.
//   grep VmRSS /proc/$(pgrep -f 'chat standalone')/status
// (`loadtest idle --server-pid` does this for you).
//
//   k6 run -e GATEWAYS=http://127.0.0.1:8080 -e CONNECTIONS=5000 -e HOLD=30 idle.js

import exec from 'k6/execution';
import { Counter } from 'k6/metrics';
import { setTimeout } from 'k6/timers';
import { WebSocket } from 'k6/websockets';

import { registerUsers } from './lib/api.js';
import { GATEWAYS, config, wsUrl } from './lib/config.js';

const PER_VU = Number(__ENV.PER_VU || 100);
const IDLE_USERS = Number(__ENV.USERS || 20);
const VUS = Math.ceil(config.connections / PER_VU);

const ready = new Counter('chat_idle_ready');
const errors = new Counter('chat_errors');

export const options = {
  setupTimeout: '300s',
  scenarios: {
    idle: {
      executor: 'per-vu-iterations',
      vus: VUS,
      iterations: 1,
      maxDuration: `${config.holdSecs + 300}s`,
    },
  },
  thresholds: {
    chat_errors: ['count==0'],
  },
};

export function setup() {
  return { users: registerUsers(IDLE_USERS, `k6i${config.run}-`) };
}

export default function (data) {
  const vu = exec.vu.idInTest - 1;
  const sockets = [];
  for (let k = 0; k < PER_VU; k++) {
    const i = vu * PER_VU + k;
    if (i >= config.connections) break;
    const ws = new WebSocket(wsUrl(GATEWAYS[i % GATEWAYS.length]), null, {
      headers: { Authorization: `Bearer ${data.users[i % data.users.length].token}` },
      tags: { name: 'idle' },
    });
    let closing = false;
    ws.addEventListener('message', (e) => {
      if (JSON.parse(e.data).type === 'ready') ready.add(1);
    });
    ws.addEventListener('close', (e) => {
      if (!closing) errors.add(1, { code: `close_${e.code}` });
    });
    ws.addEventListener('error', () => errors.add(1, { code: 'socket_error' }));
    sockets.push({
      close: () => {
        closing = true;
        ws.close();
      },
    });
  }
  setTimeout(() => sockets.forEach((s) => s.close()), config.holdSecs * 1000);
}

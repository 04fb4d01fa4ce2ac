// HTTP load: messages posted with POST /chats/{id}/messages at an open-loop
// arrival rate (k6's constant-arrival-rate executor starts iterations on
// schedule whatever the server does; `dropped_iterations` counts those it could
// not start), mixed with reads of the chat list and history (READ_RATIO).
//
//   k6 run -e GATEWAYS=http://127.0.0.1:8080 -e USERS=50 -e CHATS=50 -e RATE=500 http_chat.js

import { check } from 'k6';
import exec from 'k6/execution';
import { Counter } from 'k6/metrics';

import { chatList, history, postMessage, population } from './lib/api.js';
import { config } from './lib/config.js';
import { payload } from './lib/logic.js';

const errors = new Counter('chat_errors');

export const options = {
  setupTimeout: `${120 + config.users + config.chats}s`,
  scenarios: {
    http: {
      executor: 'ramping-arrival-rate',
      startRate: 0,
      timeUnit: '1s',
      preAllocatedVUs: Math.max(10, Math.ceil(config.rate / 20)),
      maxVUs: Math.max(50, Math.ceil(config.rate / 2)),
      stages: [
        { target: config.rate, duration: `${config.rampSecs}s` },
        { target: config.rate, duration: `${Math.max(1, config.durationSecs - config.rampSecs)}s` },
      ],
    },
  },
  thresholds: {
    'checks{kind:send}': ['rate>0.99'],
    'http_req_duration{name:send}': ['p(99)<1000'],
  },
};

export function setup() {
  return population(`k6h${config.run}-`);
}

export default function (data) {
  const n = exec.scenario.iterationInTest;
  const chat = data.chats[Math.floor(Math.random() * data.chats.length)];
  const member = chat.members[Math.floor(Math.random() * chat.members.length)];
  const token = data.users[member].token;
  if (Math.random() < config.readRatio) {
    const r = Math.random() < 0.5 ? chatList(n, token) : history(n, token, chat.id);
    if (!check(r, { 'read 200': (x) => x.status === 200 }, { kind: 'read' })) {
      errors.add(1, { code: r.json('error.code') || `http_${r.status}` });
    }
    return;
  }
  const r = postMessage(n, token, chat.id, `${config.run}.h.${n}`, payload(config.run, Date.now(), config.textBytes));
  if (!check(r, { 'send 201': (x) => x.status === 201 }, { kind: 'send' })) {
    errors.add(1, { code: r.json('error.code') || `http_${r.status}` });
  }
}

// WebSocket chat load: the scenario of `loadtest run`, for k6.
//
// setup() registers USERS users and creates CHATS chats (DIRECT_RATIO of them
// direct, the rest groups of GROUP_SIZE) over HTTP. Each VU is one connection
// (connection i belongs to user i mod USERS, on gateway i mod GATEWAYS): it
// subscribes to every chat of its user, then sends its share of an open-loop
// schedule of RATE msgs/s (ramping up over RAMP_UP s, DURATION s in all), and
// checks every delivery: each message of a subscribed chat must arrive exactly
// once and in seq order. After DRAIN s it reads each chat's last seq back and
// counts what never arrived. Latency is measured from the time a message was
// due, not sent, so a slow server cannot hide behind a slow client.
//
//   k6 run -e GATEWAYS=http://127.0.0.1:8080 -e USERS=100 -e CHATS=100 -e RATE=1000 ws_chat.js

import exec from 'k6/execution';
import { Counter, Trend } from 'k6/metrics';
import { setTimeout } from 'k6/timers';
import { WebSocket } from 'k6/websockets';

import { lastSeq, population } from './lib/api.js';
import { GATEWAYS, config, wsUrl } from './lib/config.js';
import { Schedule, Stream, parsePayload, payload } from './lib/logic.js';

const ackLatency = new Trend('chat_ack_latency', true);
const deliveryLatency = new Trend('chat_delivery_latency', true);
const sentCount = new Counter('chat_sent');
const ackedCount = new Counter('chat_acked');
const unsentCount = new Counter('chat_unsent');
const deliveries = new Counter('chat_deliveries');
const expectedDeliveries = new Counter('chat_expected_deliveries');
const missing = new Counter('chat_missing');
const duplicated = new Counter('chat_duplicated');
const outOfOrder = new Counter('chat_out_of_order');
const unexpected = new Counter('chat_unexpected');
const errors = new Counter('chat_errors');

// Seconds between the end of setup() and the first send: time to connect and subscribe.
const CONNECT_GRACE = 5 + config.connections / 100;

export const options = {
  setupTimeout: `${120 + config.users + config.chats}s`,
  scenarios: {
    chat: {
      executor: 'per-vu-iterations',
      vus: config.connections,
      iterations: 1,
      maxDuration: `${Math.ceil(CONNECT_GRACE + config.durationSecs + config.drainSecs + 120)}s`,
    },
  },
  thresholds: {
    // Correctness: must be zero.
    chat_missing: ['count==0'],
    chat_duplicated: ['count==0'],
    chat_out_of_order: ['count==0'],
    chat_unexpected: ['count==0'],
  },
};

export function setup() {
  const pop = population(`k6${config.run}-`);
  return { ...pop, start: Date.now() + CONNECT_GRACE * 1000 };
}

export default function (data) {
  const index = exec.vu.idInTest - 1;
  const user = index % data.users.length;
  const token = data.users[user].token;
  const chats = data.byUser[user];
  const hasChats = (i) => data.byUser[i % data.users.length].length > 0;
  let senders = 0;
  let senderIndex = -1;
  for (let i = 0; i < config.connections; i++) {
    if (i === index) senderIndex = senders;
    if (hasChats(i)) senders++;
  }
  const sched = new Schedule(config.rate, config.rampSecs, config.durationSecs);
  const steadyMs = data.start + config.rampSecs * 1000;
  const endMs = data.start + config.durationSecs * 1000;
  let next = chats.length > 0 ? senderIndex : Infinity;

  const streams = new Map(); // chat id → Stream
  const pending = new Map(); // client_msg_id → due ms
  const toSubscribe = chats.slice();
  let subscribing = null;
  let timer = null;
  let sending = false;
  let finished = false;

  const ws = new WebSocket(wsUrl(GATEWAYS[index % GATEWAYS.length]), null, {
    headers: { Authorization: `Bearer ${token}` },
    tags: { name: 'ws' },
  });

  const subscribeNext = () => {
    subscribing = toSubscribe.shift();
    if (subscribing === undefined) {
      subscribing = null;
      sending = true;
      pump();
      return;
    }
    ws.send(JSON.stringify({ type: 'subscribe', chat_id: subscribing }));
  };

  // Sends every message due by now, up to the in-flight limit; re-arms the timer.
  const pump = () => {
    timer = null;
    if (!sending || finished) return;
    const now = Date.now();
    while (pending.size < config.maxInflight) {
      const due = sched.due(next);
      if (due === null) {
        sending = false;
        return;
      }
      const dueMs = data.start + due * 1000;
      if (dueMs > now) {
        timer = setTimeout(pump, dueMs - now);
        return;
      }
      const chat = chats[Math.floor(Math.random() * chats.length)];
      const id = `${config.run}.${index}.${next}`;
      pending.set(id, dueMs);
      ws.send(
        JSON.stringify({ type: 'send', chat_id: chat, client_msg_id: id, text: payload(config.run, dueMs, config.textBytes) }),
      );
      sentCount.add(1);
      next += senders;
    }
    // At the in-flight limit: an answer calls pump() again.
  };

  const answered = (id) => {
    if (pending.delete(id) && sending && timer === null) pump();
  };

  ws.addEventListener('message', (e) => {
    const f = JSON.parse(e.data);
    switch (f.type) {
      case 'ready':
        subscribeNext();
        break;
      case 'subscribed':
        if (f.chat_id === subscribing) {
          streams.set(f.chat_id, new Stream(f.last_seq));
          subscribeNext();
        }
        break;
      case 'message': {
        const m = f.message;
        deliveries.add(1);
        const s = streams.get(m.chat_id);
        if (!s) {
          unexpected.add(1);
          break;
        }
        if (s.onSeq(m.seq) === 'duplicate') break;
        const p = parsePayload(m.text);
        if (p && p.run === config.run && p.dueMs >= steadyMs) deliveryLatency.add(Date.now() - p.dueMs);
        break;
      }
      case 'ack': {
        const dueMs = pending.get(f.client_msg_id);
        if (dueMs !== undefined) {
          ackedCount.add(1);
          if (dueMs >= steadyMs) ackLatency.add(Date.now() - dueMs);
        }
        answered(f.client_msg_id);
        break;
      }
      case 'rejected':
      case 'error':
        errors.add(1, { code: f.code });
        if (f.type === 'error' && subscribing !== null && f.ref === undefined) {
          // A subscribe refused (e.g. a cache not yet aware of a new chat): retry.
          setTimeout(() => ws.send(JSON.stringify({ type: 'subscribe', chat_id: subscribing })), 200);
        }
        answered(f.client_msg_id || f.ref);
        break;
      default:
        break;
    }
  });

  ws.addEventListener('close', (e) => {
    if (!finished) errors.add(1, { code: `close_${e.code}` });
  });
  ws.addEventListener('error', (e) => {
    errors.add(1, { code: 'socket_error' });
    console.warn(`connection ${index}: ${e.error}`);
  });

  // After sending and draining: count what never came, then close.
  const finish = () => {
    finished = true;
    if (timer !== null) clearTimeout(timer);
    if (next !== Infinity) {
      const left = sched.total() - next;
      if (left > 0) unsentCount.add(Math.ceil(left / senders));
    }
    if (pending.size > 0) errors.add(pending.size, { code: 'unanswered' });
    for (const [chat, s] of streams) {
      const last = lastSeq(index, token, chat);
      if (last === null) {
        errors.add(1, { code: 'last_seq_unreadable' });
        continue;
      }
      expectedDeliveries.add(s.expected(last));
      missing.add(s.missing(last));
      duplicated.add(s.duplicated);
      outOfOrder.add(s.outOfOrder);
    }
    ws.close();
  };
  setTimeout(finish, Math.max(0, endMs + config.drainSecs * 1000 - Date.now()));
}

// HTTP API helpers (register, create chats, read a chat's last seq) and the
// setup shared by the scripts.

import http from 'k6/http';
import { api, config } from './config.js';
import { planChats } from './logic.js';

const PASSWORD = 'loadtest-password';
const JSON_HEADERS = { 'Content-Type': 'application/json' };
const auth = (token) => ({ ...JSON_HEADERS, Authorization: `Bearer ${token}` });

function fail(what, res) {
  throw new Error(`${what}: HTTP ${res.status} ${res.body}`);
}

/** Registers `count` users (or logs them in when the name is taken), in parallel batches. */
export function registerUsers(count, prefix, batch = 16) {
  const users = [];
  for (let start = 0; start < count; start += batch) {
    const idx = [];
    for (let i = start; i < Math.min(count, start + batch); i++) idx.push(i);
    const reqs = idx.map((i) => [
      'POST',
      `${api(i)}/auth/register`,
      JSON.stringify({ name: `${prefix}${i}`, password: PASSWORD }),
      { headers: JSON_HEADERS, tags: { name: 'register' } },
    ]);
    const res = http.batch(reqs);
    res.forEach((r, k) => {
      let body = r.json();
      if (r.status === 409) {
        const login = http.post(
          `${api(idx[k])}/auth/login`,
          JSON.stringify({ name: `${prefix}${idx[k]}`, password: PASSWORD }),
          { headers: JSON_HEADERS, tags: { name: 'login' } },
        );
        if (login.status !== 200) fail('login', login);
        body = login.json();
      } else if (r.status !== 201) {
        fail('register', r);
      }
      users[idx[k]] = { id: body.user.id, token: body.token };
    });
  }
  return users;
}

/** Creates the chats of the configured layout; returns [{id, kind, members}]. */
export function createChats(users, batch = 16) {
  const specs = planChats(users.length, config.chats, config.directRatio, config.groupSizes, config.seed);
  const chats = [];
  for (let start = 0; start < specs.length; start += batch) {
    const part = specs.slice(start, start + batch);
    const reqs = part.map((s, k) => {
      const others = s.members.slice(1).map((m) => users[m].id);
      const body =
        s.kind === 'direct'
          ? { kind: 'direct', members: others }
          : { kind: 'group', title: `k6 group ${start + k}`, members: others };
      return [
        'POST',
        `${api(start + k)}/chats`,
        JSON.stringify(body),
        { headers: auth(users[s.members[0]].token), tags: { name: 'create_chat' } },
      ];
    });
    http.batch(reqs).forEach((r, k) => {
      if (r.status !== 201 && r.status !== 200) fail('create chat', r);
      chats.push({ id: r.json().id, kind: part[k].kind, members: part[k].members });
    });
  }
  return chats;
}

/** Users and chats for a run, plus each user's chat ids. */
export function population(prefix) {
  const users = registerUsers(config.users, prefix);
  const chats = createChats(users);
  const byUser = users.map(() => []);
  for (const c of chats) for (const m of c.members) byUser[m].push(c.id);
  return { users, chats, byUser };
}

/** A chat's newest seq, from its history (the store). */
export function lastSeq(via, token, chatId) {
  const r = http.get(`${api(via)}/chats/${chatId}/messages?limit=1`, {
    headers: auth(token),
    tags: { name: 'last_seq' },
  });
  if (r.status !== 200) return null;
  const msgs = r.json().messages;
  return msgs.length > 0 ? msgs[msgs.length - 1].seq : 0;
}

/** Sends a message over HTTP. */
export function postMessage(via, token, chatId, clientMsgId, text) {
  return http.post(
    `${api(via)}/chats/${chatId}/messages`,
    JSON.stringify({ client_msg_id: clientMsgId, text }),
    { headers: auth(token), tags: { name: 'send' } },
  );
}

/** The chat list. */
export function chatList(via, token) {
  return http.get(`${api(via)}/chats`, { headers: auth(token), tags: { name: 'chat_list' } });
}

/** The newest page of a chat's history. */
export function history(via, token, chatId, limit = 50) {
  return http.get(`${api(via)}/chats/${chatId}/messages?limit=${limit}`, {
    headers: auth(token),
    tags: { name: 'history' },
  });
}

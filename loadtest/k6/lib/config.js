// Settings of the k6 scripts, from environment variables (k6 run -e NAME=value).

const env = (name, dflt) => (__ENV[name] !== undefined && __ENV[name] !== '' ? __ENV[name] : dflt);
const num = (name, dflt) => Number(env(name, dflt));

/** Gateway base URLs (`GATEWAYS=http://a:8080,http://b:8081`, or `BASE_URL`). */
export const GATEWAYS = env('GATEWAYS', env('BASE_URL', 'http://127.0.0.1:8080'))
  .split(',')
  .map((s) => s.trim().replace(/\/+$/, ''))
  .filter((s) => s.length > 0);

export const config = {
  users: num('USERS', 50),
  connections: num('CONNECTIONS', num('USERS', 50)),
  chats: num('CHATS', 50),
  directRatio: num('DIRECT_RATIO', 0.5),
  groupSizes: env('GROUP_SIZE', '10')
    .split(',')
    .map((s) => Number(s.trim())),
  rate: num('RATE', 200),
  durationSecs: num('DURATION', 30),
  rampSecs: num('RAMP_UP', 5),
  drainSecs: num('DRAIN', 10),
  textBytes: num('TEXT_BYTES', 64),
  maxInflight: num('MAX_INFLIGHT', 256),
  seed: num('SEED', 1),
  holdSecs: num('HOLD', 30),
  // HTTP scenario: share of iterations that read (chat list, history) instead of posting.
  readRatio: num('READ_RATIO', 0.2),
  run: env('RUN_ID', Math.random().toString(36).slice(2, 9)),
};

/** `http://host:port` → `ws://host:port/ws`. */
export const wsUrl = (base) => base.replace(/^http/, 'ws') + '/ws';
export const api = (i) => `${GATEWAYS[i % GATEWAYS.length]}/api/v1`;

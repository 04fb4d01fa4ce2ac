// Page helpers: what a user does and sees, by the data-testid hooks of the app.

import { until } from './harness.mjs'

export const chatItem = (page, name) => page.locator(`[data-testid="chat-item"][data-name="${name}"]`)

/** The unread badge of a chat in the list (0 when there is none). */
export async function badge(page, name) {
  // allTextContents does not wait: the badge may vanish at any moment.
  const texts = await chatItem(page, name).getByTestId('unread-badge').allTextContents()
  return texts.length ? Number(texts[0]) : 0
}

export async function waitBadge(page, name, pred, what) {
  return until(async () => pred(await badge(page, name)), `${what} (badge of ${name})`)
}

export async function connState(page) {
  return page.getByTestId('conn-state').getAttribute('data-state')
}

export async function waitConnected(page, timeoutMs = 20_000) {
  await until(async () => (await connState(page)) === 'connected', 'connected', timeoutMs)
}

export async function register(page, url, name, password) {
  await page.goto(url)
  await page.getByTestId('mode-register').click()
  await page.fill('input[name=name]', name)
  await page.fill('input[name=password]', password)
  await page.getByTestId('login-submit').click()
  await page.getByTestId('me-name').filter({ hasText: name }).waitFor()
  await waitConnected(page)
}

export async function login(page, url, name, password) {
  await page.goto(url)
  await page.getByTestId('mode-login').click()
  await page.fill('input[name=name]', name)
  await page.fill('input[name=password]', password)
  await page.getByTestId('login-submit').click()
  await page.getByTestId('me-name').filter({ hasText: name }).waitFor()
  await waitConnected(page)
}

export async function openChat(page, name) {
  await chatItem(page, name).click()
  await until(async () => (await page.getByTestId('chat-title').textContent()) === name, `chat ${name} open`)
  await page.getByTestId('messages').waitFor()
}

export async function send(page, text) {
  const input = page.getByTestId('composer-input')
  await input.fill(text)
  await input.press('Enter')
}

/** Message rows of the open chat whose text is exactly `text`. */
export async function countText(page, text) {
  return page.$$eval(
    '[data-testid="messages"] [data-testid="message-text"]',
    (els, t) => els.filter((e) => e.textContent === t).length,
    text,
  )
}

export async function waitText(page, text, n = 1, timeoutMs = 15_000) {
  await until(async () => (await countText(page, text)) === n, `${n} × "${text}"`, timeoutMs)
}

/** The message row holding exactly `text`. */
export function messageRow(page, text) {
  return page
    .locator('[data-testid="messages"] [data-testid="message"]')
    .filter({ has: page.locator('[data-testid="message-text"]', { hasText: text }) })
    .last()
}

export async function act(page, text, action) {
  const row = messageRow(page, text)
  await row.getByTestId('msg-menu').click()
  await row.getByTestId(`act-${action}`).click()
}

/** Seqs of the stored messages shown in the open chat, in page order. */
export async function seqs(page) {
  return page.$$eval('[data-testid="messages"] [data-testid="message"][data-seq]', (els) =>
    els.map((e) => Number(e.getAttribute('data-seq'))),
  )
}

export async function shot(page, dir, name) {
  await page.screenshot({ path: `${dir}/${name}.png` })
}

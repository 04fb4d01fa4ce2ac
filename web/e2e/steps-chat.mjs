// Steps: two users register, start chats and talk: messages, unread badges across
// tabs, the "new messages" line, edit, delete, reply, forward, a failed send with
// retry, and user content that must stay text.

import { assert, assertEq, until } from './harness.mjs'
import {
  act, badge, chatItem, countText, messageRow, openChat, register, send, shot, waitBadge, waitText,
} from './pages.mjs'

export async function serveUnderCsp(t) {
  const res = await fetch(`${t.url}/`)
  const csp = res.headers.get('content-security-policy') ?? ''
  assert(csp.includes("default-src 'self'"), `CSP header present (${csp})`)
  const html = await res.text()
  assert(html.includes('id="app"'), 'index.html served at /')
  assert(!/<script(?![^>]*\bsrc=)[^>]*>/i.test(html), 'no inline script in index.html')
  const spa = await fetch(`${t.url}/some/deep/link`)
  assert(spa.ok && (await spa.text()).includes('id="app"'), 'SPA fallback to index.html')
}

export async function loginScreen(t) {
  await t.A.page.goto(t.url)
  await t.A.page.getByTestId('login-form').waitFor()
  await shot(t.A.page, t.shots, 'login')
}

export async function registerTwo(t) {
  await register(t.A.page, t.url, t.A.name, t.password)
  await register(t.B.page, t.url, t.B.name, t.password)
}

export async function directChat(t) {
  const a = t.A.page
  await a.getByTestId('new-chat').click()
  await a.getByTestId('peer-name').fill(t.B.name)
  await a.getByTestId('create-chat').click()
  await until(async () => (await a.getByTestId('chat-title').textContent()) === t.B.name, 'direct chat open for A')
  // B learns about it live, named after the other member.
  await chatItem(t.B.page, t.A.name).waitFor({ timeout: 15_000 })
}

export async function exchange(t) {
  const a = t.A.page
  const b = t.B.page
  await send(a, 'Hello Bob!')
  await until(async () => (await messageRow(a, 'Hello Bob!').getAttribute('data-status')) === 'sent', 'A sees sent')
  await waitBadge(b, t.A.name, (n) => n === 1, 'B has 1 unread')
  const preview = await chatItem(b, t.A.name).getByTestId('chat-preview').textContent()
  assert(preview.includes('Hello Bob!') && preview.includes(t.A.name), `preview with author: ${preview}`)
  await openChat(b, t.A.name)
  await waitText(b, 'Hello Bob!')
  await waitBadge(b, t.A.name, (n) => n === 0, 'B read it')
  await send(b, 'Hi Alice')
  await waitText(a, 'Hi Alice')
  await waitText(b, 'Hi Alice')
  assertEq(await countText(a, 'Hello Bob!'), 1, 'own message shown once')
}

export async function unreadAcrossTabs(t) {
  const a = t.A.page
  const b = t.B.page
  // A group, so that B can look at another chat while A writes in the direct one.
  await a.getByTestId('new-chat').click()
  await a.getByTestId('kind-group').click()
  await a.getByTestId('group-title').fill(t.group)
  await a.getByTestId('group-members').fill(t.B.name)
  await a.getByTestId('create-chat').click()
  await until(async () => (await a.getByTestId('chat-title').textContent()) === t.group, 'group open for A')
  await openChat(b, t.group)
  // B's second tab shares the login (localStorage).
  t.B2 = await t.B.ctx.newPage()
  t.watch(t.B2)
  await t.B2.goto(t.url)
  await chatItem(t.B2, t.A.name).waitFor({ timeout: 15_000 })
  await openChat(a, t.B.name)
  for (const w of ['one', 'two', 'three']) await send(a, w)
  await waitBadge(b, t.A.name, (n) => n === 3, 'B has 3 unread')
  await waitBadge(t.B2, t.A.name, (n) => n === 3, 'B tab 2 has 3 unread')
  await openChat(b, t.A.name)
  const sep = b.getByTestId('unread-separator')
  await sep.waitFor()
  const next = await b.evaluate(() => {
    const s = document.querySelector('[data-testid="unread-separator"]')
    let n = s?.nextElementSibling
    while (n && n.getAttribute('data-testid') !== 'message') n = n.nextElementSibling
    return n?.querySelector('[data-testid="message-text"]')?.textContent
  })
  assertEq(next, 'one', 'the new-messages line is before the first unread')
  await shot(b, t.shots, 'unread-separator')
  await waitBadge(b, t.A.name, (n) => n === 0, 'B read them')
  // The cursor reached the other tab through the server's `read` event.
  await waitBadge(t.B2, t.A.name, (n) => n === 0, 'B tab 2 follows')
  await t.B2.close()
}

export async function editMessage(t) {
  const a = t.A.page
  await act(a, 'Hello Bob!', 'edit')
  await a.getByTestId('edit-bar').waitFor()
  await a.getByTestId('composer-input').fill('Hello Bob! (edited)')
  await a.getByTestId('composer-input').press('Enter')
  for (const p of [a, t.B.page]) {
    await waitText(p, 'Hello Bob! (edited)')
    await messageRow(p, 'Hello Bob! (edited)').getByTestId('message-edited').waitFor()
    assertEq(await countText(p, 'Hello Bob!'), 0, 'old text gone')
  }
}

export async function deleteMessage(t) {
  const a = t.A.page
  const seq = await messageRow(a, 'two').getAttribute('data-seq')
  await act(a, 'two', 'delete')
  await messageRow(a, 'two').getByTestId('act-delete').click() // confirm
  for (const p of [a, t.B.page]) {
    await waitText(p, 'two', 0)
    await p.locator(`[data-seq="${seq}"] [data-testid="message-deleted"]`).waitFor()
  }
}

export async function replyQuoted(t) {
  const b = t.B.page
  await act(b, 'three', 'reply')
  await b.getByTestId('reply-bar').waitFor()
  await send(b, 'reply to three')
  const a = t.A.page
  await waitText(a, 'reply to three')
  const quote = await messageRow(a, 'reply to three').getByTestId('reply-quote').textContent()
  assert(quote.includes('three'), `quote shows the original: ${quote}`)
}

export async function forwardMessage(t) {
  const a = t.A.page
  const before = await badge(t.B.page, t.group)
  await act(a, 'one', 'forward')
  await a.locator(`[data-testid="forward-target"][data-name="${t.group}"]`).click()
  await a.getByTestId('toast').filter({ hasText: 'forwarded' }).waitFor()
  await waitBadge(t.B.page, t.group, (n) => n === before + 1, 'B sees the forward arrive')
  await openChat(a, t.group)
  await waitText(a, 'one')
  await messageRow(a, 'one').getByTestId('forwarded').waitFor()
  await openChat(a, t.B.name)
}

export async function failedSendRetry(t) {
  const a = t.A.page
  const long = 'x'.repeat(5000) // over the server's 4096-character limit
  await send(a, long)
  const row = a.locator('[data-testid="message"][data-status="failed"]')
  await row.waitFor()
  await row.getByTestId('retry').click()
  await a.locator('[data-testid="message"][data-status="failed"]').waitFor()
  await row.getByText('Discard').click()
  await until(async () => (await a.locator('[data-status="failed"]').count()) === 0, 'failed message discarded')
}

export async function contentIsText(t) {
  const evil = '<img src=x onerror=alert(1)>'
  const link = 'see https://example.com/a?b=1 and javascript:alert(2)'
  await send(t.A.page, evil)
  await send(t.A.page, link)
  for (const p of [t.A.page, t.B.page]) {
    await waitText(p, evil)
    await waitText(p, link)
    await p.waitForTimeout(300)
    const imgs = await p.locator('[data-testid="messages"] img').count()
    assertEq(imgs, 0, 'no <img> created from message text')
    const anchors = await messageRow(p, link).locator('a').evaluateAll((as) =>
      as.map((a) => ({ href: a.getAttribute('href'), rel: a.getAttribute('rel'), target: a.getAttribute('target') })),
    )
    assertEq(anchors, [{ href: 'https://example.com/a?b=1', rel: 'noopener noreferrer', target: '_blank' }], 'only the http(s) URL is a link')
  }
  assertEq(t.dialogs.length, 0, 'no dialog opened')
  await shot(t.A.page, t.shots, 'chat-desktop')
  await shot(t.B.page, t.shots, 'chat-desktop-bob')
}

export async function membership(t) {
  const a = t.A.page
  const b = t.B.page
  await openChat(a, t.group)
  await a.getByTestId('members-btn').click()
  const panel = a.getByTestId('members-panel')
  await panel.getByTestId('member').filter({ hasText: t.B.name }).waitFor()
  await panel.getByTestId('member').filter({ hasText: t.B.name }).getByTestId('remove-member').click()
  // B loses the group at once.
  await until(async () => (await chatItem(b, t.group).count()) === 0, 'group gone for B')
  await until(async () => (await panel.getByTestId('member').count()) === 1, 'one member left')
  await panel.getByTestId('add-member-name').fill(t.B.name)
  await panel.getByTestId('add-member').click()
  await chatItem(b, t.group).waitFor({ timeout: 15_000 })
  await panel.getByTestId('member').filter({ hasText: t.B.name }).waitFor()
  await a.getByTestId('members-btn').click()
  // B can still talk in the group after being added back.
  await openChat(b, t.group)
  await send(b, 'back in the group')
  await waitText(a, 'back in the group')
  await openChat(a, t.B.name)
  await openChat(b, t.A.name)
}

// Steps: message search. B writes to A; A finds it by a word from the search field
// above the chat list (results in place of the list, the match marked), and a hit
// opens its chat at the message, loaded around it (`?around=`), then paged newer
// back to the end; "more results" by cursor, an empty result, an invalid query,
// search in one chat, Escape.

import { assert, assertEq, until } from './harness.mjs'
import { chatItem, messageRow, openChat, send, seqs, shot, waitConnected, waitText } from './pages.mjs'

const hits = (page) => page.getByTestId('search-hit')

/** Hits shown, as { chat, author, text, marks, seq }. */
function readHits(page, root = '[data-testid="search-results"]') {
  return page.$$eval(`${root} [data-testid="search-hit"]`, (els) =>
    els.map((e) => ({
      chat: e.querySelector('[data-testid="hit-chat"]')?.textContent ?? null,
      author: e.querySelector('[data-testid="hit-author"]')?.textContent?.trim() ?? null,
      text: e.querySelector('[data-testid="hit-text"]')?.textContent ?? '',
      marks: [...e.querySelectorAll('mark')].map((m) => m.textContent),
      seq: Number(e.getAttribute('data-seq')),
    })),
  )
}

/** Types a query and waits until the hits shown satisfy `pred` (which tells them
 * from those of the query before), pressing Enter again while the message is not
 * searchable yet. */
async function searchFor(page, box, q, pred, what, root) {
  if ((await box.inputValue()) !== q) await box.fill(q)
  let tries = 0
  return until(async () => {
    const shown = await readHits(page, root)
    if (pred(shown)) return shown
    if (++tries % 10 === 0) await box.press('Enter')
    return null
  }, what, 15_000, 100)
}

/** Whether the message row is inside the visible part of the message list. */
function inView(page, seq) {
  return page.evaluate((s) => {
    const sc = document.querySelector('[data-testid="messages"]')
    const el = sc?.querySelector(`[data-seq="${s}"]`)
    if (!el) return false
    const a = sc.getBoundingClientRect()
    const b = el.getBoundingClientRect()
    return b.top >= a.top - 1 && b.bottom <= a.bottom + 1
  }, seq)
}

const contiguous = (s) => s.every((x, i) => i === 0 || x === s[i - 1] + 1)

export async function searchMessages(t) {
  const a = t.A.page
  const b = t.B.page
  const rnd = t.A.name.slice(t.A.name.indexOf('_') + 1)
  const word = `quokka${rnd}`
  const text = `🦘🦘 meet the ${word} at noon <b>not bold</b>`
  const searches = []
  const history = []
  a.on('request', (r) => {
    const u = new URL(r.url())
    if (u.pathname === '/api/v1/search') searches.push(Object.fromEntries(u.searchParams))
    if (u.pathname === `/api/v1/chats/${t.historyId}/messages`) history.push(u.search)
  })

  // B writes to A; A finds it among every chat, the word marked (after two
  // emoji: UTF-16 ranges), B's name and the chat's, the text still text.
  await openChat(b, t.A.name)
  await send(b, text)
  await waitText(b, text)
  const box = a.getByTestId('search-input')
  // Typed key by key: one search once typing rests, none for the partial words.
  await box.pressSequentially(word, { delay: 40 })
  const found = await searchFor(a, box, word, (h) => h.length === 1 && h[0].text === text, `one hit for ${word}`)
  assertEq(found[0].chat, t.B.name, 'the hit names its chat')
  assertEq(found[0].author, `${t.B.name}:`, 'the hit names its author')
  assertEq(found[0].text, text, 'the hit shows the text')
  assertEq(found[0].marks, [word], 'the matched word is marked')
  assertEq(await a.locator('[data-testid="search-results"] b').count(), 0, 'no HTML from the text')
  assertEq(await a.getByTestId('chat-list').count(), 0, 'the results replace the chat list')
  const partial = searches.filter((s) => s.q !== word && word.startsWith(s.q))
  assertEq(partial, [], 'no search while typing')
  assert(searches.some((s) => s.q === word), 'searched for the word')
  await hits(a).first().click()
  await until(async () => (await a.getByTestId('chat-title').textContent()) === t.B.name, 'the hit opens its chat')
  await until(async () => (await messageRow(a, word).getAttribute('data-flash')) === 'true', 'the message is highlighted')

  // B finds it too: its own message.
  const bBox = b.getByTestId('search-input')
  const own = await searchFor(b, bBox, `${word.slice(0, -2)}*`, (h) => h.length === 1 && h[0].text === text, 'B finds it by prefix')
  assertEq(own[0].author, 'You:', 'own message')
  await bBox.press('Escape')
  await chatItem(b, t.A.name).waitFor()

  // A hit far back in a long chat: the chat opens around it, the message in view
  // and highlighted, nothing newer than its page held yet. (A reload first: this
  // tab scrolled through the whole chat before, and a held message needs no page.)
  await a.reload()
  await waitConnected(a)
  await chatItem(a, t.history).waitFor()
  const h42 = await searchFor(a, box, '"history 42"', (h) => h.length === 1 && h[0].text === 'history 42', 'the phrase finds one message')
  assertEq(h42[0].chat, t.history, 'in the history chat')
  assertEq(h42[0].marks, ['history 42'], 'the phrase is marked')
  await hits(a).first().click()
  await until(async () => (await a.getByTestId('chat-title').textContent()) === t.history, 'the history chat opens')
  const target = h42[0].seq
  const row = a.locator(`[data-testid="messages"] [data-seq="${target}"]`)
  await row.waitFor()
  await until(() => inView(a, target), 'the message is scrolled into view')
  assertEq(await row.getAttribute('data-flash'), 'true', 'the message is highlighted')
  assertEq(await row.getByTestId('message-text').textContent(), 'history 42', 'the right message')
  assert(history.some((q) => q.includes(`around=${target}`)), `loaded around it (${history.join(' ')})`)
  const held = await seqs(a)
  assert(contiguous(held) && held.includes(target) && !held.includes(300), `a window around it (${held[0]}..${held.at(-1)})`)
  await a.getByTestId('loading-newer').waitFor()
  await shot(a, t.shots, 'search')

  // Scrolling down pages newer until the newest message, each page once, no gap.
  const scroller = a.getByTestId('messages')
  for (let i = 0; i < 40 && (await a.getByTestId('loading-newer').count()) > 0; i++) {
    await scroller.evaluate((el) => (el.scrollTop = el.scrollHeight))
    await a.waitForTimeout(150)
  }
  await waitText(a, 'history 300')
  const all = await seqs(a)
  assert(contiguous(all), 'no gap, no duplicate after paging newer')
  assertEq(all.at(-1), 300, 'up to the newest')
  const afters = history.filter((q) => q.includes('after='))
  assert(afters.length >= 3, `paged newer in steps (${afters.join(' ')})`)
  assertEq(new Set(afters).size, afters.length, 'each newer page loaded once')

  // More results by cursor: newest first, none twice.
  const first = await searchFor(a, box, 'history', (h) => h.length === 20 && h.every((x) => x.text.startsWith('history ')), 'a first page of 20')
  await a.getByTestId('search-more').click()
  const two = await until(async () => {
    const h = await readHits(a)
    return h.length === 40 ? h : null
  }, 'a second page appended')
  assertEq(two.slice(0, 20), first, 'the first page stays')
  const seen = two.map((h) => h.seq)
  assertEq(new Set(seen).size, 40, 'no hit twice')
  assert(seen.every((s, i) => i === 0 || s < seen[i - 1]), 'newest first')
  assert(searches.some((s) => s.q === 'history' && s.before), 'the second page asked by cursor')

  // Nothing found; a query the server refuses.
  await box.fill(`nothing${rnd}here`)
  await a.getByTestId('search-empty').waitFor()
  await box.fill(Array.from({ length: 17 }, (_, i) => `w${i}`).join(' '))
  await box.press('Enter')
  const err = a.getByTestId('search-error')
  await err.waitFor()
  assert((await err.textContent()).includes('16'), `the reason is shown: ${await err.textContent()}`)

  // Escape closes the search: the chat list again.
  await box.press('Escape')
  await a.getByTestId('chat-list').waitFor()
  assertEq(await box.inputValue(), '', 'the field is emptied')

  // Search in the open chat: only its messages, the chat not named.
  await a.getByTestId('chat-search-btn').click()
  const inChat = a.getByTestId('chat-search-input')
  const panel = '[data-testid="chat-search-panel"]'
  const h250 = await searchFor(a, inChat, '"history 250"', (h) => h.length === 1 && h[0].text === 'history 250', 'one hit in the chat', panel)
  assertEq(h250[0].chat, null, 'no chat name in a chat')
  assert(searches.some((s) => s.q === '"history 250"' && s.chat_id === t.historyId), 'asked with chat_id')
  await a.locator(`${panel} [data-testid="search-hit"]`).click()
  const r250 = a.locator(`[data-testid="messages"] [data-seq="${h250[0].seq}"]`)
  await until(async () => (await r250.getAttribute('data-flash')) === 'true', 'the hit is shown in the chat')
  await until(() => inView(a, h250[0].seq), 'and scrolled into view')
  await inChat.press('Escape')
  assertEq(await a.locator(panel).count(), 0, 'Escape closes the search in the chat')
}

// Profiles on screen: the Avatar (initials on a stable colour, or the image, lazy,
// falling back to initials), names re-rendered live by `user_updated`, the profile
// editor (PATCH, PUT, DELETE; errors by code; disabled while saving) and another
// user's profile from the members panel.
import { flushPromises, mount } from '@vue/test-utils'
import { afterEach, describe, expect, it, vi } from 'vitest'
import { ApiError } from '../src/api/http'
import type { User } from '../src/api/types'
import Avatar from '../src/components/Avatar.vue'
import ChatList from '../src/components/ChatList.vue'
import ChatScreen from '../src/components/ChatScreen.vue'
import MembersPanel from '../src/components/MembersPanel.vue'
import MessagePane from '../src/components/MessagePane.vue'
import ProfileEditor from '../src/components/ProfileEditor.vue'
import { CLIENT } from '../src/keys'
import { AVATAR_COLORS, avatarColor, initials } from '../src/lib/avatar'
import { fitWithin, ImageError, prepareAvatar } from '../src/lib/image'
import type { ChatClient } from '../src/stores/client'
import { msg, user } from './fakes'
import { chat, connectedClient, entry } from './fixture'

// jsdom has no canvas: the picture preparation is replaced, its callers are tested.
vi.mock('../src/lib/image', async (orig) => {
  const real = await orig<typeof import('../src/lib/image')>()
  return { ...real, prepareAvatar: vi.fn() }
})

const PREVIEW = 'data:image/png;base64,iVBORw0KGgo='

afterEach(() => {
  document.body.innerHTML = ''
  vi.mocked(prepareAvatar).mockReset()
})

const provide = (client: ChatClient) => ({ global: { provide: { [CLIENT as symbol]: client } } })

/** A promise resolved or rejected from outside: a request still in flight. */
function deferred<T>() {
  let resolve!: (v: T) => void
  let reject!: (e: unknown) => void
  const promise = new Promise<T>((a, b) => {
    resolve = a
    reject = b
  })
  return { promise, resolve, reject }
}

describe('Avatar', () => {
  it('shows initials on a colour that depends only on the id', () => {
    const w = mount(Avatar, { props: { id: 'u42', name: 'Alice Liddell', size: 32 } })
    expect(w.attributes('data-avatar')).toBe('initials')
    expect(w.text()).toBe('AL')
    expect(w.find('img').exists()).toBe(false)
    expect(w.attributes('style')).toContain('width: 32px')
    const bg = (w.element as HTMLElement).style.background
    expect(bg).not.toBe('')
    // Same id, another name or mount: same colour.
    const again = mount(Avatar, { props: { id: 'u42', name: 'Someone else' } })
    expect((again.element as HTMLElement).style.background).toBe(bg)
  })

  it('shows the image, lazily, and initials again when it fails to load', async () => {
    const w = mount(Avatar, { props: { id: 'u7', name: 'bob', avatar: 'tag/1' } })
    const img = w.find('img')
    expect(w.attributes('data-avatar')).toBe('image')
    expect(img.attributes('src')).toBe('/api/v1/users/u7/avatar?v=tag%2F1')
    expect(img.attributes('loading')).toBe('lazy')
    expect(img.attributes('alt')).toBe('')
    await img.trigger('error')
    expect(w.attributes('data-avatar')).toBe('initials')
    expect(w.text()).toBe('B')
    // A new avatar gets its chance.
    await w.setProps({ avatar: 'tag2' })
    expect(w.find('img').attributes('src')).toBe('/api/v1/users/u7/avatar?v=tag2')
  })

  it('shows a preview (data: URL) over the current image', () => {
    const w = mount(Avatar, { props: { id: 'u7', name: 'bob', avatar: 't', src: PREVIEW } })
    expect(w.find('img').attributes('src')).toBe(PREVIEW)
  })

  it('initials: first letters of the first and last words, whole emoji, never empty', () => {
    expect(initials('alice')).toBe('A')
    expect(initials('  Alice   Pleasance Liddell ')).toBe('AL')
    expect(initials('élodie durand')).toBe('ÉD')
    expect(initials('👩‍👩‍👧 family')).toBe('👩‍👩‍👧F')
    expect(initials('   ')).toBe('?')
    expect(AVATAR_COLORS).toContain(avatarColor('123'))
    expect(avatarColor('123')).toBe(avatarColor('123'))
  })

  it('fitWithin: the long side at most 512 px, never enlarged', () => {
    expect(fitWithin(4032, 3024)).toEqual({ width: 512, height: 384 })
    expect(fitWithin(1000, 4000)).toEqual({ width: 128, height: 512 })
    expect(fitWithin(100, 50)).toEqual({ width: 100, height: 50 })
  })
})

describe('names and avatars follow user_updated', () => {
  it('re-renders the chat list, the message list and the header', async () => {
    const last = { seq: 2, sender_id: 'u2', preview: 'in the group', at: 300, deleted: false }
    const { client, ws } = await connectedClient(
      [
        entry(chat('d', 1, 'direct', { last_message: { seq: 1, sender_id: 'u2', preview: 'hey', at: 200, deleted: false } }), 1),
        entry(chat('g', 2, 'group', { title: 'Garden club', last_message: last }), 2),
      ],
      { g: [msg(1, { chat_id: 'g', text: 'hello' }), msg(2, { chat_id: 'g', text: 'in the group' })] },
    )
    await client.openChat('g')
    const list = mount(ChatList, { props: { activeId: 'g' }, ...provide(client) })
    const pane = mount(MessagePane, { props: { chatId: 'g' }, ...provide(client) })
    await flushPromises()
    const names = () => list.findAll('[data-testid="chat-name"]').map((n) => n.text())
    expect(names()).toEqual(['Garden club', 'name-u2'])
    const groupAvatar = list.findAll('[data-testid="avatar"]')[0]!
    expect(groupAvatar.text()).toBe('GC')
    expect(pane.find('[data-testid="message-author"]').text()).toBe('name-u2')
    expect(pane.find('.msg-avatar [data-testid="avatar"]').attributes('data-avatar')).toBe('initials')

    ws.receive({ type: 'user_updated', user: user('u2', 'name-u2', { display_name: 'Bob Builder', avatar: 'av1', updated_at: 9 }) })
    await flushPromises()
    expect(names()).toEqual(['Garden club', 'Bob Builder'])
    expect(list.findAll('[data-testid="chat-preview"]').map((p) => p.text())).toEqual(['Bob Builder: in the group', 'Bob Builder: hey'])
    const direct = list.findAll('[data-testid="chat-item"]')[1]!
    expect(direct.attributes('data-name')).toBe('Bob Builder')
    expect(direct.find('img').attributes('src')).toBe('/api/v1/users/u2/avatar?v=av1')
    expect(pane.find('[data-testid="message-author"]').text()).toBe('Bob Builder')
    expect(pane.find('.msg-avatar img').attributes('src')).toBe('/api/v1/users/u2/avatar?v=av1')
    client.stop()
  })

  it("the header shows the user's display name and opens the profile editor", async () => {
    const { client, ws } = await connectedClient([])
    const w = mount(ChatScreen, { props: { client }, attachTo: document.body })
    await flushPromises()
    expect(w.find('[data-testid="me-name"]').text()).toBe('alice')
    ws.receive({ type: 'user_updated', user: user('me', 'alice', { display_name: 'Alice L.', updated_at: 3 }) })
    await flushPromises()
    expect(w.find('[data-testid="me-name"]').text()).toBe('Alice L.')
    await w.find('[data-testid="me-button"]').trigger('click')
    expect(w.find('[data-testid="profile-editor"]').exists()).toBe(true)
    expect((w.find('[data-testid="profile-display-name-input"]').element as HTMLInputElement).value).toBe('Alice L.')
    expect(w.find('[data-testid="profile-login"]').text()).toContain('@alice')
    w.unmount()
    client.stop()
  })
})

describe('ProfileEditor', () => {
  async function editor(over: Partial<User> = {}) {
    const env = await connectedClient([])
    env.client.users.put(user('me', 'alice', { about: 'old about', updated_at: 1, ...over }))
    const calls = {
      updateMe: vi.fn(async (p: { display_name?: string; about?: string }) =>
        user('me', 'alice', { display_name: p.display_name ?? 'alice', about: p.about ?? 'old about', updated_at: 2 }),
      ),
      putAvatar: vi.fn(async (_b: Blob) => user('me', 'alice', { about: 'old about', avatar: 'new', updated_at: 3 })),
      deleteAvatar: vi.fn(async () => user('me', 'alice', { about: 'old about', updated_at: 4 })),
    }
    Object.assign(env.api, calls)
    const w = mount(ProfileEditor, { ...provide(env.client), attachTo: document.body })
    await flushPromises()
    return { ...env, w, calls }
  }

  const save = async (w: Awaited<ReturnType<typeof editor>>['w']) => {
    await w.find('[data-testid="profile-editor"]').trigger('submit')
    await flushPromises()
  }

  async function chooseFile(w: Awaited<ReturnType<typeof editor>>['w'], file: File) {
    const input = w.find('[data-testid="avatar-file"]')
    Object.defineProperty(input.element, 'files', { value: [file], configurable: true })
    await input.trigger('change')
    await flushPromises()
  }

  it('sends PATCH with the changed fields only, disabled while saving, then closes', async () => {
    const { w, calls, client } = await editor()
    const pending = deferred<User>()
    calls.updateMe.mockImplementationOnce(() => pending.promise)
    expect(w.find('[data-testid="profile-save"]').attributes('disabled')).toBeDefined() // nothing changed yet
    await w.find('[data-testid="profile-display-name-input"]').setValue('  Alice Liddell ')
    await save(w)
    expect(calls.updateMe).toHaveBeenCalledWith({ display_name: 'Alice Liddell' })
    expect(w.find('fieldset').attributes('disabled')).toBeDefined()
    expect(w.find('[data-testid="profile-save"]').text()).toBe('Saving…')
    expect(w.find('[data-testid="profile-save"]').attributes('disabled')).toBeDefined()
    await save(w) // a second Save while saving sends nothing
    expect(calls.updateMe).toHaveBeenCalledTimes(1)
    pending.resolve(user('me', 'alice', { display_name: 'Alice Liddell', about: 'old about', updated_at: 2 }))
    await flushPromises()
    expect(client.users.name('me')).toBe('Alice Liddell')
    expect(calls.putAvatar).not.toHaveBeenCalled()
    expect(w.emitted('close')).toHaveLength(1)
  })

  it('sends the about text with its line breaks', async () => {
    const { w, calls } = await editor()
    await w.find('[data-testid="profile-about-input"]').setValue('line one\nline two\n')
    await save(w)
    expect(calls.updateMe).toHaveBeenCalledWith({ about: 'line one\nline two' })
  })

  it('previews a chosen picture from a data: URL and uploads it with PUT on Save', async () => {
    const { w, calls, client } = await editor()
    const blob = new Blob([new Uint8Array([1, 2, 3])], { type: 'image/jpeg' })
    vi.mocked(prepareAvatar).mockResolvedValueOnce({ blob, dataUrl: PREVIEW, width: 512, height: 384 })
    const file = new File([new Uint8Array(10)], 'IMG_0001.jpg', { type: 'image/jpeg' })
    await chooseFile(w, file)
    expect(prepareAvatar).toHaveBeenCalledWith(file)
    expect(w.find('[data-testid="profile-avatar"] img').attributes('src')).toBe(PREVIEW)
    expect(calls.putAvatar).not.toHaveBeenCalled()
    await save(w)
    expect(calls.updateMe).not.toHaveBeenCalled()
    expect(calls.putAvatar).toHaveBeenCalledWith(blob)
    expect(client.users.byId.me!.avatar).toBe('new')
    expect(w.emitted('close')).toHaveLength(1)
  })

  it('sends both: PATCH, then PUT', async () => {
    const { w, calls } = await editor()
    vi.mocked(prepareAvatar).mockResolvedValueOnce({ blob: new Blob(['p'], { type: 'image/png' }), dataUrl: PREVIEW, width: 1, height: 1 })
    await w.find('[data-testid="profile-display-name-input"]').setValue('Al')
    await chooseFile(w, new File(['x'], 'a.png', { type: 'image/png' }))
    await save(w)
    expect(calls.updateMe).toHaveBeenCalledWith({ display_name: 'Al' })
    expect(calls.putAvatar).toHaveBeenCalledTimes(1)
    expect(calls.updateMe.mock.invocationCallOrder[0]!).toBeLessThan(calls.putAvatar.mock.invocationCallOrder[0]!)
  })

  it('removes the avatar with DELETE', async () => {
    const { w, calls, client } = await editor({ avatar: 'old' })
    await w.find('[data-testid="avatar-remove"]').trigger('click')
    expect(w.find('[data-testid="profile-avatar"]').attributes('data-avatar')).toBe('initials')
    await save(w)
    expect(calls.deleteAvatar).toHaveBeenCalledTimes(1)
    expect(client.users.byId.me!.avatar).toBeUndefined()
  })

  it.each([
    ['invalid_display_name', 400, 'updateMe', /display name must be 1 to 64 characters/],
    ['invalid_about', 400, 'updateMe', /at most 500 characters/],
    ['too_many_requests', 429, 'updateMe', /Try again in 3 s/],
    ['invalid_image', 400, 'putAvatar', /could not be used.*PNG, JPEG or WebP/],
    ['too_large', 413, 'putAvatar', /too large/],
  ] as const)('shows %s as a clear message and stays open', async (code, status, op, text) => {
    const { w, calls } = await editor()
    vi.mocked(prepareAvatar).mockResolvedValueOnce({ blob: new Blob(['p'], { type: 'image/png' }), dataUrl: PREVIEW, width: 1, height: 1 })
    calls[op].mockRejectedValueOnce(new ApiError(code, `server says ${code}`, status, code === 'too_many_requests' ? 2500 : undefined))
    await w.find('[data-testid="profile-display-name-input"]').setValue('Alice!')
    await chooseFile(w, new File(['x'], 'a.png', { type: 'image/png' }))
    await save(w)
    expect(w.find('[data-testid="profile-error"]').text()).toMatch(text)
    expect(w.emitted('close')).toBeUndefined()
    expect(w.find('fieldset').attributes('disabled')).toBeUndefined()
    const field = op === 'putAvatar' ? '.file-button' : code === 'invalid_about' ? '[data-testid="profile-about-input"]' : null
    if (field) expect(w.find(field).attributes('aria-invalid')).toBe('true')
    if (op === 'putAvatar') {
      // The name was saved before the upload failed: Save again sends only the picture.
      await save(w)
      expect(calls.updateMe).toHaveBeenCalledTimes(1)
      expect(calls.putAvatar).toHaveBeenCalledTimes(2)
      expect(w.emitted('close')).toHaveLength(1)
    }
  })

  it('says so when the picture cannot be read, and sends nothing', async () => {
    const { w, calls } = await editor()
    vi.mocked(prepareAvatar).mockRejectedValueOnce(new ImageError('unreadable', 'That file could not be read as a picture.'))
    await chooseFile(w, new File(['not an image'], 'a.png', { type: 'image/png' }))
    expect(w.find('[data-testid="profile-error"]').text()).toBe('That file could not be read as a picture.')
    expect(w.find('[data-testid="profile-save"]').attributes('disabled')).toBeDefined()
    expect(calls.putAvatar).not.toHaveBeenCalled()
  })

  it('checks the display name before sending', async () => {
    const { w, calls } = await editor()
    await w.find('[data-testid="profile-display-name-input"]').setValue('   ')
    await save(w)
    expect(w.find('[data-testid="profile-error"]').text()).toBe('Enter a display name.')
    await w.find('[data-testid="profile-display-name-input"]').setValue('x'.repeat(65))
    await save(w)
    expect(w.find('[data-testid="profile-error"]').text()).toMatch(/at most 64/)
    expect(calls.updateMe).not.toHaveBeenCalled()
  })
})

describe('MembersPanel', () => {
  it('shows members by display name and @login; a click opens their profile, live', async () => {
    const { client, ws } = await connectedClient([entry(chat('g', 0, 'group'))])
    client.users.put(user('u2', 'bob', { display_name: 'Bob Builder', about: 'Can we fix it?\nYes we can', avatar: 'b1', updated_at: 1 }))
    const w = mount(MembersPanel, { props: { chatId: 'g' }, ...provide(client), attachTo: document.body })
    await flushPromises()
    const bob = w.findAll('[data-testid="member"]').find((m) => m.text().includes('Bob Builder'))!
    expect(bob.find('[data-testid="member-login"]').text()).toBe('@bob')
    expect(bob.find('img').attributes('src')).toBe('/api/v1/users/u2/avatar?v=b1')
    await bob.find('[data-testid="member-open"]').trigger('click')
    const card = w.find('[data-testid="profile-card"]')
    expect(card.find('[data-testid="profile-display-name"]').text()).toBe('Bob Builder')
    expect(card.find('[data-testid="profile-login"]').text()).toBe('@bob')
    expect(card.find('[data-testid="profile-about"]').element.textContent).toBe('Can we fix it?\nYes we can')
    ws.receive({ type: 'user_updated', user: user('u2', 'bob', { display_name: 'Robert', about: '', updated_at: 2 }) })
    await flushPromises()
    expect(card.find('[data-testid="profile-display-name"]').text()).toBe('Robert')
    expect(card.find('[data-testid="profile-about"]').exists()).toBe(false)
    expect(card.find('[data-testid="avatar"]').attributes('data-avatar')).toBe('initials')
    await card.find('[data-testid="profile-card-close"]').trigger('click')
    expect(w.find('[data-testid="profile-card"]').exists()).toBe(false)
    client.stop()
  })
})

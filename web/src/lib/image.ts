// A picture chosen for an avatar, made small enough to upload before it is sent:
// decoded (turned upright by its EXIF orientation), scaled in a canvas to at most
// MAX_SIDE px on its long side and encoded again as PNG (or JPEG for a JPEG photo),
// with a data: URL of the result for the preview (the page's CSP allows data:
// images, not blob: ones). The server crops and re-encodes it once more.

/** The types an avatar may be chosen from (the server reads these). */
export const AVATAR_TYPES = ['image/png', 'image/jpeg', 'image/webp'] as const
/** Longest side of what is uploaded, in px. */
export const MAX_SIDE = 512

export interface PreparedImage {
  blob: Blob
  /** A data: URL of `blob`, for an <img> preview. */
  dataUrl: string
  width: number
  height: number
}

/** What cannot be read as a picture, with a reason for the user. */
export class ImageError extends Error {
  constructor(
    readonly code: 'unsupported_type' | 'unreadable',
    message: string,
  ) {
    super(message)
    this.name = 'ImageError'
  }
}

/** The size to draw at: the long side at most `max`, never enlarged. */
export function fitWithin(width: number, height: number, max = MAX_SIDE): { width: number; height: number } {
  const scale = Math.min(1, max / Math.max(width, height, 1))
  return { width: Math.max(1, Math.round(width * scale)), height: Math.max(1, Math.round(height * scale)) }
}

function readAsDataUrl(file: Blob): Promise<string> {
  return new Promise((resolve, reject) => {
    const r = new FileReader()
    r.onload = () => resolve(String(r.result))
    r.onerror = () => reject(r.error ?? new Error('could not read the file'))
    r.readAsDataURL(file)
  })
}

interface Decoded {
  source: CanvasImageSource
  width: number
  height: number
  close: () => void
}

/** The picture decoded; createImageBitmap where there is one, else an <img> on a data: URL. */
async function decode(file: Blob): Promise<Decoded> {
  if (typeof createImageBitmap === 'function') {
    try {
      const b = await createImageBitmap(file, { imageOrientation: 'from-image' })
      return { source: b, width: b.width, height: b.height, close: () => b.close() }
    } catch {
      // fall through: some browsers refuse the options, or the format
    }
  }
  const url = await readAsDataUrl(file)
  return new Promise((resolve, reject) => {
    const img = new Image()
    img.onload = () => resolve({ source: img, width: img.naturalWidth, height: img.naturalHeight, close: () => undefined })
    img.onerror = () => reject(new Error('not a picture'))
    img.src = url
  })
}

function toBlob(canvas: HTMLCanvasElement, type: string, quality?: number): Promise<Blob> {
  return new Promise((resolve, reject) =>
    canvas.toBlob((b) => (b ? resolve(b) : reject(new Error('could not encode'))), type, quality),
  )
}

/** The file, scaled down and encoded for upload; throws an ImageError. */
export async function prepareAvatar(file: File): Promise<PreparedImage> {
  if (!(AVATAR_TYPES as readonly string[]).includes(file.type)) {
    throw new ImageError('unsupported_type', 'Choose a PNG, JPEG or WebP picture.')
  }
  let img: Decoded
  try {
    img = await decode(file)
  } catch {
    throw new ImageError('unreadable', 'That file could not be read as a picture.')
  }
  const size = fitWithin(img.width, img.height)
  const canvas = document.createElement('canvas')
  canvas.width = size.width
  canvas.height = size.height
  const ctx = canvas.getContext('2d')
  if (!ctx) throw new ImageError('unreadable', 'This browser cannot prepare the picture.')
  ctx.imageSmoothingQuality = 'high'
  ctx.drawImage(img.source, 0, 0, size.width, size.height)
  img.close()
  // A photo stays a JPEG (small); anything else becomes a PNG (keeps transparency).
  const type = file.type === 'image/jpeg' ? 'image/jpeg' : 'image/png'
  const blob = await toBlob(canvas, type, 0.9).catch(() => {
    throw new ImageError('unreadable', 'The picture could not be prepared.')
  })
  return { blob, dataUrl: await readAsDataUrl(blob), width: size.width, height: size.height }
}

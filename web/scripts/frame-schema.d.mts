// Types of frame-schema.mjs, for the Vitest tests that import it.
export declare const FRAMES_SCHEMA: string
export interface FrameValidator {
  /** The problems of `value` against the schema at `ptr` of the frame schema (none: valid). */
  check(value: unknown, ptr?: string): string[]
}
export declare function frameValidator(opts?: { schemaFile?: string; strict?: boolean }): FrameValidator

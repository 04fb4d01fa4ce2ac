// The emoji the reaction picker offers: common ones, in this order. Any emoji is a
// valid reaction (the server checks: `invalid_emoji`); these are the quick choices.

export const QUICK_REACTIONS: readonly string[] = ['👍', '❤️', '😂', '🎉', '😮', '😢', '🙏', '👀']

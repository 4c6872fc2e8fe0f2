/** Branded identifiers: a blob id is not a pack id even though both are 64 hex characters. */
export type BlobId = string & { readonly __brand: 'BlobId' };
export type PackId = string & { readonly __brand: 'PackId' };
export type SnapshotId = string & { readonly __brand: 'SnapshotId' };
export type IndexId = string & { readonly __brand: 'IndexId' };
/** Names a data key (8 bytes, 16 hex characters); stored in every envelope so keys can be added per tenant. */
export type KeyId = string & { readonly __brand: 'KeyId' };

/** Length in hex characters of every content id (SHA-256 or HMAC-SHA-256). */
export const ID_HEX_LENGTH = 64;
const ID_PATTERN = /^[0-9a-f]{64}$/;

/** True when `text` has the shape of a content id. */
export function isId(text: string): boolean {
  return ID_PATTERN.test(text);
}

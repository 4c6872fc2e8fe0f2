import { AAD, blobIdOf, ENVELOPE_OVERHEAD_BYTES, open, seal } from '../../lib/repo/crypto';
import { IntegrityError } from '../../lib/repo/errors';
import { decodeKeyring, encodeKeyring, generateKeyring } from '../../lib/repo/keyring';

describe('sealed envelopes (AES-256-GCM)', () => {
  const keyring = generateKeyring();

  it('round-trips and names the data key in every envelope', () => {
    const sealed = seal(keyring, Buffer.from('hello'), AAD.index);
    expect(sealed.length).toBe(5 + ENVELOPE_OVERHEAD_BYTES);
    expect(sealed.toString('hex', 1, 9)).toBe(keyring.current.id);
    expect(open(keyring, sealed, AAD.index, 'x').toString()).toBe('hello');
  });

  it('uses a fresh nonce each time', () => {
    const nonces = new Set<string>();
    for (let i = 0; i < 1000; i++)
      nonces.add(seal(keyring, Buffer.from('same'), AAD.index).toString('hex', 9, 21));
    expect(nonces.size).toBe(1000);
  });

  it('refuses every single flipped bit, with an IntegrityError naming the object', () => {
    const sealed = seal(keyring, Buffer.from('payload of some length'), AAD.snapshot);
    for (let bit = 0; bit < sealed.length * 8; bit += 3) {
      const bad = Buffer.from(sealed);
      bad[bit >> 3]! ^= 1 << (bit & 7);
      expect(() => open(keyring, bad, AAD.snapshot, 'snapshots/abc')).toThrow(IntegrityError);
    }
    try {
      open(keyring, sealed.subarray(0, 10), AAD.snapshot, 'snapshots/abc');
    } catch (err) {
      expect((err as Error).message).toContain('snapshots/abc');
    }
  });

  it('binds an envelope to its role: an index cannot be opened as a snapshot, a blob not as another blob', () => {
    const sealed = seal(keyring, Buffer.from('x'), AAD.index);
    expect(() => open(keyring, sealed, AAD.snapshot, 'o')).toThrow(IntegrityError);
    const id = blobIdOf(keyring, Buffer.from('a'));
    const other = blobIdOf(keyring, Buffer.from('b'));
    const blob = seal(keyring, Buffer.from('a'), AAD.blob(id));
    expect(() => open(keyring, blob, AAD.blob(other), 'o')).toThrow(IntegrityError);
  });

  it('refuses an envelope sealed with another repository key', () => {
    const sealed = seal(generateKeyring(), Buffer.from('x'), AAD.index);
    expect(() => open(keyring, sealed, AAD.index, 'index/1')).toThrow(/unknown data key/);
  });

  it('keys blob ids: the same content has different ids in different repositories', () => {
    const data = Buffer.from('player save');
    expect(blobIdOf(keyring, data)).toBe(blobIdOf(keyring, data));
    expect(blobIdOf(generateKeyring(), data)).not.toBe(blobIdOf(keyring, data));
  });

  it('serialises the master key and reads it back', () => {
    const back = decodeKeyring(encodeKeyring(keyring), 'k');
    expect(back.current.id).toBe(keyring.current.id);
    expect(back.macKey.equals(keyring.macKey)).toBe(true);
    expect(() => decodeKeyring(Buffer.from('{"version":2}'), 'keys/x')).toThrow(IntegrityError);
  });
});

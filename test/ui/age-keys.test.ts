import { expect } from '@open-wc/testing';
import { generateIdentity, identityToRecipient } from 'age-encryption';
import { bech32Decode, bech32Encode, generateAgeKeyPair, identityFileText, isAgeRecipient } from '../../ts-src/ui/shared/age-keys.js';

describe('age keys in the browser (WebCrypto X25519 + Bech32)', () => {
  it('agrees with typage on keys typage made', async () => {
    for (let i = 0; i < 5; i++) {
      const identity = await generateIdentity();
      const recipient = await identityToRecipient(identity);
      expect(isAgeRecipient(recipient)).to.equal(true);
      const decoded = bech32Decode(identity)!;
      expect(decoded.hrp).to.equal('age-secret-key-');
      expect(bech32Encode('age-secret-key-', decoded.bytes).toUpperCase()).to.equal(identity);
    }
  });

  it('makes pairs whose recipient typage derives from the identity', async () => {
    for (let i = 0; i < 5; i++) {
      const pair = await generateAgeKeyPair(new Date('2026-11-26T07:00:00Z'));
      expect(await identityToRecipient(pair.identity)).to.equal(pair.recipient);
      expect(identityFileText(pair)).to.equal(`# created: 2026-11-26T07:00:00Z\n# public key: ${pair.recipient}\n${pair.identity}\n`);
    }
  });

  it('rejects recipients with a wrong checksum, wrong prefix, mixed case or wrong length', () => {
    const good = 'age18gmwx27mnrmwczqfp55yplt8dlrg34lvqkvwq0vlefj3y6dxqpdqgtxq2u';
    expect(isAgeRecipient(good)).to.equal(true);
    expect(isAgeRecipient(good.replace('age18', 'age19'))).to.equal(false);
    expect(isAgeRecipient(good.toUpperCase())).to.equal(false);
    expect(isAgeRecipient(good.slice(0, -1))).to.equal(false);
    expect(isAgeRecipient('AGE-SECRET-KEY-1' + good.slice(4))).to.equal(false);
    expect(bech32Decode('age1' + good.slice(4, -1) + 'Q')).to.equal(null);
  });
});

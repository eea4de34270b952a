// SM2 and SM3 with an implementation nobody here wrote: the sm-crypto
// package from the npm registry (pure JavaScript, not OpenSSL).
//
//   node sm_crypto.js vectors N          SM2 signatures and SM3 digests made by
//                                        sm-crypto, as JSON (test/data/sm/sm-crypto.json)
//   node sm_crypto.js verify < FILE.json  checks SM2 signatures made elsewhere
//                                        (hcledger's sm2_sign): prints one line per
//                                        case, "<n> true|false"
//
// NODE_PATH must reach a directory where `npm install sm-crypto` was run.
'use strict';
const crypto = require('crypto');
const { sm2, sm3 } = require('sm-crypto');

const hex = (b) => Buffer.from(b).toString('hex');
const bytes = (h) => Array.from(Buffer.from(h, 'hex'));

function vectors(n) {
	const ids = ['1234567812345678', 'ALICE123@YAHOO.COM', 'macau-ssm', ''];
	const out = { generator: 'test/interop/sm_crypto.js with sm-crypto ' + require('sm-crypto/package.json').version,
	              sm2: [], sm3: [] };
	for (let i = 0; i < n; i++) {
		const kp = sm2.generateKeyPairHex();
		const msg = crypto.randomBytes(i % 7 === 0 ? 0 : 1 + (i * 37) % 300);
		const id = ids[i % ids.length];
		const opts = { hash: true, publicKey: kp.publicKey, userId: id };
		out.sm2.push({
			public_key: kp.publicKey, message: hex(msg), id: hex(Buffer.from(id, 'utf8')),
			raw: sm2.doSignature(bytes(hex(msg)), kp.privateKey, { ...opts, der: false }),
			der: sm2.doSignature(bytes(hex(msg)), kp.privateKey, { ...opts, der: true }),
		});
	}
	for (const len of [0, 1, 55, 56, 63, 64, 65, 119, 1000, 4096]) {
		const msg = crypto.randomBytes(len);
		out.sm3.push({ message: hex(msg), digest: sm3(bytes(hex(msg))) });
	}
	// a long message, given by its pattern: 'a' repeated a million times
	out.sm3_long = { repeat: 'a', times: 1000000, digest: sm3('a'.repeat(1000000)) };
	return out;
}

function verify(cases) {
	return cases.map((c, i) => {
		const id = Buffer.from(c.id, 'hex').toString('utf8');
		const ok = sm2.doVerifySignature(bytes(c.message), c.signature, c.public_key,
		                                 { hash: true, der: c.format === 'der', userId: id });
		return `${i} ${ok}`;
	}).join('\n');
}

if (process.argv[2] === 'vectors') {
	process.stdout.write(JSON.stringify(vectors(parseInt(process.argv[3] || '40', 10)), null, 1) + '\n');
} else if (process.argv[2] === 'verify') {
	const input = require('fs').readFileSync(0, 'utf8');
	process.stdout.write(verify(JSON.parse(input)) + '\n');
} else {
	process.stderr.write('usage: node sm_crypto.js vectors N | verify < cases.json\n');
	process.exit(2);
}

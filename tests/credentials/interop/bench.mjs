// Digital Bazaar vc 7.3 figures for bench/credentials.py --js (same credential, same run).
//   node bench.mjs <seconds>
// Issue: vc.issue of a fresh credential (new id, changed subject value) each iteration.
// Verify: vc.verifyCredential of a different issued credential each iteration, documents
// from an in-memory loader; status is not checked here (checkStatus returns verified), so
// these JS figures do slightly less work than ours.
import {readFileSync} from 'node:fs';
import {dirname, join} from 'node:path';
import {fileURLToPath} from 'node:url';

import * as vc from '@digitalbazaar/vc';
import {DataIntegrityProof} from '@digitalbazaar/data-integrity';
import {cryptosuite as ecdsaRdfc2019} from '@digitalbazaar/ecdsa-rdfc-2019-cryptosuite';
import {cryptosuite as eddsaRdfc2022} from '@digitalbazaar/eddsa-rdfc-2022-cryptosuite';
import * as EcdsaMultikey from '@digitalbazaar/ecdsa-multikey';
import * as Ed25519Multikey from '@digitalbazaar/ed25519-multikey';

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, '..', '..', '..');
const shared = process.env.BPP_SHARED_DIR || join(root, '..', 'shared');
const contextDir = join(root, 'credentials', 'contexts');
const CONTEXTS = {
  'https://www.w3.org/ns/credentials/v2': 'credentials-v2.jsonld',
  'https://www.w3.org/ns/credentials/examples/v2': 'credentials-examples-v2.jsonld',
  'https://w3id.org/security/multikey/v1': 'multikey-v1.jsonld',
};
const cache = {};
for(const [url, file] of Object.entries(CONTEXTS)) {
  cache[url] = JSON.parse(readFileSync(join(contextDir, file), 'utf8'));
}
const base = JSON.parse(
  readFileSync(join(shared, 'vectors', 'bench', 'passport-sized-unsigned.json'), 'utf8'));

async function setup(suiteName) {
  const keyPair = suiteName === 'ecdsa-rdfc-2019' ?
    await EcdsaMultikey.generate({curve: 'P-256'}) : await Ed25519Multikey.generate();
  const did = `did:key:${keyPair.publicKeyMultibase}`;
  keyPair.id = `${did}#${keyPair.publicKeyMultibase}`;
  keyPair.controller = did;
  const vm = await keyPair.export({publicKey: true, includeContext: true});
  const didDoc = {
    '@context': ['https://www.w3.org/ns/did/v1', 'https://w3id.org/security/multikey/v1'],
    id: did, verificationMethod: [vm], assertionMethod: [vm.id],
  };
  const documentLoader = async url => {
    if(cache[url]) return {contextUrl: null, documentUrl: url, document: cache[url]};
    if(url === vm.id) return {contextUrl: null, documentUrl: url, document: vm};
    if(url === did) return {contextUrl: null, documentUrl: url, document: didDoc};
    throw new Error(`offline: ${url}`);
  };
  const cryptosuite = suiteName === 'ecdsa-rdfc-2019' ? ecdsaRdfc2019 : eddsaRdfc2022;
  return {keyPair, did, documentLoader, cryptosuite};
}

function variant(did, i) {
  const credential = structuredClone(base);
  credential.id = `urn:uuid:${crypto.randomUUID()}`;
  credential.issuer = did;
  credential.credentialSubject.batteryMass = 400 + (i % 1000) / 10;
  return credential;
}

async function rate(seconds, step) {
  let count = 0;
  const start = performance.now();
  for(;;) {
    await step(count++);
    const now = performance.now();
    if(now - start >= seconds * 1000) return Math.round(count / ((now - start) / 10000)) / 10;
  }
}

async function measure(suiteName, seconds) {
  const {keyPair, did, documentLoader, cryptosuite} = await setup(suiteName);
  const issueOne = async i => vc.issue({
    credential: variant(did, i),
    suite: new DataIntegrityProof({signer: keyPair.signer(), cryptosuite}),
    documentLoader,
  });
  await issueOne(0);
  const issuePerS = await rate(seconds, issueOne);
  const pool = [];
  for(let i = 0; i < 200; i++) pool.push(await issueOne(i));
  const verifySuite = new DataIntegrityProof({cryptosuite});
  const verifyOne = async i => {
    const result = await vc.verifyCredential({
      credential: pool[i % pool.length], suite: verifySuite, documentLoader,
      checkStatus: async () => ({verified: true}),
    });
    if(!result.verified) throw new Error(JSON.stringify(result.error));
  };
  await verifyOne(0);
  return {issue_per_s: issuePerS, verify_per_s: await rate(seconds, verifyOne)};
}

const seconds = Number(process.argv[2] || 3);
const out = {};
for(const name of ['ecdsa-rdfc-2019', 'eddsa-rdfc-2022']) {
  out[name] = await measure(name, seconds);
}
process.stdout.write(JSON.stringify(out) + '\n');

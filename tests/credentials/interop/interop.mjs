// Cross-checks credentials with Digital Bazaar's implementation (an independent one).
//   node interop.mjs verify <documents.json> <credential.json>
//   node interop.mjs verify-many <documents.json> <credentials.json>   (a JSON array)
//   node interop.mjs issue <ecdsa-rdfc-2019|eddsa-rdfc-2022|ecdsa-jcs-2019|eddsa-jcs-2022> <credential.json>
// documents.json maps URL -> JSON (DID documents); contexts are read from the Python
// package's bundled files, so nothing is fetched.
import {readFileSync} from 'node:fs';
import {dirname, join} from 'node:path';
import {fileURLToPath} from 'node:url';

import * as vc from '@digitalbazaar/vc';
import {DataIntegrityProof} from '@digitalbazaar/data-integrity';
import {cryptosuite as ecdsaRdfc2019} from '@digitalbazaar/ecdsa-rdfc-2019-cryptosuite';
import {cryptosuite as eddsaRdfc2022} from '@digitalbazaar/eddsa-rdfc-2022-cryptosuite';
import * as ecdsaJcs2019 from '@digitalbazaar/ecdsa-jcs-2019-cryptosuite';
import * as eddsaJcs2022 from '@digitalbazaar/eddsa-jcs-2022-cryptosuite';
import * as EcdsaMultikey from '@digitalbazaar/ecdsa-multikey';
import * as Ed25519Multikey from '@digitalbazaar/ed25519-multikey';

const here = dirname(fileURLToPath(import.meta.url));
const contextDir = join(here, '..', '..', '..', 'credentials', 'contexts');
const CONTEXTS = {
  'https://www.w3.org/ns/credentials/v2': 'credentials-v2.jsonld',
  'https://www.w3.org/ns/credentials/examples/v2': 'credentials-examples-v2.jsonld',
  'https://w3id.org/security/data-integrity/v2': 'data-integrity-v2.jsonld',
  'https://w3id.org/security/multikey/v1': 'multikey-v1.jsonld',
  'https://www.w3.org/ns/credentials/status/v1': 'status-v1.jsonld',
  'https://w3id.org/battery-passport/v1': 'battery-passport-v1.jsonld',
};

function didKeyDocument(did) {
  const multikey = did.slice('did:key:'.length);
  const id = `${did}#${multikey}`;
  return {
    '@context': ['https://www.w3.org/ns/did/v1', 'https://w3id.org/security/multikey/v1'],
    id: did,
    verificationMethod: [{id, type: 'Multikey', controller: did, publicKeyMultibase: multikey}],
    assertionMethod: [id],
    authentication: [id],
  };
}

function didWebUrl(did) {
  const parts = did.slice('did:web:'.length).split(':').map(decodeURIComponent);
  const host = parts.shift();
  const scheme = /^(localhost|127\.0\.0\.1)(:|$)/.test(host) ? 'http' : 'https';
  return parts.length ? `${scheme}://${host}/${parts.join('/')}/did.json`
    : `${scheme}://${host}/.well-known/did.json`;
}

function makeLoader(documents) {
  return async url => {
    if(CONTEXTS[url]) {
      const document = JSON.parse(readFileSync(join(contextDir, CONTEXTS[url]), 'utf8'));
      return {contextUrl: null, documentUrl: url, document};
    }
    const [did, fragment] = url.split('#');
    let doc;
    if(did.startsWith('did:key:')) {
      doc = didKeyDocument(did);
    } else if(did.startsWith('did:web:')) {
      doc = documents[didWebUrl(did)];
    }
    if(!doc) {
      throw new Error(`refusing to load ${url} (offline)`);
    }
    if(fragment === undefined) {
      return {contextUrl: null, documentUrl: url, document: doc};
    }
    const vm = doc.verificationMethod.find(m => m.id === url || `${did}${m.id}` === url);
    if(!vm) {
      throw new Error(`no verification method ${url}`);
    }
    return {
      contextUrl: null, documentUrl: url,
      document: {'@context': 'https://w3id.org/security/multikey/v1', ...vm},
    };
  };
}

async function verify(documentsFile, credentialFile) {
  const documents = JSON.parse(readFileSync(documentsFile, 'utf8'));
  const credential = JSON.parse(readFileSync(credentialFile, 'utf8'));
  return verifyOne(documents, credential);
}

async function verifyMany(documentsFile, credentialsFile) {
  const documents = JSON.parse(readFileSync(documentsFile, 'utf8'));
  const credentials = JSON.parse(readFileSync(credentialsFile, 'utf8'));
  const results = [];
  for(const credential of credentials) {
    results.push(await verifyOne(documents, credential));
  }
  return results;
}

async function verifyOne(documents, credential) {
  const suite = [
    new DataIntegrityProof({cryptosuite: ecdsaRdfc2019}),
    new DataIntegrityProof({cryptosuite: eddsaRdfc2022}),
    new DataIntegrityProof({cryptosuite: ecdsaJcs2019.createVerifyCryptosuite()}),
    new DataIntegrityProof({cryptosuite: eddsaJcs2022.createVerifyCryptosuite()}),
  ];
  const result = await vc.verifyCredential({
    credential, suite, documentLoader: makeLoader(documents),
    // status is checked by our own verifier; here only the proof is cross-checked
    checkStatus: async () => ({verified: true}),
  });
  const errors = [];
  for(const r of result.results || []) {
    if(r.error) errors.push(String(r.error.message || r.error));
  }
  if(result.error) errors.push(String(result.error.message || result.error));
  return {verified: result.verified, errors};
}

async function issue(suiteName, credentialFile) {
  const credential = JSON.parse(readFileSync(credentialFile, 'utf8'));
  let keyPair;
  let cryptosuite;
  if(suiteName === 'ecdsa-rdfc-2019') {
    keyPair = await EcdsaMultikey.generate({curve: 'P-256'});
    cryptosuite = ecdsaRdfc2019;
  } else if(suiteName === 'eddsa-rdfc-2022') {
    keyPair = await Ed25519Multikey.generate();
    cryptosuite = eddsaRdfc2022;
  } else if(suiteName === 'ecdsa-jcs-2019') {
    keyPair = await EcdsaMultikey.generate({curve: 'P-256'});
    cryptosuite = ecdsaJcs2019.createSignCryptosuite();
  } else if(suiteName === 'eddsa-jcs-2022') {
    keyPair = await Ed25519Multikey.generate();
    cryptosuite = eddsaJcs2022.createSignCryptosuite();
  } else {
    throw new Error(`unknown suite ${suiteName}`);
  }
  const did = `did:key:${keyPair.publicKeyMultibase}`;
  keyPair.id = `${did}#${keyPair.publicKeyMultibase}`;
  keyPair.controller = did;
  credential.issuer = did;
  const suite = new DataIntegrityProof({signer: keyPair.signer(), cryptosuite});
  const signed = await vc.issue({credential, suite, documentLoader: makeLoader({})});
  return {credential: signed};
}

const [command, a, b] = process.argv.slice(2);
const out = command === 'verify' ? await verify(a, b) :
  command === 'verify-many' ? await verifyMany(a, b) : await issue(a, b);
process.stdout.write(JSON.stringify(out) + '\n');

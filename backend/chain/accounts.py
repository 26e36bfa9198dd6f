"""Chain accounts (secp256k1) kept encrypted in the data directory's key store.

Ethereum's own keystore v3 format (scrypt + AES-CTR) under `BPP_KEYSTORE_PASSPHRASE`; the
private key is decrypted into memory only to sign transactions.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from eth_account import Account
from eth_account.signers.local import LocalAccount

# Lighter than the keystore default (n = 2**18, ~1 s) so that every start is quick, still far
# beyond brute force for a real passphrase.
_SCRYPT_N = 2**14


RELAYER = "relayer"
CITY_ROOT = "city-root"


class ChainAccountStore:
    """Named secp256k1 accounts: `relayer`, `city-root`, and one per issuing organisation."""

    def __init__(self, directory: Path, passphrase: str) -> None:
        self.directory = directory
        self._passphrase = passphrase
        self._cache: dict[str, LocalAccount] = {}

    def exists(self, name: str) -> bool:
        return name in self._cache or (self.directory / f"{name}.json").exists()

    def load_or_create(self, name: str) -> LocalAccount:
        if name in self._cache:
            return self._cache[name]
        path = self.directory / f"{name}.json"
        if path.exists():
            keystore: dict[str, Any] = json.loads(path.read_text())
            account: LocalAccount = Account.from_key(Account.decrypt(keystore, self._passphrase))
        else:
            account = Account.create()
            self.directory.mkdir(parents=True, exist_ok=True)
            encrypted = Account.encrypt(account.key, self._passphrase, iterations=_SCRYPT_N)
            tmp = path.with_suffix(".tmp")
            tmp.write_text(json.dumps(encrypted))
            os.chmod(tmp, 0o600)
            tmp.replace(path)
        self._cache[name] = account
        return account

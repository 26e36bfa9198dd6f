"""Signed delegations: an unfunded issuer key authorises the relayer through EIP-712."""

from __future__ import annotations

from eth_account import Account
from eth_account.messages import encode_typed_data

from contracts.delegation import delegation_typed_data
from contracts.status import ListShape, pack_changes, status_digest
from tests.contracts.conftest import Chain

LIST_ID = b"\x22" * 32
SHAPE = ListShape(1024, 1)


def sign_delegation(
    chain: Chain, key: bytes, delegate: str, expires_at: int, nonce: int | None = None
) -> bytes:
    issuer = Account.from_key(key).address
    if nonce is None:
        nonce = chain.status.functions.delegationNonce(issuer).call()
    data = delegation_typed_data(
        chain_id=chain.w3.eth.chain_id,
        registry=chain.status.address,
        issuer=issuer,
        delegate=delegate,
        expires_at=expires_at,
        nonce=nonce,
    )
    return bytes(Account.sign_message(encode_typed_data(full_message=data), key).signature)


def test_relayer_submits_the_issuers_signed_delegation_and_publishes(chain: Chain) -> None:
    key = bytes.fromhex("4c" * 32)
    issuer = Account.from_key(key).address
    relayer = chain.accounts[2]
    assert chain.w3.eth.get_balance(issuer) == 0
    expires = chain.now() + 3600
    signature = sign_delegation(chain, key, relayer, expires)
    fns = chain.status.functions
    chain.send(fns.setDelegateBySig(issuer, relayer, expires, signature), relayer)
    assert fns.delegateExpiry(issuer, relayer).call() == expires
    assert fns.delegationNonce(issuer).call() == 1
    chain.send(fns.createList(issuer, LIST_ID, SHAPE.length, 1), relayer)
    values = bytes([1] + [0] * 1023)
    chain.send(
        fns.publishChanges(
            issuer,
            LIST_ID,
            1,
            status_digest(LIST_ID, 1, SHAPE, values),
            pack_changes({0: 1}, SHAPE),
        ),
        relayer,
    )
    # Replaying the same signature fails: the nonce moved on.
    err = chain.revert_of(
        chain.status, fns.setDelegateBySig(issuer, relayer, expires, signature), relayer
    )
    assert err.name == "InvalidSignature"
    # A signed expiry of 0 withdraws the delegate.
    withdraw = sign_delegation(chain, key, relayer, 0)
    chain.send(fns.setDelegateBySig(issuer, relayer, 0, withdraw), chain.accounts[5])
    assert not fns.canPublish(issuer, relayer).call()


def test_forged_or_malformed_signatures_are_refused(chain: Chain) -> None:
    key, other_key = bytes.fromhex("4c" * 32), bytes.fromhex("5d" * 32)
    issuer = Account.from_key(key).address
    relayer = chain.accounts[2]
    fns = chain.status.functions
    expires = chain.now() + 3600
    good = sign_delegation(chain, key, relayer, expires)
    n = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141
    s = int.from_bytes(good[32:64], "big")
    malleable = good[:32] + (n - s).to_bytes(32, "big") + bytes([55 - good[64]])
    zero_issuer = "0x" + "00" * 20
    cases = [
        (issuer, expires, sign_delegation(chain, other_key, relayer, expires)),  # wrong signer
        (issuer, expires + 1, good),  # other expiry than signed
        (issuer, expires, sign_delegation(chain, key, relayer, expires, nonce=5)),
        (issuer, expires, good[:64]),  # truncated
        (issuer, expires, malleable),  # high-s twin of a valid signature
        (zero_issuer, expires, b"\x00" * 65),  # ecrecover's zero must not pass as issuer 0
    ]
    for who, expiry, signature in cases:
        err = chain.revert_of(
            chain.status, fns.setDelegateBySig(who, relayer, expiry, signature), relayer
        )
        assert err.name == "InvalidSignature"
    err = chain.revert_of(
        chain.status, fns.setDelegateBySig(issuer, relayer, chain.now(), good), relayer
    )
    assert err.name == "ExpiryNotInFuture"
    err = chain.revert_of(
        chain.status, fns.setDelegateBySig(issuer, zero_issuer, expires, good), relayer
    )
    assert err.name == "ZeroDelegate"
    chain.send(fns.setDelegateBySig(issuer, relayer, expires, good), relayer)

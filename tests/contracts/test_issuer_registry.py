"""IssuerRegistry on chain: roles, windows, revocation, multi-key root, every custom error."""

from __future__ import annotations

from web3.logs import DISCARD

from contracts.issuers import Role, subject_for_address, subject_for_did
from tests.contracts.conftest import Chain

INSPECTOR = Role.INSPECTOR.number
DID = "did:web:passport.example:orgs:busan-inspection"


def test_role_numbers_follow_the_contract_order() -> None:
    assert [r.number for r in Role] == list(range(8))
    assert Role.from_number(4) is Role.CHARGE_POINT_OPERATOR
    assert Role.RECYCLER.number == 7


def test_root_accredits_a_did_for_a_window(chain: Chain) -> None:
    root = chain.accounts[7]
    subject = subject_for_did(DID)
    now = chain.now()
    receipt = chain.send(
        chain.issuers.functions.accredit(subject, INSPECTOR, now - 10, now + 1000), root
    )
    (event,) = chain.issuers.events.Accredited().process_receipt(receipt, errors=DISCARD)
    assert event["args"] == {
        "subject": subject,
        "role": INSPECTOR,
        "validFrom": now - 10,
        "validUntil": now + 1000,
    }
    check = chain.issuers.functions.isAccredited
    assert check(subject, INSPECTOR, now).call()
    assert check(subject, INSPECTOR, now - 10).call()
    assert not check(subject, INSPECTOR, now - 11).call()
    assert not check(subject, INSPECTOR, now + 1000).call()
    assert not check(subject, Role.MANUFACTURER.number, now).call()


def test_address_subjects_are_the_padded_address(chain: Chain) -> None:
    root, issuer = chain.accounts[7], chain.accounts[1]
    now = chain.now()
    chain.send(
        chain.issuers.functions.accredit(
            subject_for_address(issuer), Role.MANUFACTURER.number, now, now + 100
        ),
        root,
    )
    assert chain.issuers.functions.isAccreditedAddress(
        issuer, Role.MANUFACTURER.number, now + 1
    ).call()
    assert not chain.issuers.functions.isAccreditedAddress(
        chain.accounts[2], Role.MANUFACTURER.number, now + 1
    ).call()


def test_revocation_ends_accreditation_from_its_time_on_only(chain: Chain) -> None:
    root = chain.accounts[7]
    subject = subject_for_did(DID)
    now = chain.now()
    fns = chain.issuers.functions
    chain.send(fns.accredit(subject, INSPECTOR, now - 100, now + 1000), root)
    chain.send(fns.accredit(subject, INSPECTOR, now + 2000, now + 3000), root)
    receipt = chain.send(fns.revoke(subject, INSPECTOR, now + 500), root)
    (event,) = chain.issuers.events.AccreditationRevoked().process_receipt(receipt, errors=DISCARD)
    assert event["args"]["effectiveAt"] == now + 500
    assert fns.isAccredited(subject, INSPECTOR, now + 499).call()
    assert not fns.isAccredited(subject, INSPECTOR, now + 500).call()
    assert not fns.isAccredited(subject, INSPECTOR, now + 2500).call()
    assert fns.windowsOf(subject, INSPECTOR).call() == [
        (now - 100, now + 500),
        (now + 2000, now + 2000),
    ]
    err = chain.revert_of(chain.issuers, fns.revoke(subject, INSPECTOR, now + 500), root)
    assert err.name == "NothingToRevoke"
    # Accrediting again after a revocation opens a new window.
    chain.send(fns.accredit(subject, INSPECTOR, now + 600, now + 700), root)
    assert fns.isAccredited(subject, INSPECTOR, now + 650).call()


def test_only_root_keys_accredit_or_revoke(chain: Chain) -> None:
    stranger = chain.accounts[1]
    subject = subject_for_did(DID)
    fns = chain.issuers.functions
    err = chain.revert_of(chain.issuers, fns.accredit(subject, INSPECTOR, 1, 2), stranger)
    assert err.name == "NotRoot"
    assert err.args == {"sender": stranger}
    chain.send(fns.accredit(subject, INSPECTOR, 1, 2**40), chain.accounts[7])
    err = chain.revert_of(chain.issuers, fns.revoke(subject, INSPECTOR, 5), stranger)
    assert err.name == "NotRoot"
    err = chain.revert_of(chain.issuers, fns.changeRoots([stranger], 1), stranger)
    assert err.name == "NotRoot"


def test_bad_arguments_have_their_errors(chain: Chain) -> None:
    root = chain.accounts[7]
    subject = subject_for_did(DID)
    fns = chain.issuers.functions
    err = chain.revert_of(chain.issuers, fns.accredit(subject, 8, 1, 2), root)
    assert (err.name, err.args) == ("UnknownRole", {"role": 8})
    assert chain.call_revert_of(chain.issuers, fns.isAccredited(subject, 9, 1)).name == (
        "UnknownRole"
    )
    assert chain.revert_of(chain.issuers, fns.accredit(bytes(32), 1, 1, 2), root).name == (
        "ZeroSubject"
    )
    err = chain.revert_of(chain.issuers, fns.accredit(subject, 1, 5, 5), root)
    assert (err.name, err.args) == ("InvalidWindow", {"validFrom": 5, "validUntil": 5})
    err = chain.revert_of(chain.issuers, fns.revoke(subject, 1, 0), root)
    assert err.name == "NothingToRevoke"


def test_windows_per_subject_and_role_are_bounded(chain: Chain) -> None:
    root = chain.accounts[7]
    subject = subject_for_did(DID)
    fns = chain.issuers.functions
    limit = fns.MAX_WINDOWS().call()
    for k in range(limit):
        chain.send(fns.accredit(subject, 0, 10 * k + 1, 10 * k + 5), root)
    err = chain.revert_of(chain.issuers, fns.accredit(subject, 0, 1000, 1001), root)
    assert err.name == "TooManyWindows"
    assert fns.isAccredited(subject, 0, 10 * (limit - 1) + 2).call()


def test_threshold_two_needs_two_distinct_root_keys(chain: Chain) -> None:
    a, b = chain.accounts[7], chain.accounts[8]
    subject = subject_for_did(DID)
    fns = chain.council.functions
    now = chain.now()
    args = (subject, INSPECTOR, now, now + 1000)
    op_id = fns.accreditOperationId(*args).call()
    receipt = chain.send(fns.accredit(*args), a)
    assert not chain.council.events.Accredited().process_receipt(receipt, errors=DISCARD)
    (approved,) = chain.council.events.OperationApproved().process_receipt(receipt, errors=DISCARD)
    assert approved["args"]["opId"] == op_id
    assert approved["args"]["approvals"] == 1
    assert fns.approvalCount(op_id).call() == 1
    assert not fns.isAccredited(subject, INSPECTOR, now + 1).call()
    err = chain.revert_of(chain.council, fns.accredit(*args), a)
    assert (err.name, err.args) == ("AlreadyApproved", {"opId": op_id, "root": a})
    receipt = chain.send(fns.accredit(*args), b)
    assert chain.council.events.Accredited().process_receipt(receipt, errors=DISCARD)
    assert fns.isAccredited(subject, INSPECTOR, now + 1).call()
    # Executed: the same arguments now form a new operation (the generation moved on).
    assert fns.accreditOperationId(*args).call() != op_id
    assert fns.approvalCount(op_id).call() == 0


def test_different_arguments_do_not_add_up(chain: Chain) -> None:
    a, b = chain.accounts[7], chain.accounts[8]
    subject = subject_for_did(DID)
    fns = chain.council.functions
    chain.send(fns.accredit(subject, INSPECTOR, 100, 200), a)
    chain.send(fns.accredit(subject, INSPECTOR, 100, 201), b)
    assert not fns.isAccredited(subject, INSPECTOR, 150).call()


def test_changing_roots_voids_pending_approvals(chain: Chain) -> None:
    a, b, c, newcomer = chain.accounts[7], chain.accounts[8], chain.accounts[9], chain.accounts[6]
    subject = subject_for_did(DID)
    fns = chain.council.functions
    chain.send(fns.accredit(subject, INSPECTOR, 100, 200), a)
    chain.send(fns.changeRoots([a, b, newcomer], 2), b)
    receipt = chain.send(fns.changeRoots([a, b, newcomer], 2), c)
    (event,) = chain.council.events.RootsChanged().process_receipt(receipt, errors=DISCARD)
    assert event["args"]["roots"] == [a, b, newcomer]
    assert event["args"]["epoch"] == 2
    assert fns.rootSet().call() == [[a, b, newcomer], 2, 2]
    # c is no longer a root; a's earlier approval was given in epoch 1 and no longer counts.
    assert chain.revert_of(chain.council, fns.accredit(subject, INSPECTOR, 100, 200), c).name == (
        "NotRoot"
    )
    chain.send(fns.accredit(subject, INSPECTOR, 100, 200), newcomer)
    assert not fns.isAccredited(subject, INSPECTOR, 150).call()
    chain.send(fns.accredit(subject, INSPECTOR, 100, 200), a)
    assert fns.isAccredited(subject, INSPECTOR, 150).call()


def test_root_set_validation(chain: Chain) -> None:
    a, b = chain.accounts[7], chain.accounts[8]
    zero = "0x" + "00" * 20
    fns = chain.council.functions
    err = chain.revert_of(chain.council, fns.changeRoots([], 1), a)
    assert (err.name, err.args) == ("InvalidRootCount", {"count": 0})
    too_many = [chain.w3.to_checksum_address(f"0x{k:040x}") for k in range(1, 18)]
    assert chain.revert_of(chain.council, fns.changeRoots(too_many, 1), a).name == (
        "InvalidRootCount"
    )
    err = chain.revert_of(chain.council, fns.changeRoots([a, b], 3), a)
    assert (err.name, err.args) == ("InvalidThreshold", {"threshold": 3, "rootCount": 2})
    assert chain.revert_of(chain.council, fns.changeRoots([a, b], 0), a).name == (
        "InvalidThreshold"
    )
    err = chain.revert_of(chain.council, fns.changeRoots([a, a], 1), a)
    assert (err.name, err.args) == ("InvalidRoot", {"root": a})
    assert chain.revert_of(chain.council, fns.changeRoots([zero], 1), a).name == "InvalidRoot"

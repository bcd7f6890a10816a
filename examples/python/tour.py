"""The README's five-minute tour through medvault's C ABI, with ctypes (standard library only).

From the top of the repository:
    cargo build --release -p medvault-ffi
    python3 examples/python/tour.py        # or MEDVAULT_FFI_LIB=/path/to/libmedvault_ffi.so

Every call returns MV_OK (0) or an MV_ERR_* code (medvault-ffi/include/medvault.h); strings
the library returns are freed with mv_string_free. Synthetic patient only.
"""

import ctypes
import json
import os
import pathlib
import shutil
import tempfile

MV_OK = 0
MV_ERR_NULL_POINTER = 1
MV_ERR_INVALID_HANDLE = 2
MV_ERR_INVALID_JSON = 4
MV_ERR_DENIED = 6

ROOT = pathlib.Path(__file__).resolve().parents[2]
LIB = os.environ.get("MEDVAULT_FFI_LIB", str(ROOT / "target" / "release" / "libmedvault_ffi.so"))


class MedvaultError(Exception):
    def __init__(self, code, message):
        super().__init__(f"medvault error {code}: {message}")
        self.code = code


class Medvault:
    """A thin binding: each method calls one function and turns a code into an exception."""

    def __init__(self, path):
        lib = ctypes.CDLL(path)
        u64, i32, size, cstr = ctypes.c_uint64, ctypes.c_int32, ctypes.c_size_t, ctypes.c_char_p
        out_str = ctypes.POINTER(ctypes.c_void_p)
        lib.mv_version.restype = cstr
        lib.mv_last_error.restype = ctypes.c_void_p
        lib.mv_string_free.argtypes = [ctypes.c_void_p]
        lib.mv_string_free.restype = None
        signatures = {
            "mv_store_create": [cstr, cstr, cstr, size, cstr, ctypes.POINTER(u64), out_str],
            "mv_store_close": [u64],
            "mv_session_unlock": [u64, cstr, cstr, size, cstr, cstr, ctypes.POINTER(u64)],
            "mv_session_close": [u64],
            "mv_user_add": [u64, cstr, cstr, cstr, size, out_str],
            "mv_patient_create": [u64, cstr, out_str],
            "mv_patient_find": [u64, cstr, out_str],
            "mv_care_team": [u64, cstr, cstr, i32],
            "mv_read": [u64, cstr, cstr, out_str],
            "mv_write": [u64, cstr, cstr, cstr, cstr, cstr, out_str],
            "mv_audit_query": [u64, cstr, out_str],
            "mv_audit_verify": [u64, out_str],
        }
        for name, args in signatures.items():
            getattr(lib, name).argtypes = args
            getattr(lib, name).restype = i32
        self.lib = lib

    def _take(self, pointer):
        """Copies a returned string and frees it."""
        text = ctypes.string_at(pointer).decode("utf-8")
        self.lib.mv_string_free(pointer)
        return text

    def _check(self, code):
        if code != MV_OK:
            pointer = self.lib.mv_last_error()
            raise MedvaultError(code, self._take(pointer) if pointer else "")

    def _string_call(self, name, *args):
        out = ctypes.c_void_p()
        self._check(getattr(self.lib, name)(*args, ctypes.byref(out)))
        return self._take(out)

    def version(self):
        return self.lib.mv_version().decode()

    def create(self, location, admin, passphrase, options=None):
        handle = ctypes.c_uint64()
        out = ctypes.c_void_p()
        opts = json.dumps(options).encode() if options else None
        self._check(self.lib.mv_store_create(location.encode(), admin.encode(), passphrase, len(passphrase), opts,
                                             ctypes.byref(handle), ctypes.byref(out)))
        return handle.value, json.loads(self._take(out))

    def unlock(self, store, user, passphrase, workstation="poste-1", purpose="treatment"):
        # Passphrases are bytes: the host application prompts for them and never logs them.
        handle = ctypes.c_uint64()
        self._check(self.lib.mv_session_unlock(store, user.encode(), passphrase, len(passphrase),
                                               workstation.encode(), purpose.encode(), ctypes.byref(handle)))
        return handle.value

    def close_session(self, session):
        self._check(self.lib.mv_session_close(session))

    def close_store(self, store):
        self._check(self.lib.mv_store_close(store))

    def add_user(self, session, name, roles, passphrase):
        return json.loads(self._string_call("mv_user_add", session, name.encode(), json.dumps(roles).encode(),
                                            passphrase, len(passphrase)))

    def create_patient(self, session, identity):
        return self._string_call("mv_patient_create", session, json.dumps(identity).encode())

    def find(self, session, query):
        return json.loads(self._string_call("mv_patient_find", session, json.dumps(query).encode()))["patients"]

    def care_team_add(self, session, patient, member):
        self._check(self.lib.mv_care_team(session, patient.encode(), member.encode(), 0))

    def read(self, session, patient, section):
        return json.loads(self._string_call("mv_read", session, patient.encode(), section.encode()))

    def write(self, session, patient, section, content, entry=None, reason=None):
        return json.loads(self._string_call("mv_write", session, patient.encode(), section.encode(),
                                            json.dumps(content).encode(), entry and entry.encode(),
                                            reason and reason.encode()))

    def audit(self, session, query=None):
        return json.loads(self._string_call("mv_audit_query", session, json.dumps(query).encode() if query else None))

    def verify(self, session):
        return json.loads(self._string_call("mv_audit_verify", session))


def main():
    mv = Medvault(LIB)
    print("medvault", mv.version())
    folder = tempfile.mkdtemp(prefix="medvault-tour-")
    try:
        # 1. The store and its recovery shares (Argon2id lowered for the example only).
        store, created = mv.create(os.path.join(folder, "cabinet"), "alice", b"alice: admin passphrase",
                                   {"kdf_memory_kib": 1024, "kdf_passes": 1, "kdf_lanes": 1})
        assert len(created["recovery_shares"]) == 5
        # 2. The administrator adds users.
        alice = mv.unlock(store, "alice", b"alice: admin passphrase")
        passes = {"claire": b"claire: secretary passphrase", "dr_martin": b"martin: physician passphrase",
                  "dpo": b"marc: dpo passphrase"}
        for name, role in [("claire", "secretary"), ("dr_martin", "physician"), ("dpo", "auditor")]:
            mv.add_user(alice, name, [role], passes[name])
        mv.close_session(alice)
        # 3. Reception creates a patient and adds the physician to the care team.
        claire = mv.unlock(store, "claire", passes["claire"])
        patient = mv.create_patient(claire, {
            "birth_name": "LEFEBVRE", "first_names": ["Camille", "Marie"], "birth_date": "1984-03-12",
            "sex": "F", "birth_place_insee": "75056", "ins_matricule": "284237505612384",
            "ins_oid": "1.2.250.1.213.1.4.8", "identity_status": "QUAL", "phone": "06 12 34 56 78"})
        mv.care_team_add(claire, patient, "dr_martin")
        assert patient in mv.find(claire, {"birth_name": "Lefebvre", "birth_date": "1984-03-12"})
        # 4. The physician posts a lab result and reads it; the secretary reads the identity
        #    and is refused the exams: the denied code, and no data.
        martin = mv.unlock(store, "dr_martin", passes["dr_martin"])
        mv.write(martin, patient, "exams", {
            "kind": "lab", "code_system": "http://loinc.org", "code": "718-7", "label": "Hémoglobine",
            "value": "13.2", "unit": "g/dL", "reference_range": "12.0-16.0", "date": "2026-11-22",
            "performer": "Laboratoire Central"})
        assert mv.read(martin, patient, "exams")[0]["value"] == "13.2"
        assert mv.read(claire, patient, "identity")[0]["birth_name"] == "LEFEBVRE"
        try:
            mv.read(claire, patient, "exams")
            raise AssertionError("the secretary read the exams")
        except MedvaultError as e:
            assert e.code == MV_ERR_DENIED, e
            print("refused, as expected:", e)
        # 5. The DPO reads the audit trail and verifies the log.
        dpo = mv.unlock(store, "dpo", passes["dpo"])
        events = mv.audit(dpo, {"patient": patient})
        assert any(e["outcome"] == "denied" and e["action"] == "read" for e in events), events
        assert mv.verify(dpo)["ok"] is True
        # Bad input: an error code, never a crash.
        for call, code in [(lambda: mv._string_call("mv_read", dpo, patient.encode(), None), MV_ERR_NULL_POINTER),
                           (lambda: mv.read(424242, patient, "exams"), MV_ERR_INVALID_HANDLE),
                           (lambda: mv._string_call("mv_patient_create", claire, b'{"birth_name": '),
                            MV_ERR_INVALID_JSON)]:
            try:
                call()
                raise AssertionError("bad input was accepted")
            except MedvaultError as e:
                assert e.code == code, e
        for session in (claire, martin, dpo):
            mv.close_session(session)
        mv.close_store(store)
        print("tour OK")
    finally:
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()

/* The README's five-minute tour through medvault's C ABI (include/medvault.h).
 *
 * Build and run from the top of the repository:
 *   cargo build --release -p medvault-ffi
 *   cc -Wall -Wextra -o target/tour examples/c/tour.c -Imedvault-ffi/include \
 *      -Ltarget/release -lmedvault_ffi -Wl,-rpath,"$PWD/target/release"
 *   ./target/tour
 *
 * Every call returns MV_OK or an MV_ERR_* code; every string the library returns is freed with
 * mv_string_free. Synthetic patient only. */
#define _XOPEN_SOURCE 700
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "medvault.h"

/* Stops the tour when a call does not return what it should. */
static void expect(int32_t got, int32_t want, const char *what) {
    if (got == want) return;
    char *message = mv_last_error();
    fprintf(stderr, "FAILED %s: code %d (expected %d): %s\n", what, got, want, message ? message : "");
    mv_string_free(message);
    exit(1);
}

static void expect_contains(const char *text, const char *needle, const char *what) {
    if (text != NULL && strstr(text, needle) != NULL) return;
    fprintf(stderr, "FAILED %s: \"%s\" not found\n", what, needle);
    exit(1);
}

/* Passphrases go in as bytes: the host application prompts for them, never logs them, and
 * wipes its own copy after the call. */
static MvSession unlock(MvStore store, const char *user, const char *passphrase) {
    MvSession session = 0;
    expect(mv_session_unlock(store, user, (const uint8_t *)passphrase, strlen(passphrase), "poste-accueil-1",
                             "treatment", &session),
           MV_OK, user);
    return session;
}

static int remove_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw) {
    (void)sb, (void)flag, (void)ftw;
    return remove(path);
}

int main(void) {
    printf("medvault %s\n", mv_version());
    char dir[] = "/tmp/medvault-tour-XXXXXX";
    if (mkdtemp(dir) == NULL) return 1;
    char location[256];
    snprintf(location, sizeof location, "%s/cabinet", dir);

    /* 1. The store and its recovery shares (Argon2id lowered for the example only: production
     *    keeps the default, 64 MiB and 3 passes). */
    MvStore store = 0;
    char *created = NULL;
    const char *admin_pass = "alice: admin passphrase";
    expect(mv_store_create(location, "alice", (const uint8_t *)admin_pass, strlen(admin_pass),
                           "{\"kdf_memory_kib\": 1024, \"kdf_passes\": 1, \"kdf_lanes\": 1}", &store, &created),
           MV_OK, "create the store");
    expect_contains(created, "recovery_shares", "recovery shares");
    mv_string_free(created);

    /* 2. The administrator adds users. */
    MvSession alice = unlock(store, "alice", admin_pass);
    const char *users[][3] = {{"claire", "[\"secretary\"]", "claire: secretary passphrase"},
                              {"dr_martin", "[\"physician\"]", "martin: physician passphrase"},
                              {"dpo", "[\"auditor\"]", "marc: dpo passphrase"}};
    for (int i = 0; i < 3; i++) {
        char *added = NULL;
        expect(mv_user_add(alice, users[i][0], users[i][1], (const uint8_t *)users[i][2], strlen(users[i][2]), &added),
               MV_OK, "add a user");
        mv_string_free(added);
    }
    expect(mv_session_close(alice), MV_OK, "close");

    /* 3. Reception creates a patient and adds the physician to the care team. */
    MvSession claire = unlock(store, "claire", users[0][2]);
    char *patient = NULL;
    expect(mv_patient_create(claire,
                             "{\"birth_name\": \"LEFEBVRE\", \"first_names\": [\"Camille\", \"Marie\"], "
                             "\"birth_date\": \"1984-03-12\", \"sex\": \"F\", \"birth_place_insee\": \"75056\", "
                             "\"ins_matricule\": \"284237505612384\", \"ins_oid\": \"1.2.250.1.213.1.4.8\", "
                             "\"identity_status\": \"QUAL\", \"phone\": \"06 12 34 56 78\"}",
                             &patient),
           MV_OK, "create a patient");
    expect(mv_care_team(claire, patient, "dr_martin", 0), MV_OK, "care team");
    char *found = NULL;
    expect(mv_patient_find(claire, "{\"birth_name\": \"Lefebvre\", \"birth_date\": \"1984-03-12\"}", &found), MV_OK,
           "find");
    expect_contains(found, patient, "the patient is found");
    mv_string_free(found);

    /* 4. The physician posts a lab result and reads it; the secretary reads the identity and is
     *    refused the exams: a code, and no data. */
    MvSession martin = unlock(store, "dr_martin", users[1][2]);
    char *written = NULL;
    expect(mv_write(martin, patient, "exams",
                    "{\"kind\": \"lab\", \"code_system\": \"http://loinc.org\", \"code\": \"718-7\", "
                    "\"label\": \"H\\u00e9moglobine\", \"value\": \"13.2\", \"unit\": \"g/dL\", "
                    "\"reference_range\": \"12.0-16.0\", \"date\": \"2026-11-22\", \"performer\": \"Laboratoire Central\"}",
                    NULL, NULL, &written),
           MV_OK, "write an exam");
    mv_string_free(written);
    char *exams = NULL;
    expect(mv_read(martin, patient, "exams", &exams), MV_OK, "the physician reads the exams");
    expect_contains(exams, "13.2", "the exam's value");
    mv_string_free(exams);
    char *identity = NULL;
    expect(mv_read(claire, patient, "identity", &identity), MV_OK, "the secretary reads the identity");
    expect_contains(identity, "LEFEBVRE", "the birth name");
    mv_string_free(identity);
    char *refused = NULL;
    expect(mv_read(claire, patient, "exams", &refused), MV_ERR_DENIED, "the secretary is refused the exams");
    if (refused != NULL) {
        fprintf(stderr, "FAILED: a denied read returned data\n");
        return 1;
    }
    char *why = mv_last_error();
    printf("refused, as expected: %s\n", why);
    mv_string_free(why);

    /* 5. The DPO reads the audit trail and verifies the log. */
    MvSession dpo = unlock(store, "dpo", users[2][2]);
    char query[128];
    snprintf(query, sizeof query, "{\"patient\": \"%s\"}", patient);
    char *events = NULL;
    expect(mv_audit_query(dpo, query, &events), MV_OK, "audit query");
    expect_contains(events, "\"denied\"", "the refusal is in the log");
    mv_string_free(events);
    char *verified = NULL;
    expect(mv_audit_verify(dpo, &verified), MV_OK, "verify");
    expect_contains(verified, "\"ok\":true", "the log verifies");
    mv_string_free(verified);

    /* Bad input: an error code, never a crash. */
    char *nothing = NULL;
    expect(mv_read(dpo, NULL, "exams", &nothing), MV_ERR_NULL_POINTER, "a NULL argument");
    expect(mv_read(424242, patient, "exams", &nothing), MV_ERR_INVALID_HANDLE, "an invalid handle");
    expect(mv_patient_create(claire, "{\"birth_name\": ", &nothing), MV_ERR_INVALID_JSON, "invalid JSON");

    mv_string_free(patient);
    expect(mv_session_close(claire), MV_OK, "close");
    expect(mv_session_close(martin), MV_OK, "close");
    expect(mv_session_close(dpo), MV_OK, "close");
    expect(mv_store_close(store), MV_OK, "close the store");
    nftw(dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
    printf("tour OK\n");
    return 0;
}

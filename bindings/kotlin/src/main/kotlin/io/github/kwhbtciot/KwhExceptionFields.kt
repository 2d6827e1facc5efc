// Hand-written (not generated): the fields every KwhException variant carries,
// readable without matching on the variant first:
//   catch (e: KwhException) { log(e.code, e.member, e.message) }
package io.github.kwhbtciot

/** The stable snake_case code shared by every binding, e.g. `duplicate_member`. */
val KwhException.code: String
    get() = when (this) {
        is KwhException.Json -> code
        is KwhException.Validation -> code
        is KwhException.Merkle -> code
        is KwhException.Crypto -> code
    }

/** The member path the error concerns (e.g. `tx.amount_sats`, `[1].tx.channel`), or null. */
val KwhException.member: String?
    get() = when (this) {
        is KwhException.Json -> member
        is KwhException.Validation -> member
        is KwhException.Merkle -> member
        is KwhException.Crypto -> member
    }

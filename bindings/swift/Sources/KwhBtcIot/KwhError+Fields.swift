// Hand-written (not generated): KwhError's fields without matching on the
// family first, and the core's message as the error's description.
//
//   do { try verifyInclusion(...) }
//   catch let e as KwhError { print(e.code, e.member ?? "-", e.message) }

extension KwhError {
    /// The stable snake_case code shared by every binding, e.g. `duplicate_member`.
    public var code: String {
        switch self {
        case let .Json(code, _, _), let .Validation(code, _, _), let .Merkle(code, _, _), let .Crypto(code, _, _):
            return code
        }
    }

    /// The member path the error concerns (e.g. `tx.amount_sats`, `[1].tx.channel`), or nil.
    public var member: String? {
        switch self {
        case let .Json(_, member, _), let .Validation(_, member, _), let .Merkle(_, member, _),
             let .Crypto(_, member, _):
            return member
        }
    }

    /// The core's message, naming the member and the rule.
    public var message: String {
        switch self {
        case let .Json(_, _, message), let .Validation(_, _, message), let .Merkle(_, _, message),
             let .Crypto(_, _, message):
            return message
        }
    }
}

// uniffi 0.32 generates `description` from Rust's Display (the core's message)
// but does not declare the conformance for error enums. Declaring it makes
// `String(describing:)`, `errorDescription` and `localizedDescription` the
// core's message too.
extension KwhError: CustomStringConvertible {}

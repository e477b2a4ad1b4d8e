import AdapterCore
import AdapterProtocol
import AdapterStore

// What a client gets for every error the daemon answers a request with: the one place where the
// use cases' errors become JSON-RPC error objects (code, message, data). The codes are stable
// (docs/PROTOCOL.md, "Errors"); each kind of each error family is mapped by an exhaustive switch,
// so a new kind does not compile until it has its code here.

/// An error that answers a request: use cases throw it, and `rpcError` (defined in this file only) is
/// what the client gets. Any other error reaching the method table is a fault inside adapterd,
/// answered `internal error` ("<method> failed: …").
protocol RequestError: Error {
    /// The JSON-RPC error object the client gets.
    var rpcError: RPCError { get }
}

/// The kinds of an error family (`CodedError<Family>`) that answers requests.
protocol RequestErrorCode: ErrorCode {
    /// The JSON-RPC error object for an error of this kind with `message`.
    func rpcError(message: String) -> RPCError
}

extension CodedError: RequestError where Family: RequestErrorCode {
    var rpcError: RPCError { code.rpcError(message: message) }
}

extension RPCError: RequestError {
    /// The protocol layer's own errors (params that do not decode or validate) go out as they are.
    var rpcError: RPCError { self }
}

extension InstallErrorCode: RequestErrorCode {
    func rpcError(message: String) -> RPCError {
        switch self {
        case .invalidParams: RPCError(code: .invalidParams, message: message)
        case .tooLarge(let details): RPCError(code: .tooLarge, message: message, details: details)
        case .invalidAdapter: RPCError(code: .invalidAdapter, message: message)
        case .refused(let details): RPCError(code: .refused, message: message, details: details)
        case .readOnly: RPCError(code: .readOnly, message: message)
        }
    }
}

extension ReadErrorCode: RequestErrorCode {
    func rpcError(message: String) -> RPCError {
        switch self {
        case .invalidQuery: RPCError(code: .invalidParams, message: message)
        case .taskNotInstalled, .taskNotServed, .clusterNotServed, .filesUnreadable:
            RPCError(code: .notFound, message: message)
        case .embeddingFailed: RPCError(code: .internalError, message: message)
        }
    }
}

extension PlanningErrorCode: RequestErrorCode {
    func rpcError(message: String) -> RPCError {
        switch self {
        case .invalidBudget: RPCError(code: .invalidParams, message: message)
        case .budgetTooSmall: RPCError(code: .overBudget, message: message)
        case .failed: RPCError(code: .internalError, message: message)
        }
    }
}

extension ServerErrorCode: RequestErrorCode {
    func rpcError(message: String) -> RPCError {
        switch self {
        case .methodNotFound: RPCError(code: .methodNotFound, message: message)
        case .unauthorized: RPCError(code: .unauthorized, message: message)
        case .tooLarge(let details?): RPCError(code: .tooLarge, message: message, details: details)
        case .tooLarge(nil): RPCError(code: .tooLarge, message: message)
        case .busy: RPCError(code: .busy, message: message)
        case .shuttingDown: RPCError(code: .shuttingDown, message: message)
        case .failed: RPCError(code: .internalError, message: message)
        }
    }
}

extension StoreErrorCode: RequestErrorCode {
    func rpcError(message: String) -> RPCError {
        switch self {
        case .invalidName: RPCError(code: .invalidParams, message: message)
        case .taskNotFound: RPCError(code: .notFound, message: message)
        case .overBudget: RPCError(code: .overBudget, message: message)
        // The store cannot change anything now (the message starts with the cause and says what to do).
        case .readOnly, .catalogLost, .diskFull: RPCError(code: .readOnly, message: message)
        case .digestMismatch: RPCError(code: .internalError, message: "a stored file is damaged: \(message)")
        case .unsafeStateDirectory, .stateDirectoryInUse, .symlinkRefused, .invalidArgument, .objectMissing,
             .generationNotFound, .generationNotBuilding, .planOutdated, .schemaTooNew, .closed, .io, .database,
             .catalogMissing:
            RPCError(code: .internalError, message: "store: \(message)")
        }
    }
}

extension ChangeError: RequestError {
    /// The cause's code and data, its message between what was tried and the state left; a cause
    /// that answers no request is a fault: `internal error`, with its description.
    var rpcError: RPCError {
        let answer = (cause as? any RequestError)?.rpcError
        return RPCError(code: answer?.code ?? .internalError,
                        message: "\(attempt): \(answer?.message ?? "\(cause)"); \(outcome)", data: answer?.data)
    }
}

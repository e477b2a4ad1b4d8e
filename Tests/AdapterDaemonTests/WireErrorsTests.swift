@testable import AdapterDaemon
import AdapterCore
import AdapterProtocol
import AdapterStore
import Testing

/// The one mapping of the daemon's errors to what clients get (Server/WireErrors.swift): every kind
/// of every error family keeps the code (and message, and data) clients got when each site built its
/// `RPCError` itself.
@Suite("Wire errors")
struct WireErrorsTests {
    static let tooLarge = TooLargeDetails(limitBytes: 10, actualBytes: 20)
    static let refusal = RefusalDetails(
        task: "t", sha256: "ab",
        verdict: VerdictInfo(decision: "poisoned", score: 0.9, threshold: 0.5, topFeatures: [], model: "m"), quarantineId: 3)

    /// Each kind with the code its throw sites answered with before.
    static let codes: [(any RequestError, RPCErrorCode)] = [
        (InstallError(.invalidParams, "m"), .invalidParams),
        (InstallError(.tooLarge(tooLarge), "m"), .tooLarge),
        (InstallError(.invalidAdapter, "m"), .invalidAdapter),
        (InstallError(.refused(refusal), "m"), .refused),
        (InstallError(.readOnly, "m"), .readOnly),
        (ReadError(.invalidQuery, "m"), .invalidParams),
        (ReadError(.taskNotInstalled, "m"), .notFound),
        (ReadError(.taskNotServed, "m"), .notFound),
        (ReadError(.clusterNotServed, "m"), .notFound),
        (ReadError(.filesUnreadable, "m"), .notFound),
        (ReadError(.embeddingFailed, "m"), .internalError),
        (PlanningError(.invalidBudget, "m"), .invalidParams),
        (PlanningError(.budgetTooSmall, "m"), .overBudget),
        (PlanningError(.failed, "m"), .internalError),
        (ServerError(.methodNotFound, "m"), .methodNotFound),
        (ServerError(.unauthorized, "m"), .unauthorized),
        (ServerError(.tooLarge(tooLarge), "m"), .tooLarge),
        (ServerError(.tooLarge(nil), "m"), .tooLarge),
        (ServerError(.busy, "m"), .busy),
        (ServerError(.shuttingDown, "m"), .shuttingDown),
        (ServerError(.failed, "m"), .internalError),
        (StoreError(.invalidName, "m"), .invalidParams),
        (StoreError(.taskNotFound, "m"), .notFound),
        (StoreError(.overBudget, "m"), .overBudget),
        (StoreError(.readOnly, "m"), .readOnly),
        (StoreError(.catalogLost, "m"), .readOnly),
        (StoreError(.diskFull, "m"), .readOnly),
        (RPCError(code: .invalidParams, message: "m"), .invalidParams),
    ]

    @Test func everyKindKeepsTheCodeClientsGot() {
        for (error, code) in Self.codes {
            #expect(error.rpcError.code == code, "\(error)")
            #expect(error.rpcError.message == "m", "\(error)")
        }
    }

    /// The store's other failures are faults inside adapterd, said to come from the store.
    @Test func storeFaultsAreInternalErrorsNamedAsSuch() {
        let faults: [StoreErrorCode] = [
            .unsafeStateDirectory, .stateDirectoryInUse, .symlinkRefused, .invalidArgument, .objectMissing,
            .generationNotFound, .generationNotBuilding, .planOutdated, .schemaTooNew, .closed, .io, .database,
            .catalogMissing,
        ]
        for code in faults {
            let answer = StoreError(code, "m").rpcError
            #expect(answer.code == .internalError && answer.message == "store: m", "\(code)")
        }
        let damaged = StoreError(.digestMismatch, "m").rpcError
        #expect(damaged.code == .internalError && damaged.message == "a stored file is damaged: m")
    }

    @Test func limitsAndRefusalsCarryTheirDetails() {
        #expect(InstallError(.tooLarge(Self.tooLarge), "m").rpcError.details(as: TooLargeDetails.self) == Self.tooLarge)
        #expect(ServerError(.tooLarge(Self.tooLarge), "m").rpcError.details(as: TooLargeDetails.self) == Self.tooLarge)
        #expect(InstallError(.refused(Self.refusal), "m").rpcError.details(as: RefusalDetails.self) == Self.refusal)
        #expect(ServerError(.tooLarge(nil), "m").rpcError.data == nil)
        for (error, code) in Self.codes where code != .tooLarge && code != .refused {
            #expect(error.rpcError.data == nil, "\(error)")
        }
    }

    /// A failed change answers with its cause's code and data, the cause's message between what was
    /// tried and the state left; a cause that answers no request is an internal error.
    @Test func aFailedChangeKeepsItsCausesCodeAndSaysWhatItLeft() {
        let overBudget = ChangeError(attempt: "cannot set the budget to 1 KiB", cause: PlanningError(.budgetTooSmall, "too small"),
                                     outcome: "nothing changed: the budget is still unlimited").rpcError
        #expect(overBudget.code == .overBudget)
        #expect(overBudget.message == "cannot set the budget to 1 KiB: too small; nothing changed: the budget is still unlimited")
        let damaged = ChangeError(attempt: "a", cause: StoreError(.digestMismatch, "x"), outcome: "b").rpcError
        #expect(damaged.code == .internalError && damaged.message == "a: a stored file is damaged: x; b")
        let refused = ChangeError(attempt: "a", cause: InstallError(.refused(Self.refusal), "r"), outcome: "b").rpcError
        #expect(refused.details(as: RefusalDetails.self) == Self.refusal)
        let fault = ChangeError(attempt: "a", cause: CancellationError(), outcome: "b").rpcError
        #expect(fault.code == .internalError && fault.message == "a: \(CancellationError()); b")
    }
}
